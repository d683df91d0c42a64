"""A small scanned mailbox for the review tests: two flagged senders (one linked by organisation,
one by name), one ordinary newsletter, and a contact imported from LinkedIn to link by company."""

from __future__ import annotations

from pathlib import Path

from mailguard.cli.main import main
from mailguard.store import DB_NAME, Store
from mailfactory import ME, day, mbox, newsletter, personal

ACME = "news@acme.io"
DATAFLOW = "news@dataflow.io"
SHOP = "hi@shop.example"
BRIGHTLOOP = "hello@brightloop.ai"


def inbox_messages() -> list[bytes]:
    return [
        personal("Jane Doe <jane@acme.io>", when=day(0), msgid="<hello@acme.io>"),
        personal(f"Sam <{ME}>", to="jane@acme.io", when=day(1), subject="Re: Great meeting you",
                 in_reply_to="<hello@acme.io>", msgid="<reply@rivera.dev>"),
        personal(f"Sam <{ME}>", to="Tom Berger <tom@dataflow.io>", when=day(4),
                 subject="Intro: Sam <> Tom", msgid="<intro@rivera.dev>",
                 body="Hi Tom,\n\nNice to meet you at the conference.\n\nSam\n"),
        newsletter(f"Shop <{SHOP}>", when=day(5), msgid="<shop@shop.example>"),
        newsletter(f"Acme News <{ACME}>", when=day(20), msgid="<blast1@acme.io>"),
        newsletter(f"Acme News <{ACME}>", when=day(27), subject="Last chance: 30% off",
                   msgid="<blast2@acme.io>"),
        newsletter(f"Tom Berger <{DATAFLOW}>", when=day(30), subject="Dataflow 2.0 is here",
                   msgid="<df@dataflow.io>"),
    ]


def write_inbox(tmp_path: Path, messages: list[bytes] | None = None) -> Path:
    p = tmp_path / "inbox.mbox"
    p.write_bytes(mbox(inbox_messages() if messages is None else messages))
    return p


def scan(path: Path) -> None:
    """A real `mailguard scan --save` (default model) into $MAILGUARD_HOME."""
    assert main(["scan", str(path), "--me", ME, "--format", "json", "--save"]) == 0


def open_store(home: Path) -> Store:
    return Store(home / DB_NAME)
