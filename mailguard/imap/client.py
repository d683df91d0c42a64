"""The IMAP adapter's data, errors and pure protocol helpers.

With the layers of :class:`~mailguard.imap.account.ImapAccount` (connection, folders, fetch,
transfer, account: see :mod:`mailguard.imap.account`), the only modules of mailguard that import
imapclient: a thin, typed layer over :class:`imapclient.IMAPClient`. Everything above them talks
in dataclasses (:class:`FolderInfo`, :class:`FolderState`, :class:`FetchedMessage`) and catches
:class:`~mailguard.errors.ImapError`; imapclient, imaplib, socket and ssl exceptions never escape.

Errors come in two kinds, so that a reconnect loop can tell them apart:

* :class:`ImapConnectionLost` (a subclass of ``ImapError``): a network fault. The connection
  dropped, timed out, was refused or reset, or the server said BYE ("Server shutting down").
  Reconnecting later (with back-off) may well succeed. The account is closed when it is raised;
  call :meth:`~mailguard.imap.account.ImapAccount.connect` again.
* plain :class:`~mailguard.errors.ImapError`: retrying will not help without a change of
  configuration or of the mailbox: bad password, certificate verification failure, a folder that
  does not exist, a server that refuses a command or lacks a needed extension.

Secrets are read from a callable at each connect and never logged: log lines name the user, host
and port only. imapclient's own protocol log (logger ``imapclient.imaplib``, DEBUG) goes through its
``IMAPlibLoggerAdapter``, which replaces LOGIN and AUTHENTICATE lines by ``**REDACTED**``; SASL
responses (PLAIN, XOAUTH2) are sent as literals that imaplib logs by size only.

Pure helpers (``uid_set``, ``parse_copyuid``, ``server_folder_name``, ``message_id_of``,
``content_hash``, ``search_term``, ``is_loopback_host``...) do the parsing and are tested on
literals.

What the server says is data, never trusted to be well formed: a response mailguard cannot read
(a count that is not a number, a UID range of four billion, a NIL where a number belongs) is an
:class:`ImapProtocolError` or is ignored, never an exception from deep inside the parser, and only
the UIDs that were asked for are ever used from an answer. What mailguard sends is never taken
from a message unquoted: a Message-ID goes into a SEARCH as a quoted string of printable ASCII
(see :func:`search_term`).
"""

from __future__ import annotations

import bisect
import hashlib
import imaplib
import io
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header
from email.parser import BytesHeaderParser
from typing import Any, Literal

from imapclient import IMAPClient

from mailguard.errors import ConfigError, ImapError

__all__ = [
    "Credentials",
    "FetchedMessage",
    "FolderInfo",
    "FolderState",
    "ImapConnectionLost",
    "ImapProtocolError",
    "ImapSettings",
    "TlsMode",
    "content_hash",
    "is_loopback_address",
    "is_loopback_host",
    "message_id_of",
    "parse_appenduid",
    "parse_copyuid",
    "parse_uid_ranges",
    "parse_uid_set",
    "search_term",
    "server_folder_name",
    "uid_set",
]

log = logging.getLogger(__name__)

TlsMode = Literal["ssl", "starttls", "none"]

#: IDLE must be re-issued before the server's 30-minute inactivity timeout (RFC 2177).
MAX_IDLE_SECONDS = 29 * 60
#: UIDs per MOVE/COPY/STORE/EXPUNGE command: keeps command lines far below server limits.
TRANSFER_BATCH = 500
#: Without IDLE, idle_wait() polls with NOOP this often.
NOOP_POLL_SECONDS = 30.0

_DELETED = b"\\Deleted"
#: the largest UID, UIDVALIDITY or UIDNEXT (RFC 3501: a 32-bit number)
UID_MAX = 2**32 - 1
#: body bytes (after the header) that go into a message's content hash
HASH_BODY_BYTES = 1024
#: a SEARCH for a Message-ID sends at most this much of it (a substring: the result is filtered)
MAX_SEARCH_TERM = 200
#: a search term shorter than this would match half the folder: every Message-ID is read instead
MIN_SEARCH_TERM = 3


class ImapConnectionLost(ImapError):
    """The connection to the IMAP server dropped, timed out or could not be opened for a network
    reason (refused, reset, unreachable, BYE "Server shutting down"). Reconnecting later may work;
    most other ImapErrors mean retrying is pointless until something is changed."""

    retryable = True


class FolderReadOnly(ImapError):
    """The server opened a folder read-only (its permissions, an ACL, a quota or a full disk on
    the server): nothing can be moved out of it now. Retried: it may become writable again."""

    retryable = True

    def __init__(self, folder: str, address: str) -> None:
        super().__init__(f"{folder} on {address} is read-only (the server refuses changes to it): "
                         "nothing is moved out of it until it is writable again")
        self.folder = folder


class ImapProtocolError(ImapError):
    """The server's answer cannot be read: malformed (a count that is not a number, a number out
    of range) or not what the command can be answered with. The connection is closed, since what
    follows in it cannot be trusted either; connect() again. Not retried by itself: a server
    that answers like this once usually does again."""


class FolderMissing(ImapError):
    """A folder does not exist (any more) on the server."""

    def __init__(self, folder: str) -> None:
        super().__init__(f"no such folder: {folder}")
        self.folder = folder


# --------------------------------------------------------------------------- settings


def is_loopback_host(host: str) -> bool:
    """True for "localhost" (any case) and for IP literals in 127.0.0.0/8 or ::1 ("[::1]" too),
    written exactly: "localhost." or "localhost.localdomain" are names a resolver may look up in
    the DNS, and "127.1" is not an address literal to every resolver. No DNS lookup is made."""
    if host.lower() == "localhost":
        return True
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return False
    return is_loopback_address(address)


def is_loopback_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 (a socket's peer, say)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0] if isinstance(address, str) else address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


@dataclass(frozen=True)
class ImapSettings:
    """Where and how to connect. Invalid or unsafe values raise ConfigError when constructed.

    tls: "ssl" (implicit TLS, usually port 993), "starttls" (usually port 143) or "none", which is
    only accepted for a loopback host (localhost, 127.0.0.0/8, ::1). Certificates and host names are
    verified with ``ssl.create_default_context()``, trusting ``ca_file`` instead of the system store
    when given; ``ssl_context`` replaces all of that (meant for tests).
    timeout: seconds to wait for the connection and for each server answer.
    """

    host: str
    port: int
    username: str
    tls: TlsMode = "ssl"
    timeout: float = 60.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ConfigError("imap host is empty")
        if not self.username:
            raise ConfigError(f"imap username for {self.host} is empty")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"imap port must be a number from 1 to 65535, not {self.port!r}")
        if self.tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"imap tls must be 'ssl', 'starttls' or 'none', not {self.tls!r}")
        if not self.timeout > 0:
            raise ConfigError(f"imap timeout must be a positive number of seconds, not {self.timeout!r}")
        if self.tls == "none" and not is_loopback_host(self.host):
            raise ConfigError(
                f"refusing tls='none' for {self.host}: the password would cross the network in clear "
                "text; use tls='ssl' or 'starttls' (tls='none' is allowed for localhost only)"
            )

    @property
    def address(self) -> str:
        """host:port as used in messages ([::1]:993 for IPv6 literals)."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Credentials:
    """How to log in: exactly one of a password or an OAuth2 access token.

    Both are callables, asked again at each connect, so a refreshed token is picked up and no
    secret is kept on this object. ``oauth2_mech`` is "XOAUTH2" (Gmail, Outlook) or "OAUTHBEARER".
    """

    password: Callable[[], str] | None = field(default=None, repr=False)
    oauth2_token: Callable[[], str] | None = field(default=None, repr=False)
    oauth2_mech: Literal["XOAUTH2", "OAUTHBEARER"] = "XOAUTH2"

    def __post_init__(self) -> None:
        if (self.password is None) == (self.oauth2_token is None):
            raise ConfigError("imap credentials need exactly one of a password or an OAuth2 token")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FolderInfo:
    """One LIST line: the server's folder name (decoded from modified UTF-7), its flags such as
    b"\\HasNoChildren", b"\\Noselect", b"\\Sent", and the hierarchy delimiter (None if flat)."""

    name: str
    flags: tuple[bytes, ...]
    delimiter: str | None

    @property
    def selectable(self) -> bool:
        return not any(flag.lower() in (b"\\noselect", b"\\nonexistent") for flag in self.flags)


@dataclass(frozen=True)
class FolderState:
    """What SELECT reports. Stored UIDs are valid only while uidvalidity stays the same."""

    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched without setting \\Seen.

    raw: the full header followed by at most max_body_bytes of the body; ``truncated`` tells
    whether the body was cut. size: RFC822.SIZE, the size of the whole message on the server
    (len(raw) when the server did not say). internaldate: the server's arrival time,
    timezone-aware. content_hash: see :func:`content_hash` ("" when not computed).
    """

    uid: int
    flags: tuple[bytes, ...]
    internaldate: datetime | None
    raw: bytes
    size: int
    message_id: str | None
    content_hash: str = ""

    @property
    def truncated(self) -> bool:
        return len(self.raw) < self.size


# --------------------------------------------------------------------------- pure helpers


def uid_set(uids: Iterable[int]) -> str:
    """Compact IMAP sequence set for UIDs: [1, 2, 3, 7, 9, 10] -> "1:3,7,9:10"."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("empty UID set")
    if ordered[0] < 1:
        raise ValueError(f"UIDs start at 1, got {ordered[0]}")
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
            start = uid
        prev = uid
    parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


def _number(text: str, what: str = "UID") -> int:
    """A UID-like number, 1..UID_MAX, from ASCII digits only; ValueError otherwise."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise ValueError(f"{what} {text[:20]!r} is not a number")
    n = int(text)
    if not 1 <= n <= UID_MAX:
        raise ValueError(f"{what} {n} is out of range")
    return n


def parse_uid_ranges(text: str) -> list[tuple[int, int]]:
    """An explicit sequence set as ranges, in order: "4,1:3" -> [(4, 4), (1, 3)]. A range is
    ascending whichever way it is written ("3:1" is (1, 3)), as RFC 3501 defines it. ValueError
    for anything but numbers from 1 to 4294967295 ("*" never occurs in a response set)."""
    out: list[tuple[int, int]] = []
    for part in text.strip().split(","):
        low, sep, high = part.partition(":")
        a = _number(low)
        b = _number(high) if sep else a
        out.append((min(a, b), max(a, b)))
    return out


def _ranges_length(ranges: Sequence[tuple[int, int]]) -> int:
    return sum(high - low + 1 for low, high in ranges)


def parse_uid_set(text: str, limit: int = 100_000) -> list[int]:
    """Expand an explicit sequence set, keeping its order: "4,1:3" -> [4, 1, 2, 3] (ranges
    ascending, see parse_uid_ranges). ValueError for a set of more than limit UIDs."""
    ranges = parse_uid_ranges(text)
    if _ranges_length(ranges) > limit:
        raise ValueError(f"UID set of more than {limit} UIDs")
    return [uid for low, high in ranges for uid in range(low, high + 1)]


def parse_copyuid(data: bytes | str, wanted: Iterable[int] | None = None) -> tuple[int, dict[int, int]]:
    """Parse the data of a COPYUID response code (RFC 4315): b"38505 304,319:320 3956:3958"
    -> (38505, {304: 3956, 319: 3957, 320: 3958}): destination UIDVALIDITY and old -> new UIDs.

    wanted: the UIDs that were copied; only they are mapped, without expanding the sets, so a
    server's "1:4000000000" costs nothing. None maps every UID (of a set of at most 100,000).
    ValueError for malformed data or sets of different lengths.
    """
    text = data.decode("ascii") if isinstance(data, bytes) else data
    fields = text.split()
    if len(fields) != 3:
        raise ValueError(f"malformed COPYUID data: {text[:80]!r}")
    validity = _number(fields[0], "UIDVALIDITY")
    source, dest = parse_uid_ranges(fields[1]), parse_uid_ranges(fields[2])
    if _ranges_length(source) != _ranges_length(dest):
        raise ValueError(f"COPYUID sets differ in length: {text[:80]!r}")
    if wanted is None:
        return validity, dict(zip(parse_uid_set(fields[1]), parse_uid_set(fields[2]), strict=True))
    asked = sorted(set(wanted))
    positions: dict[int, int] = {}  # UID -> its place in the source sequence (first occurrence)
    offset = 0
    for low, high in source:
        for i in range(bisect.bisect_left(asked, low), bisect.bisect_right(asked, high)):
            positions.setdefault(asked[i], offset + asked[i] - low)
        offset += high - low + 1
    starts: list[int] = []  # the place in the destination sequence where each range begins
    total = 0
    for low, high in dest:
        starts.append(total)
        total += high - low + 1
    mapping: dict[int, int] = {}
    for uid, place in positions.items():
        k = bisect.bisect_right(starts, place) - 1
        mapping[uid] = dest[k][0] + place - starts[k]
    return validity, mapping


_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


def parse_appenduid(response: bytes | str | None) -> tuple[int, int] | None:
    """(uidvalidity, uid) from an APPEND response text with [APPENDUID v u] (RFC 4315), else None."""
    if response is None:
        return None
    raw = response.encode("utf-8", "replace") if isinstance(response, str) else response
    match = _APPENDUID.search(raw)
    return (int(match.group(1)), int(match.group(2))) if match else None


#: header fields a server adds or rewrites on delivery or a migration: not part of the content hash
_TRANSPORT_FIELDS = (
    "received", "return-path", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
    "status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length", "lines",
    "x-mozilla-status", "x-mozilla-status2",
)
# one unfolded field a line (after _FOLD): a transport field's line with the line end before it
# (the header is searched with a "\n" put in front: a search for "\n" is a fast scan, where "^" in
# multi-line mode is a test at every byte)
_TRANSPORT = re.compile(rb"\n(?=[" + "".join(sorted({f[0] for f in _TRANSPORT_FIELDS})).encode()
                        + rb"])(?:" + "|".join(_TRANSPORT_FIELDS).encode() + rb")[ \t]*:[^\n]*",
                        re.IGNORECASE)
_FOLD = re.compile(rb"\n[ \t]+")


def content_hash(header: bytes, body: bytes = b"", size: int | None = None) -> str:
    """A sha256 (hex) that tells one message's content from another's, wherever it is: in another
    folder, after a move back, after a UIDVALIDITY change. It covers every header field except
    those a server adds on delivery or migration (Received, Return-Path, Delivered-To, Status...),
    with line ends and folding made uniform; the body's size (size, i.e.
    RFC822.SIZE, minus the header; unknown when size is None); and its first HASH_BODY_BYTES bytes.

    Two messages with the same Message-ID and a different From, Subject, Date or start of the
    body have different hashes. Linear in the header's length (a few regular-expression passes).
    """
    if _LONE_CR.search(header) is None:  # every CR is a CRLF's: the same as deleting the CRs
        text = header.translate(None, b"\r")
    else:
        text = header.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    text = _TRANSPORT.sub(b"", b"\n" + _FOLD.sub(b" ", text)).strip(b"\n")
    body_size = size - len(header) if size is not None and size >= len(header) else -1
    digest = hashlib.sha256(text)
    digest.update(b"\n\n%d\n" % body_size)
    digest.update(body[:HASH_BODY_BYTES])
    return digest.hexdigest()


_SEARCHABLE = re.compile(r"[\x21-\x7e]+")


def search_term(message_id: str) -> str:
    """What to SEARCH for to find a Message-ID: the longest run of printable ASCII without spaces
    in it (of its decoded text when it holds RFC 2047 encoded-words, which servers decode before
    they search), at most MAX_SEARCH_TERM characters. IMAP's HEADER search matches substrings, so
    the answer is a superset that is filtered by the exact Message-ID. NUL, CR, LF and 8-bit bytes
    are never sent; "" when nothing searchable is left."""
    text = message_id
    if "=?" in text and len(text) <= 998:  # at most a header line's worth is decoded
        try:
            text = "".join(part.decode(charset or "utf-8", "replace") if isinstance(part, bytes)
                           else part for part, charset in decode_header(text))
        except (LookupError, ValueError, TypeError, AssertionError):
            text = message_id
    best = max(_SEARCHABLE.findall(text), key=len, default="")
    return best[:MAX_SEARCH_TERM]


def imap_quoted(text: str) -> bytes:
    """An IMAP quoted string (RFC 3501) of printable ASCII: backslash and double quote escaped.
    ValueError for anything else (CR, LF, NUL and 8-bit cannot be quoted)."""
    if not all(" " <= ch <= "~" for ch in text):
        raise ValueError(f"{text[:40]!r} cannot be sent as an IMAP quoted string")
    return b'"' + text.encode("ascii").replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def message_id_of(header: bytes) -> str | None:
    """The Message-ID of a raw header block, whitespace-unfolded, or None if absent or empty."""
    value = _ascii_message_id(header) if header.isascii() else _EMAIL_PARSER
    if value is _EMAIL_PARSER:
        value = BytesHeaderParser().parsebytes(header).get("Message-ID")
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


_EMAIL_PARSER: Any = object()
#: what email.feedparser takes for a header line (a field, a continuation, a unix From)
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")


#: a Message-ID field, searched for in the header with "\n" put in front: a search for "\n" is a
#: fast scan, where "^" in multi-line mode is a test at every byte
_MID_FIELD = re.compile(rb"\nmessage-id:", re.IGNORECASE)
#: the rest of a field: its first line and the continuation lines
_FIELD_REST = re.compile(rb"[^\n]*(?:\n[ \t][^\n]*)*")
#: the line end before a line that ends the header for email.feedparser (a line that is not a
#: field, a continuation or "From ")
_HEADER_END = re.compile(rb"\n(?!From |[\041-\071\073-\176]*:|[\t ])")
_LONE_CR = re.compile(rb"\r(?!\n)")


def _ascii_message_id(header: bytes) -> str | None:
    """The raw value of the first Message-ID field of an ASCII header block, exactly as
    email.parser.BytesHeaderParser (compat32) gives it: the same lines (split at CR, LF or CRLF),
    the same end of the header, the same malformed lines skipped (up to the whitespace that
    message_id_of folds).

    Where every line ends in LF or CRLF (what IMAP servers send), three searches: the first
    Message-ID field, a line before it that ends the header, the field's continuation lines."""
    if _LONE_CR.search(header) is None:
        text = b"\n" + header
        found = _MID_FIELD.search(text)
        if found is None or _HEADER_END.search(text, 0, found.start()) is not None:
            return None
        rest = _FIELD_REST.match(text, found.end())
        assert rest is not None  # it matches the empty string
        return rest.group().decode("ascii")
    value: list[str] | None = None
    current = ""
    for line in io.StringIO(header.decode("ascii"), newline=""):
        if not _HEADER_LINE.match(line):
            break  # the end of the header
        if line[0] in " \t":
            if current and value is not None:
                value.append(line)
            continue
        if value is not None:
            break  # the first Message-ID is complete
        current = ""
        if line.startswith("From "):
            continue
        i = line.find(":")
        if i > 0:
            current = line[:i]
            if current.lower() == "message-id":
                value = [line]
    if value is None:
        return None
    first = value[0].split(":", 1)[1].lstrip(" \t")
    return (first + "".join(value[1:])).rstrip("\r\n")


def server_folder_name(name: str, prefix: str = "", delimiter: str | None = "/") -> str:
    """Turn a folder name written with "/" between levels into the server's name.

    "Übersicht/Werbung" becomes "INBOX.Übersicht.Werbung" on a server whose personal namespace is
    ("INBOX.", "."). Names already starting with the prefix, and INBOX itself, are kept as they are.
    A "." inside a level still splits levels on a "."-delimited server.
    """
    cleaned = name.strip().strip("/")
    if not cleaned:
        raise ValueError("empty folder name")
    if cleaned.upper() == "INBOX":
        return "INBOX"
    if delimiter and delimiter != "/":
        cleaned = cleaned.replace("/", delimiter)
    if prefix and not cleaned.upper().startswith(prefix.upper()):
        cleaned = prefix + cleaned
    return cleaned


_DOVECOT_TIMING = re.compile(r"(?<!\s)\s*+\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)")
_BYTES_REPR = re.compile(r"""^b(['"])(.*)\1$""", re.DOTALL)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
# imaplib's wording for an abort: "command: FETCH => socket error: EOF", "command: NOOP => <BYE text>"
_ABORT_PREFIX = re.compile(r"^command: \S+ => ")
_UNEXPECTED = re.compile(r"^(?:command: \S+ => )?unexpected (?:tagged )?response")
_NONEXISTENT = re.compile(
    r"\[(NONEXISTENT|TRYCREATE)\]|doesn'?t exist|does not exist|no such (mailbox|folder)|unknown mailbox",
    re.IGNORECASE,
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _server_text(exc: BaseException) -> str:
    """The server's words from an imaplib/imapclient error, on one line, without Dovecot's timing."""
    arg: Any = exc.args[0] if exc.args else str(exc)
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    match = _BYTES_REPR.match(text.strip())
    if match:
        text = match.group(2)
    text = _DOVECOT_TIMING.sub("", text)
    return _one_line(text).rstrip(".") or type(exc).__name__


def _network_reason(exc: BaseException, timeout: float) -> str:
    """Why a socket-level operation failed, in a few lower-case words."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, imaplib.IMAP4.abort):
        text = _ABORT_PREFIX.sub("", _server_text(exc))
        if text.endswith("EOF") or "EOF occurred" in text:
            return "the server closed the connection"
        text = text.removeprefix("socket error: ")
        return _ERRNO.sub("", text).lower() if text.startswith("[Errno") else text
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _one_line(str(exc)).lower() or type(exc).__name__


def _new_mail(responses: Iterable[Any]) -> bool:
    """True if untagged responses announce messages: "* n EXISTS", or "* n RECENT" with n > 0."""
    for item in responses:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[0], int):
            kind = item[1].upper() if isinstance(item[1], bytes) else b""
            if kind == b"EXISTS" or (kind == b"RECENT" and item[0] > 0):
                return True
    return False


def _said_bye(responses: Iterable[Any]) -> str | None:
    for item in responses:
        if isinstance(item, tuple) and item and item[0] == b"BYE":
            words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in item[1:]]
            return " ".join(words).rstrip(".") or "BYE"
    return None


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _body_part(data: dict[bytes, Any], prefix: bytes) -> bytes | None:
    """The FETCH item whose key starts with prefix (b"BODY[TEXT]" matches b"BODY[TEXT]<0>");
    None if absent or NIL."""
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return value if isinstance(value, bytes) else None
    return None


def _fetched(uid: int, data: dict[bytes, Any]) -> FetchedMessage | None:
    """A FetchedMessage from one FETCH response; None when the header is missing or NIL (Dovecot
    answers NIL for a message another session expunged). A size or flags the server got wrong
    (NIL, not a number) are taken as unknown: the message is still readable."""
    header = _body_part(data, b"BODY[HEADER]")
    if header is None:
        return None
    body = _body_part(data, b"BODY[TEXT]") or b""
    raw = header + body
    internaldate = data.get(b"INTERNALDATE")
    size = data.get(b"RFC822.SIZE")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        if size is not None or b"RFC822.SIZE" in data:
            log.debug("message %d: the server gave no usable RFC822.SIZE (%r)", uid, size)
        size = None
    flags = data.get(b"FLAGS", ())
    return FetchedMessage(
        uid=uid,
        flags=tuple(f for f in flags if isinstance(f, bytes)) if isinstance(flags, tuple) else (),
        internaldate=internaldate if isinstance(internaldate, datetime) else None,
        raw=raw,
        size=len(raw) if size is None else size,
        message_id=message_id_of(header),
        content_hash=content_hash(header, body, size),
    )


# --------------------------------------------------------------------------- imapclient internals
# imapclient exposes neither response codes of tagged replies (COPYUID, NONEXISTENT) nor a way to
# drop unsolicited responses; both live in imaplib's untagged_responses dict.


def _send_transfer(client: IMAPClient, verb: str, uids: Sequence[int], dest: str) -> None:
    if verb == "MOVE":
        client.move(uid_set(uids), dest)
    else:
        client.copy(uid_set(uids), dest)


def _uids(found: Iterable[Any]) -> set[int]:
    """The UIDs of a SEARCH answer that can be UIDs at all (1 to 2**32 - 1)."""
    return {u for u in found if isinstance(u, int) and not isinstance(u, bool) and 0 < u <= UID_MAX}


_COUNTS = ("EXISTS", "RECENT", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ")


def _malformed_detail(client: IMAPClient) -> str | None:
    """Which count of the last answer is not a number (for the error line), if one is."""
    try:
        responses = _untagged(client)
    except AttributeError:
        return None
    for key in _COUNTS:
        for value in responses.get(key) or ():
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            if not (text.isascii() and text.isdigit()):
                return f"{key} {text[:40]}"
    return None


def _untagged(client: IMAPClient) -> dict[str, list[Any]]:
    responses: dict[str, list[Any]] = client._imap.untagged_responses
    return responses


def _discard_unsolicited(client: IMAPClient) -> None:
    """Forget unsolicited responses (EXISTS, EXPUNGE, FETCH...) that imaplib keeps forever."""
    responses = _untagged(client)
    for key in list(responses):
        if key not in ("CAPABILITY", "READ-ONLY"):
            del responses[key]


def _shutdown_quietly(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception as exc:  # already closed or broken: nothing left to release
        log.debug("closing the IMAP socket failed: %s", exc)
