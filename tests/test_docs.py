"""The README's quick start and the sample's README agree with what the code prints: the command
CI runs is the README's, the first screen is the one shown, and every number quoted is the output's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SAMPLE_README = (ROOT / "sample_mbox" / "README.md").read_text(encoding="utf-8")
ME = ["--me", "sam@rivera.dev", "--me", "sam.rivera@gmail.com"]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else None]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.S | re.M)


QUICK = _section(README, "## Quick start")
QUICK_COMMAND = _blocks(QUICK, "sh")[0].strip()


def _mailguard(*argv: str, home: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILGUARD_CONFIG"}
    env.update(MAILGUARD_HOME=str(home), COLUMNS=str(columns))
    return subprocess.run([sys.executable, "-m", "mailguard.cli.main", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    """The quick start's scan, in a fresh state folder that must stay absent."""
    home = tmp_path_factory.mktemp("qs") / "home"
    run = _mailguard("scan", "sample_mbox/inbox.mbox", *ME, home=home)
    assert run.returncode == 0, run.stderr
    return home, run.stdout


def test_ci_runs_the_readme_quick_start_verbatim():
    assert QUICK_COMMAND.endswith(".venv/bin/mailguard scan sample_mbox/inbox.mbox "
                                  "--me sam@rivera.dev --me sam.rivera@gmail.com")
    ci = (ROOT / ".ci" / "run").read_text()
    assert QUICK_COMMAND in ci.splitlines()[ci.splitlines().index("out=$(export MAILGUARD_HOME=\"$state\" "
                                                                  "COLUMNS=80; \\") + 1]


def test_quick_start_leaves_no_trace(quick_start):
    home, _ = quick_start
    assert not home.exists()


def test_first_screen_is_the_one_in_the_readme(quick_start):
    _, out = quick_start
    shown = _blocks(QUICK, "console")[0].rstrip("\n").split("\n")
    assert shown[-1].strip() == "..."
    real = [ln.rstrip() for ln in out.split("\n")]
    assert real[:len(shown) - 1] == shown[:-1]
    assert len(shown) <= 24  # one screen


def test_numbers_quoted_in_the_readmes_are_the_output(quick_start, tmp_path):
    _, out = quick_start
    summary = out.rstrip("\n").split("\n")[-1]
    # the table's last line, unwrapped (80 columns wrap it)
    tail = " ".join(ln.strip() for ln in out.rstrip("\n").split("\n")[-2:])
    assert tail == "360 messages, 44 contacts (44 new), 77 to move, 1 not understood (kept): 1× no From header"
    assert summary  # printed
    for text in (QUICK, SAMPLE_README):
        assert " ".join(tail.split()) in " ".join(text.split())
    assert "77 to move: promotion from 23 senders tied to 23 networking contacts" in out
    assert "77 moves come from 23 senders tied to 23 of Sam's networking contacts" in \
        " ".join(SAMPLE_README.split())
    # the review session of the README: 23 flagged senders after a saved scan
    home = tmp_path / "home"
    assert _mailguard("scan", "sample_mbox/inbox.mbox", "--me", "sam@rivera.dev", "--format", "jsonl",
                      "--save", home=home).returncode == 0
    flagged = json.loads(_mailguard("flagged", "--format", "json", home=home).stdout)
    assert len(flagged) == 23 and "the first of 23 flagged senders" in README
    first = flagged[0]
    assert first["sender"] == "emma@emmavarga.dev" and first["messages"] == 5
    assert first["moved_on_server"] == 0


def test_sample_readme_counts_are_the_truth():
    truth = [json.loads(line) for line in (ROOT / "sample_mbox" / "truth.jsonl").open()]
    expected = Counter(t["expected"] for t in truth)
    assert f"expected: keep {expected['keep']}, move {expected['move']}" in SAMPLE_README
    cases = Counter(t["case"] for t in truth)
    listed = dict(re.findall(r"(\b[a-z_]+) (\d+)", _blocks(SAMPLE_README, "")[-1].split("cases:", 1)[1]))
    plain = {k: v for k, v in cases.items() if not k.startswith("social:")}
    assert {k: int(v) for k, v in listed.items() if k in plain} == plain
    social = [k for k in cases if k.startswith("social:")]
    social_moves = sum(1 for t in truth if t["case"].startswith("social:") and t["expected"] == "move")
    assert f"and {len(social)} social:... cases of 1 each ({social_moves} of them move)" in \
        " ".join(SAMPLE_README.split())


def test_readme_states_the_python_version_and_how_to_reach_the_command():
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and "Python 3.11 or newer" in QUICK
    assert "source .venv/bin/activate" in QUICK and "`.venv/bin/mailguard`" in QUICK


def test_every_config_example_in_the_docs_fits_the_schema():
    """README and docs/*.md config examples, with their commented-out keys switched on."""
    import tomllib

    from mailguard.config import check_config

    checked = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in _blocks(doc.read_text(encoding="utf-8"), "toml"):
            for text in (block, re.sub(r"^# (\w+ = )", r"\1", block, flags=re.M)):
                check_config(tomllib.loads(text))
                checked += 1
    assert checked >= 10
