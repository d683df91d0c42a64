"""features.extract on byte-literal messages, and the parser's fast path that feeds it."""

from __future__ import annotations

import email
import math
import re
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailguard.core import parse
from mailguard.core.features import NUMERIC_NAMES, extract, html_to_text, mailer_family
from mailguard.core.parse import parse_message

SAMPLE = Path(__file__).parent / "data" / "corpus_sample"


def feats(raw: bytes):
    msg = parse_message(raw)
    assert msg.unreadable is None, msg.unreadable
    return extract(msg)


ONE_CLICK = b"""\
From: Acme News <news@acme.io>
To: sam@rivera.dev
Subject: Spring launch: 30% off
Date: Mon, 02 Mar 2026 09:00:00 +0000
Message-ID: <n1@acme.io>
List-Unsubscribe: <https://acme.io/u?x=1>, <mailto:unsub@acme.io>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body><table><tr><td><p>Click here to save up to 30%! Limited time.</p>
<a href="https://acme.io/buy">Buy now</a></td></tr></table></body></html>
"""

ESP = b"""\
Return-Path: <bounces+123-abc=rivera.dev@em123.acme.io>
X-SG-EID: abc123
From: Acme <hello@acme.io>
To: sam@rivera.dev
Subject: Your weekly digest
Date: Mon, 02 Mar 2026 09:00:00 +0000
Message-ID: <e1@acme.io>
Content-Type: text/plain

Here is what happened this week.
"""

PIXEL = b"""\
From: Shop <hi@shop.example>
To: sam@rivera.dev
Subject: New arrivals
Date: Mon, 02 Mar 2026 09:00:00 +0000
Message-ID: <p1@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

New arrivals are in. View this email in your browser.
Unsubscribe: https://shop.example/u

--b1
Content-Type: text/html; charset=utf-8

<html><body><p>New arrivals are in.</p><a href="https://shop.example/u">Unsubscribe</a>
<img src="https://shop.example/open.gif?u=1" width="1" height="1" alt=""></body></html>
--b1--
"""

DISCUSSION = b"""\
From: Jane Doe <jane@example.org>
To: dev-list@lists.example.org
Subject: Re: [dev] release plan
Date: Mon, 02 Mar 2026 09:00:00 +0000
Message-ID: <d1@example.org>
In-Reply-To: <d0@example.org>
References: <d0@example.org>
List-Id: Developers <dev.lists.example.org>
List-Post: <mailto:dev-list@lists.example.org>
List-Unsubscribe: <https://lists.example.org/mailman/options/dev>, <mailto:dev-request@lists.example.org?subject=unsubscribe>
List-Archive: <https://lists.example.org/pipermail/dev/>
List-Help: <mailto:dev-request@lists.example.org?subject=help>
Precedence: list
X-Mailman-Version: 2.1.39
User-Agent: Mutt/2.2.9
Content-Type: text/plain

> Should we cut the release on Friday?

Friday works for me.

-- 
Jane
"""

FAKE_REPLY = b"""\
From: winner7731@freemail.example
To: sam@rivera.dev
Subject: Re: your order
Date: Mon, 02 Mar 2026 09:00:00 +0000
Message-ID: <x@freemail.example>
X-Priority: 1 (Highest)
Content-Type: text/plain

FREE offer!!! Click here now. $1,000,000 guaranteed.
"""


def test_vector_has_one_finite_value_per_name() -> None:
    for raw in (ONE_CLICK, ESP, PIXEL, DISCUSSION, FAKE_REPLY):
        f = feats(raw)
        assert len(f.numeric) == len(NUMERIC_NAMES)
        assert all(math.isfinite(x) for x in f.numeric)


def test_one_click_unsubscribe_is_a_marketing_list() -> None:
    f = feats(ONE_CLICK)
    assert f.value("one_click_unsubscribe") == 1.0
    assert f.value("marketing_list") == 1.0
    assert f.bulk_signals[0] == "List-Unsubscribe with One-Click"
    assert not f.discussion_list
    assert f.value("html_only") == 1.0
    assert f.value("log_call_to_action") > 0
    assert f.value("log_html_layout") > 0


def test_esp_headers() -> None:
    f = feats(ESP)
    assert f.esp == "SendGrid"
    assert f.value("esp") == 1.0
    assert "sent through SendGrid" in f.bulk_signals
    assert "__esp__" in f.text


def test_tracking_pixel_and_footer() -> None:
    f = feats(PIXEL)
    assert f.value("tracking_pixel") == 1.0
    assert "tracking pixel" in f.bulk_signals
    assert "unsubscribe footer" in f.bulk_signals
    assert '"view in browser"' in f.bulk_signals
    assert 0 < f.value("html_share") < 1


def test_discussion_list_is_bulk_but_not_marketing() -> None:
    f = feats(DISCUSSION)
    assert f.discussion_list
    assert f.is_bulk  # the rules see the list; the model does not count it as marketing
    assert f.value("marketing_list") == 0.0
    assert f.value("in_thread") == 1.0
    assert f.value("quoted_text") == 1.0
    assert f.value("has_signature_dashes") == 1.0
    assert f.value("personal_mailer") == 1.0
    assert "__mailer_mutt__" in f.text


def test_fake_reply_and_shouting() -> None:
    f = feats(FAKE_REPLY)
    assert f.value("reply_subject_without_thread") == 1.0
    assert f.value("in_thread") == 0.0
    assert f.value("priority_high") == 1.0
    assert f.value("from_without_name") == 1.0
    assert f.value("sender_digits") == 1.0
    assert f.value("subject_exclaim") == 0.0
    assert f.value("money_marks") > 0
    assert f.value("body_caps") > 0.1


def test_personal_note_has_no_bulk_signals() -> None:
    raw = (b"From: Jane Doe <jane@acme.io>\r\nTo: sam@rivera.dev\r\nSubject: Coffee?\r\n"
           b"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\nMessage-ID: <c@acme.io>\r\n\r\n"
           b"Hi Sam, coffee next week?\r\nJane\r\n")
    f = feats(raw)
    assert not f.is_bulk
    assert f.value("marketing_list") == 0.0
    assert f.value("message_id_elsewhere") == 0.0
    assert f.value("role_sender") == 0.0


def test_money_words_are_whole_words() -> None:
    assert feats(FAKE_REPLY.replace(b"FREE offer", b"freedom offering")).value("money_marks") < \
        feats(FAKE_REPLY).value("money_marks")


def test_mailer_family() -> None:
    msg = parse_message(b"From: a@b.example\nX-Mailer: Microsoft Outlook Express 6.00\n\nx")
    assert mailer_family(msg) == "microsoft"
    assert mailer_family(parse_message(b"From: a@b.example\n\nx")) == ""


@pytest.mark.parametrize("html", [
    "<p>Hello <b>world</b></p>",
    "<html><head><title>t</title><style>p{color:red}</style></head><body>Hi &amp; bye</body></html>",
    "<SCRIPT>var x = '<p>';</SCRIPT>text",
    "no tags at all",
    "<p>unclosed <b",
])
def test_html_to_text(html: str) -> None:
    out = html_to_text(html)
    assert "<p>" not in out and "color:red" not in out and "var x" not in out
    assert "Hello" in out or "Hi & bye" in out or "text" in out or "no tags" in out or "unclosed" in out


def test_long_html_is_read_at_both_ends() -> None:
    filler = "<p>" + "lorem ipsum " * 4000 + "</p>"
    raw = (b"From: Shop <hi@shop.example>\nTo: sam@rivera.dev\nSubject: x\nContent-Type: text/html\n\n"
           + filler.encode() + b'<a href="https://shop.example/u">Unsubscribe</a>'
           + b'<img src="https://shop.example/open.gif" width="1" height="1">')
    f = feats(raw)
    assert f.value("tracking_pixel") == 1.0
    assert f.value("unsubscribe_text") == 1.0


# -- the parser's fast path (mailguard/core/parse.py) -----------------------------------------------

FAST_CASES = [
    b"From: a@b.com\r\nSubject: x\r\n\r\nhello\r\nworld",
    b"From: a@b.com\rSubject: x\r\rbody",
    b"From: J\xc3\xb6rg <j@x.de>\nSubject: =?utf-8?q?caf=C3=A9?=\n\ncaf\xc3\xa9",
    b"From: a@b.com\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 =\nx",
    b"From: a@b.com\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\nPGI+aGk8L2I+\n",
    b"From: a@b.com\nX-A:\n  folded\n\tmore\n\n\n\nbody\n",
    PIXEL,
    DISCUSSION,
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=o\n\npre\n--o\nContent-Type: multipart/alternative;"
    b" boundary=i\n\n--i\nContent-Type: text/plain\n\nplain\n--i\nContent-Type: text/html\n\n<p>html</p>\n--i--\n"
    b"--o\nContent-Type: image/png\nContent-Disposition: attachment; filename=a.png\n\nAAAA\n--o--\nepilogue\n",
    # no close boundary: the last part runs to the end (CloseBoundaryNotFoundDefect), at the top ...
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nno close\n",
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=x\n\npre\r\n--x \r\n\r\none\r\n--x\r\n"
    b"Content-Type: text/html\r\n\r\n<p>two</p>\r\n\r\n",
    # ... and nested, where it runs to the next boundary of the enclosing multipart
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative;"
    b" boundary=i\n\n--i\nContent-Type: text/plain\n\nplain\n--i\nContent-Type: text/html\n\n<p>html</p>\n\n"
    b"--o\nContent-Type: text/plain\n\nafter\n--o--\n",
    # a transfer encoding on a multipart: InvalidMultipartContentTransferEncodingDefect
    b"From: a@b.com\nContent-Type: multipart/alternative; boundary=x\nContent-Transfer-Encoding: quoted-printable"
    b"\n\n--x\nContent-Type: text/plain\n\ncaf=C3=A9\n--x--\n",
    # boundaries that start alike but no line can be both (Outlook's ...47B and ...47BAA)
    b"From: a@b.com\nContent-Type: multipart/related; boundary=\"--=_NP47B\"\n\n----=_NP47B\n"
    b"Content-Type: multipart/alternative; boundary=\"--=_NP47BAA\"\n\n----=_NP47BAA\nContent-Type: text/plain\n\n"
    b"t\n----=_NP47BAA\nContent-Type: text/html\n\n<b>h</b>\n----=_NP47BAA--\n\n----=_NP47B\n"
    b"Content-Type: image/gif\n\nGIF\n----=_NP47B--\n",
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=\"abcd\"\n\n--abcd\nContent-Type: multipart/alternative;"
    b" boundary=abc\n\n--abc\nContent-Type: text/plain\n\nx\n--abcd-not\n--abc--\n--abcd--\n",
]
SLOW_CASES = [  # the fast path declines these; the stdlib parses them
    b"",
    b"From: a@b.com\nSubject: x\n",  # no blank line
    b" x\nFrom: a@b.com\n\nbody",  # continuation first
    b"From: a@b.com\nnot a header\nbody",
    b"From: a@b.com\nFrom x\n\nbody",
    b"From: a@b.com\nContent-Type: message/rfc822\n\nFrom: c@d.com\n\ninner",
    b"From: a@b.com\nContent-Type: multipart/mixed\n\nno boundary",
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=x\n\nno first boundary\n",
    # a line "--x--" both closes x and separates x--: the feed parser's order of checks decides
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: multipart/alternative;"
    b" boundary=\"x--\"\n\n--x--\nContent-Type: text/plain\n\nin\n--x----\n--x--\n",
    b"From: a@b.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\n--x\n--x\nbody\n--x--\n",  # repeated
]


def _stdlib(raw: bytes) -> parse.ParsedMessage:
    saved = parse._fast_message
    parse._fast_message = lambda head: None  # type: ignore[assignment]
    try:
        return parse_message(raw)
    finally:
        parse._fast_message = saved  # type: ignore[assignment]


@pytest.mark.parametrize("raw", FAST_CASES + SLOW_CASES)
def test_fast_path_parses_as_the_stdlib(raw: bytes) -> None:
    assert parse_message(raw) == _stdlib(raw)


@pytest.mark.parametrize("raw", FAST_CASES)
def test_fast_path_is_taken(raw: bytes) -> None:
    assert parse._fast_message(raw) is not None


@pytest.mark.parametrize("raw", SLOW_CASES)
def test_fast_path_declines(raw: bytes) -> None:
    assert parse._fast_message(raw) is None


def test_fast_path_message_tree_matches_stdlib() -> None:
    raw = FAST_CASES[-1]
    fast, ref = parse._fast_message(raw), email.message_from_bytes(raw, policy=compat32)
    assert [p.get_content_type() for p in fast.walk()] == [p.get_content_type() for p in ref.walk()]
    assert [p.get_payload(decode=True) for p in fast.walk() if not p.is_multipart()] == \
        [p.get_payload(decode=True) for p in ref.walk() if not p.is_multipart()]


def test_fast_path_on_real_mail() -> None:
    files = sorted(SAMPLE.glob("*/*.eml"))
    assert len(files) >= 20
    for f in files:
        raw = f.read_bytes()
        assert parse_message(raw) == _stdlib(raw), f.name


@pytest.mark.parametrize("value", [
    "a@b.com", " <a@b.com> ", "Jane Doe <jane@x.org>", '"Doe, Jane" <jd@y.org>', "J. R. Smith <j.r@s.co.uk>",
    "O'Brien <ob@x.ie>", "a@b.com (Bob)", "a@b.c, d@e.f", '"x" y <a@b.c>', "undisclosed-recipients:;",
    "  Lots   of   space   <s@x.y>", "A\xa0B <a@b.c>", "a..b@c.d", "<a@b.c",
])
def test_address_fast_path_matches_getaddresses(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parse._addresses_of.__wrapped__((value,))
    monkeypatch.setattr(parse, "_getaddresses", email.utils.getaddresses)
    assert fast == parse._addresses_of.__wrapped__((value,))


def _money_by_regex(low: str) -> int:
    """_money_marks as it was written first: every match of the patterns, whole words only."""
    from mailguard.core.features import _MONEY_SIGN, _PERCENT_OFF

    money_word = re.compile(r"free|discount|sale|offer|deal")  # the pattern str.find replaced
    n = len(_MONEY_SIGN.findall(low)) + len(_PERCENT_OFF.findall(low))
    for m in money_word.finditer(low):
        a, b = m.span()
        if (a == 0 or not low[a - 1].isalnum()) and (b == len(low) or not low[b].isalnum()):
            n += 1
    return n


def test_money_marks_counts_what_the_patterns_match():
    import random

    from mailguard.core.features import _money_marks

    rng = random.Random(7)
    bits = ["free", "discount", "sale", "offer", "deal", "dealsale", "freefree", "offerfree", "$", "€5",
            "£ 3", "$9", "20% off", "5 %off", " ", "-", "x", "é", "1", "discounts", "sales", "ideal",
            "\n", "réoffer", "ofree", "_sale_", "DEAL", "%", "%%", "5%", " %", "% off", "%off", "1 % off",
            "٣%off", "\u2003", "7\u2003%\u2003off", "5%%off", "off"]
    for _ in range(3000):
        low = "".join(rng.choice(bits) for _ in range(rng.randrange(0, 12)))
        assert _money_marks(low) == _money_by_regex(low), low


def test_fast_path_notes_the_defects_of_the_multiparts_it_reads() -> None:
    no_close, cte = FAST_CASES[-6], FAST_CASES[-3]
    assert "CloseBoundaryNotFoundDefect" in parse_message(no_close).defects
    assert parse_message(no_close).text == "no close"
    assert "InvalidMultipartContentTransferEncodingDefect" in parse_message(cte).defects
    assert parse_message(cte).text == "caf=C3=A9"  # the multipart's encoding is not the part's


# generated MIME trees: boundaries alike or not, closed or not, any line ends, encodings, junk lines
_EOL = st.sampled_from(["\n", "\r\n", "\r"])
_BOUNDARY = st.sampled_from(["b", "b--", "b-", "bAA", "b ", "=_NP", "=_NPx", "x"])
_LEAF_TYPE = st.sampled_from(["text/plain", "text/html", "text/plain; charset=iso-8859-1",
                              'text/plain; charset="utf-8"', "image/gif", "application/pdf; name=a.pdf"])
_CTE = st.sampled_from(["", "7bit", "quoted-printable", "base64", "8bit"])
_BODY = st.lists(st.sampled_from(["hello", "caf=C3=A9", "PGI+aGk8L2I+", "--b", "--b--", "--x", "--bAA",
                                  "", " ", "<p>x</p>", "From me", "Subject: not a header", "\u00e9"]),
                 max_size=4)


@st.composite
def _mime(draw, depth: int = 0) -> str:
    eol = draw(_EOL)
    head = []
    if depth == 0:
        head.append("From: a@b.com")
    if depth < 2 and draw(st.booleans()):
        boundary = draw(_BOUNDARY)
        quoted = f'"{boundary}"' if draw(st.booleans()) or " " in boundary else boundary
        head.append(f"Content-Type: multipart/{draw(st.sampled_from(['mixed', 'alternative']))}; "
                    f"boundary={quoted}")
        cte = draw(_CTE)
        if cte:
            head.append(f"Content-Transfer-Encoding: {cte}")
        lines = head + [""] + draw(_BODY)
        for _ in range(draw(st.integers(0, 3))):
            lines += ["--" + boundary + draw(st.sampled_from(["", " ", "\t"]))]
            lines += draw(_mime(depth + 1)).split("\n")
        if draw(st.booleans()):
            lines += ["--" + boundary + "--"] + draw(_BODY)
        return "\n".join(lines).replace("\n", eol) if depth == 0 else "\n".join(lines)
    head.append(f"Content-Type: {draw(_LEAF_TYPE)}")
    cte = draw(_CTE)
    if cte:
        head.append(f"Content-Transfer-Encoding: {cte}")
    lines = head + [""] + draw(_BODY)
    return "\n".join(lines).replace("\n", eol) if depth == 0 else "\n".join(lines)


@settings(max_examples=400, deadline=None)
@given(_mime())
def test_fast_path_parses_generated_mime_as_the_stdlib(text: str) -> None:
    raw = text.encode("utf-8", "surrogateescape")
    assert parse_message(raw) == _stdlib(raw)


_CT_PIECES = st.sampled_from(["text/plain", "text/html", ";", " ", "\t", "charset", "CharSet", "=", "utf-8",
                              "ISO-8859-1", '"', "'", "\\", "*", "<", ">", "name", "a.txt", "x", "\udce9"])  # (8-bit bytes: surrogates)


@settings(max_examples=500, deadline=None)
@given(st.lists(_CT_PIECES, max_size=12).map("".join))
def test_fast_content_charset_is_messages(value: str) -> None:
    fast = parse._ParsedPart([("Content-Type", value)], ["content-type"])
    ref = Message(policy=compat32)
    ref._headers = [("Content-Type", value)]
    assert fast.get_content_charset() == ref.get_content_charset()
    assert fast.get_content_charset("dflt") == ref.get_content_charset("dflt")
    # get: the value as it is, or a Header when it holds 8-bit bytes (surrogate escapes)
    got, want = fast.get("Content-Type"), ref.get("Content-Type")
    assert type(got) is type(want) and str(got) == str(want)
    assert ("content-type" in fast) and ("CONTENT-TYPE" in fast) and ("subject" not in fast)


_FIELD_LINES = st.sampled_from(["From: a@b.c", "Subject: x", "X-A:", "X-A:  y ", " folded", "\tfolded", " ",
                                "no colon", "Bad Name: x", ":", "é: x", "X-\udce9: y", "Received: from a (b)",
                                "X-Long: " + "w " * 40, "", "X-B: a\r", "X-C:\t\r", "\r"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_FIELD_LINES, max_size=10), st.sampled_from(["\n", "\r\n", "\r"]),
       st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["", "body", "body\n\nmore", "\r\n\r\nx"]))
def test_header_fields_split_as_field_by_field(lines: list[str], eol: str, last: str, body: str) -> None:
    """_fields (str methods where the line ends allow) finds what matching _FIELD one after
    another finds, and stops at the same place."""
    text = eol.join(lines) + last + eol + body

    def one_by_one(text: str) -> tuple[list[tuple[str, str]], int]:
        fields, pos = [], 0
        while (m := parse._FIELD.match(text, pos, len(text))) is not None:
            fields.append((m.group(1), m.group(2).lstrip(" \t").rstrip("\r\n")))
            pos = m.end()
        return fields, pos

    assert parse._fields(text, 0, len(text)) == one_by_one(text)


_VALUE_PIECES = st.sampled_from(["a", "b c", " ", "  ", "\t", "\n ", "\r\n\t", "=?utf-8?q?x?=", "<m@x>", ",",
                                 "x" * 5000, "\x0b", "\x1c", "\x00"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Subject", "X-A", "To", "x-a", "Received", "Date"]),
                          st.lists(_VALUE_PIECES, max_size=6).map("".join)), max_size=8))
def test_header_values_collapse_as_field_by_field(extra: list[tuple[str, str]]) -> None:
    """The fast path's headers (values collapsed all at once) are those of the stdlib path."""
    head = "From: a@b.com\n" + "".join(f"{k}:{v}\n" for k, v in extra)
    raw = (head + "\nbody\n").encode("utf-8", "surrogateescape")
    assert parse_message(raw) == _stdlib(raw)
