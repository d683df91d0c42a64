"""Every script under scripts/ and bench/ answers ``--help`` with its usage and does nothing else.

A script that took ``--help`` for a folder name once wrote a demo mailbox into ``./--help`` (and it
was committed), and the screenshot script rewrote the README's images when asked for help. Each
script runs here from an empty folder; the folder must stay empty and the repository's files must
keep their contents."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*(ROOT / "scripts").glob("*.py"), *(ROOT / "bench").glob("*.py")])
#: modules kept beside the scripts that other scripts import; they have no command line
LIBRARIES = {"labelset.py"}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file()}


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.name not in LIBRARIES],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_prints_usage_and_writes_nothing(script: Path, tmp_path: Path) -> None:
    docs_before = _digests(ROOT / "docs")
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.lower().startswith("usage:"), done.stdout[:200]
    assert list(tmp_path.iterdir()) == []
    assert _digests(ROOT / "docs") == docs_before


def test_library_modules_have_no_command_line() -> None:
    for name in LIBRARIES:
        assert "__main__" not in (ROOT / "scripts" / name).read_text(encoding="utf-8")
