"""mailguard.imap.daemon against a real Dovecot: IDLE picks up new mail, polling without IDLE, reconnect
after a dropped connection, several accounts side by side, stop (and SIGTERM) finishing the
current batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dovecot import DovecotServer
from imapkit import (
    DATAFLOW,
    OFFENDERS,
    QUARANTINE,
    append_all,
    config_of,
    new_mail,
    open_store,
    seed_history,
    snapshot,
    wait_until,
    write_config,
)

from mailguard.imap.daemon import Daemon
from mailguard.imap.session import load_accounts
from mailguard.imap.sync import PassReport

pytestmark = pytest.mark.dovecot

FAST = "idle_slice_seconds = 0.5\npoll_seconds = 600\n"


@pytest.fixture
def daemons(home, model):
    """start(**options) -> a started Daemon for the config in home (stopped at the end)."""
    started: list[Daemon] = []
    reports: list[PassReport] = []

    def start(**options) -> Daemon:
        cfg = config_of(home)
        d = Daemon(cfg, load_accounts(cfg), model=model, min_backoff=0.05, max_backoff=0.2,
                   on_report=reports.append, **options)
        started.append(d)
        d.start(ready_timeout=30)
        return d

    start.reports = reports  # type: ignore[attr-defined]
    yield start
    for d in started:
        d.stop(timeout=10)


def in_quarantine(server: DovecotServer, user: str, mid: str) -> Callable[[], bool]:
    return lambda: mid in snapshot(server, user, QUARANTINE)


def wait_for_idle(d: Daemon) -> None:
    """Until every worker is in IDLE: the server accepted it, so new mail is announced to it."""
    wait_until(lambda: all(w.idling for w in d.workers), what="the workers in IDLE")


def test_idle_picks_up_a_new_message_and_moves_it(dovecot, imap_user, home, daemons):
    write_config(home, dovecot, imap_user, imap=FAST)
    seed_history(dovecot, imap_user)
    d = daemons()
    worker = d.workers[0]
    assert worker.passes == 1 and worker.account is not None and worker.account.has("IDLE")
    wait_for_idle(d)
    append_all(dovecot, imap_user, new_mail()[:2])  # an offender and a personal note
    took = wait_until(in_quarantine(dovecot, imap_user, "<df@dataflow.io>"))
    assert took < 3.0
    assert "<coffee@acme.io>" in snapshot(dovecot, imap_user)
    t0 = time.monotonic()
    d.stop(timeout=10)
    assert not worker.thread.is_alive() and time.monotonic() - t0 < 3.0
    assert worker.error is None
    with open_store(home) as store:
        runs = list(store.execute("SELECT kind, finished FROM runs"))
    assert [(r["kind"], bool(r["finished"])) for r in runs] == [("imap", True)]  # one run, ended


def test_reconnects_after_the_connection_is_dropped_and_resumes(dovecot, imap_user, home, daemons):
    write_config(home, dovecot, imap_user, imap=FAST)
    seed_history(dovecot, imap_user)
    d = daemons()
    wait_for_idle(d)
    dovecot.kick(imap_user)  # "BYE Server shutting down" in the middle of IDLE
    append_all(dovecot, imap_user, new_mail())
    wait_until(lambda: set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS)
    wait_until(lambda: move_states(home) == ["done", "done"])  # committed just after the MOVE
    assert d.workers[0].error is None and d.workers[0].thread.is_alive()


def move_states(home: Path) -> list[str]:
    with open_store(home) as store:
        return [r[0] for r in store.execute("SELECT state FROM moves ORDER BY id")]


def test_polls_when_idle_is_off(dovecot, imap_user, home, daemons):
    write_config(home, dovecot, imap_user, imap="idle = false\npoll_seconds = 0.3\n")
    seed_history(dovecot, imap_user)
    daemons()
    append_all(dovecot, imap_user, new_mail())
    wait_until(lambda: set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS)


def test_two_accounts_side_by_side(dovecot, imap_user, home, daemons):
    other = "second-" + imap_user
    write_config(home, dovecot, imap_user, imap=FAST, rest=f"""
[[accounts]]
name = "first"
username = "{imap_user}"

[[accounts]]
name = "second"
username = "{other}"
quarantine = "Promo"
""")
    for user in (imap_user, other):
        seed_history(dovecot, user)
    d = daemons()
    assert [w.name for w in d.workers] == ["first", "second"]
    for user in (imap_user, other):
        append_all(dovecot, user, new_mail())
    wait_until(lambda: set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS)
    wait_until(lambda: set(snapshot(dovecot, other, "Promo")) == OFFENDERS)
    wait_until(lambda: move_states(home) == ["done"] * 4)
    with open_store(home) as store:
        accounts = sorted({r[0] for r in store.execute("SELECT account FROM moves")})
    assert accounts == ["first", "second"]


def test_stop_finishes_the_current_batch_and_the_next_run_resumes(dovecot, imap_user, home, daemons,
                                                                   model):
    write_config(home, dovecot, imap_user, imap="batch_size = 2\n" + FAST)
    seed_history(dovecot, imap_user)
    daemons(once=True)  # first run
    append_all(dovecot, imap_user, new_mail())  # batches: [Dataflow, Jane] and [Acme, shop]
    holder: list[Daemon] = []

    def stop_mid_batch(phase: str) -> None:
        if phase == "decided":
            holder[0].stopping.set()  # SIGTERM arrives while the first batch is being handled

    cfg = config_of(home)
    d = Daemon(cfg, load_accounts(cfg), model=model, checkpoint=stop_mid_batch)
    holder.append(d)
    for w in d.workers:
        w.start()
    d.wait()
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == {"<df@dataflow.io>"}  # batch 1 done
    with open_store(home) as store:
        assert [r[0] for r in store.execute("SELECT state FROM moves")] == ["done"]
    daemons(once=True)  # the next run picks up from the last committed UID
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS


def test_once_survives_a_dropped_connection(dovecot, imap_user, home, daemons):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    daemons(once=True)
    append_all(dovecot, imap_user, new_mail())
    kicked: list[str] = []

    def kick(phase: str) -> None:
        if phase == "intents" and not kicked:
            kicked.append(phase)
            dovecot.kick(imap_user)

    d = daemons(once=True, checkpoint=kick)
    d.wait()
    assert kicked and d.errors == []
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS


def test_sigterm_stops_mailguard_run_cleanly(dovecot, imap_user, home, tmp_path):
    write_config(home, dovecot, imap_user, imap=FAST)
    seed_history(dovecot, imap_user)
    env = dict(os.environ, MAILGUARD_HOME=str(home), PYTHONUNBUFFERED="1")
    out = tmp_path / "out.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailguard.cli.main", "run"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: b"first run" in out.read_bytes(), timeout=30)
            append_all(dovecot, imap_user, [new_mail()[0]])
            wait_until(lambda: b"moved news@dataflow.io" in out.read_bytes())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = out.read_text()
    assert "SIGTERM: finishing the current batch" in text
    assert "Traceback" not in text
    assert f'moved {DATAFLOW} "Dataflow 2.0 is here" from INBOX to {QUARANTINE}' in text


def test_allow_and_block_made_while_running_are_respected(dovecot, imap_user, home, daemons):
    """`mailguard allow` / `block` write the store from another process: the next pass uses them."""
    write_config(home, dovecot, imap_user, imap=FAST)
    seed_history(dovecot, imap_user)
    d = daemons()
    with open_store(home) as store:
        store.set_sender_rule("acme.io", "allowed")
        store.set_sender_rule("hi@shop.example", "blocked")
    append_all(dovecot, imap_user, new_mail())
    # every pass reports when it is over: once the passes reported have decided the four new
    # messages, the one that decided Acme's blast is finished, and any move of it would be done
    wait_until(lambda: sum(r.decided for r in daemons.reports) >= 4, what="four messages decided")
    with open_store(home) as store:
        (blast,) = store.decisions(where="message_id = ?", params=["<blast1@acme.io>"])
    assert blast["action"] != "move" and "allow" in blast["reasons"]
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == {"<df@dataflow.io>", "<shop2@shop.example>"}
    assert "<blast1@acme.io>" in snapshot(dovecot, imap_user)
    assert d.workers[0].error is None


def test_mail_arriving_during_a_pass_is_not_missed(dovecot, imap_user, home, daemons):
    """The server announces new mail once; one announced in the middle of a pass (and swallowed
    by that pass's commands) is still picked up, long before the periodic pass (600 s)."""
    write_config(home, dovecot, imap_user, imap=FAST)
    seed_history(dovecot, imap_user)
    late = new_mail()[2]  # Acme's blast
    sent: list[bool] = []

    def arrive_mid_pass(phase: str) -> None:
        if phase == "decided" and not sent:
            sent.append(True)
            dovecot.append(imap_user, late)

    d = daemons(checkpoint=arrive_mid_pass)
    wait_for_idle(d)
    append_all(dovecot, imap_user, new_mail()[:2])
    wait_until(lambda: set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS, timeout=8)
    assert sent
