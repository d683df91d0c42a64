"""parse_message on byte literals: odd charsets, encoded-words, broken MIME, garbage, huge input."""

from datetime import datetime, timezone

from mailguard.core.features import extract
from mailguard.core.parse import MAX_PARSE_BYTES, parse_date, parse_message


def test_basic_fields_and_encoded_words():
    raw = (b"From: =?utf-8?q?Jos=C3=A9_N=C3=BA=C3=B1ez?= <Jose@Example.COM>\r\n"
           b"To: sam@rivera.dev, \"Zo\xc3\xab\" <zoe@x.org>\r\n"
           b"Subject: =?iso-8859-1?q?Caf=E9?= tomorrow\r\n"
           b"Date: Tue, 3 Mar 2026 10:00:00 +0100\r\nMessage-ID: <a@b>\r\n\r\nHello\r\n")
    m = parse_message(raw)
    assert m.sender.name == "José Núñez" and m.sender.email == "jose@example.com"
    assert [a.email for a in m.to] == ["sam@rivera.dev", "zoe@x.org"]
    assert m.to[1].name == "Zoë"
    assert m.subject == "Café tomorrow"
    assert m.date == datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
    assert m.message_id == "<a@b>" and m.text.strip() == "Hello"
    assert m.unreadable is None


def test_unknown_charset_and_8bit_headers_do_not_crash():
    raw = (b"From: \xff\xfe Bad <bad@x.org>\r\nSubject: =?x-unknown?b?SGVsbG8=?= \x00nul\r\n"
           b"Content-Type: text/plain; charset=x-made-up\r\n\r\n\xe9t\xe9 caf\xe9\r\n")
    m = parse_message(raw)
    assert m.sender.email == "bad@x.org"
    assert "\x00" not in m.subject
    assert "caf" in m.text
    extract(m)


def test_missing_from_is_unreadable_not_an_exception():
    m = parse_message(b"Subject: hi\r\n\r\nbody")
    assert m.unreadable == "no From header"
    m = parse_message(b"From: not an address\r\n\r\nbody")
    assert m.unreadable == "no usable From address"
    assert parse_message(b"").unreadable


def test_broken_boundary_and_deep_nesting():
    raw = (b"From: a@b.org\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
           b"--nope\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    m = parse_message(raw)
    assert m.sender.email == "a@b.org"
    nested = b"From: a@b.org\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"
    for i in range(1, 300):
        nested += f"--b{i-1}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n".encode()
    nested += b"--b299\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
    m = parse_message(nested)
    assert m.sender.email == "a@b.org"
    assert any("MIME" in d for d in m.defects)


def test_huge_message_is_truncated_for_parsing():
    raw = b"From: a@b.org\r\nSubject: big\r\n\r\n" + b"A" * (5 * MAX_PARSE_BYTES)
    m = parse_message(raw)
    assert m.size == len(raw)
    assert any(d.startswith("truncated") for d in m.defects)
    assert len(m.text) <= 64 * 1024


def test_lenient_dates():
    assert parse_date("Tue, 3 Mar 2026 10:00:00 +0100").hour == 9
    assert parse_date("2026-03-03 10:00") == datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)
    assert parse_date("3 Mar 2026 10:00:00 CDT") is not None
    assert parse_date("garbage") is None
    assert parse_date("") is None
    assert parse_date("Mon, 1 Jan 1900 00:00:00 +0000") is None


def test_mbox_from_line_is_skipped():
    m = parse_message(b"From someone Thu Jan  1 00:00:00 2026\nFrom: a@b.org\nSubject: x\n\nbody\n")
    assert m.sender.email == "a@b.org" and m.subject == "x"
