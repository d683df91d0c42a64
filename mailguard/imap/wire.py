"""UID FETCH read and parsed without imaplib's and imapclient's per-line and per-character work.

:func:`uid_fetch` gives exactly what ``IMAPClient.fetch(uids, items)`` gives (with ``use_uid``),
for the answers a FETCH of mailguard's items brings, several times faster: the first IMAP sync
reads every message of the window once, and imapclient's lexer (a Python loop over every byte
outside the literals) and imaplib's response loop were a third of the deciding process's work.

- Reading: the answer is read line by line from imaplib's connection with the same rules as
  imaplib's ``_get_response``: literals read as they are announced, the same regular expressions
  for tagged, untagged and continuation lines, the same errors (``abort`` for an unexpected line
  or a lost connection, ``error`` for a BAD answer, imapclient's error for NO). FETCH data is
  kept aside; every other untagged answer (EXISTS, EXPUNGE, BYE, response codes) lands in
  imaplib's ``untagged_responses`` as imaplib puts it there.
- Parsing: :func:`parse_fetch` tokenises each line with one regular expression, in imapclient's
  tokens (atoms with ``[...]`` sections, quoted strings with its escapes, literals, lists),
  and gives imapclient's values (numbers, NIL, INTERNALDATE as an aware datetime). Whatever it
  does not take in exactly that form (ENVELOPE, BODYSTRUCTURE, a bare ``%``, a control
  character, an odd date) is handed to imapclient's own parser, which answers (or fails) as it
  always did.
"""

from __future__ import annotations

import imaplib
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime
from imapclient.fixed_offset import FixedOffset
from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

__all__ = ["finish_uid_fetch", "parse_fetch", "start_uid_fetch", "uid_fetch"]

#: one untagged FETCH line as imaplib's Untagged_status takes it ("* <n> FETCH <data>"); any other
#: form imaplib reads as FETCH data too goes the long way (:func:`_other_response`)
_FETCH_LINE = re.compile(rb"\* (\d+) FETCH(?: (.*)|$)", re.ASCII | re.DOTALL)


def uid_fetch(client: IMAPClient, uids: Sequence[int], items: Sequence[str]
              ) -> dict[int, dict[bytes, Any]]:
    """``client.fetch(uids, items)`` of a client with ``use_uid``: uid -> {item: value}, only
    the UIDs asked for."""
    if not uids:
        return {}
    return finish_uid_fetch(client, start_uid_fetch(client, uids, items), uids)


def start_uid_fetch(client: IMAPClient, uids: Sequence[int], items: Sequence[str]) -> bytes:
    """Send the UID FETCH of :func:`uid_fetch` (uids not empty) and return its tag, without
    reading the answer: the server prepares it while the caller works on something else. Read it
    with :func:`finish_uid_fetch` before any other command is sent."""
    imap = client._imap
    return imap._command("UID", "FETCH", join_message_ids(uids), seq_to_parenstr_upper(items))


def finish_uid_fetch(client: IMAPClient, tag: bytes, uids: Sequence[int]
                     ) -> dict[int, dict[bytes, Any]]:
    """The answer to the UID FETCH :func:`start_uid_fetch` sent as ``tag``, as :func:`uid_fetch`
    gives it."""
    imap = client._imap
    imap._check_bye()  # as imaplib's _command_complete
    try:
        typ, data, records = _read_answer(imap, tag)
    except imap.abort as exc:
        raise imap.abort(f"command: FETCH => {exc}") from None
    except imap.error as exc:
        raise imap.error(f"command: FETCH => {exc}") from None
    imap._check_bye()
    if typ == "BAD":
        raise imap.error(f"FETCH command error: {typ} {data}")
    client._checkok("fetch", typ, data)
    response = parse_fetch(records, client.normalise_times)
    return {uid: response[uid] for uid in uids if uid in response}


def _read_answer(imap: imaplib.IMAP4, tag: bytes) -> tuple[str, list[bytes], list[Any]]:
    """imaplib's _get_tagged_response: responses up to the tagged answer to ``tag``; (its type,
    [its text], the FETCH data as imaplib's untagged_responses["FETCH"] would hold it)."""
    records: list[Any] = []
    literal = imaplib.Literal
    while True:
        line = _line(imap)
        fetch = _FETCH_LINE.match(line) if line[:2] == b"* " else None
        if fetch is not None:  # imaplib's "data data2" of Untagged_status
            dat = fetch.group(1) + b" " + fetch.group(2) if fetch.group(2) else fetch.group(1)
            while (m := literal.match(dat)) is not None:
                records.append((dat, imap.read(int(m.group("size")))))
                dat = _line(imap)
            records.append(dat)
            continue
        done = _other_response(imap, tag, line, records)
        if done is not None:
            return done[0], done[1], records
        imap._check_bye()  # a BYE is reported before reading on, as imaplib does


def _line(imap: imaplib.IMAP4) -> bytes:
    """imaplib's _get_line, without its debug log."""
    line = imap.readline()
    if not line:
        raise imap.abort("socket error: EOF")
    if not line.endswith(b"\r\n"):
        raise imap.abort(f"socket error: unterminated line: {line!r}")
    return line[:-2]


def _other_response(imap: imaplib.IMAP4, tag: bytes, line: bytes, records: list[Any]
                    ) -> tuple[str, list[bytes]] | None:
    """imaplib's _get_response of a line: the tagged answer to ``tag`` is returned; an answer to
    another command waiting for one is kept for it; untagged answers are stored in
    untagged_responses (FETCH data in ``records``); a continuation is passed over."""
    enc = imap._encoding
    m = imap.tagre.match(line)
    if m is not None:
        got = m.group("tag")
        if got not in imap.tagged_commands:
            raise imap.abort(f"unexpected tagged response: {line!r}")
        typ, dat = str(m.group("type"), enc), m.group("data")
        _response_code(imap, typ, dat)
        if got == tag:
            del imap.tagged_commands[tag]
            return typ, [dat]
        imap.tagged_commands[got] = (typ, [dat])
        return None
    dat2 = None
    m = imaplib.Untagged_response.match(line)
    if m is None:
        m = imap.Untagged_status.match(line)
        if m is not None:
            dat2 = m.group("data2")
    if m is None:
        cont = imaplib.Continuation.match(line)
        if cont is not None:
            imap.continuation_response = cont.group("data")
            return None
        raise imap.abort(f"unexpected response: {line!r}")
    typ = str(m.group("type"), enc)
    dat = m.group("data")
    if dat is None:
        dat = b""
    if dat2:
        dat = dat + b" " + dat2

    def keep(item: Any) -> None:
        if typ == "FETCH":
            records.append(item)
        else:
            imap._append_untagged(typ, item)

    while (lit := imaplib.Literal.match(dat)) is not None:
        keep((dat, imap.read(int(lit.group("size")))))
        dat = _line(imap)
    keep(dat)
    _response_code(imap, typ, dat)
    return None


def _response_code(imap: imaplib.IMAP4, typ: str, dat: bytes) -> None:
    if typ in ("OK", "NO", "BAD"):
        m = imaplib.Response_code.match(dat)
        if m is not None:
            imap._append_untagged(str(m.group("type"), imap._encoding), m.group("data"))


# -- parsing -------------------------------------------------------------------------------------

#: imapclient's tokens: "(", ")", a quoted string (backslash escapes), an atom (bytes above space
#: but ( ) % " [, where a "[" opens a section that runs to the next "]" whatever it holds; an atom
#: followed straight by a quote is an error there), and any other byte but white space, one at a
#: time, which makes parse_fetch hand the answer over; the white space after a token goes with it
#: (white space where no token ends is passed over). A quote or a section left open runs to the
#: end of the line (and is told by its missing end): the search stays linear.
_TOKEN = re.compile(
    rb'(?:(\()|(\))|("(?:[^"\\]++|\\.)*+"?)|((?:[^\x00-\x20()%"\[]++|\[[^\]]*+\]?)++)(?!")'
    rb'|([^ \t\r\n]))[ \t\r\n]*+', re.DOTALL)
#: a quoted string that is closed
_QUOTED = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_ESCAPE = re.compile(rb'\\([\\"])')
_LITERAL = re.compile(rb"\{(\d+)\}")
_MONTHS = {m: i for i, m in enumerate(
    (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"), 1)}
_INTERNALDATE = re.compile(rb" ?(\d\d?)-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_ZONES: dict[bytes, FixedOffset] = {}
#: what parse_fetch hands over to imapclient's parser
_SPECIAL = frozenset((b"ENVELOPE", b"BODY", b"BODYSTRUCTURE"))


class _Other(Exception):
    """An answer parse_fetch leaves to imapclient's parser."""


def parse_fetch(records: list[Any], normalise_times: bool = False) -> dict[int, dict[bytes, Any]]:
    """imapclient's ``parse_fetch_response(records, normalise_times, uid_is_key=True)`` of
    imaplib's FETCH data (lines, and (line, literal) pairs): seq or UID -> {ITEM: value}."""
    if records == [None]:
        return {}
    try:
        return _parse(_tokens(records), normalise_times)
    except _Other:
        return dict(parse_fetch_response(records, normalise_times, True))


def _tokens(records: list[Any]) -> list[Any]:
    """imapclient's atoms, flat: "(" and ")" as b"(" / b")" markers (_OPEN/_CLOSE), literals as
    _Literal, other values converted as imapclient's atom() converts them."""
    out: list[Any] = []
    add = out.append
    for record in records:
        if isinstance(record, tuple):
            text, lit = record
            if not isinstance(text, bytes) or not text.endswith(b"}"):
                raise _Other
        else:
            text, lit = record, None
            if not isinstance(text, bytes):
                raise _Other
        marked = False  # a literal's marker was read: it must be the line's last token
        for opened, closed, quoted, atom, other in _TOKEN.findall(text):
            if marked:
                raise _Other
            if atom:
                c = atom[:1]
                if c == b"{":
                    add(_literal(atom, lit))
                    marked = True
                elif c.isdigit() and atom.isdigit() and (c != b"0" or len(atom) == 1):
                    add(int(atom))
                elif atom == b"NIL":
                    add(None)
                elif b"[" in atom and atom.rfind(b"[") > atom.rfind(b"]"):
                    raise _Other  # a section left open
                else:
                    add(atom)
            elif opened:
                add(_OPEN)
            elif closed:
                add(_CLOSE)
            elif quoted:
                q = quoted[1:-1]
                if len(quoted) < 2 or quoted[-1:] != b'"' or (b"\\" in q and _QUOTED.fullmatch(quoted) is None):
                    raise _Other  # left open
                add(_ESCAPE.sub(rb"\1", q) if b"\\" in q else q)
            else:
                raise _Other
    return out


def _literal(marker: bytes, lit: bytes | None) -> _Literal:
    size = _LITERAL.fullmatch(marker)
    if lit is None or size is None or int(size.group(1)) != len(lit):
        raise _Other
    return _Literal(lit)


class _Marker:
    __slots__ = ()


_OPEN = _Marker()
_CLOSE = _Marker()


class _Literal:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _parse(tokens: list[Any], normalise_times: bool) -> dict[int, dict[bytes, Any]]:
    out: defaultdict[int, dict[bytes, Any]] = defaultdict(dict)
    i, n = 0, len(tokens)
    while i < n:
        seq = tokens[i]
        if type(seq) is not int or i + 1 >= n or tokens[i + 1] is not _OPEN:
            raise _Other
        i += 2
        key: int = seq
        data: dict[bytes, Any] = {b"SEQ": seq}
        while True:
            if i >= n:
                raise _Other
            word = tokens[i]
            if word is _CLOSE:
                i += 1
                break
            if type(word) is not bytes or i + 1 >= n:
                raise _Other
            word = word.upper()
            value, i = _value(tokens, i + 1)
            if word == b"UID":
                if type(value) is not int:
                    raise _Other
                key = value
            elif word == b"INTERNALDATE":
                data[word] = _internaldate(value, normalise_times)
            elif word in _SPECIAL:
                raise _Other
            else:
                data[word] = value
        out[key].update(data)
    return out


def _value(tokens: list[Any], i: int) -> tuple[Any, int]:
    tok = tokens[i]
    if tok is _OPEN:
        items = []
        i += 1
        while True:
            if i >= len(tokens):
                raise _Other
            if tokens[i] is _CLOSE:
                return tuple(items), i + 1
            value, i = _value(tokens, i)
            items.append(value)
    if tok is _CLOSE:
        raise _Other
    if type(tok) is _Literal:
        return tok.data, i + 1
    return tok, i + 1


def _internaldate(value: Any, normalise: bool) -> datetime | None:
    """imapclient's INTERNALDATE value: an aware datetime (normalise_times False), None when the
    server's text is not a date."""
    if value is None:
        return None
    if type(value) is bytes and not normalise:
        m = _INTERNALDATE.fullmatch(value)
        # "-0000" is no zone at all for email.utils (a naive datetime): imapclient decides
        if m is not None and m.group(2) in _MONTHS and m.group(7, 8, 9) != (b"-", b"00", b"00"):
            zone = m.group(7) + m.group(8) + m.group(9)
            tz = _ZONES.get(zone)
            if tz is None:
                minutes = int(m.group(8)) * 60 + int(m.group(9))
                tz = _ZONES[zone] = FixedOffset(-minutes if m.group(7) == b"-" else minutes)
            try:
                return datetime(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)), int(m.group(4)),
                                int(m.group(5)), int(m.group(6)), tzinfo=tz)
            except ValueError:
                pass  # imapclient decides (it says None, or reads what datetime does not)
    if not isinstance(value, bytes):
        raise _Other
    try:
        return parse_to_datetime(value, normalise=normalise)
    except ValueError:
        return None
