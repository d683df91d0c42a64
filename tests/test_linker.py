"""Each linking rule on its own, with evidence, and the rules that must not link."""

from datetime import timedelta

from mailguard.core.contacts import PERSONAL, Ledger, make_contact
from mailguard.core.linker import link
from mailguard.core.parse import parse_message
from mailfactory import day, newsletter, personal

W = timedelta(days=180)


def ledger(*contacts):
    return Ledger(contacts)


def jane(**kw):
    return make_contact("jane@acme.io", "Jane Doe", day(0), PERSONAL, subject="Great meeting you", **kw)


def do(raw, led, at=None):
    msg = parse_message(raw)
    return link(msg, led, at=at or msg.date, window=W)


def test_same_address():
    lk = do(newsletter("Jane Doe <jane@acme.io>", when=day(5)), ledger(jane()))
    assert lk.kind == "same address"
    assert 'contact since 2026-03-02 (they wrote to you personally: "Great meeting you")' in lk.evidence


def test_same_organisation_by_subdomain_from_dkim_and_return_path():
    led = ledger(jane())
    assert do(newsletter("Acme <news@mail.acme.io>", when=day(5)), led).kind == "same organisation"
    # From at a platform, DKIM d= at the contact's organisation
    lk = do(newsletter("Weekly <weekly@news.platform.example>", when=day(5), esp="none",
                       dkim="acme.io", return_path="x@platform.example"), led)
    assert lk.kind == "same organisation" and any("DKIM d=" in e for e in lk.evidence)
    lk = do(newsletter("Weekly <weekly@platform.example>", when=day(5), esp="none", dkim="platform.example",
                       return_path="bounce@bounces.acme.io"), led)
    assert lk.kind == "same organisation" and any("Return-Path" in e for e in lk.evidence)


def test_list_unsubscribe_domain_links():
    led = ledger(jane())
    lk = do(newsletter("Weekly <weekly@platform.example>", when=day(5), esp="none",
                       dkim="platform.example", return_path="b@platform.example", host="acme.io"), led)
    assert lk.kind == "same organisation" and any("List-Unsubscribe" in e for e in lk.evidence)


def test_reply_to_is_contact():
    lk = do(newsletter("Corvid <n@mail.beehiiv.com>", when=day(5), esp="none", dkim="beehiiv.com",
                       reply_to="marco@corvid.dev", return_path="b@beehiiv.com"),
            ledger(make_contact("marco@corvid.dev", "Marco", day(0), PERSONAL)))
    assert lk.kind == "reply-to"


def test_signature_domain():
    c = make_contact("priya@gmail.com", "Priya Patel", day(0), PERSONAL, named_domains={"brightloop.ai"})
    lk = do(newsletter("Brightloop <hello@brightloop.ai>", when=day(5)), ledger(c))
    assert lk.kind == "signature"


def test_display_name_full_name_and_first_name_with_org():
    c = make_contact("priya@gmail.com", "Priya Patel", day(0), PERSONAL, named_domains={"brightloop.ai"})
    lk = do(newsletter("Priya Patel <news@loopmail.example>", when=day(5), esp="none",
                       dkim="loopmail.example", return_path="b@loopmail.example", host="loopmail.example"),
            ledger(c))
    assert lk.kind == "name"
    lk = do(newsletter("Priya from Brightloop <hi@loopmail.example>", when=day(5), esp="none",
                       dkim="loopmail.example", return_path="b@loopmail.example", host="loopmail.example"),
            ledger(c))
    assert lk.kind == "name" and "brightloop" in lk.evidence[0]


def test_first_name_alone_never_links():
    c = make_contact("jane@gmail.com", "Jane Doe", day(0), PERSONAL)
    lk = do(newsletter("Jane <jane@store.example>", when=day(5), esp="none", dkim="store.example",
                       return_path="b@store.example"), ledger(c))
    assert lk is None


def test_window_and_order():
    led = ledger(jane())
    assert do(newsletter("Acme <news@acme.io>", when=day(181)), led) is None
    assert do(newsletter("Acme <news@acme.io>", when=day(-1)), led) is None


def test_strongest_link_wins():
    led = ledger(jane(), make_contact("tom@acme.io", "Tom", day(1), PERSONAL))
    lk = do(newsletter("Tom <tom@acme.io>", when=day(5)), led)
    assert lk.contact.email == "tom@acme.io" and lk.kind == "same address"
