"""A first run over a folder of at least MIN_PARALLEL messages starts the worker processes right
after selecting it, so they start while the folder is searched and its first batch fetched; a
smaller folder starts none (its batches are analysed in-process). Real Dovecot."""

from __future__ import annotations

import pytest
from imapkit import account_of, config_of, open_store, write_config
from mailfactory import day, newsletter, personal

from mailguard import parallel
from mailguard.imap.account import ImapAccount
from mailguard.imap.session import make_account
from mailguard.imap.sync import AccountSync, make_pipeline
from test_first_sync_state import deliver

pytestmark = pytest.mark.dovecot


@pytest.fixture(autouse=True)
def no_pool():
    parallel.shutdown()
    yield
    parallel.shutdown()


def _first_run(dovecot, tmp_path, monkeypatch, model, n: int) -> tuple[list[bool], int]:
    """Deliver n messages, run a first pass with 2 workers; (whether the pool existed at each
    UID FETCH sent, messages learned)."""
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
