"""Issue 12: personal, transactional, promotional. Only promotional mail is moved; the model's
category drives it, the structural check can only make mail transactional, mail the model cannot
read gets no confident score; the three probabilities reach scan's output and the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailguard import models_io
from mailguard.core.categories import transactional_subject
from mailguard.cli.main import main
from mailguard.core.features import NUMERIC_NAMES, extract, header_tokens
from mailguard.core.contacts import make_contact
from mailguard.core.linker import MEDIUM, Link
from mailguard.core.parse import parse_message
from mailguard.pipeline import Pipeline
from mailguard.core.rules import KEEP, MOVE, Policy, decide
from mailguard.store import MIGRATIONS, Store
from mailfactory import ME, day, discussion_post, mbox, newsletter, personal, transactional


@pytest.fixture(scope="module")
def model():
    return models_io.load()


def run(model, msgs, store=None):
    pipe = Pipeline(model, Policy(me=frozenset([ME]), promo_threshold=model.threshold), store)
    return pipe.process(msgs)


def contact(addr: str = "jane@acme.io", name: str = "Jane Doe") -> list[bytes]:
    return [personal(f"{name} <{addr}>", when=day(0)),
            personal(f"Sam Rivera <{ME}>", to=f"{name} <{addr}>", subject="Re: Great meeting you",
                     when=day(1), body="Sounds good, Tuesday?\n\nSam", in_reply_to="<x@y>")]


def test_decisions_carry_the_category_and_three_probabilities(model) -> None:
    ds = run(model, contact() + [newsletter("Acme <news@acme.io>", when=day(10))])
    blast = ds[-1]
    assert blast.action == MOVE and blast.category == "promotional"
    assert blast.scores is not None and sum(blast.scores) == pytest.approx(1.0)
    assert blast.promo_score == pytest.approx(blast.scores[1])
    d = blast.as_dict()
    assert d["category"] == "promotional"
    assert set(d["scores"]) == {"personal", "promotional", "transactional"}
    assert d["scores"]["promotional"] == round(blast.promo_score, 4)
    assert any(r.startswith("category: promotional") for r in blast.reasons)
    first = ds[0]
    assert first.category == "personal" and first.learned  # a first note still makes a contact


def test_a_receipt_from_the_contacts_organisation_is_transactional_and_kept(model) -> None:
    """The issue's complaint: account mail from a contact's organisation was moved."""
    for kind in ("receipt", "reset"):
        ds = run(model, contact() + [transactional("Acme Billing <billing@acme.io>", kind=kind, when=day(10))])
        d = ds[-1]
        assert d.linked_contact == "jane@acme.io"
        assert d.action == KEEP and d.category == "transactional", d.reasons
        assert any("only promotion is moved" in r for r in d.reasons)


def test_the_structural_check_only_makes_mail_transactional(model) -> None:
    msg = parse_message(newsletter("Acme <news@acme.io>", subject="Your order #123 has shipped"))
    feats = extract(msg)
    assert feats.transactional_reason  # the subject says so
    link = run_link(model)
    pol = Policy(me=frozenset([ME]), promo_threshold=0.5)
    d = decide(msg, feats, 0.99, link, pol, scores=(0.0, 0.99, 0.01))
    assert d.category == "transactional" and d.action == KEEP
    # ... and the model's category alone can make it transactional too
    msg2 = parse_message(newsletter("Acme <news@acme.io>", subject="Spring news"))
    d2 = decide(msg2, extract(msg2), 0.2, link, pol, scores=(0.1, 0.2, 0.7))
    assert d2.category == "transactional" and d2.action == KEEP
    assert any("the model says so" in r for r in d2.reasons)
    # without the structural reason and with promotion likeliest it is promotional and moved
    d3 = decide(msg2, extract(msg2), 0.9, link, pol, scores=(0.05, 0.9, 0.05))
    assert d3.category == "promotional" and d3.action == MOVE


def run_link(model) -> Link:
    """A medium-strength link to the contact jane@acme.io (as the linker makes for her organisation)."""
    c = make_contact("jane@acme.io", "Jane Doe", day(0), "they wrote to you personally",
                     message_id="<x@y>", subject="Great meeting you")
    return Link(contact=c, kind="same organisation",
                evidence=("From domain acme.io is jane@acme.io's organisation",), strength=MEDIUM,
                rules=("organisation",))


def test_discussion_posts_and_one_to_one_mail_are_promotional_only_when_very_sure(model) -> None:
    pol = Policy(me=frozenset([ME]), promo_threshold=0.5, strong_threshold=0.97)
    post = parse_message(discussion_post("Jane Doe <jane@acme.io>"))
    d = decide(post, extract(post), 0.9, None, pol, scores=(0.08, 0.9, 0.02))
    assert d.category == "personal"
    assert any("a post to a discussion list: promotional only from 0.97" in r for r in d.reasons)
    assert decide(post, extract(post), 0.99, None, pol, scores=(0.0, 0.99, 0.01)).category == "promotional"
    note = parse_message(personal("Jane Doe <jane@acme.io>"))
    assert decide(note, extract(note), 0.8, None, pol, scores=(0.15, 0.8, 0.05)).category == "personal"


def test_content_not_understood_is_never_moved_on_its_score(model) -> None:
    junk = bytes(range(256)) * 30
    raw = (b"From: Jane Doe <jane@acme.io>\r\nTo: sam@rivera.dev\r\nSubject: x\r\nDate: Mon, 16 Mar 2026 09:00:00 +0000\r\n"
           b"Message-ID: <junk@acme.io>\r\nContent-Type: text/plain\r\n\r\n" + junk)
    ds = run(model, contact() + [raw])
    d = ds[-1]
    assert d.action == KEEP and d.category is None
    assert d.scores == pytest.approx(tuple(model.prior))  # no confident score: the prior
    assert any("content not understood" in r and "no confident score" in r for r in d.reasons)


def test_the_store_keeps_the_scores(tmp_path: Path, model) -> None:
    assert MIGRATIONS[[v for v, _ in MIGRATIONS].index(11)][0] == 11
    store = Store(tmp_path / "state.sqlite3")
    try:
        assert "scores" in store.decision_columns()
        ds = run(model, contact() + [newsletter("Acme <news@acme.io>", when=day(10))], store)
        row = store.execute("SELECT scores, category FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
        assert json.loads(row["scores"]) == ds[-1].scores_dict()
        assert row["category"] == "promotional"
        versions = {r[0] for r in store.execute("SELECT version FROM schema_migrations")}
        assert 11 in versions
    finally:
        store.close()


def test_scan_jsonl_has_category_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    box = tmp_path / "inbox.mbox"
    box.write_bytes(mbox(contact() + [transactional("Acme <billing@acme.io>", when=day(5)),
                                      newsletter("Acme <news@acme.io>", when=day(10))]))
    assert main(["scan", str(box), "--me", ME, "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_sender = {r["sender"]: r for r in rows}
    for r in rows:
        assert "category" in r and "scores" in r
        assert r["scores"] is None or abs(sum(r["scores"].values()) - 1.0) < 1e-3
    assert by_sender["billing@acme.io"]["category"] == "transactional"
    assert by_sender["billing@acme.io"]["action"] == "keep"
    assert by_sender["news@acme.io"]["category"] == "promotional"
    assert by_sender["news@acme.io"]["promo_score"] == by_sender["news@acme.io"]["scores"]["promotional"]


# -- features ---------------------------------------------------------------------------------------


def test_transactional_and_delivery_features() -> None:
    f = extract(parse_message(transactional("Shop <no-reply@shop.example>", order="A-10234")))
    assert f.value("noreply_sender") == 1.0 and f.value("auto_submitted") == 1.0
    assert f.value("order_reference") == 1.0 and f.value("transactional_subject") == 1.0
    parcel = personal("UPS <pkginfo@ups.example>", subject="Your package is on its way",
                      body="Your parcel is out for delivery today. Tracking number 1Z999AA10123456784.\n")
    g = extract(parse_message(parcel))
    assert g.value("tracking_number") == 1.0 and g.value("delivery_words") > 1.0
    n = extract(parse_message(newsletter("Brand <news@brand.example>")))
    assert n.value("tracking_number") == 0.0 and n.value("order_reference") == 0.0
    assert n.value("transactional_subject") == 0.0 and n.transactional_reason is None
    assert len(f.numeric) == len(NUMERIC_NAMES)
    # a few words are too short for a share of capitals
    short = extract(parse_message(personal("Jane <jane@acme.io>", body="See you Thursday.\n\nJane\n")))
    assert short.value("body_caps") == 0.0
    shout = extract(parse_message(personal("X <x@spam.example>", body="BUY NOW AND SAVE BIG ON EVERY ORDER TODAY ONLY\n")))
    assert shout.value("body_caps") > 0.9


def test_more_transactional_subjects_and_none_on_promotion() -> None:
    for s in ("Your Royal Mail parcel from John Lewis has been delivered", "Order LO-48213 confirmed",
              "Your contribution to Fennel Editor — receipt", "Oliver Grant shared »Proposal v3.docx« with you",
              "[Indico] Detector Workshop 2022: room change", "Twoja paczka jest już prawie u Ciebie",
              "IIU post from x@y.example requires approval"):
        assert transactional_subject(s), s
    for s in ("Spring launch: 30% off this week", "Issue #4 — small-team observability",
              "Early-bird pricing for my workshop ends soon", "Great meeting you", "Re: the draft"):
        assert transactional_subject(s) is None, s


def test_header_tokens_name_where_mail_comes_from() -> None:
    raw = (b"Received: from mta7.bulkco.example (mta7.bulkco.example [192.0.2.15]) by mx.rivera.dev\r\n"
           b"From: Bulk Co <news@bulkco.example>\r\nTo: sam@rivera.dev\r\nReply-To: reply@other.example\r\n"
           b"Subject: hello\r\nMessage-ID: <abc@mailer.bulkco.example>\r\nX-Mailer: BulkSender 4.2\r\n"
           b"DKIM-Signature: v=1; d=bulkco.example; s=k1\r\nContent-Type: text/plain\r\n\r\nhello there\r\n")
    msg = parse_message(raw)
    toks = set(header_tokens(msg))
    for t in ("from:news@bulkco.example", "from:@bulkco.example", "rcvd:mta7.bulkco.example",
              "rcvd:bulkco.example", "rcvd:ip192.0.2", "mid:mailer.bulkco.example", "xm:bulksender",
              "dkim:bulkco.example", "rt:reply@other.example", "hn:x-mailer", "to:sam@rivera.dev"):
        assert t in toks, t
    assert extract(msg).header_tokens == ()  # only when asked
    assert set(extract(msg, with_header_tokens=True).header_tokens) == toks


def _html_mail(body_html: str, subject: str = "Update from Parcelo") -> bytes:
    """A bulk HTML message from a retailer's platform (SES) with the given HTML body."""
    return (
        "Return-Path: <0100abc@amazonses.com>\r\nFeedback-ID: 1.us-east-1.abc=:AmazonSES\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256; d=acme.io; s=s1; h=from:to; b=abc\r\n"
        f"From: Acme Shop <store-news@acme.io>\r\nTo: {ME}\r\nSubject: {subject}\r\n"
        "Date: Tue, 10 Mar 2026 09:00:00 +0000\r\nMessage-ID: <m1@acme.io>\r\n"
        "List-Unsubscribe: <https://acme.io/u?1>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + body_html
    ).encode()


# The two forms Gmail's markup documentation gives (developers.google.com/gmail/markup): JSON-LD in a
# script element, and microdata on the elements; values invented.
PARCEL_JSONLD = """<html><head><script type="application/ld+json">
{
  "@context": "http://schema.org",
  "@type": "ParcelDelivery",
  "deliveryAddress": {"@type": "PostalAddress", "streetAddress": "24 Willow Lane"},
  "expectedArrivalUntil": "2026-03-12T12:00:00-08:00",
  "carrier": {"@type": "Organization", "name": "Parcelo"},
  "trackingNumber": "PX3000012345",
  "partOfOrder": {"@type": "Order", "orderNumber": "176057", "merchant": {"@type": "Organization", "name": "Acme"}}
}
</script></head><body><p>Big news! Shop our spring collection.</p><a href="https://acme.io/shop">Shop now</a></body></html>"""

ORDER_MICRODATA = """<html><body><div itemscope itemtype="http://schema.org/Order">
<div itemprop="merchant" itemscope itemtype="http://schema.org/Organization"><meta itemprop="name" content="Acme"/></div>
<meta itemprop="orderNumber" content="0234"/>
<link itemprop="orderStatus" href="http://schema.org/OrderProcessing"/></div>
<p>Thanks! New arrivals you will love: 20% off with code SPRING.</p></body></html>"""

PROMOTION_MARKUP = """<html><head><script type="application/ld+json">
[{"@context": "http://schema.org/", "@type": "Organization", "logo": "https://acme.io/logo.png"},
 {"@context": "http://schema.org/", "@type": "DiscountOffer", "description": "20% off", "discountCode": "SPRING"},
 {"@context": "http://schema.org/", "@type": "EmailMessage",
  "potentialAction": {"@type": "ViewAction", "url": "https://acme.io/sale", "name": "See the sale"}}]
</script></head><body><p>20% off everything this weekend at schema.org-friendly Acme.</p></body></html>"""


def test_schema_org_markup_of_an_order_or_parcel_makes_mail_transactional(model) -> None:
    """Mail that declares itself an order or a parcel delivery in the markup mail clients read is
    transactional whatever its words or its score; promotions annotations and go-to actions are not."""
    from mailguard.core.categories import declared_type, transactional_reason

    parcel, order, promo = (parse_message(_html_mail(h)) for h in (PARCEL_JSONLD, ORDER_MICRODATA, PROMOTION_MARKUP))
    assert declared_type(parcel.html) == "ParcelDelivery"
    assert declared_type(order.html) == "Order"
    assert declared_type(promo.html) is None
    assert "schema.org markup says ParcelDelivery" in transactional_reason(parcel)
    assert transactional_reason(promo) is None
    assert declared_type("<p>see https://schema.org/docs and \"@type\": \"Order\"</p>") == "Order"
    assert declared_type('<p>"@type": "Order"</p>') is None  # no schema.org context at all
    # a contact's organisation sends it: kept as transactional even at a promotional score
    pol = Policy(me=frozenset([ME]), promo_threshold=0.5)
    for msg in (parcel, order):
        d = decide(msg, extract(msg), 0.99, run_link(model), pol, scores=(0.0, 0.99, 0.01))
        assert d.category == "transactional" and d.action == KEEP, d.reasons
    d = decide(promo, extract(promo), 0.99, run_link(model), pol, scores=(0.0, 0.99, 0.01))
    assert d.category == "promotional" and d.action == MOVE
