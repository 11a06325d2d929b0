"""scripts/lib.sh: ``scripts/run`` and ``scripts/test`` call pip only when something it
installs changed (a new virtualenv, pyproject.toml, other extras), not on every start.

The virtualenv's python is a stand-in that records how it was called: what is checked
is when the script asks pip to install, which a real pip would only make slower.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "scripts" / "lib.sh"


def _ensure(folder: Path, target: str) -> list[str]:
    """Run ensure_venv in ``folder``; the pip calls it made."""
    log = folder / "calls.log"
    log.unlink(missing_ok=True)
    subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{LIB}"; ensure_venv "$1"', "-", target],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return log.read_text().splitlines() if log.exists() else []


def test_pip_runs_only_when_what_it_installs_changed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/calls.log"\n')
    python.chmod(0o755)
    first = _ensure(tmp_path, ".")
    assert "-m pip install -q -e ." in first
    assert _ensure(tmp_path, ".") == []  # the next start: nothing to install
    assert _ensure(tmp_path, ".[test]") != []  # other extras
    assert _ensure(tmp_path, ".[test]") == []
    assert _ensure(tmp_path, ".") == []  # each target keeps its own stamp
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["y"]\n')
    assert "-m pip install -q -e ." in _ensure(tmp_path, ".")  # a new dependency
    assert _ensure(tmp_path, ".") == []
