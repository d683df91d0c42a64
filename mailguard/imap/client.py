"""The IMAP adapter: the only module of mailguard that imports imapclient.

A thin, typed layer over :class:`imapclient.IMAPClient`. Everything above this module talks in
dataclasses (:class:`FolderInfo`, :class:`FolderState`, :class:`FetchedMessage`) and catches
:class:`~mailguard.errors.ImapError`; imapclient, imaplib, socket and ssl exceptions never escape.

Errors come in two kinds, so that a reconnect loop can tell them apart:

* :class:`ImapConnectionLost` (a subclass of ``ImapError``): a network fault. The connection
  dropped, timed out, was refused or reset, or the server said BYE ("Server shutting down").
  Reconnecting later (with back-off) may well succeed. The account is closed when it is raised;
  call :meth:`ImapAccount.connect` again.
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
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from email.header import decode_header
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Any, Literal, Self

from imapclient import IMAPClient
from imapclient import exceptions as imapclient_errors

from mailguard.errors import ConfigError, ImapError

__all__ = [
    "Credentials",
    "FetchedMessage",
    "FolderInfo",
    "FolderState",
    "ImapAccount",
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
# one unfolded field a line (after _FOLD): a transport field's whole line
_TRANSPORT = re.compile(rb"^(?:" + "|".join(_TRANSPORT_FIELDS).encode() + rb")[ \t]*:[^\n]*(?:\n|\Z)",
                        re.IGNORECASE | re.MULTILINE)
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
    text = header.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    text = _TRANSPORT.sub(b"", _FOLD.sub(b" ", text)).strip(b"\n")
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
    value = BytesHeaderParser().parsebytes(header).get("Message-ID")
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


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


# --------------------------------------------------------------------------- the account


class ImapAccount:
    """One IMAP connection, logged in as settings.username.

    Use as a context manager (``with ImapAccount(settings, password) as account:``), or call
    connect() and close(). Methods that work on "the selected folder" need a select() first.
    Any ImapConnectionLost closes the account; connect() opens a fresh connection.
    """

    def __init__(self, settings: ImapSettings, auth: Callable[[], str] | Credentials) -> None:
        self.settings = settings
        self._credentials = auth if isinstance(auth, Credentials) else Credentials(password=auth)
        self._client: IMAPClient | None = None
        self._lost = False
        self._caps: frozenset[str] = frozenset()
        self._layout: tuple[str, str | None] | None = None
        self._selected: str | None = None
        self._selected_readonly = False

    # -- lifecycle

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        """Open the connection, negotiate TLS and log in. Does nothing if already connected."""
        if self._client is not None:
            return
        s = self.settings
        context = self._ssl_context() if s.tls != "none" else None
        log.debug("connecting to %s (tls=%s)", s.address, s.tls)
        try:
            client = IMAPClient(
                s.host, port=s.port, ssl=s.tls == "ssl", ssl_context=context, timeout=s.timeout
            )
        except Exception as exc:
            raise self._connect_error(exc) from exc
        try:
            if s.tls == "none":
                self._check_loopback_peer(client)
            if s.tls == "starttls":
                self._starttls(client, context)
            log.info("login as %s to %s:%d", s.username, s.host, s.port)
            self._login(client)
            try:
                capabilities = client.capabilities()
            except Exception as exc:
                raise self._connect_error(exc) from exc
        except BaseException:
            _shutdown_quietly(client)
            raise
        self._caps = frozenset(c.decode("ascii", "replace").upper() for c in capabilities)
        client.normalise_times = False  # aware INTERNALDATEs, not naive local times
        self._client = client
        self._lost = False
        self._layout = None
        self._selected = None
        log.debug("logged in to %s; capabilities: %s", s.address, " ".join(sorted(self._caps)))

    def close(self) -> None:
        """Log out (best effort) and forget the connection. Safe to call twice."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception as exc:  # the connection is being dropped anyway
            log.debug("logout from %s failed (%s); closing the socket", self.settings.address, exc)
            _shutdown_quietly(client)

    def _check_loopback_peer(self, client: IMAPClient) -> None:
        """tls="none": the host was checked to be loopback by name; check the address the socket
        really reached too ("localhost" comes from a hosts file or a resolver), before a word of
        the login is sent."""
        try:
            peer = client.socket().getpeername()[0]
        except (OSError, AttributeError, IndexError) as exc:
            raise ImapConnectionLost(f"cannot connect to {self.settings.address}: "
                                     f"{_network_reason(exc, self.settings.timeout)}") from None
        if not is_loopback_address(str(peer)):
            raise ImapError(
                f"refusing to log in to {self.settings.address} without TLS: {self.settings.host} "
                f"reached {peer}, which is not a loopback address (tls='none' is for this machine only)")

    def _ssl_context(self) -> ssl.SSLContext:
        if self.settings.ssl_context is not None:
            return self.settings.ssl_context
        try:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load CA file {self.settings.ca_file}: {_network_reason(exc, 0)}"
            ) from exc

    def _starttls(self, client: IMAPClient, context: ssl.SSLContext | None) -> None:
        where = self.settings.address
        try:
            if not client.has_capability("STARTTLS"):
                raise ImapError(
                    f"{where} does not offer STARTTLS; use tls='ssl' (usually port 993)"
                )
            client.starttls(context)
        except ImapError:
            raise
        except Exception as exc:
            raise self._connect_error(exc) from exc

    def _login(self, client: IMAPClient) -> None:
        s, creds = self.settings, self._credentials
        failed = f"login failed for {s.username} on {s.address}"
        try:
            if creds.oauth2_token is not None:
                mech = creds.oauth2_mech
                if not client.has_capability(f"AUTH={mech}"):
                    raise ImapError(f"{failed}: the server does not offer AUTH={mech}")
                token = creds.oauth2_token()
                if mech == "OAUTHBEARER":
                    client.oauthbearer_login(s.username, token)
                else:
                    client.oauth2_login(s.username, token, mech=mech)
                return
            assert creds.password is not None
            password = creds.password()
            if not password:
                raise ImapError(f"{failed}: the password is empty")
            if password.isascii():
                client.login(s.username, password)
            elif client.has_capability("AUTH=PLAIN"):
                client.plain_login(s.username, password)  # UTF-8 inside SASL PLAIN
            else:
                raise ImapError(
                    f"{failed}: the password has non-ASCII characters and the server offers no "
                    "AUTH=PLAIN to send them"
                )
        except ImapError:
            raise
        # `from None` everywhere below: the chained exception could carry the command line.
        except imaplib.IMAP4.abort as exc:
            raise ImapConnectionLost(
                f"{failed}: {_network_reason(exc, s.timeout)}"
            ) from None
        except imapclient_errors.LoginError as exc:
            text = _server_text(exc)
            if _ABORT_PREFIX.match(text) or text.startswith("socket error"):
                # imapclient turns every failure during login, a dropped connection too, into LoginError
                reason = _network_reason(imaplib.IMAP4.abort(text), s.timeout)
                raise ImapConnectionLost(f"{failed}: {reason}") from None
            if "AUTHENTICATIONFAILED" in text.upper() or "authentication failed" in text.lower():
                text = "authentication failed"
            raise ImapError(f"{failed}: {text}") from None
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"{failed}: {_server_text(exc)}") from None
        except OSError as exc:
            raise ImapConnectionLost(f"{failed}: {_network_reason(exc, s.timeout)}") from None
        except UnicodeError:
            raise ImapError(f"{failed}: the user name or secret cannot be encoded") from None

    def _connect_error(self, exc: BaseException) -> ImapError:
        """Map an exception raised while opening the connection or negotiating TLS."""
        s = self.settings
        where = s.address
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or "unknown reason"
            return ImapError(f"TLS handshake with {where} failed: certificate verify failed: {detail}")
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            reason = (exc.reason or _one_line(str(exc))).replace("_", " ").lower()
            hint = ""
            if "wrong version number" in reason or "record layer failure" in reason:
                hint = " (is this a plain-text port? use tls='starttls', or port 993 for tls='ssl')"
            return ImapError(f"TLS handshake with {where} failed: {reason}{hint}")
        if isinstance(exc, socket.gaierror):
            text = f"cannot connect to {where}: cannot resolve host name {s.host!r}"
            if exc.errno == socket.EAI_AGAIN:
                return ImapConnectionLost(text + " (temporary DNS failure)")
            return ImapError(text)
        if isinstance(exc, ConnectionRefusedError):
            return ImapConnectionLost(f"cannot connect to {where}: connection refused")
        if isinstance(exc, (OSError, imaplib.IMAP4.abort)):
            return ImapConnectionLost(f"cannot connect to {where}: {_network_reason(exc, s.timeout)}")
        if isinstance(exc, imaplib.IMAP4.error):
            return ImapError(f"cannot connect to {where}: {_server_text(exc)}")
        return ImapError(f"cannot connect to {where}: {_one_line(str(exc)) or type(exc).__name__}")

    # -- the error funnel for commands

    def _require(self) -> IMAPClient:
        if self._client is None:
            if self._lost:
                raise ImapConnectionLost(
                    f"the connection to {self.settings.address} was lost; connect() again"
                )
            raise ImapError(f"not connected to {self.settings.address}; call connect() first")
        return self._client

    def _require_selected(self) -> str:
        self._require()
        if self._selected is None:
            raise ImapError("no folder is selected; call select() first")
        return self._selected

    @contextmanager
    def _command(self, action: str, folder: str | None = None) -> Iterator[IMAPClient]:
        """Run IMAP commands, mapping failures to ImapError / ImapConnectionLost.

        folder: the folder the commands are about; a "doesn't exist" answer then becomes
        "no such folder: <folder>".
        """
        client = self._require()
        where = self.settings.address
        selected = self._selected
        for code in ("NONEXISTENT", "TRYCREATE"):
            _untagged(client).pop(code, None)
        try:
            yield client
        except ImapError:
            raise
        except imaplib.IMAP4.readonly as exc:  # a subclass of abort that is not a lost connection
            raise FolderReadOnly(selected or folder or "the selected folder", where) from exc
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            self._drop()
            if isinstance(exc, imaplib.IMAP4.abort) and _UNEXPECTED.search(_server_text(exc)):
                # imaplib's words for a line it cannot parse: the connection is fine, the server not
                raise ImapProtocolError(
                    f"{action} failed on {where}: the server's answer is malformed "
                    f"({_server_text(exc)[:120]})") from exc
            raise ImapConnectionLost(
                f"connection to {where} lost during {action}: "
                f"{_network_reason(exc, self.settings.timeout)}"
            ) from exc
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # imapclient's parsers: a number that is not one, a list that is too short...
            detail = _malformed_detail(client) or _one_line(str(exc))[:120] or type(exc).__name__
            self._drop()
            raise ImapProtocolError(
                f"{action} failed on {where}: the server's answer is malformed ({detail})") from exc
        except imaplib.IMAP4.error as exc:
            text = _server_text(exc)
            if "* BYE" in text:  # e.g. "Unexpected IDLE response: b'* BYE Server shutting down.'"
                self._drop()
                raise ImapConnectionLost(
                    f"connection to {where} lost during {action}: the server said "
                    f"{text[text.index('* BYE') + 2:].rstrip(chr(39)).strip()}"
                ) from exc
            codes = _untagged(client)
            if folder is not None and (
                _NONEXISTENT.search(text) or "NONEXISTENT" in codes or "TRYCREATE" in codes
            ):
                raise FolderMissing(folder) from exc
            raise ImapError(f"{action} failed on {where}: {text}") from exc
        else:
            _discard_unsolicited(client)

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._lost = True
        self._selected = None
        if client is not None:
            _shutdown_quietly(client)
        log.info("connection to %s lost", self.settings.address)

    # -- server facts

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities announced after login, upper-case: {"IMAP4REV1", "IDLE", "MOVE", ...}."""
        self._require()
        return self._caps

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    @property
    def selected(self) -> str | None:
        """The selected folder, or None."""
        return self._selected

    def list_folders(self) -> list[FolderInfo]:
        with self._command("LIST") as client:
            rows = client.list_folders()
        return [
            FolderInfo(
                name=str(name),
                flags=tuple(flags),
                delimiter=delim.decode("ascii", "replace") if isinstance(delim, bytes) else delim,
            )
            for flags, delim, name in rows
        ]

    def special_folder(self, flag: bytes | str) -> str | None:
        """The folder carrying a SPECIAL-USE flag such as b"\\Sent" or b"\\Junk" (RFC 6154), else
        a folder with a usual name for it (imapclient's guess), else None."""
        wanted = flag.encode("ascii") if isinstance(flag, str) else flag
        for info in self.list_folders():
            if any(f.lower() == wanted.lower() for f in info.flags):
                return info.name
        with self._command("LIST") as client:
            found = client.find_special_folder(wanted)
        return str(found) if found is not None else None

    def _folder_layout(self) -> tuple[str, str | None]:
        """(prefix, delimiter) of the personal namespace, e.g. ("", "/") or ("INBOX.", ".")."""
        if self._layout is None:
            with self._command("NAMESPACE") as client:
                layout: tuple[str, str | None] | None = None
                if client.has_capability("NAMESPACE"):
                    personal = client.namespace().personal
                    if personal:
                        prefix, delimiter = personal[0]
                        layout = (str(prefix or ""), str(delimiter) if delimiter else None)
                if layout is None:
                    rows = client.list_folders("", "")
                    delim = rows[0][1] if rows else None
                    layout = ("", delim.decode("ascii") if isinstance(delim, bytes) else delim)
            self._layout = layout
        return self._layout

    def folder_name(self, name: str) -> str:
        """The server's name for a folder written with "/" between levels (see server_folder_name)."""
        prefix, delimiter = self._folder_layout()
        return server_folder_name(name, prefix, delimiter)

    def ensure_folder(self, name: str) -> str:
        """Create the folder (and subscribe to it) unless it exists; returns the server's name.

        name is written with "/" between levels and without the namespace prefix, e.g.
        "Übersicht/Werbung"; non-ASCII names are sent in modified UTF-7 by imapclient.
        """
        server_name = self.folder_name(name)
        if server_name == "INBOX":
            return server_name
        with self._command(f"create folder {server_name}") as client:
            rows = client.list_folders("", server_name)
            existing = [FolderInfo(str(n), tuple(f), None) for f, _, n in rows if str(n) == server_name]
            if any(info.selectable for info in existing):
                return server_name
            try:
                client.create_folder(server_name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                if "ALREADYEXISTS" not in _untagged(client) and "already exists" not in _server_text(exc).lower():
                    raise
            try:
                client.subscribe_folder(server_name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                log.warning("created folder %s but could not subscribe to it: %s", server_name, _server_text(exc))
        log.info("created folder %s on %s", server_name, self.settings.address)
        return server_name

    # -- the selected folder

    def select(self, folder: str, readonly: bool = False) -> FolderState:
        """SELECT (or EXAMINE when readonly) a folder by its server name."""
        self._selected = None
        with self._command(f"select {folder}", folder=folder) as client:
            response = client.select_folder(folder, readonly=readonly)
        if b"UIDVALIDITY" not in response:
            raise ImapError(f"{self.settings.address} sent no UIDVALIDITY for {folder}")
        uidnext = response.get(b"UIDNEXT")
        state = FolderState(
            uidvalidity=self._count(response[b"UIDVALIDITY"], "UIDVALIDITY", folder, low=1),
            uidnext=self._count(uidnext, "UIDNEXT", folder, low=1) if uidnext is not None else None,
            exists=self._count(response.get(b"EXISTS", 0), "EXISTS", folder, low=0),
        )
        self._selected = folder
        self._selected_readonly = readonly
        return state

    def _count(self, value: object, what: str, folder: str, *, low: int) -> int:
        """A number of a SELECT answer, checked: 32 bits (RFC 3501). ImapProtocolError otherwise;
        the connection is closed."""
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= UID_MAX:
            return value
        self._drop()
        raise ImapProtocolError(f"select {folder} failed on {self.settings.address}: the server's "
                                f"answer is malformed ({what} {str(value)[:40]})")

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than last_uid in the selected folder, ascending.

        A NOOP first brings in mail that arrived since the last command: servers (Dovecot) answer
        SEARCH from the session's view, which grows only when they report EXISTS.
        "UID SEARCH UID n+1:*" also matches the highest message when every UID is <= n (the "*"
        stands for the largest UID in use), so the answer is filtered.
        """
        if last_uid < 0:
            raise ValueError(f"last_uid must be >= 0, not {last_uid}")
        self._require_selected()
        self.noop()
        with self._command("UID SEARCH") as client:
            found = client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in _uids(found) if uid > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """UIDs of messages that arrived (INTERNALDATE) on or after day, ascending (after a NOOP,
        as uids_after)."""
        self._require_selected()
        self.noop()
        when = day.date() if isinstance(day, datetime) else day
        with self._command("UID SEARCH") as client:
            found = client.search(["SINCE", when])
        return sorted(_uids(found))

    def fetch(
        self, uids: Iterable[int], max_body_bytes: int = 65536, batch: int = 200
    ) -> Iterator[FetchedMessage]:
        """Fetch header, the first max_body_bytes of the body, size, flags and INTERNALDATE of
        messages in the selected folder, in ascending UID order, batch UIDs per command.

        Uses BODY.PEEK, so \\Seen is never set. UIDs that no longer exist are skipped.
        """
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, not {max_body_bytes}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        wanted = sorted(set(uids))
        self._require_selected()
        return self._fetch_batches(wanted, max_body_bytes, batch)

    def _fetch_batches(self, uids: list[int], max_body_bytes: int, batch: int) -> Iterator[FetchedMessage]:
        items = [
            "BODY.PEEK[HEADER]",
            f"BODY.PEEK[TEXT]<0.{max_body_bytes}>",
            "RFC822.SIZE",
            "FLAGS",
            "INTERNALDATE",
        ]
        for chunk in _chunks(uids, batch):
            with self._command("UID FETCH") as client:
                response = client.fetch(list(chunk), items)
            for uid in chunk:
                message = _fetched(uid, response[uid]) if uid in response else None
                if message is None:
                    log.debug("message %d is gone from %s; skipped", uid, self._selected)
                    continue
                yield message

    def move(self, uids: Iterable[int], dest: str) -> dict[int, int | None]:
        """Move messages of the selected folder to dest; returns old UID -> new UID (None when the
        server did not say). UIDs that no longer exist (expunged by another client since they
        were fetched) are left out of the result; the others are moved.

        Uses UID MOVE (RFC 6851) when offered. Otherwise UID COPY, then \\Deleted and UID EXPUNGE
        (RFC 4315) of exactly these UIDs, so messages the user marked deleted stay; without UIDPLUS
        the move is refused rather than EXPUNGE everything marked deleted. Works in batches: after
        an error, earlier batches are done (see find_by_message_id to reconcile).
        """
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        source = self._require_selected()
        if self.has("MOVE"):
            mapping, gone = self._transfer("MOVE", wanted, dest)
        elif self.has("UIDPLUS"):
            mapping, gone = self._transfer("COPY", wanted, dest)
            self.expunge_copied([uid for uid in wanted if uid not in gone])
        else:
            raise ImapError(
                f"cannot move messages on {self.settings.address}: the server offers neither MOVE nor "
                "UIDPLUS, and a plain EXPUNGE would also remove messages the user marked deleted"
            )
        log.info("moved %d message(s) from %s to %s", len(wanted) - len(gone), source, dest)
        return {uid: mapping.get(uid) for uid in wanted if uid not in gone}

    def expunge_copied(self, uids: Iterable[int]) -> None:
        """The second half of a move made of COPY: flag exactly these UIDs of the selected folder
        \\Deleted and UID EXPUNGE them (RFC 4315), so other messages marked deleted stay. Only for
        messages whose copy is in the destination; refused without UIDPLUS."""
        wanted = sorted(set(uids))
        if not wanted:
            return
        source = self._require_selected()
        if not self.has("UIDPLUS"):
            raise ImapError(f"cannot remove moved messages on {self.settings.address}: no UIDPLUS")
        for chunk in _chunks(wanted, TRANSFER_BATCH):
            with self._command(f"delete moved messages from {source}") as client:
                client.add_flags(uid_set(chunk), [_DELETED], silent=True)
                client.uid_expunge(uid_set(chunk))

    def copy(self, uids: Iterable[int], dest: str) -> dict[int, int | None]:
        """Copy messages of the selected folder to dest; returns old UID -> new UID (or None).
        UIDs that no longer exist are left out."""
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        self._require_selected()
        mapping, gone = self._transfer("COPY", wanted, dest)
        return {uid: mapping.get(uid) for uid in wanted if uid not in gone}

    def _transfer(self, verb: Literal["MOVE", "COPY"], uids: list[int],
                  dest: str) -> tuple[dict[int, int], set[int]]:
        """(old UID -> new UID as the server said, UIDs found expunged)."""
        mapping: dict[int, int] = {}
        gone: set[int] = set()
        for chunk in _chunks(uids, TRANSFER_BATCH):
            with self._command(f"{verb} to {dest}", folder=dest) as client:
                _untagged(client).pop("COPYUID", None)
                _untagged(client).pop("EXPUNGEISSUED", None)
                try:
                    _send_transfer(client, verb, chunk, dest)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error as exc:
                    # RFC 5530 EXPUNGEISSUED: some of the messages were expunged by another
                    # client (Dovecot then transfers none of them): transfer those that remain
                    if "EXPUNGEISSUED" not in _untagged(client) and \
                            "EXPUNGEISSUED" not in _server_text(exc).upper():
                        raise
                    present = set(client.search(["UID", uid_set(chunk)])) & set(chunk)
                    missing = set(chunk) - present
                    if not missing:
                        raise
                    gone |= missing
                    log.warning("%d of %d message(s) to %s were expunged by another client "
                                "meanwhile (UIDs %s)", len(missing), len(chunk), verb,
                                uid_set(missing))
                    if present:
                        _untagged(client).pop("COPYUID", None)
                        _send_transfer(client, verb, sorted(present), dest)
                for data in _untagged(client).pop("COPYUID", []):
                    try:  # only the UIDs of this command are taken from the answer
                        mapping.update(parse_copyuid(data, wanted=chunk)[1])
                    except (ValueError, TypeError) as exc:
                        log.warning("ignoring COPYUID from %s: %s", self.settings.address, exc)
        return mapping, gone

    def find_by_message_id(self, folder: str, message_id: str,
                           content_hash: str | None = None) -> list[int]:
        """UIDs of the messages in folder whose Message-ID is exactly message_id (ascending) and,
        when content_hash is given, whose content has that hash (see :func:`content_hash`): a
        different message that reuses the Message-ID is not the one looked for.

        For reconciling a move that was interrupted (is the message already in the destination?)
        and for undo. Any Message-ID can be looked for: the SEARCH sends a quoted, printable part
        of it (:func:`search_term`) and the candidates' headers are compared exactly. The folder
        is examined read-only; the previously selected folder is selected again after.
        """
        wanted = " ".join(message_id.split())
        if not wanted:
            raise ValueError("empty Message-ID")
        term = search_term(wanted)
        criteria = (b"HEADER Message-ID " + imap_quoted(term)
                    if len(term) >= MIN_SEARCH_TERM else b"ALL")
        previous, previous_readonly = self._selected, self._selected_readonly
        try:
            if previous != folder:
                self.select(folder, readonly=True)
            with self._command(f"search {folder}", folder=folder) as client:
                candidates = sorted(_uids(client.search(criteria)))
            found: list[int] = []
            for chunk in _chunks(candidates, TRANSFER_BATCH):
                with self._command(f"fetch from {folder}", folder=folder) as client:
                    headers = client.fetch(list(chunk), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                found += [uid for uid in chunk if uid in headers and
                          message_id_of(_body_part(headers[uid], b"BODY[HEADER.FIELDS") or b"") == wanted]
            if content_hash is not None and found:
                found = [m.uid for m in self._fetch_batches(found, HASH_BODY_BYTES, TRANSFER_BATCH)
                         if m.content_hash == content_hash]
        finally:
            if previous is not None and previous != folder and self._client is not None:
                self.select(previous, readonly=previous_readonly)
        return sorted(found)

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[bytes | str] = (),
        date: datetime | None = None,
    ) -> int | None:
        """APPEND a message; returns its UID when the server says (APPENDUID), else None.

        date becomes the INTERNALDATE; a naive datetime is taken as local time.
        """
        with self._command(f"append to {folder}", folder=folder) as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=date)
        found = parse_appenduid(response)
        return found[1] if found else None

    # -- waiting

    def noop(self) -> bool:
        """NOOP: keeps the connection alive and detects a dead one. True if the server announced
        new messages in the selected folder."""
        with self._command("NOOP") as client:
            _, responses = client.noop()
        return _new_mail(responses)

    def idle_wait(self, timeout_s: float) -> bool:
        """Wait in IDLE (RFC 2177) up to timeout_s seconds for news in the selected folder.

        True as soon as the server reports EXISTS or RECENT (new mail), False on time-out. A NOOP
        before each IDLE reports mail that came in since the last command. Other updates (flags,
        expunges, keep-alives) end the current IDLE, which is re-issued until the time is up. Call it again before 29 minutes pass; timeout_s is capped at that. Without IDLE
        the server is polled with NOOP every 30 s.
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, not {timeout_s}")
        if timeout_s > MAX_IDLE_SECONDS:
            raise ValueError(f"timeout_s must be <= {MAX_IDLE_SECONDS}: IDLE must be re-issued sooner")
        self._require_selected()
        deadline = time.monotonic() + timeout_s
        if not self.has("IDLE"):
            return self._poll_wait(deadline)
        while (remaining := deadline - time.monotonic()) > 0:
            # Dovecot's IDLE reports only changes made after it starts; NOOP catches the rest.
            if self.noop():
                return True
            with self._command("IDLE") as client:
                client.idle()
                responses = list(client.idle_check(timeout=remaining))
                _, tail = client.idle_done()  # raises if the server hung up
                responses.extend(tail)
            bye = _said_bye(responses)
            if bye is not None:
                self._drop()
                raise ImapConnectionLost(f"connection to {self.settings.address} lost during IDLE: {bye}")
            if _new_mail(responses):
                return True
        return False

    def _poll_wait(self, deadline: float) -> bool:
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(NOOP_POLL_SECONDS, remaining))
            if self.noop():
                return True
        return False


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
