"""Where the shared mail corpus is, and what a test that reads it does when it is absent.

The corpus (raw messages written by other projects, see its MANIFEST.md) lives outside
the repository, so a fresh clone does not have it. One setting finds it:
``MAILDESK_CORPUS`` (default ``../shared/corpus``; a relative path is taken from the
repository root). Tests that read it carry the ``corpus`` marker; tests/conftest.py
reports them as not run, with the reason, when it is absent, and fails them under
``CI=true``, where the corpus is part of what the run must prove.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTING = "MAILDESK_CORPUS"
DEFAULT = "../shared/corpus"


def corpus_dir() -> Path:
    """The corpus folder named by ``$MAILDESK_CORPUS``, relative to the repository root."""
    return (ROOT / os.environ.get(SETTING, DEFAULT)).resolve()


def missing_reason() -> str | None:
    """Why the corpus cannot be read, or None when its index is there."""
    index = corpus_dir() / "index.tsv"
    if index.is_file():
        return None
    return (
        f"the shared mail corpus is absent: no {index} (set {SETTING} to the folder"
        f" that holds index.tsv; default {DEFAULT} beside the repository)"
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


CORPUS = corpus_dir()
