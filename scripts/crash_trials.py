#!/usr/bin/env python3
"""Crash consistency against a real Dovecot (issue 6): SIGKILL `mailguard run --once` at a random
moment of a pass that moves messages, run it again to completion, and check that nothing was lost,
duplicated or misplaced and that the moves table agrees with the folders.

    python scripts/crash_trials.py --trials 20 [--messages 60] [--seed 1234] [--no-move]

--no-move: a server without MOVE, so mailguard moves with COPY, then \\Deleted and UID EXPUNGE,
and a kill can fall between the COPY and the EXPUNGE.

Per trial: a fresh Dovecot user and a fresh $MAILGUARD_HOME; the history of tests/imapkit.py
(Jane writes, Sam writes to Tom from Sent); a learn-only first run; then N new messages of which a
known subset are contact-then-promo newsletters (Acme's and Tom's company's); a run killed with
SIGKILL after a delay drawn from random.Random(seed + trial); a run to completion; the checks.
Needs root and dovecot-imapd (tests/dovecot.py). Talks only to 127.0.0.1. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
RUN_TIMEOUT = 120.0


def _load(name: str):
    """Import tests/<name>.py by path (the tests directory is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # imapkit imports dovecot and mailfactory by name
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


dovecot = _load("dovecot")
mailfactory = _load("mailfactory")
imapkit = _load("imapkit")


@dataclass
class TrialResult:
    trial: int
    kill_after: float
    killed: bool  # False: the pass had finished before the kill
    mode: str = "timer"
    at_kill: str = ""  # what the killed run had left: intent/done rows, messages in quarantine
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    misplaced: int = 0
    log_disagreements: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.misplaced or self.log_disagreements
                    or self.problems)


@dataclass
class Summary:
    results: list[TrialResult]

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def line(self) -> str:
        killed = sum(r.killed for r in self.results)
        return (f"trials={len(self.results)} killed_mid_run={killed} "
                f"messages_checked={self.total('checked')} lost={self.total('lost')} "
                f"duplicated={self.total('duplicated')} misplaced={self.total('misplaced')} "
                f"log_disagreements={self.total('log_disagreements')} "
                f"failed_trials={sum(not r.ok for r in self.results)}")


# -- mail --------------------------------------------------------------------------------------


def new_batch(trial: int, n: int) -> tuple[list[bytes], set[str]]:
    """n new messages in a fixed rotation; returns (raw messages, Message-IDs of the offenders)."""
    day, personal, newsletter = mailfactory.day, mailfactory.personal, mailfactory.newsletter
    messages: list[bytes] = []
    offenders: set[str] = set()
    for i in range(n):
        mid = f"<crash{trial}-{i}@trial.example>"
        kind = i % 4
        when = day(10 + i // 10, hour=9 + i % 10)
        if kind == 0:  # Acme: Jane (a contact) wrote from acme.io, now its newsletter
            raw = newsletter(f"Acme News <{imapkit.ACME}>", when=when, msgid=mid,
                             subject=f"Last chance: 30% off, offer {i}")
            offenders.add(mid)
        elif kind == 1:  # Tom's company: Sam wrote to Tom, now dataflow.io promotes
            raw = newsletter(f"Tom Berger <{imapkit.DATAFLOW}>", when=when, msgid=mid,
                             subject=f"Dataflow 2.{i} is here")
            offenders.add(mid)
        elif kind == 2:  # Jane personally: keep
            raw = personal("Jane Doe <jane@acme.io>", when=when, msgid=mid,
                           subject=f"Re: coffee {i}", body=f"Thursday {i} works for me.\n\nJane\n")
        else:  # a shop newsletter from no contact: keep
            raw = newsletter(f"Shop <{imapkit.SHOP}>", when=when, msgid=mid,
                             subject=f"Spring sale {i}")
        messages.append(raw)
    return messages, offenders


# -- running mailguard -------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MAILGUARD_HOME"] = str(home)
    env[imapkit.PASSWORD_ENV] = dovecot.PASSWORD
    return env


def _command() -> list[str]:
    return [sys.executable, "-c", "from mailguard.cli.main import entry; entry()", "run", "--once"]


def run_once(home: Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(_command(), env=_env(home), capture_output=True, text=True, check=False,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"mailguard run --once exited {result.returncode}:\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _has_intent(db_path: Path) -> bool:
    if not db_path.exists():
        return False
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.05)
        try:
            return db.execute("SELECT 1 FROM moves WHERE state = 'intent' LIMIT 1").fetchone() is not None
        finally:
            db.close()
    except sqlite3.Error:
        return False  # not created yet, or locked this instant


def run_and_kill(home: Path, delay: float, *, on_intent: bool = False,
                 timeout: float = RUN_TIMEOUT) -> bool:
    """Start `mailguard run --once` and SIGKILL it (its whole process group): after delay seconds,
    or (on_intent) delay seconds after the first 'intent' row of a move batch shows up in the
    moves table. True if it was still running when killed."""
    log = open(home / "killed-run.log", "wb")  # noqa: SIM115
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(_command(), env=_env(home), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            if on_intent:
                deadline = time.monotonic() + timeout
                db_path = home / "mailguard.sqlite3"
                while proc.poll() is None and not _has_intent(db_path):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.001)
                if proc.poll() is not None:
                    return False
            proc.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return proc.returncode == -signal.SIGKILL
    finally:
        if proc is not None and proc.poll() is None:  # never leave it running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


# -- checking ----------------------------------------------------------------------------------


def message_ids(server, user: str, folder: str) -> list[str]:
    """Every Message-ID in folder, repeats kept ([] if the folder is missing)."""
    with server.client(user) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search()
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    out = []
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode(errors="replace")
        out.append(header.split(":", 1)[1].strip() if ":" in header else "")
    return out


def check(server, user: str, home: Path, appended: list[str], offenders: set[str],
          result: TrialResult) -> None:
    inbox = message_ids(server, user, "INBOX")
    quarantine = message_ids(server, user, imapkit.QUARANTINE)
    for mid in appended:
        n_in, n_q = inbox.count(mid), quarantine.count(mid)
        result.checked += 1
        if n_in + n_q == 0:
            result.lost += 1
            result.problems.append(f"lost {mid}")
        elif n_in + n_q > 1:
            result.duplicated += 1
            result.problems.append(f"{mid} is {n_in}x in INBOX and {n_q}x in quarantine")
        elif (n_q == 1) != (mid in offenders):
            result.misplaced += 1
            result.problems.append(f"{mid} in {'quarantine' if n_q else 'INBOX'}, expected "
                                   f"{'quarantine' if mid in offenders else 'INBOX'}")
    history = [mid for mid in inbox + quarantine if mid not in set(appended)]
    if sorted(history) != sorted(set(history)) or any(m in quarantine for m in history):
        result.misplaced += 1
        result.problems.append(f"history mail disturbed: {history}")

    db = sqlite3.connect(f"file:{home / 'mailguard.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM moves WHERE reason LIKE 'sync: %' ORDER BY id").fetchall()
    finally:
        db.close()
    qset = set(quarantine)
    done_ids = []
    for row in rows:
        if row["state"] == "intent":
            result.log_disagreements += 1
            result.problems.append(f"move #{row['id']} ({row['message_id']}) still 'intent'")
        elif row["state"] == "done":
            done_ids.append(row["message_id"])
            if row["message_id"] not in qset:
                result.log_disagreements += 1
                result.problems.append(f"move #{row['id']} done but {row['message_id']} "
                                       "is not in the quarantine")
        else:
            result.log_disagreements += 1
            result.problems.append(f"move #{row['id']} ({row['message_id']}) is {row['state']}")
    for mid in quarantine:
        if done_ids.count(mid) != 1:
            result.log_disagreements += 1
            result.problems.append(f"{mid} is in the quarantine with {done_ids.count(mid)} "
                                   "'done' moves")


# -- trials ------------------------------------------------------------------------------------


def one_trial(server, trial: int, *, seed: int, messages: int, min_delay: float,
              max_delay: float, keep: bool = False, verbose: bool = True) -> TrialResult:
    rng = random.Random(seed + trial)
    # even trials: kill at a random time over the whole pass; odd trials: kill 0-8 ms after the
    # pass writes its 'intent' rows, i.e. around the MOVE itself, the window a timer rarely hits
    on_intent = trial % 2 == 1
    delay = round(rng.uniform(0.0, 0.008) if on_intent else rng.uniform(min_delay, max_delay), 3)
    user = f"crash-{trial}-{uuid.uuid4().hex[:8]}@example.test"
    home = Path(tempfile.mkdtemp(prefix="mailguard-crash-home-"))
    result = TrialResult(trial, delay, killed=False, mode="on-intent" if on_intent else "timer")
    try:
        imapkit.write_config(home, server, user)
        imapkit.seed_history(server, user)
        run_once(home)  # first run: learn only
        batch, offenders = new_batch(trial, messages)
        appended = [mailfactory_mid(raw) for raw in batch]
        for raw in batch:
            server.append(user, raw)
        result.killed = run_and_kill(home, delay, on_intent=on_intent)
        result.at_kill = state_at_kill(server, user, home)
        run_once(home)  # to completion
        check(server, user, home, appended, offenders, result)
    except Exception as exc:  # noqa: BLE001 - a trial that cannot finish is a failure, reported
        result.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    if verbose:
        state = "killed" if result.killed else "finished before kill"
        outcome = "ok" if result.ok else "FAIL: " + "; ".join(result.problems[:5])
        when = f"{delay:.3f}s after the first intent row" if on_intent else f"{delay:.3f}s"
        print(f"trial {trial:2d}: kill {when} ({state}): {result.checked} checked, "
              f"at kill {result.at_kill}; {outcome}", flush=True)
    return result


def state_at_kill(server, user: str, home: Path) -> str:
    db_path = home / "mailguard.sqlite3"
    counts = {"intent": 0, "done": 0}
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            for state, n in db.execute("SELECT state, count(*) FROM moves GROUP BY state"):
                counts[state] = n
        finally:
            db.close()
    quarantine = message_ids(server, user, imapkit.QUARANTINE)
    # in both folders: copied but not yet expunged (a server without MOVE), for reconciling
    both = len(set(quarantine) & set(message_ids(server, user, "INBOX")))
    return (f"intent={counts['intent']} done={counts['done']} in_quarantine={len(quarantine)} "
            f"in_both={both}")


def mailfactory_mid(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise ValueError("message without Message-ID")


def run_trials(trials: int = 20, *, seed: int = 1234, messages: int = 60, min_delay: float = 0.3,
               max_delay: float | None = None, keep: bool = False, verbose: bool = True,
               no_move: bool = False) -> Summary:
    """Start a Dovecot on 127.0.0.1 (without MOVE if no_move), run the trials, stop it; returns
    the Summary."""
    root = Path(tempfile.mkdtemp(prefix="mailguard-crash-dovecot-"))
    server = dovecot.DovecotServer(root, no_move=no_move)
    server.start()
    try:
        if max_delay is None:
            # calibrate: how long a full pass over a batch takes, so kills land across all of it
            home = Path(tempfile.mkdtemp(prefix="mailguard-crash-cal-"))
            user = f"crash-cal-{uuid.uuid4().hex[:8]}@example.test"
            try:
                imapkit.write_config(home, server, user)
                imapkit.seed_history(server, user)
                run_once(home)
                for raw in new_batch(-1, messages)[0]:
                    server.append(user, raw)
                start = time.monotonic()
                run_once(home)
                max_delay = max(min_delay + 0.2, (time.monotonic() - start) * 0.98)
            finally:
                shutil.rmtree(home, ignore_errors=True)
            if verbose:
                print(f"calibration: a full pass takes ~{max_delay / 0.98:.2f}s; kill delays drawn "
                      f"from [{min_delay:.2f}, {max_delay:.2f}]s", flush=True)
        results = [one_trial(server, t, seed=seed, messages=messages, min_delay=min_delay,
                             max_delay=max_delay, keep=keep, verbose=verbose)
                   for t in range(trials)]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary = Summary(results)
    if verbose:
        print(summary.line(), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--messages", type=int, default=60, help="new messages per trial")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--min-delay", type=float, default=0.3)
    parser.add_argument("--max-delay", type=float, default=None,
                        help="default: 0.98 x a calibrated full pass")
    parser.add_argument("--keep", action="store_true", help="keep each trial's MAILGUARD_HOME")
    parser.add_argument("--no-move", action="store_true",
                        help="a server without MOVE: COPY, then \\Deleted and UID EXPUNGE")
    args = parser.parse_args(argv)
    summary = run_trials(args.trials, seed=args.seed, messages=args.messages,
                         min_delay=args.min_delay, max_delay=args.max_delay, keep=args.keep,
                         no_move=args.no_move)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
