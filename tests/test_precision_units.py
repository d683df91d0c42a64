"""The precision units one by one: organisations, who becomes a contact, each link rule and its
strength, vetoes, sales tools, transactional mail, prior relationship per organisation,
conversation, forwards and content that was not understood."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailfactory import ME, day, newsletter, personal
from mailguard.core.categories import transactional_reason
from mailguard.core.contacts import (PERSONAL, Ledger, contact_refusal, make_contact, robot_reason,
                                role_address)
from mailguard.errors import ConfigError
from mailguard.core.features import extract, forwarded_own_words
from mailguard.core.identity import org_name_keys, signature_block, signature_domains
from mailguard.core.linker import (LINK_RULES, MEDIUM, STRONG, WEAK, LinkContext, link_message,
                              rules_table)
from mailguard.core.orgs import OrgEvidence, classify_domain, freemail_domains, platform_operators
from mailguard.core.parse import parse_message
from mailguard.pipeline import Pipeline
from mailguard.core.rules import KEEP, MOVE, Policy
from mailguard.scan import disabled_link_rules
from mailguard.core.sequences import load_tools, tool_of

W = timedelta(days=180)


def msg(raw: bytes):
    return parse_message(raw)


# -- organisations -------------------------------------------------------------------------


def test_freemail_comes_from_the_maintained_list():
    domains = freemail_domains()
    assert len(domains) > 4000
    assert {"gmail.com", "yahoo.co.jp", "web.de", "hey.com"} <= domains
    assert not classify_domain("gmail.com").links


@pytest.mark.parametrize("domain,kind", [
    ("ox.ac.uk", "academic"), ("mit.edu", "academic"), ("unimelb.edu.au", "academic"),
    ("gov.uk", "government"), ("nasa.gov", "government"),
])
def test_universities_and_governments_by_public_suffix(domain, kind):
    v = classify_domain(domain)
    assert v.kind == kind and not v.links and domain in v.why


def test_platform_operators_come_from_the_public_suffix_list_private_section():
    ops = platform_operators()
    assert {"google.com", "amazon.com", "microsoft.com", "github.com"} <= ops
    assert "brightloop.ai" not in ops and "acme.io" not in ops
    assert "Public Suffix List" in classify_domain("google.com").why


def test_own_organisation_and_mailbox_evidence_of_size():
    assert not classify_domain("fernhill.io", own=frozenset({"fernhill.io"})).links
    assert classify_domain("acme.io", evidence=OrgEvidence(departments=2, people=2)).links
    big = classify_domain("acme.io", evidence=OrgEvidence(departments=3))
    assert not big.links and "3 different departments" in big.why
    assert not classify_domain("acme.io", evidence=OrgEvidence(people=3)).links


def test_org_name_keys_fold_suffixes_and_join_words():
    assert org_name_keys("Cobalt AI") == {"cobalt", "cobaltai"}
    assert "cobaltai" in org_name_keys("cobaltai")


# -- who becomes a contact -----------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "support@acme.io", "no.reply.alerts@bank.example", "drive-shares-dm-noreply@google.com",
    "calendar-notification@google.com", "statements@bank.example", "team+news@x.io",
    "billing@acme.io", "a12345678@x.example",
])
def test_role_and_robot_addresses(address):
    assert role_address(address)


@pytest.mark.parametrize("address", ["jane@acme.io", "jane.doe@acme.io", "priya@brightloop.ai",
                                     "dsmith.climbs@gmail.com"])
def test_people_are_not_roles(address):
    assert role_address(address) is None


def _refusal(raw: bytes) -> str | None:
    m = msg(raw)
    f = extract(m)
    return contact_refusal(m, bulk=f.is_bulk, discussion=f.discussion_list, score=0.1,
                           personal_threshold=0.5, max_recipients=3, me=frozenset({ME}))


def test_a_person_writing_one_to_one_becomes_a_contact():
    assert _refusal(personal("Jane Doe <jane@acme.io>")) is None


def test_robots_and_services_never_become_contacts():
    assert "role" in _refusal(personal("Acme Support <support@acme.io>"))
    docs = personal('"Jane Doe (via Google Docs)" <jane@acme.io>', subject="Document shared with you")
    assert "on someone's behalf" in _refusal(docs)
    invite = personal("Jane Doe <jane@acme.io>", subject="Invitation: Coffee @ Tue 3 Mar 2026 10am")
    assert "calendar" in _refusal(invite)
    auto = personal("Jane Doe <jane@acme.io>").replace(b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version")
    assert "Auto-Submitted" in robot_reason(msg(auto))
    ticket = personal("Ana <ana@acme.io>").replace(b"MIME-Version", b"X-Zendesk-Email-Id: 01H\r\nMIME-Version")
    assert "help-desk" in _refusal(ticket)


def test_writing_to_a_support_address_makes_no_contact():
    pipe = Pipeline(_model(), Policy(me=frozenset({ME}), promo_threshold=_model().threshold))
    pipe.process([personal(f"Sam <{ME}>", to="support@tallyform.io", subject="Export fails"),
                  personal(f"Sam <{ME}>", to="Jane <jane@acme.io>", subject="Coffee?", when=day(1))])
    assert "support@tallyform.io" not in pipe.ledger and "jane@acme.io" in pipe.ledger


# -- signature block ----------------------------------------------------------------------


def test_only_the_signature_block_names_domains():
    body = ("Hi Sam,\n\nHere is the article: https://www.theguardian.com/tech/2026/a and my Loom\n"
            "https://www.loom.com/share/abc\n\nBest,\nKeiko Tanaka\nFounder, Kumo Studio\nhttps://kumostudio.jp\n")
    m = msg(personal("Keiko Tanaka <keiko@gmail.com>", body=body))
    assert signature_domains(m) == {"kumostudio.jp"}


def test_signature_without_a_sign_off_starts_at_the_senders_name():
    body = "Hi Sam,\n\ncoffee next week?\n\nDana Chen\nFounder, Hollowlayer\nhttps://hollowlayer.co\n"
    assert signature_block(body, "Dana Chen").startswith("Dana Chen")
    assert signature_domains(msg(personal("Dana Chen <dana@gmail.com>", body=body))) == {"hollowlayer.co"}
    # no sign-off and no name line: no signature, so links in the text never count
    assert signature_block("Read https://acme.io/post please\n", "Dana Chen") == ""


def test_quoted_and_forwarded_text_is_not_the_signature():
    body = ("Sounds good!\n\nOn Tue, Jane wrote:\n> Best,\n> Jane\n> https://acme.io\n")
    assert signature_domains(msg(personal("Bob <bob@gmail.com>", body=body))) == frozenset()


# -- link rules ------------------------------------------------------------------------------


def jane(**kw):
    return make_contact("jane@acme.io", "Jane Doe", day(0), PERSONAL, subject="Great meeting you", **kw)


def links(raw: bytes, *contacts, **ctx):
    m = msg(raw)
    return link_message(m, LinkContext(Ledger(contacts), **ctx), at=m.date, window=W)


def test_every_rule_is_listed_with_its_strength():
    table = rules_table(frozenset({"display-name"}))
    names = [r["rule"] for r in table]
    assert names == [r.name for r in LINK_RULES]
    assert {r["rule"]: r["strength"] for r in table}["same-address"] == "strong"
    assert {r["rule"]: r["enabled"] for r in table}["display-name"] == "no"


def test_same_address_and_reply_to_are_strong():
    r = links(newsletter("Jane Doe <jane@acme.io>", when=day(5)), jane())
    assert r.best.strength == STRONG and r.best.kind == "same address"
    r = links(newsletter("News <news@letters.example>", when=day(5), reply_to="jane@acme.io"), jane())
    assert r.best.strength == STRONG and "reply-to" in r.best.rules


def test_platform_name_is_medium():
    c = make_contact("jane.doe@gmail.com", "Jane Doe", day(0), PERSONAL)
    r = links(newsletter("Jane Doe <janedoe@substack.com>", when=day(5)), c)
    assert r.best.strength == MEDIUM and "platform-name" in r.best.rules


def test_small_organisation_is_medium_and_a_large_one_is_vetoed():
    r = links(newsletter("Acme <news@acme.io>", when=day(5)), jane())
    assert r.best.strength == MEDIUM and r.best.rules[0] == "organisation"
    g = make_contact("mei@google.com", "Mei Lin", day(0), PERSONAL)
    r = links(newsletter("Google Store <googlestore-noreply@google.com>", when=day(5)), g)
    assert r.best is None
    assert any("not linked by organisation: google.com is a large organisation" in v for v in r.vetoes)
    r = links(newsletter("Acme <news@acme.io>", when=day(5)), jane(),
              org_evidence=lambda d: OrgEvidence(departments=5))
    assert r.best is None and "5 different departments" in r.vetoes[0]


def test_own_organisation_never_links_by_domain():
    r = links(newsletter("Fernhill Weekly <weekly@fernhill.io>", when=day(5)),
              make_contact("raj@fernhill.io", "Raj Mehta", day(0), PERSONAL), own_orgs=frozenset({"fernhill.io"}))
    assert r.best is None and "your own organisation" in r.vetoes[0]


def test_a_display_name_alone_is_weak_and_corroborated_names_are_medium():
    c = make_contact("dsmith@gmail.com", "David Smith", day(0), PERSONAL)
    r = links(newsletter("David Smith <david@smithcapital.example>", when=day(5)), c)
    assert r.best.strength == WEAK
    p = make_contact("priya@gmail.com", "Priya Patel", day(0), PERSONAL, named_domains={"brightloop.ai"})
    r = links(newsletter("Priya from Brightloop <hi@loopmail.example>", when=day(5), esp="none",
                         dkim="loopmail.example", return_path="b@loopmail.example", host="loopmail.example"), p)
    assert r.best.strength == MEDIUM


def test_a_switched_off_rule_finds_nothing():
    r = links(newsletter("Acme <news@acme.io>", when=day(5)), jane(), disabled=frozenset({"organisation", "display-name"}))
    assert r.best is None


def test_link_rule_switches_in_config():
    assert disabled_link_rules({"links": {"display-name": False, "organisation": True}}) == {"display-name"}
    with pytest.raises(ConfigError, match="did you mean display-name"):
        disabled_link_rules({"links": {"display-nme": False}})
    with pytest.raises(ConfigError, match="true or false"):
        disabled_link_rules({"links": {"organisation": "no"}})


# -- sales tools and categories ------------------------------------------------------------


def test_sales_tools_by_header_and_tracking_host_and_from_config():
    raw = personal("Derek <derek@tallyforge.example>").replace(
        b"MIME-Version", b"X-Outreach-Message-Id: 123\r\nMIME-Version")
    t, how = tool_of(msg(raw))
    assert t.name == "Outreach" and t.sequencer and "header" in how
    raw = personal("Rhea <rhea@q.example>", body="Hi\n\nhttps://sdr.salesloft.com/t/abc/open.gif\n")
    assert tool_of(msg(raw))[0].name == "Salesloft"
    tools = load_tools({"sales_tools": [{"name": "Acme Seq", "domains": ["trk.acmeseq.example"]}]})
    raw = personal("R <r@q.example>", body="https://x.trk.acmeseq.example/o.gif\n")
    assert tool_of(msg(raw), tools)[0].name == "Acme Seq"
    with pytest.raises(ConfigError):
        load_tools({"sales_tools": [{"name": "x"}]})


@pytest.mark.parametrize("subject", [
    "Your receipt from Quillstack #1842", "Reset your password", "Confirm your email address",
    "Your trial ends in 3 days", "Your March statement is ready to view", "Your order has shipped",
    "Security alert: new sign-in from Firefox", "Neuer Veranstaltungsort für StackCamp",
])
def test_transactional_subjects(subject):
    assert transactional_reason(msg(newsletter("Acme <no-reply@acme.io>", subject=subject)))


@pytest.mark.parametrize("subject", [
    # phrasings of real training mail the subject check first missed (issue 12)
    "Kestrel Parcels has successfully delivered your Ferncroft parcel", "You have mail on the way",
    "You completed Ada Lowe's $12.00 charge request", "Your Tuesday evening trip with Rideline",
    "Ada Lowe paid you $40.00",
])
def test_transactional_subjects_of_carriers_payments_and_trips(subject):
    assert transactional_reason(msg(newsletter("Acme <no-reply@acme.io>", subject=subject)))


@pytest.mark.parametrize("subject", ["Cobalt AI Dispatch #7: invoices that read themselves",
                                     "Spring launch: 30% off this week", "New arrivals on the way: 20% off",
                                     "The trip with friends you'll never forget", "Big savings are on the way!"])
def test_newsletters_are_not_transactional(subject):
    assert transactional_reason(msg(newsletter("Acme <news@acme.io>", subject=subject))) is None


def test_forward_is_judged_on_the_forwarders_words():
    body = ("Thought you'd like this one!\n\nNina\n\n---------- Forwarded message ---------\n"
            "From: News <news@letter.example>\n\nView in browser\nUnsubscribe | Manage preferences\n")
    m = msg(personal("Nina <nina@brightpath.example>", subject="Fwd: This week", body=body))
    assert forwarded_own_words(m).strip().endswith("Nina")
    f = extract(m)
    assert f.forward and not f.is_bulk


def test_content_that_does_not_decode_is_not_understood():
    raw = personal("Jane <jane@acme.io>", body="\ufffd\x01\x02" * 200)
    f = extract(msg(raw))
    assert not f.understood and "does not decode" in f.understood_note
    assert extract(msg(personal("Jane <jane@acme.io>"))).understood


# -- the pipeline: prior relationship, conversation -------------------------------------------


_M = None


def _model():
    global _M
    if _M is None:
        from mailguard import models_io
        _M = models_io.load()
    return _M


def _run(raws):
    m = _model()
    pipe = Pipeline(m, Policy(me=frozenset({ME}), promo_threshold=m.threshold))
    return pipe.process(raws)


def test_a_relationship_with_the_organisation_before_the_contact_is_per_organisation():
    ds = _run([
        newsletter("Tidebank <news@tidebank.example>", when=day(0), subject="January news"),
        personal("Ines <ines@tidebank.example>", when=day(30)),
        newsletter("Tidebank Events <events@tidebank.example>", when=day(40), subject="Open house"),
    ])
    last = ds[-1]
    assert last.action == KEEP and last.linked_contact == "ines@tidebank.example"
    assert any('"January news" from news@tidebank.example' in r and "before the contact" in r
               for r in last.reasons)


def test_the_contacts_own_first_message_is_no_prior_relationship():
    ds = _run([
        personal("Felix <felix@quill.example>", when=day(0)),
        newsletter("Quill <news@quill.example>", when=day(20)),
    ])
    assert ds[-1].action == MOVE


def test_a_reply_in_a_thread_the_user_took_part_in_is_conversation_whatever_its_tracking():
    first = personal("Jane <jane@acme.io>", msgid="<a1@acme.io>")
    mine = personal(f"Sam <{ME}>", to="jane@acme.io", when=day(1), msgid="<s1@rivera.dev>",
                    in_reply_to="<a1@acme.io>")
    tracked = personal("Jane <jane@acme.io>", when=day(2), in_reply_to="<s1@rivera.dev>",
                       body="Great, Tuesday works.\n\nhttps://track.hubspot.com/o/abc.gif\n")
    tracked = tracked.replace(b"MIME-Version", b"X-HubSpot-MHID: 1\r\nMIME-Version")
    d = _run([first, mine, tracked])[-1]
    assert d.action == KEEP and any(r.startswith("conversation:") for r in d.reasons)


def test_a_failed_batch_rolls_back_what_it_learned_so_a_retry_saves_the_contact(tmp_path):
    from mailguard.store import Store

    m = _model()
    with Store(tmp_path / "state.sqlite3") as store:
        pipe = Pipeline(m, Policy(me=frozenset({ME}), promo_threshold=m.threshold), store)
        raws = [personal("Jane Doe <jane@acme.io>"), personal("Bob <bob@elsewhere.example>", when=day(1))]
        real = store.save_decisions  # the batch's decisions, written after both were decided

        def failing(*a, **kw):
            raise RuntimeError("disk trouble")

        store.save_decisions = failing  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            pipe.process(raws)
        assert "jane@acme.io" not in pipe.ledger  # rolled back with the database
        assert store.load_contacts() == []
        store.save_decisions = real  # type: ignore[method-assign]
        for raw in raws:  # the daemon's retry, message by message
            pipe.process([raw])
        assert "jane@acme.io" in pipe.ledger
        assert {c.email for c in store.load_contacts()} == {"jane@acme.io", "bob@elsewhere.example"}


def test_a_contact_keeps_a_profile(tmp_path):
    from mailguard.store import Store

    m = _model()
    body = "Hi Sam,\n\ncoffee next week?\n\nDana Chen\nFounder, Hollowlayer\nhttps://hollowlayer.co\n"
    with Store(tmp_path / "s.sqlite3") as store:
        pipe = Pipeline(m, Policy(me=frozenset({ME}), promo_threshold=m.threshold), store)
        pipe.process([personal("Dana Chen <dana.chen@gmail.com>", body=body)])
        [c] = store.load_contacts()
    assert (c.name, c.role, c.named_domains, c.how) == (
        "Dana Chen", "Founder, Hollowlayer", frozenset({"hollowlayer.co"}), PERSONAL)
