"""The whole pipeline on constructed mail, with the shipped model: each keep case, each move case."""

from __future__ import annotations

import pytest

from mailguard import models_io
from mailguard.pipeline import Pipeline
from mailguard.core.rules import KEEP, MOVE, Policy
from mailguard.store import Store
from mailfactory import ME, day, discussion_post, newsletter, personal


@pytest.fixture(scope="module")
def model():
    return models_io.load()


def run(model, msgs, store=None, **policy):
    pol = Policy(me=frozenset([ME]), promo_threshold=model.threshold, **policy)
    p = Pipeline(model, pol, store)
    return p, p.process(msgs)


def exchange(addr: str, name: str, start: int = 0, body: str | None = None):
    """A personal first message, the user's reply and their personal answer."""
    first = personal(f"{name} <{addr}>", when=day(start), **({"body": body} if body else {}))
    reply = personal(f"Sam Rivera <{ME}>", to=f"{name} <{addr}>", subject="Re: Great meeting you",
                     when=day(start + 1), body="Sounds good, Tuesday?\n\nSam", in_reply_to="<x@y>")
    answer = personal(f"{name} <{addr}>", subject="Re: Great meeting you", when=day(start + 2),
                      body="Tuesday works, see you then.\n\n" + name)
    return [first, reply, answer]


def test_contact_personal_messages_are_kept_and_make_a_contact(model):
    p, ds = run(model, exchange("jane@acme.io", "Jane Doe"))
    assert [d.action for d in ds] == [KEEP, KEEP, KEEP]
    assert "new contact: jane@acme.io (they wrote to you personally)" in ds[0].learned
    assert ds[1].reasons == ("your own message",)
    assert ds[2].linked_contact == "jane@acme.io"  # linked, but personal: kept
    assert "jane@acme.io" in p.ledger


def test_same_address_blast_is_moved_with_reasons(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Jane Doe <jane@acme.io>", when=day(20))])
    d = ds[-1]
    assert d.action == MOVE
    assert d.linked_contact == "jane@acme.io" and d.link_kind == "same address"
    assert any("promo score" in r for r in d.reasons)
    assert any(r.startswith("contact since 2026-03-02") for r in d.reasons)


def test_company_newsletter_from_other_address_same_org(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Acme <news@mail.acme.io>", when=day(20))])
    assert ds[-1].action == MOVE and ds[-1].link_kind == "same organisation"


def test_freemail_contact_then_company_blast_via_signature(model):
    sig = "Hi Sam, loved your talk.\n\nBest,\nPriya Patel\nFounder, Brightloop | https://brightloop.ai\n"
    _, ds = run(model, exchange("priya.patel@gmail.com", "Priya Patel", body=sig) + [
        newsletter("Brightloop <hello@brightloop.ai>", when=day(30), esp="mailchimp")])
    assert ds[-1].action == MOVE and ds[-1].link_kind == "signature"


def test_freemail_domain_never_links_an_organisation(model):
    _, ds = run(model, exchange("priya.patel@gmail.com", "Priya Patel") + [
        newsletter("Deals <deals@gmail.com>", when=day(30))])
    assert ds[-1].action == KEEP and ds[-1].linked_contact is None


def test_blast_through_platform_with_contacts_reply_to(model):
    _, ds = run(model, exchange("marco@corvid.dev", "Marco Bianchi") + [
        newsletter("Corvid Weekly <newsletter@mail.beehiiv.com>", when=day(25), esp="ses",
                   reply_to="Marco Bianchi <marco@corvid.dev>", dkim="beehiiv.com")])
    assert ds[-1].action == MOVE and ds[-1].link_kind == "reply-to"


def test_platform_domain_is_not_an_organisation(model):
    """Two unrelated senders on the same ESP must not link through the ESP's domain."""
    _, ds = run(model, [
        personal("Ana <ana@mail.beehiiv.com>", when=day(0)),
        newsletter("Other <news@mail.beehiiv.com>", when=day(5), esp="none")])
    assert ds[-1].action == KEEP and ds[-1].linked_contact is None


def test_colleague_personal_note_is_kept(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        personal("Tom Lee <tom@acme.io>", when=day(10), subject="paper",
                 body="Hi Sam, Jane said you would like this paper.\n\nTom")])
    assert ds[-1].action == KEEP
    assert ds[-1].linked_contact == "jane@acme.io"


def test_newsletter_from_brand_nobody_contacted_is_kept(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Shop <hello@shop.example>", when=day(10))])
    assert ds[-1].action == KEEP and ds[-1].linked_contact is None
    assert ds[-1].promo_score > 0.9  # promotional, but not from a contact


def test_own_messages_are_never_moved_even_if_promotional(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter(f"Sam Rivera <{ME}>", to="jane@acme.io", when=day(10))])
    assert ds[-1].action == KEEP and ds[-1].reasons == ("your own message",)


def test_user_wrote_first_makes_a_contact(model):
    _, ds = run(model, [
        personal(f"Sam <{ME}>", to="Lena Fischer <lena@orbit.de>", when=day(0), subject="intro"),
        newsletter("Orbit <news@orbit.de>", when=day(9))])
    assert "new contact: lena@orbit.de (you wrote to them)" in ds[0].learned
    assert ds[-1].action == MOVE


def test_contacts_post_to_discussion_list_is_kept(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        discussion_post("Jane Doe <jane@acme.io>", when=day(12))])
    assert ds[-1].action == KEEP
    assert ds[-1].reasons[0] == "post to a discussion list: bulk, not promotion"


def test_list_subscribed_before_contact_is_not_the_contacts_doing(model):
    early = newsletter("StartupX <news@startupx.com>", when=day(0))
    later = newsletter("StartupX <news@startupx.com>", when=day(40))
    _, ds = run(model, [early] + exchange("kim@startupx.com", "Kim Park", start=10) + [later])
    assert ds[-1].action == KEEP
    assert "before the contact was made" in ds[-1].reasons[0]


def test_contact_outside_window_does_not_link(model):
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Jane Doe <jane@acme.io>", when=day(200))])
    assert ds[-1].action == KEEP
    assert any("outside the 180-day window" in r for r in ds[-1].reasons)
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Jane Doe <jane@acme.io>", when=day(200))], window_days=365)
    assert ds[-1].action == MOVE


def test_promo_before_contact_is_not_linked(model):
    """Contact, then promotion: a newsletter dated before the contact was made is kept."""
    _, ds = run(model, [newsletter("Acme <news@acme.io>", when=day(0))] + exchange(
        "jane@acme.io", "Jane Doe", start=5))
    assert ds[0].action == KEEP and ds[0].linked_contact is None


def test_cold_sales_outreach_does_not_make_a_contact(model):
    pitch = newsletter("Rick Sales <rick@leadgen.example>", subject="Quick question, Sam",
                       when=day(0), esp="sendgrid")
    follow = newsletter("Rick Sales <rick@leadgen.example>", subject="Following up", when=day(3))
    p, ds = run(model, [pitch, follow])
    assert "rick@leadgen.example" not in p.ledger
    assert ds[-1].action == KEEP


def test_allow_and_block_rules(model, tmp_path):
    store = Store(tmp_path / "s.db")
    store.set_sender_rule("acme.io", "allowed")
    store.set_sender_rule("spammy.example", "blocked")
    _, ds = run(model, exchange("jane@acme.io", "Jane Doe") + [
        newsletter("Acme <news@mail.acme.io>", when=day(20)),
        personal("Someone <x@spammy.example>", when=day(21))], store=store)
    assert ds[-2].action == KEEP and ds[-2].reasons[0] == "sender allowed (acme.io)"
    assert ds[-1].action == MOVE and ds[-1].reasons[0] == "sender blocked (spammy.example)"


def test_state_persists_between_runs(model, tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        p, _ = run(model, exchange("jane@acme.io", "Jane Doe"), store=store)
        p.finish()
    with Store(path) as store:
        _, ds = run(model, [newsletter("Acme <news@acme.io>", when=day(30))], store=store)
        assert ds[0].action == MOVE
        rows = store.decisions()
        assert len(rows) == 4 and rows[0]["action"] == "move"


def test_unreadable_message_is_kept_and_counted(model):
    p, ds = run(model, [b"\x00\x01garbage with no headers at all", b""])
    assert [d.action for d in ds] == [KEEP, KEEP]
    assert all(d.reasons[0].startswith("not understood") for d in ds)
    assert p.counts["unreadable"] == 2


def test_learn_only_never_moves(model):
    pol = Policy(me=frozenset([ME]), promo_threshold=model.threshold)
    p = Pipeline(model, pol, None)
    ds = p.process(exchange("jane@acme.io", "Jane Doe") + [newsletter("Jane <jane@acme.io>", when=day(9))],
                   learn_only=True)
    assert ds[-1].action == KEEP and ds[-1].reasons[0].startswith("learning from history")
    assert "jane@acme.io" in p.ledger
