"""bytes -> ParsedMessage. Pure: no IO, no logging of bodies.

Parsing is lenient by design: mail in the wild has broken MIME, garbage headers and charsets nobody
registered. Anything that cannot be decoded is replaced, recorded in ``defects`` and parsing goes on.
Only the parts the pipeline needs are decoded, and each within a byte budget, so a 50 MB attachment
costs no more than a short note.
"""

from __future__ import annotations

import email
import email.header
import email.utils
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from email.policy import compat32

from dateutil import parser as dateparser

#: Bytes of a raw message that are parsed at all; the rest (attachments, mostly) is ignored.
MAX_PARSE_BYTES = 512 * 1024
#: Characters of decoded text and HTML kept for features.
MAX_TEXT_CHARS = 64 * 1024
#: MIME parts visited at most (nested multiparts hundreds deep stop here).
MAX_PARTS = 64
#: Characters of a single header value kept.
MAX_HEADER_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name (decoded, may be empty) and lower-cased address."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What the pipeline knows about one message. Built by :func:`parse_message`."""

    message_id: str
    date: datetime | None
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    headers: dict[str, tuple[str, ...]]
    text: str
    html: str
    size: int
    n_parts: int
    n_attachments: int
    n_images: int
    defects: tuple[str, ...] = field(default=())
    #: True when the message had no From address at all, or was not a mail message.
    unreadable: str | None = None

    def header(self, name: str) -> str:
        """First value of a header (lower-case name) or ''."""
        values = self.headers.get(name)
        return values[0] if values else ""

    def has(self, name: str) -> bool:
        return name in self.headers

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc


_WS = re.compile(r"\s+")
_ADDR_OK = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words leniently."""
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - garbage headers are data, not errors
        return value
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_bytes_to_str(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out)


def _bytes_to_str(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


def _header_str(value: object) -> str:
    """compat32 gives str, or a Header object when a header had undecodable bytes."""
    if isinstance(value, str):
        s = value
    elif isinstance(value, email.header.Header):
        try:
            s = str(value)
        except Exception:  # noqa: BLE001
            s = value.encode()
    else:
        s = str(value)
    if "\x00" in s:
        s = s.replace("\x00", "")
    # surrogateescape'd bytes from 8-bit headers: recover them as utf-8 or latin-1
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogateescape")
        s = _bytes_to_str(raw, "utf-8")
    return _WS.sub(" ", s).strip()[:MAX_HEADER_CHARS]


def _addresses(values: list[str]) -> tuple[Address, ...]:
    found: list[Address] = []
    for name, addr in email.utils.getaddresses(values):
        addr = addr.strip().strip("<>").lower()
        if not _ADDR_OK.match(addr):
            continue
        found.append(Address(_WS.sub(" ", _decode_words(name)).strip().strip("'\""), addr))
    return tuple(found)


def parse_date(value: str) -> datetime | None:
    """Lenient Date parsing (python-dateutil). Naive dates are taken as UTC. None if hopeless."""
    if not value:
        return None
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None:
        try:
            cleaned = re.sub(r"\([^)]*\)", " ", value)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unknown zone names: taken as UTC below
                dt = dateparser.parse(cleaned, fuzzy=True)
        except (ValueError, OverflowError, TypeError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        dt = dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    if not (1980 <= dt.year <= 2100):
        return None
    return dt


def _payload_text(part: Message, budget: int) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        return ""
    if not isinstance(payload, bytes | bytearray):
        return ""
    charset = part.get_content_charset() or "utf-8"
    return _bytes_to_str(bytes(payload[:budget]), charset)


_IMG_TAG = re.compile(rb"<img\b", re.I)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Never raises on bad input; see ``defects`` and ``unreadable``."""
    size = len(raw)
    if raw.startswith(b"From ") and b"\n" in raw[:1024]:
        # an mbox "From " envelope line that came along with a single-file message
        raw = raw.split(b"\n", 1)[1]
    head = raw[:MAX_PARSE_BYTES]
    defects: list[str] = []
    if size > MAX_PARSE_BYTES:
        defects.append(f"truncated: parsed {MAX_PARSE_BYTES} of {size} bytes")
    try:
        msg = email.message_from_bytes(head, policy=compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but be sure
        return _unreadable(size, f"parser failed: {type(exc).__name__}")

    headers: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        k = key.strip().lower()
        if not k or len(headers) > 500:
            continue
        headers.setdefault(k, []).append(_header_str(value))
    frozen = {k: tuple(v) for k, v in headers.items()}

    senders = _addresses([_decode_hdr(v) for v in headers.get("from", [])])
    sender = senders[0] if senders else None
    if len(headers.get("from", [])) > 1:
        defects.append("multiple From headers")

    text_parts: list[str] = []
    html_parts: list[str] = []
    n_parts = n_attach = 0
    n_images = 0
    text_budget = MAX_TEXT_CHARS
    try:
        for part in msg.walk():
            n_parts += 1
            if n_parts > MAX_PARTS:
                defects.append(f"more than {MAX_PARTS} MIME parts")
                break
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            disp = (part.get("Content-Disposition") or "").lower()
            if "attachment" in disp or part.get_filename():
                n_attach += 1
                if ctype.startswith("image/"):
                    n_images += 1
                continue
            if ctype.startswith("image/"):
                n_images += 1
                continue
            if text_budget <= 0:
                continue
            if ctype == "text/plain" or ctype == "text":
                t = _payload_text(part, text_budget * 2)
                text_parts.append(t[:text_budget])
                text_budget -= len(text_parts[-1])
            elif ctype == "text/html":
                h = _payload_text(part, text_budget * 2)
                html_parts.append(h[:text_budget])
                text_budget -= len(html_parts[-1])
    except RecursionError:
        defects.append("MIME nesting too deep")
    except Exception as exc:  # noqa: BLE001
        defects.append(f"MIME walk failed: {type(exc).__name__}")
    for d in getattr(msg, "defects", [])[:5]:
        defects.append(type(d).__name__)

    html = "".join(html_parts)
    if html:
        n_images += len(_IMG_TAG.findall(html.encode("utf-8", "ignore")))

    subject = _decode_hdr(frozen.get("subject", ("",))[0])
    message_id = frozen.get("message-id", ("",))[0].strip()
    unreadable = None
    if sender is None:
        unreadable = "no usable From address" if "from" in frozen else "no From header"
    return ParsedMessage(
        message_id=message_id,
        date=parse_date(frozen.get("date", ("",))[0]),
        sender=sender,
        reply_to=_addresses([_decode_hdr(v) for v in headers.get("reply-to", [])]),
        to=_addresses([_decode_hdr(v) for v in headers.get("to", [])]),
        cc=_addresses([_decode_hdr(v) for v in headers.get("cc", [])]),
        subject=subject,
        headers=frozen,
        text="".join(text_parts),
        html=html,
        size=size,
        n_parts=n_parts,
        n_attachments=n_attach,
        n_images=n_images,
        defects=tuple(defects),
        unreadable=unreadable,
    )


def _decode_hdr(value: str) -> str:
    return _WS.sub(" ", _decode_words(value)).strip()


def _unreadable(size: int, why: str) -> ParsedMessage:
    return ParsedMessage(
        message_id="", date=None, sender=None, reply_to=(), to=(), cc=(), subject="", headers={},
        text="", html="", size=size, n_parts=0, n_attachments=0, n_images=0, defects=(why,),
        unreadable=why,
    )
