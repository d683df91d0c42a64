"""Helpers for the IMAP sync, daemon and CLI tests: a config for a Dovecot test user, the scenario
mail (a contact from the inbox, one from Sent, their later promotions), and mailbox snapshots
read with plain imapclient (never through mailguard)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dovecot import DovecotServer
from mailfactory import ME, day, newsletter, personal

from mailguard import models_io

from mailguard.core import classify
from mailguard.config import Config, load_config
from mailguard.imap.session import AccountConfig, load_accounts
from mailguard.store import DB_NAME, Store

PASSWORD_ENV = "MAILGUARD_TEST_IMAP_PASSWORD"
QUARANTINE = "Contact-Promo"

ACME = "news@acme.io"
DATAFLOW = "news@dataflow.io"
SHOP = "hi@shop.example"


def load_model() -> classify.PromoModel:
    """The shipped model (or $MAILGUARD_MODEL, as the CLI reads it)."""
    return models_io.load(os.environ.get("MAILGUARD_MODEL") or None)


def write_config(home: Path, server: DovecotServer, user: str, *, imap: str = "", mailbox: str = "",
                 quarantine: str = QUARANTINE, rest: str = "") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        f"""[imap]
host = "{server.host}"
port = {server.port}
username = "{user}"
tls = "none"
password_env = "{PASSWORD_ENV}"
timeout = 10
{imap}
[mailbox]
me = ["{ME}"]
quarantine = "{quarantine}"
{mailbox}
[rules]
window_days = 180
{rest}""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def config_of(home: Path) -> Config:
    return load_config(home / "config.toml", env={"MAILGUARD_HOME": str(home)})


def account_of(home: Path) -> AccountConfig:
    return load_accounts(config_of(home))[0]


def open_store(home: Path) -> Store:
    return Store(home / DB_NAME)


def moves(home: Path) -> list[dict]:
    """Every row of the moves table, oldest first."""
    with open_store(home) as store:
        return [dict(r) for r in store.execute("SELECT * FROM moves ORDER BY id")]


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Seconds until check() held; fails the test after timeout."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"{what} not met within {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - t0


# -- the scenario ------------------------------------------------------------------------------


def history_inbox() -> list[bytes]:
    """Before the first run: Jane writes personally; a shop newsletter; Acme's first blast."""
    return [
        personal("Jane Doe <jane@acme.io>", when=day(0), msgid="<hello@acme.io>"),
        newsletter(f"Shop <{SHOP}>", when=day(1), msgid="<shop1@shop.example>"),
        newsletter(f"Acme News <{ACME}>", when=day(3), msgid="<blast0@acme.io>"),
    ]


def history_sent() -> list[bytes]:
    """The user wrote to Tom (a contact known only from Sent)."""
    return [
        personal(f"Sam Rivera <{ME}>", to="Tom Berger <tom@dataflow.io>", when=day(2),
                 subject="Intro: Sam <> Tom", msgid="<intro@rivera.dev>",
                 body="Hi Tom,\n\nNice to meet you at the conference.\n\nSam\n"),
    ]


def new_mail() -> list[bytes]:
    """After the first run: two offenders (Tom's company, Acme) and two messages to keep."""
    return [
        newsletter(f"Tom Berger <{DATAFLOW}>", when=day(10), subject="Dataflow 2.0 is here",
                   msgid="<df@dataflow.io>"),
        personal("Jane Doe <jane@acme.io>", when=day(11), subject="Re: coffee",
                 body="Thursday works for me.\n\nJane\n", msgid="<coffee@acme.io>"),
        newsletter(f"Acme News <{ACME}>", when=day(12), subject="Last chance: 30% off",
                   msgid="<blast1@acme.io>"),
        newsletter(f"Shop <{SHOP}>", when=day(12), msgid="<shop2@shop.example>"),
    ]


OFFENDERS = {"<df@dataflow.io>", "<blast1@acme.io>"}


def seed_history(server: DovecotServer, user: str) -> None:
    for raw in history_inbox():
        server.append(user, raw)
    for raw in history_sent():
        server.append(user, raw, folder="Sent", flags=[b"\\Seen"])


def append_all(server: DovecotServer, user: str, messages: list[bytes], folder: str = "INBOX",
               flags: dict[int, list[bytes]] | None = None) -> list[int]:
    return [server.append(user, raw, folder=folder, flags=(flags or {}).get(i, []))
            for i, raw in enumerate(messages)]


def snapshot(server: DovecotServer, user: str, folder: str = "INBOX") -> dict[str, tuple[bytes, ...]]:
    """Message-ID -> sorted flags (without \\Recent) of every message in folder ({} if missing).
    Asserts Message-IDs are unique there (a duplicate would be a message moved twice)."""
    with server.client(user) as client:
        if not client.folder_exists(folder):
            return {}
        client.select_folder(folder, readonly=True)
        uids = client.search()
        data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    out: dict[str, tuple[bytes, ...]] = {}
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
        mid = header.split(":", 1)[1].strip() if ":" in header else ""
        assert mid not in out, f"{mid} is twice in {folder}"
        out[mid] = tuple(sorted(f for f in item[b"FLAGS"] if f != b"\\Recent"))
    return out


def folders(server: DovecotServer, user: str) -> list[str]:
    with server.client(user) as client:
        return [str(name) for _, _, name in client.list_folders()]


def one_pass(home: Path, model: classify.PromoModel, *, history: bool = False, **options: object):
    """One sync pass as a fresh process would make it (new connection, store and pipeline), for
    the config in home; history: apply_history() instead of run_pass(). Returns the PassReport."""
    from mailguard.imap.session import make_account
    from mailguard.imap.sync import AccountSync, make_pipeline

    cfg = config_of(home)
    acct = account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        sync = AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days,
                           **options)  # type: ignore[arg-type]
        try:
            return sync.apply_history() if history else sync.run_pass()
        finally:
            pipeline.finish()
