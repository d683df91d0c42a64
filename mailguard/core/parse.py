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
from functools import lru_cache
from itertools import islice, repeat
from operator import attrgetter, methodcaller
from typing import Any, TypeVar
from datetime import datetime, timedelta, timezone
from email import errors
from email.message import Message
from email.policy import compat32

from dateutil import parser as dateparser

_T = TypeVar("_T")

#: Bytes of a raw message that are parsed at all; the rest (attachments, mostly) is ignored.
MAX_PARSE_BYTES = 512 * 1024
#: Characters of decoded text and HTML kept for features.
MAX_TEXT_CHARS = 64 * 1024
#: MIME parts visited at most (nested multiparts hundreds deep stop here).
MAX_PARTS = 64
#: Characters of a single header value kept.
MAX_HEADER_CHARS = 4096


def pickled_by_fields(cls: type[_T]) -> type[_T]:
    """Pickle a slots dataclass as its class and its field values. Unpickling then calls the
    class once, instead of dataclasses' __setstate__ (a loop over fields() for every object):
    twice as fast, which counts when workers send thousands of parsed messages back."""
    get = attrgetter(*cls.__slots__)  # type: ignore[attr-defined]
    one = len(cls.__slots__) == 1  # type: ignore[attr-defined]

    def __reduce__(self: Any) -> tuple[type, tuple]:
        return type(self), ((get(self),) if one else get(self))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign,assignment]
    return cls


@pickled_by_fields
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


@pickled_by_fields
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
    #: the MIME types of the leaf parts (at most MAX_PARTS), e.g. text/calendar, message/rfc822
    content_types: frozenset[str] = field(default=frozenset())
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


class Head(bytes):
    """The first bytes of a message larger than what is parsed, with the whole message's
    ``size``: what a source hands the pipeline instead of reading a 25 MB attachment.
    :func:`parse_message` gives the same result for it as for the whole message, as long as it
    holds the first MAX_PARSE_BYTES + 1024 bytes (room for an mbox ``From `` line)."""

    size: int

    def __new__(cls, data: bytes, size: int) -> Head:
        obj = super().__new__(cls, data)
        obj.size = size
        return obj

    def __reduce__(self) -> tuple[type, tuple[bytes, int]]:
        return Head, (bytes(self), self.size)


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
            s = data.decode(cs)
            if not s.isascii():
                s.encode("utf-8")  # utf-7, unicode_escape can make lone surrogates: unstorable, unprintable
            return s
        except (LookupError, UnicodeDecodeError, ValueError):  # UnicodeEncodeError is a ValueError
            continue
    return data.decode("latin-1")


def _header_str(value: object) -> str:
    """compat32 gives str, or a Header object when a header had undecodable bytes."""
    if isinstance(value, str) and value.isascii() and "\x00" not in value:
        return " ".join(value.split())[:MAX_HEADER_CHARS]  # the common case, same result as below
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
    return _addresses_of(tuple(values))


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDR = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: ``addr`` or ``<addr>`` alone; ``"Name" <addr>`` or ``Name <addr>`` with a plain name
_ONE_BARE = re.compile(rf"\s*({_PLAIN_ADDR})\s*\Z|\s*<({_PLAIN_ADDR})>\s*\Z")
# possessive runs: a plain name's trailing blanks are dropped by the caller, not by backtracking
# (lazy name + blanks on both sides was cubic in a run of blanks)
_ONE_NAMED = re.compile(rf'\s*+(?:"([^"\\\x00-\x1f]*+)"|([^()<>@,:;"\[\]\\\x00-\x1f]*+))\s*+'
                        rf'<({_PLAIN_ADDR})>\s*+\Z')


def _getaddresses(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``email.utils.getaddresses``, answered directly for the usual forms: one address, with or
    without a plain display name, or a comma-separated list of bare addresses."""
    if len(values) == 1:
        v = values[0]
        m = _ONE_BARE.match(v)
        if m is not None:
            return [("", m.group(1) or m.group(2))]
        m = _ONE_NAMED.match(v)
        if m is not None:
            quoted, plain, addr = m.groups()
            return [(quoted if quoted is not None else " ".join(plain.split()), addr)]
    if all("," in v or _ONE_BARE.match(v) for v in values):
        bare = [_ONE_BARE.match(item) for v in values for item in v.split(",")]
        if all(bare):
            return [("", m.group(1) or m.group(2)) for m in bare]  # type: ignore[union-attr]
    try:
        return email.utils.getaddresses(values)
    except Exception:  # noqa: BLE001 - "To: ((((...": one recursion per "(", RecursionError
        found: list[tuple[str, str]] = []
        for v in values:  # keep what the other values of the header give
            try:
                found.extend(email.utils.getaddresses([v]))
            except Exception:  # noqa: BLE001
                continue
        return found


@lru_cache(maxsize=4096)
def _addresses_of(values: tuple[str, ...]) -> tuple[Address, ...]:
    # cached: the same To/Cc/From values come back message after message
    found: list[Address] = []
    for name, addr in _getaddresses(values):
        addr = addr.strip().strip("<>").lower()
        if not _ADDR_OK.match(addr) or not addr.isprintable():  # a NUL decoded from =?..?= etc.
            continue
        found.append(Address(_WS.sub(" ", _decode_words(name)).strip().strip("'\""), addr))
    return tuple(found)


#: a Date as RFC 5322 writes it ("Thu, 22 Aug 2002 18:26:25 +0100", then anything, e.g. "(BST)")
_RFC_DATE = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun), )?([0-9]{1,2}) "
                       r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) ([0-9]{4}) "
                       r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-][0-9]{4})(?: |\Z)", re.I | re.A)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), 1)}


@lru_cache(maxsize=256)
def _zone(zone: str) -> timezone | None:
    """The tzinfo email.utils.parsedate_to_datetime gives a numeric zone ("+0100"): None for
    "-0000" (a naive datetime), the offset read as it reads it (hours * 100 + minutes)."""
    offset = int(zone)
    if offset == 0 and zone[0] == "-":
        return None
    sign = -1 if offset < 0 else 1
    return timezone(timedelta(seconds=sign * ((abs(offset) // 100) * 3600 + (abs(offset) % 100) * 60)))


def _rfc_date(value: str) -> datetime | None:
    """email.utils.parsedate_to_datetime of a Date of the form _RFC_DATE (most mail's), without
    its token loop: the same datetime. None for any other form, or values datetime refuses (the
    caller then asks the stdlib)."""
    m = _RFC_DATE.match(value)
    if m is None:
        return None
    dd, mon, yy, hh, mi, ss, zone = m.groups()
    try:
        return datetime(int(yy), _MONTHS[mon.lower()], int(dd), int(hh), int(mi), int(ss), tzinfo=_zone(zone))
    except ValueError:  # a day, hour or zone out of range
        return None


def email_date(value: str) -> datetime:
    """email.utils.parsedate_to_datetime (its datetime, its errors), most mail's form read by
    one match (:func:`_rfc_date`)."""
    return _rfc_date(value) or email.utils.parsedate_to_datetime(value)


def parse_date(value: str) -> datetime | None:
    """Lenient Date parsing (python-dateutil). Naive dates are taken as UTC. None if hopeless."""
    if not value:
        return None
    try:
        dt: datetime | None = email_date(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # "3 Mar 20260000000000": Overflow
        dt = None
    if dt is None:
        try:
            cleaned = re.sub(r"\([^()]*+\)", " ", value)  # "(" never closed: linear, not quadratic
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

#: One header field as ``email.feedparser`` reads it: a name, a colon, the rest of the line and any
#: continuation lines (lines end in CRLF, CR or LF, as the feed parser splits them).
_FIELD = re.compile(r"([\041-\071\073-\176]+):([^\r\n]*(?:\r\n|\r|\n)(?:[ \t][^\r\n]*(?:\r\n|\r|\n))*)")
_LINE_END = re.compile(r"\r\n|\r|\n")
#: a line end that starts a new field (not a continuation line); the characters of field names
_NEW_FIELD_LF = re.compile(r"\n(?![ \t])")
_NEW_FIELD_CRLF = re.compile(r"\r\n(?![ \t])")
_NAME_CHARS = re.compile(r"[\041-\071\073-\176]*")
#: what may follow ``--boundary`` on a boundary line (the feed parser's ``boundaryre``)
_BOUNDARY_TAIL = re.compile(r"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")


class _Slow(Exception):
    """Raised inside the fast path: leave this message to the stdlib parser."""


class _ParsedPart(Message):
    """A Message built by the fast path and never changed afterwards, so header lookups and
    parameter parsing can be remembered (the walk asks for Content-Type several times a part)."""

    def __init__(self, fields: list[tuple[str, str]], names: list[str]) -> None:
        super().__init__(policy=compat32)
        self._headers = fields  # what set_raw() builds, one field at a time
        #: the lower-cased field names, in order
        self._mg_names = names
        # the first field of each name, as Message.get finds it
        self._mg_index = dict(zip(reversed(names), reversed(fields)))

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        hit = self._mg_index.get(name.lower())
        if hit is None:
            return failobj
        # compat32's header_fetch_parse gives a str back as it is unless it has surrogate escapes,
        # which an ASCII one has not (str.isascii: a flag, no scan)
        return hit[1] if hit[1].isascii() else self.policy.header_fetch_parse(*hit)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._mg_index

    def get_content_charset(self, failobj: object = None) -> object:  # type: ignore[override]
        """Message.get_content_charset, read directly from a Content-Type without escapes, RFC 2231
        parameters, angle brackets or a ";" in quotes (where _parseparam splits at every ";",
        and decode_params and get_param take off one pair of quotes)."""
        value = self.get("content-type")
        if value is None:
            return failobj
        if type(value) is not str or not value.isascii() or "\\" in value or "*" in value or "<" in value:
            return super().get_content_charset(failobj)
        params = value.split(";")
        if '"' in value and any(p.count('"') % 2 for p in params):
            return super().get_content_charset(failobj)  # a ";" inside quotes does not split
        for param in params:
            name, eq, charset = param.partition("=")
            if name.strip().lower() == "charset":
                charset = charset.strip() if eq else ""
                if len(charset) > 1 and charset[0] == '"' == charset[-1]:
                    charset = charset[1:-1]  # what unquote() takes off (without backslashes)
                return charset.lower()
        return failobj

    def get_content_type(self) -> str:
        # asked for by the fast path, the walk and get_content_charset: worked out once (the
        # "_mg_" name: Message's own attributes have names such as _charset)
        ctype = self.__dict__.get("_mg_ctype")
        if ctype is None:
            ctype = self.__dict__["_mg_ctype"] = super().get_content_type()
        return ctype

    def get_filename(self, failobj: object = None) -> object:  # type: ignore[override]
        # no Content-Disposition and no "name" in Content-Type: Message.get_filename finds nothing
        if self.get("content-disposition") is None and "name" not in str(self.get("content-type", "")).lower():
            return failobj
        return super().get_filename(failobj)

    def _get_params_preserve(self, failobj: object, header: str) -> object:
        cache = self.__dict__.setdefault("_params", {})
        key = header.lower()
        if key not in cache:
            cache[key] = super()._get_params_preserve(_MISSING, header)
        found = cache[key]
        return failobj if found is _MISSING else found


_MISSING = object()


def _fast_message(head: bytes) -> Message | None:
    """The stdlib (compat32 feed parser) result for a well-formed message, without its per-line loops.

    Header fields are split as ``email.feedparser`` splits them, values made by the rule of
    ``compat32.header_source_parse``, multipart bodies cut at the same boundary lines, and a part's
    payload is its text minus the line end that belongs to the next boundary. Anything the feed
    parser would treat specially (a non-field line before the blank line, a ``From `` line, a
    missing first or nested-alike boundary, empty parts, message/* and digests, too many parts)
    returns None and the caller uses the stdlib parser. The defects the feed parser notes on a
    multipart it can read (no close boundary, a transfer encoding) are noted the same way.
    """
    text = head.decode("ascii", "surrogateescape")
    try:
        return _fast_part(text, 0, len(text), (), [0])
    except _Slow:
        return None


def _fields(text: str, start: int, end: int) -> tuple[list[tuple[str, str]], int]:
    """The header fields from ``start`` (name, value) and where they stop: _FIELD matched one
    after another. When the lines up to the first blank line all end in LF, or all in CRLF, and
    each is a field or a continuation line, they are split with str methods instead."""
    nl = text.find("\n", start, end)
    eol = "\r\n" if nl > start and text[nl - 1] == "\r" else "\n"
    at = text.find(eol + eol, start, end)  # the last field's line end, then the blank line
    if at > start and text[start] not in " \t\r\n":
        block = text[start:at]
        if eol == "\n":
            same_ends = "\r" not in block
        else:
            n = block.count("\n")
            same_ends = block.count("\r") == n and block.count("\r\n") == n
        if same_ends:
            names, colons, values = zip(*map(methodcaller("partition", ":"),
                                             (_NEW_FIELD_LF if eol == "\n" else _NEW_FIELD_CRLF).split(block)))
            if all(names) and all(colons) and _NAME_CHARS.fullmatch("".join(names)) is not None:
                # (compat32 also strips line ends off the end: none is there, the block stops
                # before the line end of its last line and has no blank line)
                return list(zip(names, map(str.lstrip, values, repeat(" \t")))), at + len(eol)
    fields: list[tuple[str, str]] = []
    pos = start
    match = _FIELD.match
    while (m := match(text, pos, end)) is not None:
        fields.append((m.group(1), m.group(2).lstrip(" \t").rstrip("\r\n")))
        pos = m.end()
    return fields, pos


def _fast_part(text: str, start: int, end: int, outer: tuple[str, ...], count: list[int]) -> Message:
    count[0] += 1
    if count[0] > MAX_PARTS:
        raise _Slow
    fields, pos = _fields(text, start, end)
    blank = _LINE_END.match(text, pos, end)
    if blank is not None:
        body_at = blank.end()
    elif outer and pos == end:
        body_at = end  # a part with headers only
    else:
        raise _Slow
    if not outer and not fields:
        raise _Slow
    # field names are ASCII without line ends: lower-cased all at once
    msg = _ParsedPart(fields, "\n".join([n for n, _ in fields]).lower().split("\n") if fields else [])
    maintype = msg.get_content_maintype()
    if maintype == "message":
        raise _Slow
    if maintype != "multipart":
        payload = text[body_at:end]
        if outer:  # the line end before a boundary belongs to the boundary (NLCRE_eol)
            if payload.endswith("\r\n"):
                payload = payload[:-2]
            elif payload.endswith(("\n", "\r")):
                payload = payload[:-1]
        msg.set_payload(payload)
        return msg
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_type() == "multipart/digest":
        raise _Slow
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        msg.policy.handle_defect(msg, errors.InvalidMultipartContentTransferEncodingDefect())
    if any(_boundaries_overlap(b, boundary) for b in outer):
        raise _Slow
    sep = "--" + boundary
    cuts: list[tuple[int, int]] = []  # (start, end) of each boundary line
    closed = False
    find = text.find
    at = find(sep, body_at, end)
    while at >= 0:
        if at == body_at or text[at - 1] in "\r\n":
            tail = _BOUNDARY_TAIL.match(text, at + len(sep), end)
            if tail is not None:
                cuts.append((at, tail.end()))
                if tail.group(1):
                    closed = True
                    break
        at = find(sep, at + len(sep), end)
    if not cuts or (closed and len(cuts) < 2):
        raise _Slow  # no first boundary: the feed parser keeps the body as a preamble
    if not closed:  # the last part runs to the end, as in the feed parser, which notes a defect
        cuts.append((end, end))
    inner = (*outer, boundary)
    for (_, part_start), (part_end, _) in zip(cuts, cuts[1:]):
        if part_start == part_end:
            raise _Slow  # repeated boundary lines: the feed parser skips them its own way
        msg.attach(_fast_part(text, part_start, part_end, inner, count))
    if not closed:
        msg.policy.handle_defect(msg, errors.CloseBoundaryNotFoundDefect())
    return msg


def _boundaries_overlap(a: str, b: str) -> bool:
    """Whether a line can be a boundary line of both ``a`` and ``b``: one is the other followed by
    nothing but "-", " " and tab (``--x--`` closes x and separates x--). The feed parser then
    decides by the order of its checks; the fast path leaves such messages to it."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return long_.startswith(short) and not long_[len(short):].strip("- \t")


#: The stdlib parser tests every line against the boundary of every enclosing multipart, and builds
#: every part: lines x nesting and parts are what it costs (a 512 KB message nested 300 deep took 12 s).
#: It is given a prefix that keeps both small; parts past MAX_PARTS are never looked at anyway.
_STDLIB_WORK = 500_000
_BOUNDARY_PARAM = re.compile(rb"boundary\s*+(?:\*\s*+)?=", re.I)
_DELIMITER_LINE = re.compile(rb"(?:\r\n|\r|\n)--")
_LINE_END_B = re.compile(rb"\r\n|\r|\n")


def _nth(rx: re.Pattern[bytes], data: bytes, n: int, end: int) -> int:
    """Where the n-th (from 0) match of ``rx`` in ``data[:end]`` starts, or ``end``."""
    m = next(islice(rx.finditer(data, 0, end), n, None), None)
    return m.start() if m is not None else end


def _for_stdlib(head: bytes, defects: list[str]) -> bytes:
    """``head`` cut for the stdlib parser (see _STDLIB_WORK); the cut is noted in ``defects``."""
    if _BOUNDARY_PARAM.search(head) is None:
        return head  # a single part: the parser's work is linear
    cut = _nth(_BOUNDARY_PARAM, head, MAX_PARTS, len(head))
    cut = _nth(_DELIMITER_LINE, head, 4 * MAX_PARTS, cut)
    max_lines = _STDLIB_WORK // (1 + len(_BOUNDARY_PARAM.findall(head, 0, cut)))
    if head.count(b"\n", 0, cut) + head.count(b"\r", 0, cut) > max_lines:
        cut = _nth(_LINE_END_B, head, max_lines, cut)
    if cut < len(head):
        defects.append(f"MIME structure too large: parsed {cut} of {len(head)} bytes")
    return head[:cut]


def _fast_headers(msg: _ParsedPart) -> dict[str, tuple[str, ...]] | None:
    """The headers of a fast-path message as parse_message's loop makes them, when every value
    is ASCII without NUL (then _header_str is whitespace collapsed and a cut): the values
    collapsed all at once, joined by NUL (not whitespace to str.split). None otherwise."""
    values = [v for _, v in msg._headers]
    if len(values) > 500:
        return None
    joined = "\x00".join(values)
    if not joined.isascii() or joined.count("\x00") != len(values) - 1:
        return None
    headers: dict[str, tuple[str, ...]] = {}
    get = headers.get
    # " ".join(split()) of the whole: a value's ends keep at most one space next to a NUL
    for k, v in zip(msg._mg_names, " ".join(joined.split()).split("\x00")):
        headers[k] = get(k, ()) + (v.strip(" ")[:MAX_HEADER_CHARS],)
    return headers


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes (or a :class:`Head` of them). Never raises on bad input; see
    ``defects`` and ``unreadable``."""
    size = raw.size if type(raw) is Head else len(raw)
    if raw.startswith(b"From ") and b"\n" in raw[:1024]:
        # an mbox "From " envelope line that came along with a single-file message (skipped
        # without copying the whole message: it may be 50 MB)
        start = raw.index(b"\n") + 1
        head = raw[start:start + MAX_PARSE_BYTES]
    else:
        head = raw[:MAX_PARSE_BYTES]
    defects: list[str] = []
    if size > MAX_PARSE_BYTES:
        defects.append(f"truncated: parsed {MAX_PARSE_BYTES} of {size} bytes")
    try:
        msg = _fast_message(head)
        if msg is None:
            msg = email.message_from_bytes(_for_stdlib(head, defects), policy=compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but be sure
        return _unreadable(size, f"parser failed: {type(exc).__name__}")

    frozen = _fast_headers(msg) if type(msg) is _ParsedPart else None
    if frozen is None:
        headers: dict[str, list[str]] = {}
        for key, value in msg.raw_items():
            k = key.strip().lower()
            if not k or len(headers) > 500:
                continue
            headers.setdefault(k, []).append(_header_str(value))
        frozen = {k: tuple(v) for k, v in headers.items()}

    senders = _addresses([_decode_hdr(v) for v in frozen.get("from", ())])
    sender = senders[0] if senders else None
    if len(frozen.get("from", ())) > 1:
        defects.append("multiple From headers")

    text_parts: list[str] = []
    html_parts: list[str] = []
    n_parts = n_attach = 0
    n_images = 0
    types: set[str] = set()
    text_budget = MAX_TEXT_CHARS
    try:
        for part in msg.walk():
            n_parts += 1
            if n_parts > MAX_PARTS:
                defects.append(f"more than {MAX_PARTS} MIME parts")
                break
            ctype = part.get_content_type()
            if ctype in ("message/rfc822", "multipart/report", "message/delivery-status",
                         "message/disposition-notification"):
                types.add(ctype)
            if part.is_multipart():
                continue
            types.add(ctype[:60])
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
        reply_to=_addresses([_decode_hdr(v) for v in frozen.get("reply-to", ())]),
        to=_addresses([_decode_hdr(v) for v in frozen.get("to", ())]),
        cc=_addresses([_decode_hdr(v) for v in frozen.get("cc", ())]),
        subject=subject,
        headers=frozen,
        text="".join(text_parts),
        html=html,
        size=size,
        n_parts=n_parts,
        n_attachments=n_attach,
        n_images=n_images,
        defects=tuple(defects),
        content_types=frozenset(types),
        unreadable=unreadable,
    )


def _decode_hdr(value: str) -> str:
    if "=?" not in value:  # values come from _header_str: whitespace is already collapsed
        return value.strip()
    return _WS.sub(" ", _decode_words(value)).strip()


def _unreadable(size: int, why: str) -> ParsedMessage:
    return ParsedMessage(
        message_id="", date=None, sender=None, reply_to=(), to=(), cc=(), subject="", headers={},
        text="", html="", size=size, n_parts=0, n_attachments=0, n_images=0, defects=(why,),
        unreadable=why,
    )
