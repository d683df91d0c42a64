"""A first run over a folder of at least MIN_PARALLEL messages starts the worker processes right
after selecting it, so they start while the folder is searched and its first batch fetched; a
smaller folder starts none (its batches are analysed in-process). Real Dovecot."""

from __future__ import annotations

import pytest
from imapkit import account_of, config_of, open_store, write_config
from mailfactory import day, newsletter, personal

from mailguard import parallel
from mailguard.imap.account import ImapAccount
from mailguard.imap.history import HistoryLearning
from mailguard.imap.session import make_account
from mailguard.imap.sync import AccountSync, make_pipeline
from test_first_sync_state import deliver

pytestmark = pytest.mark.dovecot


@pytest.fixture(autouse=True)
def no_pool():
    parallel.shutdown()
    yield
    parallel.shutdown()


def _first_run(dovecot, tmp_path, monkeypatch, model, n: int, late: int = 0) -> tuple[list[bool], int]:
    """Deliver n messages, run a first pass with 2 workers; (whether the pool existed at each
    UID FETCH sent, messages learned). ``late``: messages delivered once the first run has
    learned the folder, before the pass acts on what came after it."""
    user = f"warm{n}-{tmp_path.name[-10:]}@example.test".lower()
    deliver(dovecot, user, [newsletter(f"Shop {i} <hi@shop{i}.example>", when=day(i % 20),
                                       msgid=f"<w{i}@shop.example>") if i % 2 else
                            personal(f"P {i} <p{i}@acme.example>", when=day(i % 20),
                                     msgid=f"<p{i}@acme.example>") for i in range(n)])
    home = tmp_path / f"home{n}"
    write_config(home, dovecot, user, rest="[performance]\nworkers = 2\n")
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    monkeypatch.setenv("MAILGUARD_TEST_IMAP_PASSWORD", "secret")
    pool_at_fetch: list[bool] = []
    fetch_ahead = ImapAccount.fetch_ahead

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        pool_at_fetch.append(parallel._POOL is not None)
        return fetch_ahead(self, *args, **kwargs)

    monkeypatch.setattr(ImapAccount, "fetch_ahead", spy)
    first_run = HistoryLearning._first_run

    def then_more(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        done = first_run(self, *args, **kwargs)
        deliver(dovecot, user, [newsletter(f"Late {i} <hi@late{i}.example>", msgid=f"<l{i}@late.example>")
                                for i in range(late)])
        return done

    monkeypatch.setattr(HistoryLearning, "_first_run", then_more)
    cfg, acct = config_of(home), account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        assert pipeline.workers == 2
        report = AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days).run_pass()
        pipeline.finish()
    return pool_at_fetch, report.learned


def test_a_large_first_run_starts_the_workers_before_its_first_fetch(dovecot, tmp_path, monkeypatch, model):
    pool_at_fetch, learned = _first_run(dovecot, tmp_path, monkeypatch, model, parallel.MIN_PARALLEL + 6)
    assert learned == parallel.MIN_PARALLEL + 6
    assert pool_at_fetch[:1] == [True]
    assert parallel._POOL is not None and parallel._POOL[0] == 2


def test_a_small_first_run_starts_no_workers(dovecot, tmp_path, monkeypatch, model):
    pool_at_fetch, learned = _first_run(dovecot, tmp_path, monkeypatch, model, 5)
    assert learned == 5
    assert pool_at_fetch[:1] == [False]
    assert parallel._POOL is None


def test_a_first_run_searches_its_window_a_span_at_a_time(dovecot, tmp_path, monkeypatch, model):
    """The first batch waits for a search of its own span, not of the whole folder; the spans
    grow (a batch, then twice that...) and together learn exactly the window, old mail between
    the new left out."""
    from datetime import datetime, timedelta, timezone

    user = f"spans-{tmp_path.name[-10:]}@example.test".lower()
    now = datetime.now(timezone.utc)
    with dovecot.client(user) as client:
        for i in range(23):  # every fourth arrived before the window
            client.append("INBOX", newsletter(f"Shop {i} <hi@shop{i}.example>", msgid=f"<s{i}@shop.example>"),
                          msg_time=now - timedelta(days=400 if i % 4 == 0 else 3))
    home = tmp_path / "home"
    write_config(home, dovecot, user, imap="batch_size = 3")
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    monkeypatch.setenv("MAILGUARD_TEST_IMAP_PASSWORD", "secret")
    spans: list[int | None] = []
    since = ImapAccount.uids_since

    def spy(self, day, among=None):  # type: ignore[no-untyped-def]
        spans.append(None if among is None else len(among))
        return since(self, day, among)

    monkeypatch.setattr(ImapAccount, "uids_since", spy)
    cfg, acct = config_of(home), account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        report = AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days).run_pass()
        pipeline.finish()
        learned = {r["uid"] for r in store.execute(
            "SELECT uid FROM imap_decided WHERE folder = 'INBOX'")}
    assert report.learned == 17
    assert learned == {i + 1 for i in range(23) if i % 4}  # UIDs 1..23 in delivery order
    assert [s for s in spans if s is not None] == [3, 6, 12, 2]  # the Sent folder's: the whole


def test_a_first_run_leaves_the_folder_as_the_users_mail_client_knows_it(dovecot, tmp_path, monkeypatch, model):
    """Nothing came after the first run: the folder is not selected read-write, which would take
    the \\Recent flag of every message from the user's own mail client (the next session to
    select it sees them all recent). Mail that came meanwhile is acted on as before."""
    for late in (0, 1):
        pool_at_fetch, learned = _first_run(dovecot, tmp_path / f"late{late}", monkeypatch, model, 6,
                                            late=late)
        assert learned == 6
        user = f"warm6-{(tmp_path / f'late{late}').name[-10:]}@example.test".lower()
        with open_store(tmp_path / f"late{late}" / "home6") as store:  # the late one decided too
            assert store.execute("SELECT count(*) FROM imap_decided").fetchone()[0] == 6 + late
        with dovecot.client(user) as client:
            recent = client.select_folder("INBOX")[b"RECENT"]
        assert recent == (6 if not late else 0)


def test_a_first_run_cut_short_keeps_what_it_decided_and_the_next_learns_the_rest(
        dovecot, tmp_path, monkeypatch, model):
    """A connection lost in the middle of a first run keeps the batches it decided, and the next
    pass learns the rest, each message once."""
    from mailguard.imap.client import ImapConnectionLost

    user = f"cut-{tmp_path.name[-10:]}@example.test".lower()
    deliver(dovecot, user, [newsletter(f"Shop {i} <hi@shop{i}.example>", when=day(i), msgid=f"<c{i}@shop.example>")
                            for i in range(12)])
    home = tmp_path / "home"
    write_config(home, dovecot, user, imap="batch_size = 3")
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    monkeypatch.setenv("MAILGUARD_TEST_IMAP_PASSWORD", "secret")
    start = HistoryLearning._start_analysis
    calls = []

    def drops_on_the_fourth(self, items):  # type: ignore[no-untyped-def]
        calls.append(len(items))
        if len(calls) == 4:  # three batches fetched, the oldest decided (two analysed ahead)
            raise ImapConnectionLost("the server went away")
        return start(self, items)

    cfg, acct = config_of(home), account_of(home)

    def one_pass():  # type: ignore[no-untyped-def]
        with open_store(home) as store, make_account(acct) as account:
            pipeline = make_pipeline(cfg, acct, store, model)
            try:
                return AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days).run_pass()
            finally:
                pipeline.finish()

    monkeypatch.setattr(HistoryLearning, "_start_analysis", drops_on_the_fourth)
    with pytest.raises(ImapConnectionLost):
        one_pass()
    with open_store(home) as store:
        assert store.decided_uids(acct.name, "INBOX", _uidvalidity(dovecot, user), range(1, 13)) == {1, 2, 3}
    monkeypatch.setattr(HistoryLearning, "_start_analysis", start)
    assert one_pass().learned == 9
    with open_store(home) as store:
        rows = [tuple(r) for r in store.execute("SELECT uid FROM imap_decided WHERE folder = 'INBOX' ORDER BY uid")]
        assert rows == [(u,) for u in range(1, 13)]
        assert store.execute("SELECT count(*) FROM decisions").fetchone()[0] == 12


def _uidvalidity(dovecot, user: str) -> int:
    with dovecot.client(user) as client:
        return client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
