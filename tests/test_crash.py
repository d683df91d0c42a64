"""Crash consistency against a real Dovecot (issue 6), small: scripts/crash_trials.py with 3
trials, and 2 on a server without MOVE (SIGKILL `mailguard run --once` mid-pass, run again, check
the folders and the moves table). The full runs are `python scripts/crash_trials.py --trials 20`
and the same with `--no-move`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dovecot

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "crash_trials.py"


def _script():
    if "crash_trials" in sys.modules:
        return sys.modules["crash_trials"]
    spec = importlib.util.spec_from_file_location("crash_trials", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_trials"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("no_move", [False, True], ids=["MOVE", "COPY+EXPUNGE"])
def test_sigkill_mid_pass_loses_duplicates_and_misplaces_nothing(no_move):
    crash = _script()
    trials = 2 if no_move else 3  # odd trials kill right after the intents, around the move
    summary = crash.run_trials(trials, seed=4242, messages=40, verbose=True, no_move=no_move)
    problems = [p for r in summary.results for p in r.problems]
    assert len(summary.results) == trials and summary.total("checked") == 40 * trials
    assert summary.total("lost") == 0, problems
    assert summary.total("duplicated") == 0, problems
    assert summary.total("misplaced") == 0, problems
    assert summary.total("log_disagreements") == 0, problems
    assert summary.ok, problems
    # the kill really interrupted a running process at least once (the timers are below a pass)
    assert any(r.killed for r in summary.results)


def test_the_checker_notices_loss_duplicates_misplacement_and_log_disagreement(tmp_path, monkeypatch):
    """The check itself is not vacuous (no server: folders and the moves table are faked)."""
    import sqlite3

    crash = _script()
    batch, offenders = crash.new_batch(0, 8)
    assert len(offenders) == 4  # Acme's and Dataflow's newsletters; Jane's notes and the shop stay
    ids = [crash.mailfactory_mid(raw) for raw in batch]
    off = [m for m in ids if m in offenders]
    keep = [m for m in ids if m not in offenders]
    db = sqlite3.connect(tmp_path / "mailguard.sqlite3")
    db.execute("CREATE TABLE moves (id INTEGER PRIMARY KEY, message_id TEXT, state TEXT, reason TEXT)")

    def verdict(inbox, quarantine, moves):
        db.execute("DELETE FROM moves")
        db.executemany("INSERT INTO moves (message_id, state, reason) VALUES (?, ?, 'sync: x')", moves)
        db.commit()
        folders = {"INBOX": inbox, crash.imapkit.QUARANTINE: quarantine}
        monkeypatch.setattr(crash, "message_ids", lambda server, user, folder: folders[folder])
        result = crash.TrialResult(0, 0.0, killed=True)
        crash.check(None, "u", tmp_path, ids, offenders, result)
        return result.lost, result.duplicated, result.misplaced, result.log_disagreements

    done = [(m, "done") for m in off]
    assert verdict(keep, off, done) == (0, 0, 0, 0)
    assert verdict(keep[1:], off, done) == (1, 0, 0, 0)
    assert verdict(keep + off[:1], off, done) == (0, 1, 0, 0)
    assert verdict(keep[1:] + off[:1], off[1:] + keep[:1], done) == (0, 0, 2, 2)
    assert verdict(keep, off, done[1:] + [(off[0], "intent")]) == (0, 0, 0, 2)
