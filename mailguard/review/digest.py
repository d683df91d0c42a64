"""The weekly digest: a message mailguard appends to the watched folder saying what it moved, grouped
by contact, with a one-line reason each and the commands to review.

Off by default; config::

    [digest]
    enabled = true        # default false
    days = 7              # at most one digest per account in this many days
    skip_empty = true     # no digest when nothing was moved in the period
    # folder = "INBOX"    # default: the account's watched folder

The digest is built from the state database only (the ``moves`` log and its decisions) and added
with APPEND: nothing is moved, changed or deleted. An ``intent`` row in the ``digests`` table is
committed before the APPEND and marked ``done`` after it; a digest whose APPEND may have happened
before a crash is looked up by its Message-ID first, so it is never added twice.

Every digest carries the header ``X-Mailguard-Digest: v1 t=<unix time> m=<hex>``, an HMAC-SHA256,
under a secret kept in the state directory (``digest.key``, mode 0600), of the time and the
message's Message-ID, Date and Subject. :func:`is_own_digest` checks it (in constant time) before
a message is decided: a digest that verifies is never decided, learned from or moved; a header
that does not verify (forged, copied onto another message, or from another installation) gives no
pass, and the message is decided like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MailguardError, StoreError
from ..store import Store

if TYPE_CHECKING:
    from ..config import Config
    from ..imap.sync import AccountSync

log = logging.getLogger(__name__)

HEADER = "X-Mailguard-Digest"
KEY_FILE = "digest.key"
VERSION = "v1"
#: the part of a message read to find the header: headers only, and never more than this
MAX_HEADER_BYTES = 64 * 1024

#: the digest header after a line end (searching for "\n" is a fast scan; "^" in multi-line mode
#: would be a test at every byte of every message a pass reads)
_HEADER_RE = re.compile(rb"\nx-mailguard-digest:", re.IGNORECASE)
_VALUE_RE = re.compile(r"^v1 t=(\d{1,12}) m=([0-9a-f]{64})$")


# -- config -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """The [digest] table."""

    enabled: bool = False
    days: int = 7
    skip_empty: bool = True
    #: None: the account's watched folder
    folder: str | None = None


def digest_config(raw: Mapping[str, Any]) -> DigestConfig:
    """[digest] of the raw config; ConfigError for a value of the wrong type or range."""
    table = raw.get("digest", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[digest] must be a table")
    unknown = set(table) - {"enabled", "days", "skip_empty", "folder"}
    if unknown:
        raise ConfigError(f"[digest] has unknown key(s): {', '.join(sorted(unknown))} "
                          "(known: enabled, days, skip_empty, folder)")
    enabled = table.get("enabled", False)
    skip_empty = table.get("skip_empty", True)
    days = table.get("days", 7)
    folder = table.get("folder")
    if not isinstance(enabled, bool) or not isinstance(skip_empty, bool):
        raise ConfigError("[digest] enabled and skip_empty must be true or false")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise ConfigError("[digest] days must be a whole number of days from 1 to 365")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise ConfigError("[digest] folder must be a folder name")
    return DigestConfig(enabled=enabled, days=days, skip_empty=skip_empty,
                        folder=folder.strip() if folder else None)


# -- the key and the header -------------------------------------------------------------------


def key_path(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def load_key(state_dir: Path, *, create: bool = False) -> bytes | None:
    """The digest secret of this state directory; created (32 random bytes, mode 0600) when
    ``create`` and missing. None when missing and not created."""
    path = key_path(state_dir)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another account's thread made it first
            return load_key(state_dir)
        except OSError as exc:
            raise StoreError(f"cannot create the digest key {path}: {exc.strerror}",
                             retryable=True) from None
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key
    except OSError as exc:
        raise StoreError(f"cannot read the digest key {path}: {exc.strerror}") from None
    if len(key) < 32:
        raise StoreError(f"the digest key {path} is damaged (shorter than 32 bytes): remove it, "
                         "and mailguard makes a new one")
    return key


def _canon(text: str | None) -> str:
    return " ".join((text or "").split())


def mac(key: bytes, stamp: int, message_id: str, date: str, subject: str) -> str:
    """Pure: the hex HMAC-SHA256 a digest header carries."""
    text = "\n".join((VERSION, str(stamp), _canon(message_id), _canon(date), _canon(subject)))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def header_value(key: bytes, stamp: int, message_id: str, date: str, subject: str) -> str:
    return f"{VERSION} t={stamp} m={mac(key, stamp, message_id, date, subject)}"


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES)
    if end < 0:
        end = raw.find(b"\n\n", 0, MAX_HEADER_BYTES)
    return raw[:end if end >= 0 else MAX_HEADER_BYTES]


def _has_header(head: bytes) -> bool:
    """True if a line of ``head`` starts with the digest header's name."""
    return head[:19].lower() == b"x-mailguard-digest:" or _HEADER_RE.search(head) is not None


def verify(raw: bytes, key: bytes | None) -> bool | None:
    """None: no digest header; True: mailguard's own digest under ``key``; False: a header that
    does not verify (forged, altered, several of them, or no key to check it with)."""
    head = _header_block(raw)
    if not _has_header(head):
        return None
    msg = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    values = msg.get_all(HEADER) or []
    if key is None or len(values) != 1:
        return False
    found = _VALUE_RE.match(_canon(str(values[0])))
    if not found:
        return False
    expected = mac(key, int(found.group(1)), str(msg.get("Message-ID", "")),
                   str(msg.get("Date", "")), str(msg.get("Subject", "")))
    return hmac.compare_digest(expected, found.group(2))


_keys: dict[str, bytes] = {}


def is_own_digest(store: Store, raw: bytes) -> bool:
    """True if ``raw`` is a digest this state directory's mailguard wrote: never decide it.
    A digest header that does not verify is logged and gives no pass."""
    if not _has_header(_header_block(raw)):
        return False  # the common case: no file is read
    key = None
    if store.path != ":memory:":
        state_dir = str(Path(store.path).parent)
        key = _keys.get(state_dir)
        if key is None:
            key = load_key(Path(state_dir))
            if key is not None:
                _keys[state_dir] = key
    ok = verify(raw, key)
    if ok:
        return True
    log.warning("a message carries an %s header that does not verify: it is decided like any "
                "other", HEADER)
    return False


# -- what goes in it ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One message mailguard moved in the period."""

    date: datetime | None
    sender: str
    subject: str
    link: str
    score: float | None
    reason: str
    put_back: bool


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """The messages tied to one contact (or, contact None, moved by a block rule)."""

    contact: str | None
    contact_line: str
    items: tuple[DigestItem, ...]


def _reason(reasons: Sequence[str]) -> str:
    """The first reason, cut at its parenthesis: "promotional: promo score 0.99 >= 0.65"."""
    first = reasons[0] if reasons else "promotion from a contact"
    return first.split(" (", 1)[0]


def group_moves(rows: Iterable[Mapping[str, Any]], contacts: Mapping[str, Any]) -> list[DigestGroup]:
    """Pure: rows of Store.moved_between -> groups by linked contact, the contact with the most
    messages first; ``contacts`` maps an address to its Contact (name, since, how, subject)."""
    by: dict[str | None, list[DigestItem]] = defaultdict(list)
    for r in rows:
        reasons = json.loads(r["reasons"] or "[]")
        date = datetime.fromisoformat(r["date"]) if r["date"] else None
        by[r["linked_contact"]].append(DigestItem(
            date=date, sender=r["sender"] or "?", subject=r["subject"] or "",
            link=r["link_kind"] or "", score=r["promo_score"], reason=_reason(reasons),
            put_back=r["move_state"] == "undone"))
    groups = []
    for contact, items in by.items():
        c = contacts.get(contact) if contact else None
        if contact is None:
            line = "no contact: moved by your block rules"
        elif c is not None:
            who = f"{c.name} <{contact}>" if c.name else contact
            made = f"{c.how}" + (f': "{_short(c.subject, 60)}"' if c.subject else "")
            line = f"{who}, contact since {c.since:%d %b %Y} ({made})"
        else:
            line = contact
        groups.append(DigestGroup(contact, line, tuple(sorted(
            items, key=lambda i: (i.date or datetime.min.replace(tzinfo=timezone.utc), i.sender)))))
    groups.sort(key=lambda g: (-len(g.items), g.contact_line))
    return groups


def _short(s: str, n: int) -> str:
    s = _canon(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def render(groups: Sequence[DigestGroup], *, account: str, since: datetime, until: datetime
           ) -> tuple[str, str]:
    """Pure: (subject, plain-text body) of a digest."""
    moved = sum(len(g.items) for g in groups)
    contacts = sum(1 for g in groups if g.contact)
    if moved:
        subject = (f"mailguard: {moved} message{'s' if moved != 1 else ''} moved from "
                   f"{contacts} contact{'s' if contacts != 1 else ''} this week")
    else:
        subject = "mailguard: nothing moved this week"
    lines = [f"What mailguard moved on {account} from {since:%d %b %Y} to {until:%d %b %Y}, "
             "grouped by the networking contact each sender was tied to.", ""]
    if not moved:
        lines.append("Nothing was moved.")
    for g in groups:
        lines.append(g.contact_line)
        for i in g.items:
            day = f"{i.date:%d %b}" if i.date else "?"
            score = f", score {i.score:.2f}" if i.score is not None else ""
            link = f"{i.link}; " if i.link else ""
            back = "  [put back since]" if i.put_back else ""
            lines.append(f"  {day}  {i.sender}: \"{_short(i.subject, 70)}\"")
            lines.append(f"          {link}{i.reason}{score}{back}")
        lines.append("")
    lines += [
        "Review them:",
        "  mailguard review                 one sender at a time: allow, block or undo",
        "  mailguard ui                     the same in your browser, with each sender's timeline",
        "  mailguard undo SENDER            put a sender's messages back in the inbox",
        "",
        "mailguard added this message itself; it never moves or decides it.",
    ]
    return subject, "\n".join(lines) + "\n"


def build_message(key: bytes, *, subject: str, body: str, to: str, now: datetime,
                  message_id: str | None = None) -> tuple[str, bytes]:
    """Pure but for the random Message-ID: (Message-ID, the message's bytes, CRLF)."""
    mid = message_id or f"<digest-{uuid.uuid4().hex}@mailguard.invalid>"
    date = format_datetime(now.astimezone(timezone.utc))
    stamp = int(now.timestamp())
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "mailguard <mailguard@localhost>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = mid
    msg["Auto-Submitted"] = "auto-generated"
    msg[HEADER] = header_value(key, stamp, mid, date, subject)
    msg.set_content(body, charset="utf-8")
    return mid, msg.as_bytes()


# -- appending --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestResult:
    """What :func:`append_digest` did: appended (with its Message-ID and the count of messages it
    lists), found an interrupted one already there, or nothing (not due, or nothing to say)."""

    appended: bool
    message_id: str = ""
    moved: int = 0
    why: str = ""


def due_since(store: Store, account: str, days: int, now: datetime) -> datetime | None:
    """The start of the period a digest would cover now, or None when the last one is less than
    ``days`` old."""
    done = store.digest_rows(account, "done")
    if not done:
        return now - timedelta(days=days)
    last_end = datetime.fromisoformat(done[0]["period_end"])
    if now - last_end < timedelta(days=days):
        return None
    return last_end


def append_digest(store: Store, mailbox: Any, *, account: str, folder: str, to: str,
                  cfg: DigestConfig, reason_prefix: str, now: datetime | None = None
                  ) -> DigestResult:
    """Append the digest of ``account`` to ``folder`` through ``mailbox`` (an ImapAccount: append,
    find_by_message_id) when one is due. Logged in the digests table before and after the APPEND."""
    now = now or datetime.now(timezone.utc)
    for row in store.digest_rows(account, "intent"):  # a crash may have come after the APPEND
        if mailbox.find_by_message_id(row["folder"], row["message_id"]):
            store.finish_digest(row["id"], "done")
            log.info("%s: the digest %s was appended before an interruption: marked done",
                     account, row["message_id"])
            return DigestResult(False, row["message_id"], row["moved"], "found after an interruption")
        store.finish_digest(row["id"], "failed")
    since = due_since(store, account, cfg.days, now)
    if since is None:
        return DigestResult(False, why="not due")
    rows = store.moved_between(account, since, now, reason_prefix=reason_prefix)
    if not rows and cfg.skip_empty:
        return DigestResult(False, why="nothing moved")
    contacts = {c.email: c for c in store.load_contacts()}
    groups = group_moves(rows, contacts)
    subject, body = render(groups, account=account, since=since, until=now)
    key = load_key(Path(store.path).parent, create=True)
    assert key is not None
    mid, raw = build_message(key, subject=subject, body=body, to=to, now=now)
    row_id = store.add_digest_intent(account, folder, mid, since, now, len(rows))
    try:
        uid = mailbox.append(folder, raw)
    except BaseException:
        store.finish_digest(row_id, "failed")
        raise
    store.finish_digest(row_id, "done", uid)
    log.info("%s: appended the digest (%d moved message(s)) to %s", account, len(rows), folder)
    return DigestResult(True, mid, len(rows))


def after_pass(config: Config, sync: AccountSync) -> DigestResult | None:
    """The daemon's hook, after a complete real pass: append the account's digest if [digest] is
    enabled and one is due. A failure other than a lost connection is logged, never fatal: the
    digest is tried again after the next pass."""
    from ..imap.client import ImapConnectionLost
    from ..imap.sync import SYNC_TAG

    cfg = digest_config(config.raw)
    if not cfg.enabled or sync.dry_run:
        return None
    acct = sync.acct
    try:
        folder = sync.account.folder_name(cfg.folder) if cfg.folder else sync.folders()[0]
        to = acct.me[0] if acct.me else acct.settings.username
        return append_digest(sync.store, sync.account, account=acct.name, folder=folder, to=to,
                             cfg=cfg, reason_prefix=SYNC_TAG)
    except ImapConnectionLost:
        raise
    except MailguardError as exc:
        log.warning("%s: the digest could not be appended: %s; tried again after the next pass",
                    acct.name, exc)
        return None


__all__ = [
    "HEADER", "DigestConfig", "DigestGroup", "DigestItem", "DigestResult", "after_pass",
    "append_digest", "build_message", "digest_config", "due_since", "group_moves",
    "is_own_digest", "load_key", "mac", "render", "verify",
]
