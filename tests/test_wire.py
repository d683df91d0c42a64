"""mailguard.imap.wire reads and parses a UID FETCH the way imaplib and imapclient do: the same
values for the same answer (imapclient's parser is the oracle, on hand-made answers, on mutations
of real ones, and on the real Dovecot), the same errors, and the other answers that come with a
FETCH (EXISTS, EXPUNGE) left where imaplib leaves them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from imapclient.response_parser import parse_fetch_response
from mailfactory import day, newsletter, personal

from mailguard.imap.wire import parse_fetch, uid_fetch

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]<0.65536>", "RFC822.SIZE", "FLAGS", "INTERNALDATE"]


def oracle(records, normalise: bool = False):
    """(imapclient's answer, or the class of its exception)."""
    try:
        return dict(parse_fetch_response(records, normalise, True))
    except Exception as exc:  # noqa: BLE001 - the class is compared
        return type(exc)


def ours(records, normalise: bool = False):
    try:
        return parse_fetch(records, normalise)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def comparable(answer):
    """The answer with each datetime as (naive value, zone offset, zone class): a zone beyond a day
    (a mutated "+9959") cannot be compared as a datetime."""
    if not isinstance(answer, dict):
        return answer
    return {uid: {k: (v.replace(tzinfo=None), v.tzinfo and v.tzinfo.utcoffset(None), type(v.tzinfo))
                  if isinstance(v, datetime) else v for k, v in data.items()}
            for uid, data in answer.items()}


def same(records, normalise: bool = False) -> None:
    assert comparable(ours(records, normalise)) == comparable(oracle(records, normalise))


HEADER = b"From: a@b.example\r\nSubject: hi\r\nMessage-ID: <1@b.example>\r\n\r\n"
BODY = b"Hello (there) \"you\" {3}\r\n"


def message(seq: int = 3, uid: int = 17, flags: bytes = b"\\Seen $Forwarded",
            date: bytes = b'"29-Nov-2026 16:43:45 +0100"', size: bytes = b"1234") -> list:
    return [(b"%d (UID %d RFC822.SIZE %s FLAGS (%s) INTERNALDATE %s BODY[HEADER] {%d}"
             % (seq, uid, size, flags, date, len(HEADER)), HEADER),
            (b" BODY[TEXT]<0> {%d}" % len(BODY), BODY), b")"]


@pytest.mark.parametrize("records", [
    message(),
    message() + message(4, 18, flags=b""),
    message(flags=b"\\Seen 12 0012 $a[b]c"),
    message(size=b"NIL"),
    message(size=b"0"),
    message(size=b"007"),
    message(date=b"NIL"),
    message(date=b'" 1-Jan-2026 00:00:00 +0000"'),
    message(date=b'"1-Jan-2026 00:00:00 -0000"'),  # no zone: naive
    message(date=b'"31-Feb-2026 00:00:00 +0000"'),  # not a day: None
    message(date=b'"1-nov-2026 10:00:00 -0730"'),
    message(date=b'"1-Nov-2026 10:00:00 +0075"'),
    message(date=b'"Sat, 8 May 2010 16.03.09 +0200"'),
    message(date=b'"garbage"'),
    message(date=b'"1-Nov-2026 24:00:00 +0000"'),
    message(date=b"12"),
    [b'5 (FLAGS (\\Seen))'],  # unsolicited, no UID: keyed by sequence number
    message(seq=17, uid=40) + [b'17 (FLAGS (\\Deleted))'],
    message(uid=5) + [b'5 (FLAGS (\\Deleted))'],  # an unsolicited FETCH merges into UID 5
    [b'3 (UID 9 X-GM-LABELS ("a b" "\\\\Inbox" "q\\"x" "\\a") MODSEQ (12345))'],
    [b'3 (UID 9 X (a (b (c NIL)) ()))'],
    [(b'3 (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] {5}', b'abcde'), b')'],
    [b'3 (UID 9 ENVELOPE ("Mon, 1 Jan 2026 00:00:00 +0000" "s" NIL NIL NIL NIL NIL NIL NIL "<m>"))'],
    [b'3 (UID 9 BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 3 1 NIL NIL NIL NIL))'],
    [b'3 (uid 9 rfc822.size 12 flags ())'],
    [b'3 (UID 9 A "")'],
    [],
    [None],
    # malformed: imapclient raises, and so does parse_fetch (the same error)
    [b'3 (UID 9 FLAGS (\\Seen)'],
    [b'3 (UID 9 FLAGS'],
    [b'3 (UID x)'],
    [b'3 (UID 012)'],
    [b'x (UID 9)'],
    [b'3 UID 9'],
    [b'3 (UID 9 RFC822.SIZE)'],
    [b'3 (UID 9 A "unterminated)'],
    [b'3 (UID 9 A b"c")'],
    [b'3 (UID 9 A %)'],
    [b'3 (UID 9 A \x01)'],
    [b'3 (UID 9 A [unclosed)'],
    [b'3 (UID 9 A {5})'],
    [b'3 (UID 9 A "abc\\")'],  # the closing quote escaped: left open
    [b'3 (UID 9 A "a\\\\" B "c")'],  # an escaped backslash, then the closing quote
    [b'3 (UID 9 A[b c) 1)'],
    [b'3 (UID 9 [A] 1 B[x]y[z] 2)'],
    [b'  3\t(UID 9   A  1 )  '],
    [b'3 (UID 9 A "x"B)'],
    [b'3 (UID 9 A ("a"("b")) C ((NIL)))'],
    [(b'3 (UID 9 A {6}', b'abcde'), b')'],
    [(b'3 (UID 9 A {5} B', b'abcde'), b')'],
    [b'3 (1 2)'],
    [b'3 (NIL 2)'],
    [b'3 (UID 9))'],
    [b'(3) (UID 9)'],
])
def test_parse_fetch_gives_what_imapclient_gives(records):
    same(records)


def test_normalised_times_are_imapclients():
    same(message(), normalise=True)


def test_the_fast_internaldate_is_the_instant_and_zone_imapclient_gives():
    when = datetime(2026, 11, 29, 16, 43, 45, tzinfo=timezone(timedelta(hours=1)))
    got = parse_fetch(message())[17][b"INTERNALDATE"]
    assert got == when and got.utcoffset() == timedelta(hours=1)
    rng = random.Random(7)
    for _ in range(300):
        d = datetime(2000, 1, 1) + timedelta(seconds=rng.randrange(10**9))
        zone = rng.choice([b"+0000", b"-0500", b"+0530", b"+1400", b"-1200", b"+0059"])
        same(message(date=b'"' + d.strftime("%d-%b-%Y %H:%M:%S ").encode() + zone + b'"'))
        same(message(date=b'"' + d.strftime("%e-%b-%Y %H:%M:%S ").encode() + zone + b'"'))


def test_mutated_real_answers_parse_as_imapclient_parses_them():
    """Bytes of a real-looking answer replaced, dropped or doubled: the same values, or the same
    error, as imapclient's."""
    rng = random.Random(15)
    base = message() + message(4, 18, flags=b"") + [b'9 (FLAGS (\\Seen) UID 30 X ("a" NIL 1))']
    alphabet = b' ()"\\{}[]<>%\x00\x01\tNIL0123456789aZ.-+:'
    for _ in range(3000):
        records = list(base)
        i = rng.randrange(len(records))
        text, lit = records[i] if isinstance(records[i], tuple) else (records[i], None)
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(len(text) + 1)
            op = rng.random()
            if op < 0.4:
                text = text[:j] + bytes([rng.choice(alphabet)]) + text[j + 1:]
            elif op < 0.7:
                text = text[:j] + text[j + 1:]
            else:
                text = text[:j] + bytes([rng.choice(alphabet)]) + text[j:]
        if lit is not None:
            if not text.endswith(b"}"):
                continue  # imaplib never gives a literal to a line that does not announce one
            records[i] = (text, lit)
        else:
            records[i] = text
        same(records)


# -- the real server -------------------------------------------------------------------------------


def corpus_messages(n: int) -> list[bytes]:
    base = ROOT.parent.parent / "shared" / "corpus" / "spamassassin"
    files = sorted(p for p in base.glob("*/*") if p.is_file() and p.name[0].isdigit())[:n * 7:7]
    return [p.read_bytes() for p in files]


@pytest.mark.dovecot
def test_uid_fetch_answers_as_imapclient_fetch(dovecot, imap_user):
    raws = [personal("Ada <ada@lumen.example>", when=day(i % 30), msgid=f"<p{i}@lumen.example>")
            for i in range(20)]
    raws += [newsletter("Lumen <news@lumen.example>", when=day(i), msgid=f"<n{i}@lumen.example>")
             for i in range(20)]
    raws += corpus_messages(60)
    raws.append(b"Subject: no body at all\r\n\r\n")
    raws.append(b"From: x@y.example\r\nSubject: \xe9t\xe9 8-bit\r\n\r\n" + b"\xff\x00body" * 5000)
    uids = [dovecot.append(imap_user, raw, flags=(b"\\Seen", b"$Label") if i % 3 else (),
                           date=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=i % 5))))
            for i, raw in enumerate(raws)]
    with dovecot.client(imap_user) as client:
        client.normalise_times = False
        client.select_folder("INBOX", readonly=True)
        wanted = uids[::2] + [max(uids) + 50]  # a UID that does not exist is left out
        for items in (ITEMS, ["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]<0.64>", "RFC822.SIZE", "FLAGS",
                              "INTERNALDATE"], ["FLAGS", "ENVELOPE"]):
            assert uid_fetch(client, wanted, items) == client.fetch(wanted, items)
        assert uid_fetch(client, [], ITEMS) == {}
        assert len(uid_fetch(client, uids, ITEMS)) == len(raws)


@pytest.mark.dovecot
def test_news_during_a_fetch_is_kept_as_imaplib_keeps_it(dovecot, imap_user):
    """Mail that arrives while a session has a folder selected is announced (EXISTS) with the
    next answer; it stays in untagged_responses for whoever asks (the daemon's check for news),
    as it does after imapclient's fetch."""
    first = dovecot.append(imap_user, personal("Ada <ada@lumen.example>", when=day(1)))
    with dovecot.client(imap_user) as theirs, dovecot.client(imap_user) as mine:
        for client in (theirs, mine):
            client.select_folder("INBOX")
            client._imap.untagged_responses.clear()
        dovecot.append(imap_user, personal("Ben <ben@lumen.example>", when=day(2)))
        want = theirs.fetch([first], ["INTERNALDATE", "RFC822.SIZE"])  # not FLAGS: \Recent is one session's
        assert uid_fetch(mine, [first], ["INTERNALDATE", "RFC822.SIZE"]) == want
        assert mine._imap.untagged_responses == theirs._imap.untagged_responses
        assert mine._imap.untagged_responses["EXISTS"] == [b"2"]
        assert not mine._imap.tagged_commands


@pytest.mark.dovecot
def test_a_refused_fetch_raises_what_imapclient_raises(dovecot, imap_user):
    dovecot.append(imap_user, personal("Ada <ada@lumen.example>", when=day(1)))
    with dovecot.client(imap_user) as client:
        client.select_folder("INBOX", readonly=True)
        with pytest.raises(client.Error) as theirs:
            client.fetch([1], ["NOSUCHITEM"])
        with pytest.raises(client.Error) as mine:
            uid_fetch(client, [1], ["NOSUCHITEM"])
        assert str(mine.value) == str(theirs.value)
        assert uid_fetch(client, [1], ["FLAGS"])  # the connection is still good
