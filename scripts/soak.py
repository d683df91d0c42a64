#!/usr/bin/env python3
"""Soak test against a real Dovecot (issue 6): run the `mailguard run` daemon for a fixed time while
another client appends mail, the user's connections are kicked and the server is restarted, then
check conservation: every message appended is exactly once in INBOX or the quarantine, in the
right one, with its Message-ID intact, and the moves table agrees with the folders.

    python scripts/soak.py [--duration 120] [--rate 5] [--kick-every 10] [--restart-every 30]
                           [--cut-chance 0.1] [--seed 1234] [--keep]

One fresh Dovecot (tempfile.mkdtemp() under /tmp), one fresh user and $MAILGUARD_HOME with the
history of tests/imapkit.py (Jane writes, Sam writes to Tom from Sent) and a learn-only
`mailguard run --once`; then the daemon (`mailguard -v run`, a subprocess) runs while:

* an appender thread APPENDs the messages of scripts/crash_trials.new_batch (a known quarter of
  Acme's and a quarter of Tom's company's newsletters are offenders) at --rate messages/s, in
  rounds with distinct Message-IDs and a per-run marker line in each body. An APPEND that fails
  (kick, restart) is followed by a reconnect and a search for its Message-ID in INBOX and the
  quarantine: the message counts as appended only once it is on the server, else it is appended
  again, so the ledger is exact;
* a fault thread runs `doveadm kick <user>` every --kick-every seconds and restarts Dovecot
  (same port, mail kept) every --restart-every seconds;
* the daemon reaches Dovecot through tests/faultproxy.py, which cuts the daemon's connection at
  random: each UID MOVE, with probability --cut-chance, after the server did it (the answer is
  lost) and, with the same probability, before it reaches the server; each UID FETCH, with that
  probability, part-way through the answer (interval kicks nearly always find the daemon idle
  in IDLE; these are the moments that matter).

After --duration seconds the faults and appends stop; the daemon is given time to catch up (every
appended Message-ID decided, no move 'intent' left, the INBOX mark past the last UID), gets SIGTERM
and must exit 0. Then crash_trials.check() counts lost, duplicated and misplaced messages and
moves-table disagreements; the daemon must have survived every fault, and its log must hold no
message body text. Prints one key=value line and a short report. Exits 1 on any failure.

Needs root and dovecot-imapd (tests/dovecot.py). Talks only to 127.0.0.1.
A test can call run_soak(duration=20, ...) -> SoakSummary.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parent.parent


def _load_crash_trials():
    """Import scripts/crash_trials.py by path (it loads tests/dovecot.py, mailfactory, imapkit)."""
    if "crash_trials" in sys.modules:
        return sys.modules["crash_trials"]
    spec = importlib.util.spec_from_file_location("crash_trials", ROOT / "scripts" / "crash_trials.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_trials"] = module
    spec.loader.exec_module(module)
    return module


crash_trials = _load_crash_trials()
dovecot = crash_trials.dovecot
imapkit = crash_trials.imapkit
faultproxy = crash_trials._load("faultproxy")

#: messages per new_batch() round: dates stay within days 10-13 of the scenario, well inside the
#: 180-day window of the contacts learned on days 0-2, however long the soak runs
ROUND = 40
#: the proxy's random cuts (each with probability --cut-chance per matching command)
CUTS = ((b"UID MOVE", "after-command"), (b"UID MOVE", "before-command"),
        (b"UID FETCH", "mid-response"))
#: the daemon's config: a full pass at least every 20 s on top of IDLE
DAEMON_IMAP = "poll_seconds = 20\nidle_slice_seconds = 5"
#: body text of new_batch's messages that must never reach the daemon's log
BODY_PHRASES = ("works for me", "Our spring launch is here", "30% off all plans this week only")
#: after the soak: how long the daemon may take to catch up, and to exit after SIGTERM
CATCH_UP_TIMEOUT = 180.0
STOP_TIMEOUT = 90.0
#: the appender gives up confirming one message after this long (server never came back)
APPEND_TIMEOUT = 60.0


@dataclass
class SoakSummary:
    duration_s: float = 0.0
    appended: int = 0
    offenders: int = 0
    decided: int = 0  # appended Message-IDs with a decisions row
    decision_rows: int = 0  # decisions rows of appended Message-IDs (> decided: decided again)
    moved: int = 0  # 'done' sync moves
    catch_up_s: float | None = None
    kicks: int = 0
    kicks_unconfirmed: int = 0  # doveadm kick ran, but a connection was back before `who` saw none
    restarts: int = 0
    cuts: dict[str, int] = field(default_factory=dict)  # proxy cuts made, by command and kind
    reconciled: int = 0  # "reconciling N interrupted move(s)": N summed over the daemon log
    append_errors: int = 0  # APPENDs that failed (the message was then found or appended again)
    append_landed_anyway: int = 0  # ... of which the message was on the server after all
    reconnects: int = 0  # "reconnecting in" lines of the daemon log
    retries: int = 0  # "retrying in" lines (non-network errors retried)
    error_lines: int = 0  # ERROR / Traceback lines in the daemon log
    alive_at_end: bool = False
    exit_code: int | None = None
    peak_rss_kib: int | None = None
    body_text_in_log: int = 0
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    misplaced: int = 0
    log_disagreements: int = 0
    problems: list[str] = field(default_factory=list)
    home: str = ""
    dovecot_root: str = ""

    @property
    def ok(self) -> bool:
        return (self.appended > 0 and not (self.lost or self.duplicated or self.misplaced
                                           or self.log_disagreements or self.body_text_in_log
                                           or self.problems)
                and self.alive_at_end and self.exit_code == 0 and self.catch_up_s is not None)

    @property
    def throughput_appended(self) -> float:
        return self.appended / self.duration_s if self.duration_s else 0.0

    @property
    def throughput_decided(self) -> float:
        span = self.duration_s + (self.catch_up_s or 0.0)
        return self.decided / span if span else 0.0

    def line(self) -> str:
        catch = f"{self.catch_up_s:.1f}" if self.catch_up_s is not None else "timeout"
        rss = self.peak_rss_kib if self.peak_rss_kib is not None else "?"
        return (f"duration_s={self.duration_s:.1f} appended={self.appended} "
                f"decided={self.decided} moved={self.moved} offenders={self.offenders} "
                f"throughput_appended={self.throughput_appended:.2f}/s "
                f"throughput_decided={self.throughput_decided:.2f}/s catch_up_s={catch} "
                f"kicks={self.kicks} cuts={sum(self.cuts.values())} restarts={self.restarts} "
                f"reconnects={self.reconnects} reconciled={self.reconciled} "
                f"append_errors={self.append_errors} lost={self.lost} "
                f"duplicated={self.duplicated} misplaced={self.misplaced} "
                f"log_disagreements={self.log_disagreements} alive_at_end={int(self.alive_at_end)} "
                f"exit_code={self.exit_code} peak_rss_kib={rss} "
                f"body_text_in_log={self.body_text_in_log} ok={int(self.ok)}")

    def report(self) -> str:
        catch = (f"caught up {self.catch_up_s:.1f} s" if self.catch_up_s is not None
                 else "did not catch up")
        rss = f"{self.peak_rss_kib / 1024:.1f} MiB" if self.peak_rss_kib is not None else "unknown"
        cuts = ", ".join(f"{n} {k}" for k, n in sorted(self.cuts.items())) or "none"
        lines = [
            (f"soak:        {self.duration_s:.1f} s, {self.appended} messages appended "
             f"({self.throughput_appended:.2f}/s), {self.offenders} of them offenders"),
            (f"daemon:      decided {self.decided} ({self.decision_rows} decision rows), moved "
             f"{self.moved}; {self.throughput_decided:.2f} decided/s; {catch} after the appends "
             "stopped"),
            (f"faults:      {self.kicks} kicks ({self.kicks_unconfirmed} unconfirmed), "
             f"{sum(self.cuts.values())} proxy cuts ({cuts}), "
             f"{self.restarts} restarts; appender: {self.append_errors} failed APPENDs "
             f"({self.append_landed_anyway} had landed)"),
            (f"daemon log:  {self.reconnects} reconnects, {self.reconciled} interrupted moves "
             f"reconciled, {self.retries} retries, "
             f"{self.error_lines} error lines, {self.body_text_in_log} lines with body text"),
            (f"daemon:      alive at the end: {'yes' if self.alive_at_end else 'NO'}, exit code "
             f"{self.exit_code}, peak RSS {rss}"),
            (f"conservation: {self.checked} checked, lost {self.lost}, duplicated "
             f"{self.duplicated}, misplaced {self.misplaced}, moves-table disagreements "
             f"{self.log_disagreements}"),
        ]
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines += [f"  - {p}" for p in self.problems[:30]]
        lines.append("RESULT: " + ("ok" if self.ok else "FAIL"))
        return "\n".join(lines)


# -- mail --------------------------------------------------------------------------------------


def _mark_body(raw: bytes, marker: str) -> bytes:
    """Put the marker line at the start of the (first) text/plain body."""
    head = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    if head not in raw:
        raise ValueError("message without a text/plain part")
    return raw.replace(head, head + marker.encode() + b"\r\n", 1)


class MailSource:
    """Endless messages: rounds of crash_trials.new_batch (distinct trial numbers), shuffled."""

    def __init__(self, rng: random.Random, marker: str) -> None:
        self.rng = rng
        self.marker = marker
        self.round = 0
        self.pending: list[tuple[str, bytes, bool]] = []

    def next(self) -> tuple[str, bytes, bool]:
        """(Message-ID, raw, is an offender)."""
        if not self.pending:
            batch, offenders = crash_trials.new_batch(self.round, ROUND)
            self.round += 1
            for raw in batch:
                mid = crash_trials.mailfactory_mid(raw)
                self.pending.append((mid, _mark_body(raw, self.marker), mid in offenders))
            self.rng.shuffle(self.pending)
        return self.pending.pop()


# -- the appender ------------------------------------------------------------------------------


class Appender(threading.Thread):
    """Appends at a fixed rate until stop is set; keeps an exact ledger of what is on the server."""

    def __init__(self, server, user: str, source: MailSource, rate: float,
                 stop: threading.Event) -> None:
        super().__init__(name="soak-appender", daemon=True)
        self.server, self.user, self.source, self.rate, self.stop = server, user, source, rate, stop
        self.appended: list[str] = []
        self.offenders: set[str] = set()
        self.errors = 0
        self.landed_anyway = 0
        self.problems: list[str] = []
        self._client: IMAPClient | None = None

    # connection handling

    def _connect(self, deadline: float) -> IMAPClient:
        while True:
            try:
                client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
                client.login(self.user, self.server.password)
                return client
            except Exception as exc:  # server down or shutting down: retry
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cannot reconnect: {exc}") from exc
                time.sleep(0.3)

    def _drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                self._client.shutdown()
        self._client = None

    def _count_on_server(self, mid: str) -> int:
        """How often mid is in INBOX and the quarantine (INBOX first: moves only go out of it)."""
        client = self._client
        assert client is not None
        n = 0
        for folder in ("INBOX", imapkit.QUARANTINE):
            if folder != "INBOX" and not client.folder_exists(folder):
                continue
            client.select_folder(folder, readonly=True)
            n += len(client.search(["HEADER", "Message-ID", mid]))
        return n

    def _append_one(self, mid: str, raw: bytes) -> None:
        deadline = time.monotonic() + APPEND_TIMEOUT
        verify = False
        while True:
            try:
                if self._client is None:
                    self._client = self._connect(deadline)
                client = self._client
                if verify:
                    found = self._count_on_server(mid)
                    verify = False
                    if found == 1:
                        self.landed_anyway += 1
                        return
                    if found > 1:
                        self.problems.append(f"appender: {mid} is {found}x on the server after "
                                             "one failed APPEND")
                        return
                client.append("INBOX", raw)
                return
            except TimeoutError as exc:
                self.problems.append(f"appender gave up on {mid}: {exc}")
                raise
            except Exception:  # noqa: BLE001 - kicked or restarted: reconnect, then look
                if not verify:
                    self.errors += 1
                self._drop()
                verify = True
                if time.monotonic() > deadline:
                    self.problems.append(f"appender could not confirm {mid} within "
                                         f"{APPEND_TIMEOUT:g}s")
                    raise TimeoutError(mid) from None
                time.sleep(0.2)

    def run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                mid, raw, offender = self.source.next()
                self._append_one(mid, raw)
                self.appended.append(mid)
                if offender:
                    self.offenders.add(mid)
                next_at += interval
                now = time.monotonic()
                if now > next_at + 1.0:  # fell behind (a restart): no burst to catch up
                    next_at = now
                self.stop.wait(max(next_at - now, 0.0))
        except TimeoutError:
            pass  # recorded in problems
        except Exception as exc:  # noqa: BLE001 - reported, not raised in a thread
            self.problems.append(f"appender crashed: {type(exc).__name__}: {exc}")
        finally:
            self._drop()


# -- the faults --------------------------------------------------------------------------------


class Faults(threading.Thread):
    """Kicks the user every kick_every s and restarts Dovecot every restart_every s (a restart
    takes the place of a kick due within a second of it)."""

    def __init__(self, server, user: str, kick_every: float, restart_every: float,
                 stop: threading.Event, log) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.server, self.user, self.stop, self.log = server, user, stop, log
        self.kick_every, self.restart_every = kick_every, restart_every
        self.kicks = self.kicks_unconfirmed = self.restarts = 0
        self.problems: list[str] = []

    def _restart(self) -> None:
        for attempt in range(1, 6):
            try:
                if attempt == 1:
                    self.server.restart()
                else:
                    self.server.start()
                return
            except dovecot.DovecotError as exc:
                self.log(f"restart attempt {attempt} failed: {exc}")
                time.sleep(1.0)
        raise dovecot.DovecotError("Dovecot did not come back after 5 attempts")

    def run(self) -> None:
        start = time.monotonic()
        inf = float("inf")
        next_kick = start + self.kick_every if self.kick_every > 0 else inf
        next_restart = start + self.restart_every if self.restart_every > 0 else inf
        try:
            while True:
                due = min(next_kick, next_restart)
                if due == inf or self.stop.wait(max(due - time.monotonic(), 0.0)):
                    return
                if next_restart <= next_kick + 1.0:
                    self._restart()
                    self.restarts += 1
                    self.log(f"restart #{self.restarts}")
                    next_restart += self.restart_every
                    if next_kick <= next_restart - self.restart_every + 1.0:
                        next_kick += self.kick_every
                else:
                    try:
                        self.server.kick(self.user)
                    except dovecot.DovecotError:
                        self.kicks_unconfirmed += 1
                    self.kicks += 1
                    next_kick += self.kick_every
        except Exception as exc:  # noqa: BLE001
            self.problems.append(f"fault thread crashed: {type(exc).__name__}: {exc}")


# -- the daemon --------------------------------------------------------------------------------


def _daemon_command() -> list[str]:
    return [sys.executable, "-c", "from mailguard.cli.main import entry; entry()", "-v", "run"]


def _peak_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _ro_db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'mailguard.sqlite3'}?mode=ro", uri=True, timeout=10)


def _norm(mid: str | None) -> str:
    return " ".join((mid or "").split())


def _decided(home: Path, appended: list[str]) -> tuple[int, int]:
    """(appended Message-IDs with a decision, decisions rows of appended Message-IDs)."""
    wanted = {_norm(m) for m in appended}
    db = _ro_db(home)
    try:
        rows = [_norm(r[0]) for r in db.execute("SELECT message_id FROM decisions")]
    finally:
        db.close()
    rows = [r for r in rows if r in wanted]
    return len(set(rows)), len(rows)


def _caught_up(server, user: str, home: Path, appended: list[str]) -> bool:
    try:
        decided, _ = _decided(home, appended)
        if decided < len(set(appended)):
            return False
        db = _ro_db(home)
        try:
            if db.execute("SELECT 1 FROM moves WHERE state = 'intent' LIMIT 1").fetchone():
                return False
            row = db.execute("SELECT last_uid FROM folder_state WHERE folder = 'INBOX'").fetchone()
        finally:
            db.close()
        with server.client(user) as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search()
        return row is not None and row[0] >= max(uids, default=0)
    except (sqlite3.Error, OSError):
        return False


def _scan_log(path: Path, marker: str, summary: SoakSummary) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    summary.reconnects = sum("reconnecting in" in ln for ln in lines)
    summary.retries = sum("retrying in" in ln for ln in lines)
    summary.reconciled = sum(int(m.group(1)) for ln in lines
                             if (m := re.search(r"reconciling (\d+) interrupted move", ln)))
    errors = [ln for ln in lines if " ERROR " in ln or ln.startswith("Traceback")]
    summary.error_lines = len(errors)
    leaks = [ln for ln in lines if marker in ln or any(p in ln for p in BODY_PHRASES)]
    summary.body_text_in_log = len(leaks)
    for ln in leaks[:3]:
        summary.problems.append(f"body text in the daemon log: {ln[:200]}")
    return errors


# -- the soak ----------------------------------------------------------------------------------


def run_soak(duration: float = 120.0, *, rate: float = 5.0, kick_every: float = 10.0,
             restart_every: float = 30.0, cut_chance: float = 0.1, seed: int = 1234,
             keep: bool = False, verbose: bool = True) -> SoakSummary:
    """Start Dovecot and the daemon, soak for duration seconds under faults, check; returns the
    SoakSummary (its .ok says whether everything held). Dovecot and the daemon are always stopped."""
    def say(text: str) -> None:
        if verbose:
            print(f"[{time.monotonic() - t0:7.1f}s] {text}", flush=True)

    t0 = time.monotonic()
    rng = random.Random(seed)
    marker = f"soakbody{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    summary = SoakSummary()
    root = Path(tempfile.mkdtemp(prefix="mg-soak-"))
    home = Path(tempfile.mkdtemp(prefix="mailguard-soak-home-"))
    summary.home, summary.dovecot_root = str(home), str(root)
    user = f"soak-{uuid.uuid4().hex[:8]}@example.test"
    server = dovecot.DovecotServer(root)
    stop = threading.Event()
    daemon: subprocess.Popen[bytes] | None = None
    appender: Appender | None = None
    faults: Faults | None = None
    log_path = home / "daemon.log"
    proxy = None
    try:
        server.start()
        proxy = faultproxy.FaultProxy(server.host, server.port).start()
        # mailguard talks to Dovecot through the proxy; the appender and the checks directly
        imapkit.write_config(home, SimpleNamespace(host=proxy.host, port=proxy.port), user,
                             imap=DAEMON_IMAP)
        imapkit.seed_history(server, user)
        crash_trials.run_once(home)  # first run: learn only
        say(f"Dovecot on {server.host}:{server.port}, user {user}, MAILGUARD_HOME {home}")

        with open(log_path, "wb") as log:
            daemon = subprocess.Popen(_daemon_command(), env=crash_trials._env(home), stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        # the daemon is up once it is connected (then in IDLE): a fault before its first complete
        # pass would stop it for good, by design (a first connection error is not retried)
        deadline = time.monotonic() + 30
        while daemon.poll() is None and time.monotonic() < deadline:
            who = server.doveadm("who", check=False).stdout.splitlines()[1:]
            if any(line.split()[:1] == [user] for line in who):
                break
            time.sleep(0.1)
        time.sleep(1.0)
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode} on start")
        say(f"daemon pid {daemon.pid} running; soaking for {duration:g}s at {rate:g} msg/s, kick "
            f"every {kick_every:g}s, restart every {restart_every:g}s")

        appender = Appender(server, user, MailSource(rng, marker), rate, stop)
        faults = Faults(server, user, kick_every, restart_every, stop, say)
        if cut_chance > 0:  # random cuts of the daemon's MOVEs and FETCHes, each kind this likely
            cut_rng = random.Random(seed + 1)
            for trigger, cut in CUTS:
                proxy.arm(trigger, cut=cut, after_bytes=4000, chance=cut_chance, rng=cut_rng)
        start = time.monotonic()
        appender.start()
        faults.start()
        end = start + duration
        next_note = start + 30
        while time.monotonic() < end:
            if daemon.poll() is not None:
                summary.problems.append(
                    f"the daemon died {time.monotonic() - start:.1f}s into the soak with exit "
                    f"code {daemon.returncode}")
                break
            if not appender.is_alive():
                summary.problems.append("the appender stopped early")
                break
            if time.monotonic() >= next_note:
                say(f"appended {len(appender.appended)}, kicks {faults.kicks}, restarts "
                    f"{faults.restarts}")
                next_note += 30
            time.sleep(min(0.5, max(end - time.monotonic(), 0)))
        stop.set()
        faults.join(60)
        proxy.disarm()
        summary.cuts = dict(proxy.fired_by)
        appender.join(APPEND_TIMEOUT + 10)
        appends_done = time.monotonic()
        summary.duration_s = appends_done - start
        appended = list(appender.appended)
        summary.appended = len(appended)
        summary.offenders = len(appender.offenders)
        summary.kicks, summary.kicks_unconfirmed = faults.kicks, faults.kicks_unconfirmed
        summary.restarts = faults.restarts
        summary.append_errors, summary.append_landed_anyway = appender.errors, appender.landed_anyway
        summary.problems += faults.problems + appender.problems
        if len(set(appended)) != len(appended):
            summary.problems.append("the appender appended some Message-ID twice")
        if not server.running:
            raise RuntimeError("Dovecot is not running after the faults")
        say(f"faults and appends stopped: {summary.appended} appended, {summary.kicks} kicks, "
            f"{summary.restarts} restarts; waiting for the daemon to catch up")

        deadline = appends_done + CATCH_UP_TIMEOUT
        while time.monotonic() < deadline and daemon.poll() is None:
            if _caught_up(server, user, home, appended):
                summary.catch_up_s = time.monotonic() - appends_done
                break
            time.sleep(0.25)
        if summary.catch_up_s is None and daemon.poll() is None:
            summary.problems.append(f"the daemon did not catch up within {CATCH_UP_TIMEOUT:g}s")
        summary.alive_at_end = daemon.poll() is None
        if not summary.alive_at_end and not any("daemon died" in p for p in summary.problems):
            summary.problems.append(f"the daemon exited with {daemon.returncode} before SIGTERM")
        summary.peak_rss_kib = _peak_rss_kib(daemon.pid)
        if summary.alive_at_end:
            os.kill(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                summary.problems.append(f"the daemon did not exit {STOP_TIMEOUT:g}s after SIGTERM")
        summary.exit_code = daemon.poll()
        say(f"daemon exited with {summary.exit_code}; checking")

        result = crash_trials.TrialResult(trial=0, kill_after=0.0, killed=False)
        crash_trials.check(server, user, home, appended, appender.offenders, result)
        summary.checked, summary.lost, summary.duplicated = result.checked, result.lost, result.duplicated
        summary.misplaced, summary.log_disagreements = result.misplaced, result.log_disagreements
        summary.problems += result.problems
        summary.decided, summary.decision_rows = _decided(home, appended)
        db = _ro_db(home)
        try:
            summary.moved = db.execute("SELECT count(*) FROM moves WHERE state = 'done' "
                                       "AND reason LIKE 'sync: %'").fetchone()[0]
        finally:
            db.close()
        errors = _scan_log(log_path, marker, summary)
        if errors and verbose:
            say(f"{len(errors)} error lines in the daemon log, first: {errors[0][:300]}")
    except Exception as exc:  # noqa: BLE001 - a soak that cannot finish is a failure, reported
        summary.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        stop.set()
        if daemon is not None and daemon.poll() is None:  # never leave it running
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)
            if summary.exit_code is None:
                summary.exit_code = daemon.returncode
        for thread in (faults, appender):
            if thread is not None:
                thread.join(15)
        if proxy is not None:
            proxy.stop()
        server.stop()
        if keep:
            if verbose:
                print(f"kept: MAILGUARD_HOME {home} (daemon.log), Dovecot {root}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
    if verbose:
        print(summary.line(), flush=True)
        print(summary.report(), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of soak (default 120)")
    parser.add_argument("--rate", type=float, default=5.0, help="messages appended per second")
    parser.add_argument("--kick-every", type=float, default=10.0,
                        help="doveadm kick the user every this many seconds (0: never)")
    parser.add_argument("--restart-every", type=float, default=30.0,
                        help="restart Dovecot every this many seconds (0: never)")
    parser.add_argument("--cut-chance", type=float, default=0.1,
                        help="probability of each kind of cut for each MOVE / FETCH (0: none)")
    parser.add_argument("--seed", type=int, default=1234, help="message order and body marker")
    parser.add_argument("--keep", action="store_true",
                        help="keep MAILGUARD_HOME (with daemon.log) and the Dovecot directory")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be > 0")
    summary = run_soak(args.duration, rate=args.rate, kick_every=args.kick_every,
                       restart_every=args.restart_every, cut_chance=args.cut_chance,
                       seed=args.seed, keep=args.keep)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
