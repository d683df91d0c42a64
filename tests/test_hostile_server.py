"""Issue 13: a hostile IMAP server. The response parsers on byte literals; then the real Dovecot
behind tests/faultproxy.py, which rewrites its answers into what a broken or hostile server could
send: a COPYUID with a four-billion-UID range, a UIDVALIDITY that is not a number, RFC822.SIZE NIL.
Only UIDs that were asked for are used; a malformed answer is an ImapError (one line, the account
retries or stops cleanly), never a traceback."""

from __future__ import annotations

import logging
import tracemalloc
from types import SimpleNamespace

import pytest
from faultproxy import FaultProxy
from imapkit import (
    OFFENDERS,
    QUARANTINE,
    append_all,
    config_of,
    new_mail,
    one_pass,
    seed_history,
    snapshot,
    wait_until,
    write_config,
)

from mailguard.cli.main import main
from mailguard.imap.daemon import Daemon
from mailguard.errors import ImapError
from mailguard.imap.client import parse_copyuid
from mailguard.imap.session import load_accounts

# -- COPYUID on byte literals -------------------------------------------------------------------


def test_copyuid_maps_only_the_uids_asked_for_without_expanding_ranges():
    tracemalloc.start()
    try:
        result = parse_copyuid(b"7 1:4000000000 1:4000000000", wanted=[3, 9, 4000000001])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result == (7, {3: 3, 9: 9})
    assert peak < 1_000_000


def test_copyuid_pairs_the_sets_by_position():
    assert parse_copyuid(b"38505 304,319:320 3956:3958", wanted=[319, 320, 304, 5]) == (
        38505, {304: 3956, 319: 3957, 320: 3958})
    assert parse_copyuid("7 4,1 10:11", wanted=[1, 4]) == (7, {4: 10, 1: 11})
    assert parse_copyuid(b"7 3:1 12:10", wanted=[1, 2, 3]) == (7, {1: 10, 2: 11, 3: 12})
    assert parse_copyuid(b"7 1:1000000 5000001:6000000", wanted=[999999]) == (7, {999999: 5999999})


@pytest.mark.parametrize("data", [
    b"7 1:3 10", b"x 1 2", b"7 1:x 2", b"7 0 5", b"7 1 0", b"7 1 4294967296", b"7 1 2 3", b"",
    b"7 1:4000000000 1:3999999999", b"7 " + b"1," * 100000 + b"1 2", b"7 1:* 2:3", b"7 -1 2",
])
def test_malformed_copyuid_is_a_value_error(data):
    with pytest.raises(ValueError):
        parse_copyuid(data, wanted=[1])


# -- the real server, its answers rewritten -------------------------------------------------------


@pytest.fixture
def proxy(dovecot):
    p = FaultProxy(dovecot.host, dovecot.port).start()
    yield p
    p.stop()


def via(proxy: FaultProxy) -> SimpleNamespace:
    return SimpleNamespace(host=proxy.host, port=proxy.port)


def no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.dovecot
def test_huge_copyuid_range_costs_no_memory_and_moves_the_offenders(dovecot, imap_user, home,
                                                                    proxy, model):
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user)
    one_pass(home, model)
    append_all(dovecot, imap_user, new_mail())
    proxy.rewrite(rb"\[COPYUID (\d+) [0-9:,]+ [0-9:,]+\]", rb"[COPYUID \1 1:4000000000 1:4000000000]")
    tracemalloc.start()
    try:
        report = one_pass(home, model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert proxy.rewritten and {m.decision.message_id for m in report.moved} == OFFENDERS
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    assert peak < 200_000_000


@pytest.mark.dovecot
def test_rfc822_size_nil_is_tolerated(dovecot, imap_user, home, proxy, model, caplog):
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user)
    proxy.rewrite(rb"RFC822\.SIZE \d+", b"RFC822.SIZE NIL")
    assert one_pass(home, model).learned == 4
    append_all(dovecot, imap_user, new_mail())
    report = one_pass(home, model)
    assert proxy.rewritten and {m.decision.message_id for m in report.moved} == OFFENDERS
    no_tracebacks(caplog)


@pytest.mark.dovecot
@pytest.mark.parametrize("bad", [b"[UIDVALIDITY x123]", b"[UIDVALIDITY 99999999999999999999]"])
def test_malformed_uidvalidity_stops_run_once_with_one_line(dovecot, imap_user, home, proxy, capsys,
                                                            caplog, bad):
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user)
    proxy.rewrite(rb"\[UIDVALIDITY \d+\]", bad)
    code = main(["run", "--once"])
    err = capsys.readouterr().err
    assert proxy.rewritten and code == 1
    assert len(err.strip().splitlines()) == 1 and "UIDVALIDITY" in err, err
    no_tracebacks(caplog)


@pytest.mark.dovecot
def test_malformed_answer_while_running_is_logged_and_retried(dovecot, imap_user, home, proxy,
                                                              model, caplog):
    """After the first pass the daemon meets a malformed SELECT answer: one error line per try, no
    traceback, the worker stays up and catches up once the server answers properly again."""
    seed_history(dovecot, imap_user)
    write_config(home, via(proxy), imap_user, imap="poll_seconds = 0.2\nidle = false")
    cfg = config_of(home)
    d = Daemon(cfg, load_accounts(cfg), model=model, min_backoff=0.05, max_backoff=0.2)
    caplog.set_level(logging.INFO, logger="mailguard")
    d.start(ready_timeout=30)
    try:
        proxy.rewrite(rb"\[UIDVALIDITY \d+\]", b"[UIDVALIDITY x123]")
        append_all(dovecot, imap_user, new_mail())
        wait_until(lambda: any("UIDVALIDITY" in m and "retrying" in m for m in caplog.messages),
                   what="the malformed answer logged")
        assert all(w.thread.is_alive() and w.error is None for w in d.workers)
        proxy.clear_rewrites()
        wait_until(lambda: set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS, timeout=20,
                   what="offenders moved once the server answers properly")
    finally:
        d.stop(timeout=10)
    no_tracebacks(caplog)
    assert not d.errors


@pytest.mark.dovecot
def test_select_without_a_number_raises_imap_error(dovecot, imap_user, home, proxy):
    """The adapter itself: a malformed SELECT answer is an ImapError, and the account reconnects."""
    from mailguard.imap.session import open_account

    write_config(home, via(proxy), imap_user)
    proxy.rewrite(rb"\* (\d+) EXISTS", rb"* many EXISTS")
    with open_account(config_of(home)) as account:
        with pytest.raises(ImapError, match="malformed"):
            account.select("INBOX")
        proxy.clear_rewrites()
        account.connect()
        assert account.select("INBOX").uidvalidity == dovecot.uidvalidity(imap_user)
