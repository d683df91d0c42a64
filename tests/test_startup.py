"""Start-up: a command imports what it uses. Scoring needs numpy alone (mailguard.core.vectorize), so
no command that only scores imports scikit-learn or scipy (about a second), and machine-readable
output does not import rich's tables or progress bars. Checked on sys.modules of a real CLI run in
a fresh interpreter (not timed: timing is bench/bench_speed.py's job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailfactory import ME, day, newsletter, personal

SAMPLE = Path(__file__).resolve().parent.parent / "sample_mbox" / "inbox.mbox"
HEAVY = ("sklearn", "scipy")
TABLES = ("rich.table", "rich.progress")
IMAP = ("mailguard.imap", "imapclient")  # only the IMAP commands import them

_PROBE = """
import json, sys
from mailguard.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " EXIT " + json.dumps(code) + "\\n")
"""


def _modules(args: list[str], home: Path) -> set[str]:
    env = {**os.environ, "MAILGUARD_HOME": str(home), "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=300)
    tail = proc.stderr.rpartition("\nMODULES ")[2]
    modules, _, code = tail.partition(" EXIT ")
    assert json.loads(code) in (0, None), proc.stderr[-2000:]
    return set(json.loads(modules))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.startswith(tuple(n + "." for n in names)))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_help_imports_neither_scikit_learn_nor_scipy(home):
    mods = _modules(["--help"], home)
    assert "mailguard.cli.main" in mods
    assert _loaded(mods, HEAVY) == []


def test_scan_jsonl_scores_without_scikit_learn_scipy_or_rich_tables(home):
    mods = _modules(["scan", str(SAMPLE), "--format", "jsonl", "--workers", "1"], home)
    assert "mailguard.core.classify" in mods and "numpy" in mods  # it did load the model and score
    assert _loaded(mods, HEAVY) == []
    assert _loaded(mods, TABLES) == []
    assert _loaded(mods, IMAP) == []


def test_evaluate_json_scores_without_scikit_learn_scipy_or_rich_tables(home, tmp_path):
    promo, mine = tmp_path / "promo", tmp_path / "personal"
    promo.mkdir()
    mine.mkdir()
    for i in range(6):
        (promo / f"{i}.eml").write_bytes(newsletter(f"Shop {i} <hi@shop{i}.example>", to=ME, when=day(i)))
        (mine / f"{i}.eml").write_bytes(personal(f"Jo {i} <jo{i}@acme{i}.io>", when=day(i)))
    mods = _modules(["evaluate", "--promo", str(promo), "--personal", str(mine), "--format", "json",
                     "--workers", "1"], home)
    assert "mailguard.training" in mods
    assert _loaded(mods, HEAVY) == []
    assert _loaded(mods, TABLES) == []
    assert _loaded(mods, IMAP) == []


def test_the_table_formats_still_get_their_tables(home):
    mods = _modules(["scan", str(SAMPLE), "--workers", "1"], home)
    assert "rich.table" in mods
