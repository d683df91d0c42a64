"""Faults while the daemon runs, against a real Dovecot (issue 6): the connection cut mid-FETCH
and mid-MOVE (tests/faultproxy.py cuts it at that exact command), the server restarted, a
message expunged by another client between FETCH and MOVE, the quarantine folder deleted, the
watched mailbox read-only, the state database's disk full or the database read-only.

Each must give a clear log line and recover by itself, and every message must end up in exactly
one folder, with the moves table agreeing (conserved())."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from dovecot import DovecotServer
from faultproxy import FaultProxy
from imapkit import (
    ACME,
    OFFENDERS,
    PASSWORD_ENV,
    QUARANTINE,
    append_all,
    config_of,
    moves,
    new_mail,
    open_store,
    seed_history,
    snapshot,
    write_config,
)
from imapkit import wait_until as _wait_until
from mailfactory import day, newsletter

from mailguard.imap.daemon import Daemon
from mailguard.errors import StoreError
from mailguard.imap.session import load_accounts
from mailguard.store import DB_NAME, Store

pytestmark = pytest.mark.dovecot

FAST = "idle_slice_seconds = 0.5\npoll_seconds = 600\n"
KEEP = {"<coffee@acme.io>", "<shop2@shop.example>"}
HISTORY = {"<hello@acme.io>", "<shop1@shop.example>", "<blast0@acme.io>"}

#: recovering includes back-off waits: give it longer than imapkit's default
wait_until = functools.partial(_wait_until, timeout=20)


@pytest.fixture
def caplog_info(caplog):
    caplog.set_level(logging.INFO, logger="mailguard")
    return caplog


@pytest.fixture
def daemons(model):
    """make(home, start=True) -> a Daemon for the config in home with a fast back-off (stopped at
    the end); start=False leaves starting to the test."""
    made: list[Daemon] = []

    def make(home: Path, *, start: bool = True, **options) -> Daemon:
        cfg = config_of(home)
        d = Daemon(cfg, load_accounts(cfg), model=model, min_backoff=0.05, max_backoff=0.3,
                   **options)
        made.append(d)
        if start:
            d.start(ready_timeout=30)
        return d

    yield make
    for d in made:
        d.stop(timeout=10)


@pytest.fixture
def proxy(dovecot):
    p = FaultProxy(dovecot.host, dovecot.port).start()
    yield p
    p.stop()


def via(proxy: FaultProxy) -> SimpleNamespace:
    """What write_config needs of a server, pointing at the proxy."""
    return SimpleNamespace(host=proxy.host, port=proxy.port)


def settled(server: DovecotServer, user: str, home: Path, expect_quarantine: set[str]) -> Callable[[], bool]:
    def check() -> bool:
        return (set(snapshot(server, user, QUARANTINE)) == expect_quarantine
                and all(r["state"] != "intent" for r in moves(home)))
    return check


def conserved(server: DovecotServer, user: str, home: Path, *, everything: set[str],
              quarantined: set[str]) -> None:
    """Every message in exactly one folder (snapshot() asserts no duplicate), the offenders in the
    quarantine, the rest in INBOX, one 'done' move per quarantined message."""
    inbox, quarantine = set(snapshot(server, user)), set(snapshot(server, user, QUARANTINE))
    assert inbox | quarantine == everything
    assert not inbox & quarantine
    assert quarantine == quarantined
    done = sorted(r["message_id"] for r in moves(home) if r["state"] == "done")
    assert done == sorted(quarantined)


def decision_counts(home: Path, ids: set[str]) -> dict[str, int]:
    with open_store(home) as store:
        rows = store.execute("SELECT message_id, COUNT(*) FROM decisions GROUP BY message_id")
        return {mid: n for mid, n in rows if mid in ids}


def worker_alive(d: Daemon) -> bool:
    return all(w.thread.is_alive() and w.error is None for w in d.workers)


def logged(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


# -- the connection cut at an exact command ---------------------------------------------------


def test_connection_cut_mid_fetch_reconnects_and_resumes(dovecot, imap_user, home, proxy, daemons,
                                                         caplog_info):
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user, imap=FAST)
    d = daemons(home)
    proxy.arm(b"UID FETCH", cut="mid-response", after_bytes=400)  # a part of the first message
    append_all(dovecot, imap_user, new_mail())

    wait_until(settled(dovecot, imap_user, home, OFFENDERS), what="offenders quarantined")

    assert proxy.fired == 1 and worker_alive(d)
    assert logged(caplog_info, "lost during UID FETCH") and logged(caplog_info, "reconnecting in")
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)


@pytest.mark.parametrize("cut", ["before-command", "after-command"])
def test_connection_cut_mid_move_is_reconciled_without_loss_or_duplicate(
        dovecot, imap_user, home, proxy, daemons, caplog_info, cut):
    """before-command: the MOVE never reached the server; after-command: the server moved the
    messages but the answer was lost. Either way the intents are reconciled after reconnecting."""
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user, imap=FAST)
    daemons(home, once=True).wait()  # the first run, then all four new messages in one batch
    append_all(dovecot, imap_user, new_mail())
    proxy.arm(b"UID MOVE", cut=cut)
    d = daemons(home)

    wait_until(settled(dovecot, imap_user, home, OFFENDERS), what="offenders quarantined")

    assert proxy.fired == 1 and worker_alive(d)
    assert logged(caplog_info, "lost during MOVE")
    assert logged(caplog_info, "reconciling 2 interrupted move(s)")
    outcome = "had completed" if cut == "after-command" else "had not happened: moved now"
    assert len(logged(caplog_info, outcome)) == 2
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)
    # the batch came again after the reconnect; nothing in it was decided (and logged) twice
    assert decision_counts(home, KEEP | OFFENDERS) == dict.fromkeys(KEEP | OFFENDERS, 1)


def test_back_off_resets_when_a_dropped_connection_had_made_progress(
        dovecot, imap_user, home, proxy, model, caplog_info):
    """Four offenders, one per batch, and the connection cut after each MOVE: every reconnect
    reconciles the last move (progress), so the wait stays at the first step instead of
    doubling to 8 s, and all four end up moved."""
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user, imap=FAST + "batch_size = 1\n")
    cfg = config_of(home)
    d = Daemon(cfg, load_accounts(cfg), model=model, min_backoff=0.5, max_backoff=60)
    d.start(ready_timeout=30)
    try:
        for _ in range(4):
            proxy.arm(b"UID MOVE", cut="after-command")
        blasts = {f"<burst{i}@acme.io>" for i in range(4)}
        append_all(dovecot, imap_user, [
            newsletter(f"Acme News <{ACME}>", when=day(10 + i), msgid=f"<burst{i}@acme.io>")
            for i in range(4)])
        wait_until(settled(dovecot, imap_user, home, blasts), timeout=30, what="all four moved")
    finally:
        d.stop(timeout=10)
    assert proxy.fired == 4
    waits = [line.rsplit("reconnecting in ", 1)[1] for line in logged(caplog_info, "reconnecting in")]
    assert len(waits) == 4 and set(waits) == {"0.5s"}, waits
    assert len(logged(caplog_info, "had completed: marked done")) == 4


def test_connection_cut_between_copy_and_expunge_completes_the_move(
        dovecot_nomove, imap_user, home, daemons, caplog_info):
    """Without MOVE a move is COPY, then \\Deleted and UID EXPUNGE: cut right after the COPY, the
    copies are in the quarantine and the originals still in INBOX. After reconnecting, the
    originals are removed because they are byte for byte the copies: one of each, nothing lost."""
    proxy = FaultProxy(dovecot_nomove.host, dovecot_nomove.port).start()
    try:
        seed_history(dovecot_nomove, imap_user)
        write_config(home, via(proxy), imap_user, imap=FAST)
        d = daemons(home)
        proxy.arm(b"UID COPY", cut="after-command")
        append_all(dovecot_nomove, imap_user, new_mail())

        wait_until(settled(dovecot_nomove, imap_user, home, OFFENDERS), what="offenders quarantined")
        wait_until(lambda: not OFFENDERS & set(snapshot(dovecot_nomove, imap_user)),
                   what="originals removed")

        assert proxy.fired == 1 and worker_alive(d)
        assert logged(caplog_info, "lost during COPY")
        # the cut COPY held both offenders, or only the first when the daemon woke up before
        # the second was appended (a busy machine)
        assert 1 <= len(logged(caplog_info, "is identical; completed")) <= 2
        conserved(dovecot_nomove, imap_user, home, everything=HISTORY | KEEP | OFFENDERS,
                  quarantined=OFFENDERS)
    finally:
        proxy.stop()


def test_server_restart_while_running(_dovecot_servers, imap_user, home, daemons, caplog_info):
    server = _dovecot_servers()  # its own server: restarting it disturbs no other test
    seed_history(server, imap_user)
    write_config(home, server, imap_user, imap=FAST)
    d = daemons(home)
    server.restart()  # the daemon is in IDLE: it gets BYE, then refused connections for a while
    append_all(server, imap_user, new_mail())

    wait_until(settled(server, imap_user, home, OFFENDERS), what="offenders quarantined")

    assert worker_alive(d)
    assert logged(caplog_info, "reconnecting in")
    conserved(server, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)


# -- other clients ------------------------------------------------------------------------------


def _expunge(server: DovecotServer, user: str, message_id: str) -> None:
    """Another client deletes a message (the user, in their mail app)."""
    with server.client(user) as client:
        client.select_folder("INBOX")
        uids = client.search(["HEADER", "Message-ID", message_id])
        assert uids
        client.delete_messages(uids)
        client.uid_expunge(uids)


def test_message_expunged_between_fetch_and_move(dovecot, imap_user, home, daemons, caplog_info):
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap=FAST)
    fired: list[str] = []

    def other_client_expunges(phase: str) -> None:
        if phase == "decided" and not fired:
            fired.append(phase)
            _expunge(dovecot, imap_user, "<df@dataflow.io>")

    d = daemons(home, checkpoint=other_client_expunges)
    append_all(dovecot, imap_user, new_mail())

    wait_until(settled(dovecot, imap_user, home, {"<blast1@acme.io>"}), what="Acme's blast moved")

    assert fired and worker_alive(d)
    (line,) = logged(caplog_info, "was expunged by another client before it could be moved")
    assert "<df@dataflow.io>" in line
    rows = {r["message_id"]: r for r in moves(home)}
    assert rows["<df@dataflow.io>"]["state"] == "failed"
    assert "expunged from INBOX by another client" in rows["<df@dataflow.io>"]["reason"]
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | {"<blast1@acme.io>"},
              quarantined={"<blast1@acme.io>"})
    # and the daemon goes on
    dovecot.append(imap_user, newsletter(f"Acme News <{ACME}>", when=day(13), msgid="<blast2@acme.io>"))
    wait_until(settled(dovecot, imap_user, home, {"<blast1@acme.io>", "<blast2@acme.io>"}))


def test_quarantine_deleted_while_running_is_created_again(dovecot, imap_user, home, daemons,
                                                          caplog_info):
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap=FAST)
    d = daemons(home)
    mail = new_mail()
    dovecot.append(imap_user, mail[0])  # Tom's company: moved
    wait_until(settled(dovecot, imap_user, home, {"<df@dataflow.io>"}))
    with dovecot.client(imap_user) as client:  # the user deletes the folder, and what it held
        client.delete_folder(QUARANTINE)
    append_all(dovecot, imap_user, mail[1:])

    wait_until(settled(dovecot, imap_user, home, {"<blast1@acme.io>"}), what="Acme's blast moved")

    assert worker_alive(d)
    assert logged(caplog_info, f"the quarantine folder {QUARANTINE} is gone")
    assert set(snapshot(dovecot, imap_user)) == HISTORY | KEEP
    assert [r["state"] for r in moves(home)] == ["done", "done"]


def test_read_only_mailbox_is_retried_until_writable(dovecot, imap_user, home, daemons, caplog_info):
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap=FAST)
    daemons(home, once=True).wait()  # the first run: learn the history
    append_all(dovecot, imap_user, new_mail())
    maildir = dovecot.root / "mail" / imap_user
    parts = [maildir, maildir / "cur", maildir / "new", maildir / "tmp"]
    modes = {p: p.stat().st_mode & 0o777 for p in parts}
    for p in parts:  # the server opens INBOX read-only now (Dovecot runs as user mail)
        p.chmod(0o555)
    try:
        d = daemons(home, start=False)
        for w in d.workers:
            w.start()
        wait_until(lambda: len(logged(caplog_info, "is read-only")) >= 2, what="read-only retried")
        line = logged(caplog_info, "is read-only")[0]
        assert "INBOX" in line and "nothing is moved" in line and "retrying in" in line
        assert worker_alive(d)
        assert not snapshot(dovecot, imap_user, QUARANTINE) and not moves(home)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)

    wait_until(settled(dovecot, imap_user, home, OFFENDERS), what="offenders quarantined")
    assert worker_alive(d)
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)


# -- the state database ------------------------------------------------------------------------


@pytest.fixture
def small_disk(monkeypatch):
    """A 16 MiB tmpfs for MAILGUARD_HOME (root can mount; CI runs as root), unmounted after."""
    mnt = Path(tempfile.mkdtemp(prefix="mailguard-disk-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): {done.stderr}",
                    pytrace=False)
    home = mnt / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    yield SimpleNamespace(mnt=mnt, home=home)
    subprocess.run(["umount", "-l", str(mnt)], check=False)
    shutil.rmtree(mnt, ignore_errors=True)


def _fill(path: Path) -> None:
    """Write zeros to path until the file system is full (unbuffered: nothing left to flush)."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


def test_state_database_disk_full_moves_nothing_then_recovers(dovecot, imap_user, small_disk,
                                                              daemons, caplog_info):
    home = small_disk.home
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap=FAST)
    d = daemons(home)
    filler = small_disk.mnt / "filler"
    _fill(filler)
    append_all(dovecot, imap_user, new_mail())
    try:
        wait_until(lambda: len(logged(caplog_info, "the disk holding it is full")) >= 2,
                   what="disk-full errors retried")
        line = logged(caplog_info, "the disk holding it is full")[0]
        assert "database or disk is full" in line and "retrying in" in line
        assert worker_alive(d)
        assert not snapshot(dovecot, imap_user, QUARANTINE)  # nothing moved without its intent
        assert all(r["state"] != "done" for r in moves(home))
    finally:
        filler.unlink()

    wait_until(settled(dovecot, imap_user, home, OFFENDERS), what="offenders quarantined")
    assert worker_alive(d)
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)


def test_state_database_read_only_while_running_moves_nothing_then_recovers(
        dovecot, imap_user, home, daemons, caplog_info):
    """A file system that turns read-only under an open database cannot be made here (Linux
    refuses to remount a file system read-only while a file on it is open for writing), so the
    worker's own connection is switched to sqlite's query_only mode: its writes then fail with
    SQLITE_READONLY, as they would on a read-only disk."""
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap=FAST)
    d = daemons(home)
    (worker,) = d.workers
    assert worker.sync is not None
    db = worker.sync.store.db
    db.execute("PRAGMA query_only = ON")
    append_all(dovecot, imap_user, new_mail())
    try:
        wait_until(lambda: len(logged(caplog_info, "it is read-only")) >= 2, what="read-only retried")
        line = logged(caplog_info, "it is read-only")[0]
        assert "attempt to write a readonly database" in line and "retrying in" in line
        assert worker_alive(d)
        assert not snapshot(dovecot, imap_user, QUARANTINE)
    finally:
        db.execute("PRAGMA query_only = OFF")

    wait_until(settled(dovecot, imap_user, home, OFFENDERS), what="offenders quarantined")
    conserved(dovecot, imap_user, home, everything=HISTORY | KEEP | OFFENDERS, quarantined=OFFENDERS)


def test_state_database_on_a_read_only_file_system_at_start_is_one_clear_error(small_disk):
    home = small_disk.home
    with Store(home / DB_NAME):
        pass
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk.mnt)], check=True)
    try:
        with pytest.raises(StoreError) as caught:
            Store(home / DB_NAME).close()
        assert caught.value.retryable
        assert str(caught.value).endswith("it is on a read-only file system")
        assert str(caught.value).startswith(f"cannot open state database {home / DB_NAME}")
        assert "\n" not in str(caught.value)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk.mnt)], check=True)
    with Store(home / DB_NAME) as store:  # writable again: works, nothing lost
        assert store.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] >= 1
    assert os.stat(home / DB_NAME).st_mode & 0o777 == 0o600
