"""Social notifications: the parsers on each network's mail, the network's own marketing, digests,
names shared by two people, a config-defined network, and the "notification, then the company
newsletter" sequence through the real Pipeline and shipped model."""

from __future__ import annotations

import importlib.util
import os
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailguard import models_io

from mailguard.core import classify
from mailguard.config import load_config
from mailguard.core.contacts import Ledger, make_contact
from mailguard.errors import ConfigError
from mailguard.core.linker import COMPANY, NAME, SIGNATURE, link
from mailguard.core.parse import parse_message
from mailguard.pipeline import Pipeline
from mailguard.core.rules import KEEP, MOVE, Policy
from mailguard.core.social import (
    builtin_networks,
    load_networks,
    network_from_dict,
    network_of,
    parse_notification,
    social_contact,
)
from mailguard.store import Store

DATA = Path(__file__).parent / "data" / "social"
ROOT = Path(__file__).resolve().parents[1]
ME = "sam@rivera.dev"


def eml(name: str):
    return parse_message((DATA / f"{name}.eml").read_bytes())


def raw_mail(sender: str, subject: str, body: str, *, date_: str = "Tue, 06 Oct 2026 10:00:00 +0000",
             extra: str = "") -> bytes:
    return (f"From: {sender}\nTo: Sam Rivera <{ME}>\nSubject: {subject}\nDate: {date_}\n"
            f"Message-ID: <{abs(hash((sender, subject)))}@test>\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}").encode()


@pytest.fixture(scope="module")
def model() -> classify.PromoModel:
    # the shipped model; MAILGUARD_MODEL overrides it as it does for the CLI
    override = os.environ.get("MAILGUARD_MODEL")
    return models_io.load(Path(override) if override else None)


@pytest.fixture()
def policy(model: classify.PromoModel) -> Policy:
    return Policy(me=frozenset({ME}), promo_threshold=model.threshold)


# -- each parser on its sample -------------------------------------------------------------

NOTIFICATIONS = {
    # file: (network, kind, name, handle, organisation, domains, key)
    "linkedin-invitation": ("LinkedIn", "wants to connect", "Lena Okafor", "lena-okafor-4b7a1c", "Quillstack",
                            set(), "social:linkedin/lena-okafor-4b7a1c"),
    "linkedin-accepted": ("LinkedIn", "accepted your invitation", "Marco Bellini", "marco-bellini-vr",
                          "Vantage Ridge Capital", set(), "social:linkedin/marco-bellini-vr"),
    "x-follow": ("X", "followed you", "Alex Chen", "alexchen_ferrow", "Ferrow", {"ferrow.io"},
                 "social:x/alexchen_ferrow"),
    "mastodon-follow": ("Mastodon", "followed you", "Alex Chen", "alexc@hachyderm.io", "Pinecrest", set(),
                        "social:mastodon/hachyderm.io/alexc"),
    "github-follow": ("GitHub", "followed you", "Tomás Reyes", "treyes", "Driftwood Labs", {"driftwood.dev"},
                      "social:github/treyes"),
    "bluesky-follow": ("Bluesky", "followed you", "Ines Kowalski", "ines.loomwork.io", "Loomwork",
                       {"loomwork.io"}, "social:bluesky/ines.loomwork.io"),
    "meetup-rsvp": ("Meetup", "registered for your event", "Kwame Mensah", "312345678", "Tallyhive", set(),
                    "social:meetup/312345678"),
    "eventbrite-order": ("Eventbrite", "registered for your event", "Hana Sato", "", "Orbitfield",
                         {"orbitfield.com"}, "social:eventbrite/hana-sato+orbitfield"),
    "luma-registration": ("Luma", "registered for your event", "Noor Haddad", "usr-qm4xt9aa", "Saltmarsh",
                          {"saltmarsh.studio"}, "social:luma/usr-qm4xt9aa"),
}


@pytest.mark.parametrize("name", sorted(NOTIFICATIONS))
def test_parser_on_each_network(name: str) -> None:
    network, kind, person, handle, org, domains, key = NOTIFICATIONS[name]
    msg = eml(name)
    ev = parse_notification(msg)
    assert ev is not None
    assert (ev.network, ev.kind, ev.name, ev.handle, ev.organisation) == (network, kind, person, handle, org)
    assert set(ev.domains) == domains
    assert ev.key == key
    assert ev.date == msg.date
    assert ev.message_id == msg.message_id


@pytest.mark.parametrize("name", sorted(NOTIFICATIONS))
def test_parser_on_html_only(name: str) -> None:
    """Many notifications come as HTML only: the same person comes out of the HTML part."""
    msg = replace(eml(name), text="")
    ev = parse_notification(msg)
    assert ev is not None
    assert ev.key == NOTIFICATIONS[name][6]
    assert ev.organisation == NOTIFICATIONS[name][4]


def test_profile_url_is_the_persons_not_the_recipients() -> None:
    # the LinkedIn header links the recipient's own profile first
    ev = parse_notification(eml("linkedin-invitation"))
    assert ev is not None
    assert ev.profile_url == "https://www.linkedin.com/comm/in/lena-okafor-4b7a1c"
    assert ev.headline == "Founder at Quillstack | Writing tools for research teams"


def test_social_contact_from_event() -> None:
    ev = parse_notification(eml("github-follow"))
    assert ev is not None
    c = social_contact(ev, ev.date)
    assert (c.email, c.name, c.source, c.network, c.handle) == (
        "social:github/treyes", "Tomás Reyes", "social", "GitHub", "treyes")
    assert c.how == "followed you on GitHub"
    assert c.org_domain is None
    assert c.org_name == "Driftwood Labs" and "driftwood" in c.org_names()
    assert c.named_domains == {"driftwood.dev"}


# -- not contacts: the network's own mail, digests, impostors -------------------------------


@pytest.mark.parametrize("name", ["linkedin-own-promo", "x-own-promo", "github-own-promo", "meetup-own-promo",
                                  "eventbrite-own-promo", "luma-own-promo", "linkedin-post-by-contact"])
def test_network_own_mail_is_no_contact(name: str) -> None:
    msg = eml(name)
    assert parse_notification(msg) is None
    assert network_of(msg, builtin_networks()) is not None  # ... but it is the network speaking


@pytest.mark.parametrize("name", ["linkedin-digest", "mastodon-digest", "meetup-digest"])
def test_digest_makes_nobody_a_contact(name: str) -> None:
    assert parse_notification(eml(name)) is None


@pytest.mark.parametrize("subject", [
    "Jane Doe and 3 others followed you",
    "Jane Doe (@janedoe) and 4 others followed you",
    "You have 5 new followers",
])
def test_digest_subjects(subject: str) -> None:
    msg = parse_message(raw_mail("X <notify@x.com>", subject, "Jane Doe\n@janedoe\nhttps://x.com/janedoe\n"))
    assert parse_notification(msg) is None


def test_digest_body_listing_many_profiles() -> None:
    body = "Jane Doe (@janedoe) started following you.\n" + "".join(
        f"https://github.com/user{i}\n" for i in range(6))
    msg = parse_message(raw_mail("GitHub <noreply@github.com>", "[GitHub] Jane Doe (@janedoe) started following you",
                                 body))
    assert parse_notification(msg) is None


def test_labelled_registrations_listing_many_people() -> None:
    body = "Name: Jane Doe\nEmail: jane@acme.io\n\nName: Ravi Iyer\nEmail: ravi@brambleworks.com\n"
    msg = parse_message(raw_mail("Eventbrite <noreply@order.eventbrite.com>", "New Order for Launch Night", body))
    assert parse_notification(msg) is None


def test_personal_mail_from_a_network_employee_is_not_network_mail() -> None:
    msg = parse_message(raw_mail("Jane Doe <jdoe@linkedin.com>", "Jane Doe wants to connect", "Hi Sam, coffee?"))
    assert network_of(msg, builtin_networks()) is None
    assert parse_notification(msg) is None


def test_spoofed_network_sender_is_not_believed() -> None:
    extra = "DKIM-Signature: v=1; a=rsa-sha256; d=cheap-leads.example; s=k1; b=abc\n"
    msg = parse_message(raw_mail("GitHub <noreply@github.com>", "[GitHub] Jane Doe (@janedoe) started following you",
                                 "Jane Doe\njanedoe\nhttps://github.com/janedoe\n", extra=extra))
    assert parse_notification(msg) is None


def test_notifications_at_any_domain_need_a_fediverse_profile() -> None:
    # "notifications@" of a shop is not Mastodon, even when its subject looks like one
    msg = parse_message(raw_mail("Acme <notifications@acme.io>", "Jane Doe followed you",
                                 "Jane Doe followed your wishlist. https://acme.io/wishlist/123\n"))
    assert network_of(msg, builtin_networks()) is None
    assert parse_notification(msg) is None


@pytest.mark.parametrize("subject", ["You registered for AI Founders Dinner", "Someone registered for Demo Day",
                                     "3 people registered for Demo Day", "LinkedIn registered for Demo Day"])
def test_not_a_persons_name(subject: str) -> None:
    msg = parse_message(raw_mail("Luma <notifications@calendar.luma-mail.com>", subject, "See the guest list.\n"))
    assert parse_notification(msg) is None


def test_x_new_follower_with_name_in_body() -> None:
    body = "You have a new follower!\n\nJane Doe\n@janedoe\nFounder @acmehq. acme.io\nhttps://x.com/janedoe\n"
    ev = parse_notification(parse_message(raw_mail("X <notify@x.com>", "You have a new follower!", body)))
    assert ev is not None
    assert (ev.name, ev.handle, ev.organisation, set(ev.domains)) == ("Jane Doe", "janedoe", "acmehq", {"acme.io"})


def test_headline_without_role_at_org_gives_no_organisation() -> None:
    body = "Jane Doe (@jane.bsky.social) followed you on Bluesky\nSmiling at People and Things. Freelance.\n"
    ev = parse_notification(parse_message(raw_mail("Bluesky <notifications@bsky.app>",
                                                   "Jane Doe (@jane.bsky.social) followed you", body)))
    assert ev is not None
    assert ev.headline.startswith("Smiling at People")
    assert ev.organisation == ""
    assert ev.domains == frozenset()  # a *.bsky.social handle names no organisation


# -- linking: shared names and first names ---------------------------------------------------


def _social(name: str, key: str, org: str, domains: set[str], network: str = "X",
            since: datetime = datetime(2026, 10, 1, tzinfo=timezone.utc)):
    c = make_contact(email=key, name=name, since=since, how=f"followed you on {network}", source="social",
                     network=network, handle=key.rpartition("/")[2], named_domains=domains)
    return replace(c, org_name=org)


AT = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW = timedelta(days=180)


def _newsletter(sender: str) -> bytes:
    return raw_mail(sender, "30% off this week", "Big sale!\nUnsubscribe: https://example.com/u\n",
                    date_="Sun, 01 Nov 2026 09:00:00 +0000")


def test_name_shared_by_two_people_org_decides() -> None:
    ledger = Ledger([_social("Alex Chen", "social:x/alexchen", "ferrow", {"ferrow.io"}),
                     _social("Alex Chen", "social:mastodon/hachyderm.io/alexc", "pinecrest", set(), "Mastodon",
                             since=datetime(2026, 10, 5, tzinfo=timezone.utc))])
    lnk = link(parse_message(_newsletter("Alex Chen <alex@ferrow.io>")), ledger, at=AT, window=WINDOW)
    assert lnk is not None and lnk.contact.email == "social:x/alexchen" and lnk.kind == SIGNATURE
    # organisation by name only (no domain in the profile): still the right Alex
    lnk = link(parse_message(_newsletter("Alex Chen <news@pinecrest.com>")), ledger, at=AT, window=WINDOW)
    assert lnk is not None and lnk.contact.email == "social:mastodon/hachyderm.io/alexc" and lnk.kind == COMPANY


def test_name_shared_by_two_people_ambiguous_is_no_link() -> None:
    ledger = Ledger([_social("Alex Chen", "social:x/alexchen", "ferrow", {"ferrow.io"}),
                     _social("Alex Chen", "social:mastodon/hachyderm.io/alexc", "pinecrest", set(), "Mastodon")])
    assert link(parse_message(_newsletter("Alex Chen <hello@alexchen.coach>")), ledger, at=AT, window=WINDOW) is None


def test_same_person_on_two_networks_still_links() -> None:
    # the same Alex Chen on X and on LinkedIn (same organisation, or none known): one person
    ledger = Ledger([_social("Alex Chen", "social:x/alexchen", "ferrow", set()),
                     _social("Alex Chen", "social:linkedin/alex-chen-1", "", set(), "LinkedIn")])
    lnk = link(parse_message(_newsletter("Alex Chen <hello@alexchen.coach>")), ledger, at=AT, window=WINDOW)
    assert lnk is not None and lnk.kind == NAME


def test_common_first_name_alone_never_links() -> None:
    ledger = Ledger([_social("Hana Sato", "social:eventbrite/hana-sato+orbitfield", "orbitfield",
                             {"orbitfield.com"}, "Eventbrite"),
                     _social("Jane", "social:x/jane", "", set())])
    for sender in ("Hana <deals@shopdrop.com>", "Jane <hello@shopdrop.com>", "Jane Smith <jane@shopdrop.com>"):
        assert link(parse_message(_newsletter(sender)), ledger, at=AT, window=WINDOW) is None, sender
    # ... first name *and* the organisation do
    lnk = link(parse_message(_newsletter("Hana from Orbitfield <news@orbitfield.com>")), ledger, at=AT,
               window=WINDOW)
    assert lnk is not None and lnk.contact.email == "social:eventbrite/hana-sato+orbitfield"


def test_link_evidence_names_the_notification() -> None:
    ledger = Ledger([_social("Tomás Reyes", "social:github/treyes", "driftwood", {"driftwood.dev"}, "GitHub")])
    lnk = link(parse_message(_newsletter("Driftwood <hello@driftwood.dev>")), ledger, at=AT, window=WINDOW)
    assert lnk is not None
    text = " | ".join(lnk.evidence)
    assert "via social contact (GitHub follow)" in text
    assert "followed you on GitHub on 2026-10-01" in text
    assert "GitHub notification about Tomás Reyes" in text


# -- through the real pipeline ---------------------------------------------------------------


def test_notification_then_company_newsletter(model, policy, tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        pipe = Pipeline(model, policy, store, source="test")
        raws = [(DATA / f"{n}.eml").read_bytes()
                for n in ("github-follow", "github-own-promo", "github-follow-then-newsletter")]
        follow, promo, newsletter = pipe.process(raws)
        assert follow.action == KEEP and follow.linked_contact is None
        assert follow.learned == ("new social contact: Tomás Reyes (followed you on GitHub on 7 Oct 2026)",)
        assert "GitHub notification: Tomás Reyes followed you on GitHub" in follow.reasons[0]
        assert promo.action == KEEP and promo.linked_contact is None and not promo.learned
        assert newsletter.action == MOVE
        assert newsletter.linked_contact == "social:github/treyes"
        reasons = " | ".join(newsletter.reasons)
        assert "followed you on GitHub on 2026-10-07" in reasons
        assert "via social contact (GitHub follow)" in reasons
        pipe.finish()
        stored = {c.email: c for c in store.load_contacts()}
    c = stored["social:github/treyes"]
    assert (c.source, c.network, c.handle, c.name) == ("social", "GitHub", "treyes", "Tomás Reyes")
    assert c.named_domains == {"driftwood.dev"}


def test_network_relaying_the_contacts_name_is_not_linked(model, policy) -> None:
    pipe = Pipeline(model, policy)
    invite, post = pipe.process([(DATA / "linkedin-invitation.eml").read_bytes(),
                                 (DATA / "linkedin-post-by-contact.eml").read_bytes()])
    assert invite.learned and post.action == KEEP and post.linked_contact is None
    assert "the network's own mail is not linked" in post.reasons[0]
    assert len(pipe.ledger) == 1


def _load_samples_module():
    spec = importlib.util.spec_from_file_location("social_samples", ROOT / "scripts" / "social_samples.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sample_generator_truth_holds(model, policy) -> None:
    samples = _load_samples_module().social_messages(random.Random(3), date(2027, 2, 1), ME)
    assert len({t["message_id"] for _, t in samples}) == len(samples)
    pipe = Pipeline(model, policy)
    decisions = pipe.process([raw for raw, _ in samples])
    wrong = [(t["case"], d.action, d.linked_contact) for d, (_, t) in zip(decisions, samples, strict=True)
             if (d.action, d.linked_contact) != (t["expected"], t["contact"])]
    assert wrong == []
    learned = {c.email for c in pipe.ledger}
    assert learned == {t["learns"] for _, t in samples if t["learns"]}
    for d in decisions:
        if d.action == MOVE:
            assert any("via social contact" in r for r in d.reasons)


# -- networks from config --------------------------------------------------------------------

POLYWORK_TOML = r'''
[[social.networks]]
name = "Polywork"
senders = ["notifications@polywork.com"]
profile = 'https://www\.polywork\.com/(?P<handle>[a-z0-9_]+)'
fields = ['^{name}\n(?P<headline>[^\n]+)$']

[[social.networks.events]]
kind = "followed you"
subject = '^(?P<name>.+?) followed you on Polywork$'

[[social.networks]]
name = "Meetup"
enabled = false
'''


def test_config_defined_network(tmp_path: Path, model, policy) -> None:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(POLYWORK_TOML)
    cfg = load_config(cfg_path, env={"MAILGUARD_HOME": str(tmp_path)})
    table = load_networks(cfg.raw)
    assert "polywork" in {n.key for n in table} and "meetup" not in {n.key for n in table}
    raw = raw_mail("Polywork <notifications@polywork.com>", "Jane Doe followed you on Polywork",
                   "Jane Doe\nFounder at Acme\nhttps://www.polywork.com/janedoe\n")
    ev = parse_notification(parse_message(raw), table)
    assert ev is not None
    assert (ev.network, ev.key, ev.organisation) == ("Polywork", "social:polywork/janedoe", "Acme")
    # unknown to the built-in table: degrades to nothing
    assert parse_notification(parse_message(raw)) is None
    # the pipeline takes the table
    d = Pipeline(model, policy, social=table).process([raw])[0]
    assert d.learned == ("new social contact: Jane Doe (followed you on Polywork on 6 Oct 2026)",)


@pytest.mark.parametrize("entry, message", [
    ({"name": "Bad", "senders": ["x@y.z"], "events": [{"kind": "followed you", "subject": "(unclosed"}]},
     "bad regular expression"),
    ({"name": "Bad", "senders": ["x@y.z"], "events": [{"kind": "followed you", "subject": "(?P<person>.+)"}]},
     "unknown group"),
    ({"name": "Bad", "senders": ["not-an-address"], "events": [{"kind": "k", "subject": "x"}]}, "senders"),
    ({"name": "Bad", "senders": ["x@y.z"], "events": []}, "events"),
    ({"name": "Bad", "senders": ["x@y.z"], "events": [{"kind": "k"}]}, "subject"),
    ({"name": "Bad", "sender": ["x@y.z"], "events": [{"kind": "k", "subject": "x"}]}, "unknown key"),
])
def test_config_network_errors(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        network_from_dict(entry)
