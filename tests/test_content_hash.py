"""The pure identity helpers of mailguard.imap.client on byte literals (issue 13): the content hash that
tells a message from another that reuses its Message-ID, and what a SEARCH for a Message-ID sends."""

from __future__ import annotations

import pytest

from mailguard.imap.client import content_hash, imap_quoted, search_term


HEAD = (b"From: Acme News <news@acme.io>\r\nTo: sam@rivera.dev\r\nSubject: Flash sale\r\n"
        b"Date: Mon, 16 Mar 2026 09:00:00 +0000\r\nMessage-ID: <hello@acme.io>\r\n\r\n")
BODY = b"Our spring launch is here.\r\n"


def test_content_hash_ignores_what_a_server_adds_and_how_lines_end():
    h = content_hash(HEAD, BODY, len(HEAD) + len(BODY))
    added = (b"Return-Path: <bounce@em.acme.io>\r\nDelivered-To: sam@rivera.dev\r\n"
             b"Received: from mx.example (mx.example [192.0.2.1])\r\n\tby imap.example; Mon\r\n")
    assert content_hash(added + HEAD, BODY, len(added + HEAD) + len(BODY)) == h
    lf = HEAD.replace(b"\r\n", b"\n")
    assert content_hash(lf, BODY, len(lf) + len(BODY)) == h
    folded = HEAD.replace(b"Subject: Flash sale", b"Subject: Flash\r\n  sale")
    assert content_hash(folded, BODY, len(folded) + len(BODY)) == h
    long = BODY + b"x" * 5000  # fetched whole or its first KiB only: the same hash
    assert content_hash(HEAD, long, len(HEAD) + len(long)) == content_hash(
        HEAD, long[:1024], len(HEAD) + len(long))


def test_content_hash_tells_a_message_that_reuses_the_message_id_from_the_original():
    h = content_hash(HEAD, BODY, len(HEAD) + len(BODY))
    other = HEAD.replace(b"Flash sale", b"Great meeting you")
    assert content_hash(other, BODY, len(other) + len(BODY)) != h
    assert content_hash(HEAD, b"Coffee on Thursday?\r\n", len(HEAD) + 21) != h
    assert content_hash(HEAD, BODY, len(HEAD) + len(BODY) + 1) != h  # a longer body
    assert content_hash(HEAD, BODY, None) != h  # an unknown size is not a size


@pytest.mark.parametrize("message_id, term", [
    ("<a)(b@acme.io>", "<a)(b@acme.io>"),
    ("{5}", "{5}"),
    ('<a"b@acme.io>', '<a"b@acme.io>'),
    ("<a b@acme.io>", "b@acme.io>"),
    ("<e\x00f@acme.io>", "f@acme.io>"),
    ("<caf\ufffd@acme.io>", "@acme.io>"),
    ("=?utf-8?q?=3Cenc=40acme=2Eio=3E?=", "<enc@acme.io>"),
    ("<" + "x" * 5000 + ">", "<" + "x" * 199),
    ("\x00\x01", ""),
])
def test_search_term_is_printable_ascii_without_spaces(message_id, term):
    assert search_term(message_id) == term


def test_imap_quoted_escapes_and_refuses_what_cannot_be_quoted():
    assert imap_quoted('<a"b\\c>') == b'"<a\\"b\\\\c>"'
    assert imap_quoted("{5}") == b'"{5}"'
    for bad in ("a\r\nb", "a\x00b", "caf\u00e9"):
        with pytest.raises(ValueError):
            imap_quoted(bad)
