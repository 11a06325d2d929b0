"""The corpus setting as a user meets it: a fresh clone without ../shared/corpus passes the
test command, with the corpus tests reported as not run; under CI=true the same run fails.

Each case runs pytest itself in a subprocess on two modules that mix corpus tests with the
project's own small messages, so what is proven without the corpus is seen too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.corpus import ROOT, SETTING

MODULES = ["tests/mail/test_quotes.py", "tests/mail/test_classify.py"]
# The corpus-marked tests of MODULES: the presence check, 12 + 12 replies, 3 classify.
MARKED = 28


def _pytest(tmp_path: Path, corpus: str, *, ci: bool) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", SETTING)}
    env[SETTING] = corpus
    if ci:
        env["CI"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _count(output: str, outcome: str) -> int:
    found = re.search(rf"(\d+) {outcome}", output.splitlines()[-1])
    return int(found.group(1)) if found else 0


def test_without_the_corpus_its_tests_are_reported_not_run_and_the_rest_pass(
    tmp_path: Path,
) -> None:
    code, output = _pytest(tmp_path, str(tmp_path / "nowhere"), ci=False)
    assert code == 0, output
    assert _count(output, "skipped") == MARKED, output
    assert _count(output, "failed") == 0, output
    assert _count(output, "passed") > 100, output  # the project's own messages still run
    assert f"not run: the shared mail corpus is absent: no {tmp_path}/nowhere/index.tsv" in output
    assert SETTING in output


def test_under_ci_a_missing_corpus_fails_the_run(tmp_path: Path) -> None:
    code, output = _pytest(tmp_path, str(tmp_path / "nowhere"), ci=True)
    assert code == 1, output
    assert _count(output, "error") == MARKED, output
    assert "CI=true needs it" in output


@pytest.mark.corpus
def test_a_relative_setting_is_read_from_the_repository_root(tmp_path: Path) -> None:
    # The default, spelt out: the corpus beside the repository is found and every test runs.
    code, output = _pytest(tmp_path, "../shared/corpus", ci=True)
    assert code == 0, output
    assert _count(output, "skipped") == 0, output
    assert _count(output, "error") == 0, output
