"""New sender -> recent contact, with the evidence. Pure over (message, ledger).

Evidence, strongest first (see :data:`STRENGTH`):

- ``same address``: From (or a platform-encoded From such as ``marco=corvid.dev@beehiiv.com``) is
  the contact's address;
- ``reply-to``: Reply-To is the contact's address;
- ``same organisation``: From, Reply-To, DKIM ``d=``, Return-Path or List-Unsubscribe is at the
  contact's organisation (registrable domain; never freemail; never a bulk-mail platform); for an
  imported contact known only by company name, a domain whose name is that company
  (brightloop.ai for "Bright Loop");
- ``signature``: one of those domains is one the contact's signature or links named;
- ``name``: the display name is the contact's full name, or first name *and* organisation
  ("Priya from Brightloop" for Priya Patel whose signature names brightloop.ai), or the organisation
  alone ("Brightloop") when the contact's organisation is known. A first name alone never links.
  A full name shared by contacts of different organisations links only the one whose organisation
  the message names; otherwise none of them (ambiguous).

A link to a social contact (made from a network's notification, see :mod:`mailguard.social`) says so
and names the notification: "via social contact (GitHub follow): Jane Doe followed you on GitHub on
2026-10-03".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .contacts import Contact, Ledger
from .identity import (
    dkim_domains,
    first_name,
    list_unsubscribe_domains,
    org_domain,
    org_name_of_domain,
    platform_encoded_address,
    return_path_domain,
    split_display_name,
)
from .parse import ParsedMessage
from .social import link_evidence

SAME_ADDRESS = "same address"
REPLY_TO = "reply-to"
SAME_ORG = "same organisation"
SIGNATURE = "signature"
NAME = "name"

STRENGTH = {SAME_ADDRESS: 5, REPLY_TO: 4, SAME_ORG: 3, SIGNATURE: 2, NAME: 1}


@dataclass(frozen=True, slots=True)
class Link:
    """A message tied to a contact: how (``kind``) and the evidence, in words."""

    contact: Contact
    kind: str
    evidence: tuple[str, ...]

    @property
    def strength(self) -> int:
        return STRENGTH[self.kind]


def _fmt_date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d")


def message_org_domains(msg: ParsedMessage) -> dict[str, str]:
    """Organisation domains a message speaks for -> which header said so."""
    found: dict[str, str] = {}

    def put(domain: str, where: str) -> None:
        org = org_domain(domain) if domain else None
        if org and org not in found:
            found[org] = where

    if msg.sender:
        put(msg.sender.domain, "From")
        enc = platform_encoded_address(msg.sender)
        if enc:
            put(enc.rpartition("@")[2], "From (via platform)")
    for a in msg.reply_to:
        put(a.domain, "Reply-To")
    for d in dkim_domains(msg):
        put(d, "DKIM d=")
    put(return_path_domain(msg), "Return-Path")
    for d in list_unsubscribe_domains(msg):
        put(d, "List-Unsubscribe")
    return found


def candidates(msg: ParsedMessage, ledger: Ledger) -> list[Link]:
    """Every link from this message to a contact in the ledger (no window applied)."""
    links: list[Link] = []
    if msg.sender is None:
        return links
    sender = msg.sender
    seen: set[tuple[str, str]] = set()

    def add(email: str, kind: str, *evidence: str) -> None:
        c = ledger.get(email)
        if c is None or (c.email, kind) in seen:
            return
        seen.add((c.email, kind))
        links.append(Link(c, kind, evidence))

    add(sender.email, SAME_ADDRESS, f"From {sender.email} is the contact's address")
    enc = platform_encoded_address(sender)
    if enc:
        add(enc, SAME_ADDRESS, f"From {sender.email} is {enc} sent through a bulk-mail platform")
    for a in msg.reply_to:
        add(a.email, REPLY_TO, f"Reply-To {a.email} is the contact's address")

    for org, where in message_org_domains(msg).items():
        for email in ledger.by_org.get(org, ()):
            c = ledger.get(email)
            if c is None:
                continue
            if c.org_domain == org:
                add(email, SAME_ORG, f"{where} domain {org} is {c.email}'s organisation")
            else:
                named_in = (f"the {c.network} notification about {c.name}" if c.source == "social"
                            else f"{c.email}'s signature or links")
                add(email, SIGNATURE, f"{where} domain {org} was named in {named_in}")
        # an imported contact known by company name only (LinkedIn hides most addresses)
        for email in ledger.by_org_name.get(org_name_of_domain(org), ()):
            c = ledger.get(email)
            if c is not None and c.source == "import" and c.org_domain is None and c.org_name:
                add(email, SAME_ORG, f"{where} domain {org} is the company of {c.name or c.email} "
                                     f"(imported contact, company \"{c.org_name}\")")

    names = [sender.name] + [a.name for a in msg.reply_to if a.name]
    msg_orgs = {org_name_of_domain(d) for d in message_org_domains(msg)}
    for name in names:
        parts = split_display_name(name)
        if parts.person and " " in parts.person:
            for email in same_name(ledger, parts.person, {parts.org, *msg_orgs}):
                add(email, NAME, f'display name "{name}" is the contact\'s name')
        if parts.org:
            for email in ledger.by_org_name.get(parts.org, ()):
                c = ledger.get(email)
                if c is None:
                    continue
                if parts.person and first_name(parts.person) == first_name(c.person):
                    add(email, NAME, f'display name "{name}" is {c.name or c.email} of {parts.org}')
                elif not parts.person or parts.person == parts.org:
                    add(email, NAME, f'display name "{name}" is {c.email}\'s organisation')
        # "Priya" from a domain whose name is the contact's organisation
        if parts.person and " " not in parts.person:
            for org in msg_orgs:
                for email in ledger.by_org_name.get(org, ()):
                    c = ledger.get(email)
                    if c and first_name(c.person) == parts.person:
                        add(email, NAME, f'display name "{name}" at {org} is {c.name or c.email}')
    return links


def same_name(ledger: Ledger, person: str, orgs: set[str]) -> list[str]:
    """Contacts with this full name that the message can mean: those whose organisation it names,
    else all of them when they may be one person (no two of them tied to different organisations),
    else none: two people share the name and the message does not say which."""
    found = [c for c in (ledger.get(e) for e in sorted(ledger.by_person.get(person, ()))) if c]
    if len(found) <= 1:
        return [c.email for c in found]
    named = [c for c in found if c.org_names() & orgs]
    if named:
        return [c.email for c in named]
    tied = [c.org_names() for c in found if c.org_names()]
    if any(not (a & b) for i, a in enumerate(tied) for b in tied[i + 1:]):
        return []
    return [c.email for c in found]


def ranked_links(msg: ParsedMessage, ledger: Ledger, *, at: datetime,
                 window: timedelta) -> list[Link]:
    """One link per contact made within ``window`` before ``at``, best first.

    A contact's strongest evidence counts, and more kinds of evidence beat fewer; between equals,
    the contact made first wins: the person the user met is the cause, not a colleague who wrote
    later. Each link's evidence ends with how and when the contact was made."""
    per_contact: dict[str, list[Link]] = {}
    for cand in candidates(msg, ledger):
        if at - window <= cand.contact.since <= at:
            per_contact.setdefault(cand.contact.email, []).append(cand)
    ranked = []
    for cands in per_contact.values():
        top = max(cands, key=lambda c: c.strength)
        ranked.append(((top.strength, len(cands), -top.contact.since.timestamp()), top))
    ranked.sort(key=lambda k: k[0], reverse=True)
    out = []
    for _, best in ranked:
        c = best.contact
        how = f"contact since {_fmt_date(c.since)} ({c.how}"
        how += f': "{c.subject}")' if c.subject else ")"
        if c.source == "social":
            how = link_evidence(c)
        out.append(Link(c, best.kind, best.evidence + (how,)))
    return out


def link(msg: ParsedMessage, ledger: Ledger, *, at: datetime, window: timedelta) -> Link | None:
    """The best link (see :func:`ranked_links`), or None."""
    ranked = ranked_links(msg, ledger, at=at, window=window)
    return ranked[0] if ranked else None


def expired_links(msg: ParsedMessage, ledger: Ledger, *, at: datetime,
                  window: timedelta) -> list[Link]:
    """Links that exist but fall outside the window (for the reasons of a keep)."""
    return [c for c in candidates(msg, ledger) if not (at - window <= c.contact.since <= at)]
