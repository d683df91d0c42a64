"""New sender -> recent contact, with evidence of a stated strength. Pure over (message, ledger).

Each way of tying a sender to a contact is a small named :class:`LinkRule` in :data:`LINK_RULES`,
with its strength; ``mailguard rules`` lists them and ``[links] name = false`` switches one off.

==================  ========  ===================================================================
rule                strength  evidence
==================  ========  ===================================================================
same-address        strong    From is the contact's address
reply-to            strong    Reply-To is the contact's address
platform-identity   strong    From is the contact's address encoded by a bulk-mail platform
                              (``marco=corvid.dev@mail.beehiiv.com``)
platform-name       medium    From is on a bulk-mail platform under the contact's name
                              (``janedoe@substack.com`` for Jane Doe)
organisation        medium    From, Reply-To, DKIM d=, Return-Path or List-Unsubscribe is at the
                              contact's organisation, when that organisation can link (see below)
signature           medium    one of those domains is one the contact's signature block (or social
                              profile) named
company-name        medium    an imported or social contact known by company name only, and a
                              domain whose name is that company (cobaltai.ai for "Cobalt AI")
earlier-link        medium    the same sender address was tied to the contact before, on medium
                              or strong evidence (the next issue of a newsletter)
display-name        weak      the display name is the contact's full name, or names the contact's
                              organisation; two such (name and organisation) corroborate to medium
==================  ========  ===================================================================

An organisation domain links only a *small* organisation (:func:`mailguard.core.orgs.classify_domain`):
never freemail, a university, a government body, a platform operator, the user's own
organisation, or one from which the mailbox has seen many departments or people. A rule that would
have linked through such a domain records a **veto** instead ("not linked: google.com is a large
organisation ..."), and the decision's reasons say so.

A link's strength is its strongest evidence. The rules layer moves only on strong or medium links;
a weak link (a display name alone) never moves a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .contacts import Contact, Ledger
from .identity import (
    dkim_domains,
    esp_of_domain,
    first_name,
    list_unsubscribe_domains,
    org_domain,
    org_name_keys,
    platform_encoded_address,
    return_path_domain,
    split_display_name,
)
from .identity import signature_block, signature_domains
from .orgs import OrgEvidence, OrgVerdict, classify_domain
from .parse import ParsedMessage
from .sequences import link_hosts
from .social import link_evidence

STRONG, MEDIUM, WEAK = 3, 2, 1
STRENGTH_NAMES = {STRONG: "strong", MEDIUM: "medium", WEAK: "weak"}

# link kinds as decisions and review show them
SAME_ADDRESS = "same address"
REPLY_TO = "reply-to"
PLATFORM = "platform identity"
SAME_ORG = "same organisation"
SIGNATURE = "signature"
COMPANY = "company name"
NAME = "name"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One rule's finding: this message points at this contact."""

    rule: str
    kind: str
    strength: int
    email: str
    text: str


@dataclass(frozen=True, slots=True)
class Veto:
    """A rule that would have linked, and why it did not."""

    rule: str
    email: str
    text: str


@dataclass
class LinkContext:
    """What the rules may look at besides the message: the ledger, the user's own organisations,
    the mailbox's evidence about an organisation's size, and the rules switched off."""

    ledger: Ledger
    own_orgs: frozenset[str] = frozenset()
    org_evidence: Callable[[str], OrgEvidence] | None = None
    disabled: frozenset[str] = frozenset()
    #: sender address -> (contact, when) it was linked to earlier on medium or strong evidence
    earlier_link: Callable[[str], tuple[str, str] | None] | None = None
    #: message_org_domains of the message, when the caller worked it out already (one context
    #: per message)
    orgs: dict[str, str] | None = None
    _verdicts: dict[str, OrgVerdict] = field(default_factory=dict)
    _named: tuple[frozenset[str], frozenset[str]] | None = None

    def verdict(self, domain: str) -> OrgVerdict:
        v = self._verdicts.get(domain)  # within one message: the evidence does not change
        if v is None:
            ev = self.org_evidence(domain) if self.org_evidence else None
            v = classify_domain(domain, own=self.own_orgs, evidence=ev)
            self._verdicts[domain] = v
        return v


Finding = Evidence | Veto


@dataclass(frozen=True, slots=True)
class LinkRule:
    """A named way of tying a message to contacts."""

    name: str
    strength: int
    doc: str
    find: Callable[[ParsedMessage, LinkContext], Iterable[Finding]]


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


def _orgs(msg: ParsedMessage, ctx: LinkContext) -> dict[str, str]:
    return message_org_domains(msg) if ctx.orgs is None else ctx.orgs


# -- the rules -----------------------------------------------------------------------------


def _same_address(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    if msg.sender and msg.sender.email in ctx.ledger:
        yield Evidence("same-address", SAME_ADDRESS, STRONG, msg.sender.email,
                       f"From {msg.sender.email} is the contact's address")


def _reply_to(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    for a in msg.reply_to:
        if a.email in ctx.ledger:
            yield Evidence("reply-to", REPLY_TO, STRONG, a.email, f"Reply-To {a.email} is the contact's address")


def _platform_identity(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    enc = platform_encoded_address(msg.sender) if msg.sender else None
    if enc and enc in ctx.ledger:
        yield Evidence("platform-identity", PLATFORM, STRONG, enc,
                       f"From {msg.sender.email} is {enc} sent through a bulk-mail platform")  # type: ignore[union-attr]


def _platform_name(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    if msg.sender is None or not esp_of_domain(msg.sender.domain):
        return
    local = msg.sender.email.partition("@")[0]
    for email in sorted(ctx.ledger.by_slug.get(local, ())):
        c = ctx.ledger.get(email)
        if c is not None and c.source == "mail":
            yield Evidence("platform-name", PLATFORM, MEDIUM, c.email,
                           f"From {msg.sender.email} is {c.name or c.email}'s name on a bulk-mail platform")


def _organisation(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    for org, where in _orgs(msg, ctx).items():
        emails = [e for e in sorted(ctx.ledger.by_org.get(org, ()))  # a set: sorted, the same every run
                  if (c := ctx.ledger.get(e)) and c.org_domain == org]
        if not emails:
            continue
        v = ctx.verdict(org)
        for email in emails:
            if v.links:
                yield Evidence("organisation", SAME_ORG, MEDIUM, email,
                               f"{where} domain {org} is {email}'s organisation")
            else:
                yield Veto("organisation", email, f"not linked by organisation: {v.why}")


def _signature(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    for org, where in _orgs(msg, ctx).items():
        emails = [e for e in sorted(ctx.ledger.by_org.get(org, ()))  # a set: sorted, the same every run
                  if (c := ctx.ledger.get(e)) and c.org_domain != org and org in c.named_domains]
        if not emails:
            continue
        v = ctx.verdict(org)
        for email in emails:
            c = ctx.ledger.get(email)
            assert c is not None
            named_in = (f"the {c.network} notification about {c.name}" if c.source == "social"
                        else f"{c.email}'s signature")
            if v.links:
                yield Evidence("signature", SIGNATURE, MEDIUM, email, f"{where} domain {org} was named in {named_in}")
            else:
                yield Veto("signature", email, f"not linked by {named_in}: {v.why}")


def _company_name(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    for org, where in _orgs(msg, ctx).items():
        keys = org_name_keys(org.split(".")[0])
        emails = {e for k in keys for e in ctx.ledger.by_org_name.get(k, ())}
        for email in sorted(emails):
            c = ctx.ledger.get(email)
            if c is None or c.source not in ("import", "social") or not c.org_name:
                continue
            if c.org_domain is not None and c.org_domain == org:
                continue  # the organisation rule speaks for it
            v = ctx.verdict(org)
            who = c.name or c.email
            if v.links:
                yield Evidence("company-name", COMPANY, MEDIUM, email,
                               f"{where} domain {org} is the company of {who} ({c.source} contact, "
                               f"company \"{c.org_name}\")")
            else:
                yield Veto("company-name", email, f"not linked by {who}'s company: {v.why}")


def _display_name(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    """A full name, or a first name *with* the organisation ("Priya from Brightloop"); the
    organisation's name alone ("Brightloop") is evidence too. A first name alone never is."""
    if msg.sender is None:
        return
    ledger = ctx.ledger
    names = [msg.sender.name] + [a.name for a in msg.reply_to if a.name]
    for name in names:
        parts = split_display_name(name)
        people: set[str] = set()
        if parts.person and " " in parts.person:
            people |= set(same_name(ledger, parts.person, _message_org_names(msg, parts.org, ctx)))
        orgs: set[str] = set()
        if parts.org:
            orgs = {e for k in org_name_keys(parts.org) for e in ledger.by_org_name.get(k, ())}
            if parts.person and " " not in parts.person:
                people |= {e for e in orgs if (c := ledger.get(e)) and c.person
                           and first_name(c.person) == parts.person}
        for email in sorted(people):
            c = ledger.get(email)
            corroboration = _names_contacts_org(msg, ctx, c) if c else None
            if corroboration:
                yield Evidence("display-name", NAME, WEAK, email + "\0org", corroboration)
            who = (c.name or email) if c else email
            text = (f'display name "{name}" is {who} of {parts.org}' if " " not in parts.person
                    else f'display name "{name}" is the contact\'s name')
            yield Evidence("display-name", NAME, WEAK, email, text)
        for email in sorted(orgs):
            c = ledger.get(email)
            v = ctx.verdict(c.org_domain) if c is not None and c.org_domain else None
            if v is not None and not v.links:
                yield Veto("display-name", email, f"not linked by the organisation's name: {v.why}")
                continue
            yield Evidence("display-name", NAME, WEAK, email + "\0org",
                           f'display name "{name}" names {email}\'s organisation')


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


def _message_org_names(msg: ParsedMessage, display_org: str, ctx: LinkContext | None = None
                       ) -> set[str]:
    keys: set[str] = set(org_name_keys(display_org)) if display_org else set()
    for d in (message_org_domains(msg) if ctx is None else _orgs(msg, ctx)):
        keys |= org_name_keys(d.split(".")[0])
    return keys


def _named_orgs(msg: ParsedMessage) -> tuple[frozenset[str], frozenset[str]]:
    """Organisation domains a message's links and signature name, and the organisation-name keys of
    its signature block's lines."""
    domains = {org_domain(h) for h in link_hosts(msg)} | set(signature_domains(msg))
    block = signature_block(msg.text or "", msg.sender.name if msg.sender else "")
    names: set[str] = set()
    for line in block.splitlines()[1:6]:
        if 2 < len(line.strip()) <= 60:
            names |= org_name_keys(line)
    return frozenset(d for d in domains if d), frozenset(names)


def _names_contacts_org(msg: ParsedMessage, ctx: LinkContext, c: Contact) -> str | None:
    """Does the message (its links, its signature) name the contact's organisation, one that can
    link? That corroborates a name."""
    if ctx._named is None:
        ctx._named = _named_orgs(msg)
    domains, names = ctx._named
    for d in sorted(domains & c.orgs()):
        if ctx.verdict(d).links:
            return f"the message links or signs with {d}, {c.name or c.email}'s organisation"
    if c.org_domain is None or ctx.verdict(c.org_domain).links:
        hit = names & c.org_names()
        if hit:
            return f"the message's signature names {c.name or c.email}'s organisation"
    return None


def _earlier_link(msg: ParsedMessage, ctx: LinkContext) -> Iterable[Finding]:
    if msg.sender is None or ctx.earlier_link is None:
        return
    got = ctx.earlier_link(msg.sender.email)
    if got and got[0] in ctx.ledger and got[0] != msg.sender.email:
        yield Evidence("earlier-link", got[2] if len(got) > 2 else SAME_ORG, MEDIUM, got[0],
                       f"From {msg.sender.email} was tied to {got[0]} before ({got[1]})")


LINK_RULES: tuple[LinkRule, ...] = (
    LinkRule("same-address", STRONG, "From is the contact's address", _same_address),
    LinkRule("reply-to", STRONG, "Reply-To is the contact's address", _reply_to),
    LinkRule("platform-identity", STRONG,
             "From is the contact's address encoded by a bulk-mail platform (x=acme.io@beehiiv)",
             _platform_identity),
    LinkRule("platform-name", MEDIUM,
             "From is on a bulk-mail platform under the contact's name (janedoe@substack.com)",
             _platform_name),
    LinkRule("organisation", MEDIUM,
             "From/Reply-To/DKIM/Return-Path/List-Unsubscribe at the contact's small organisation",
             _organisation),
    LinkRule("signature", MEDIUM,
             "a domain the contact's signature block or social profile named", _signature),
    LinkRule("company-name", MEDIUM,
             "the domain of an imported or social contact's company, by its name", _company_name),
    LinkRule("earlier-link", MEDIUM,
             "the same sender address was tied to the contact before on medium or strong evidence",
             _earlier_link),
    LinkRule("display-name", WEAK,
             "the display name is the contact's full name or names their organisation "
             "(never moves alone)", _display_name),
)
RULE_NAMES = frozenset(r.name for r in LINK_RULES)


@dataclass(frozen=True, slots=True)
class Link:
    """A message tied to a contact: how (``kind``, of the strongest evidence), how strongly, the
    rules that fired, and the evidence in words."""

    contact: Contact
    kind: str
    evidence: tuple[str, ...]
    strength: int = MEDIUM
    rules: tuple[str, ...] = ()

    @property
    def strength_name(self) -> str:
        return STRENGTH_NAMES[self.strength]


@dataclass(frozen=True, slots=True)
class LinkResult:
    """Every contact the message links to within the window (best first), the links outside it,
    and the vetoes."""

    links: tuple[Link, ...] = ()
    expired: tuple[Link, ...] = ()
    vetoes: tuple[str, ...] = ()

    @property
    def best(self) -> Link | None:
        return self.links[0] if self.links else None


def _fmt_date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d")


def _how(c: Contact) -> str:
    if c.source == "social":
        return link_evidence(c)
    how = f"contact since {_fmt_date(c.since)} ({c.how}"
    return how + (f': "{c.subject}")' if c.subject else ")")


def findings(msg: ParsedMessage, ctx: LinkContext) -> list[Finding]:
    """What every enabled rule finds in this message (no window applied)."""
    if msg.sender is None:
        return []
    out: list[Finding] = []
    for rule in LINK_RULES:
        if rule.name not in ctx.disabled:
            out.extend(rule.find(msg, ctx))
    return out


def _combine(contact: Contact, evs: list[Evidence]) -> Link:
    best = max(evs, key=lambda e: e.strength)
    strength = best.strength
    texts = list(dict.fromkeys(e.text for e in sorted(evs, key=lambda e: -e.strength)))
    if strength == WEAK and len({e.email.endswith("\0org") for e in evs}) == 2:
        strength = MEDIUM  # the person's name and their organisation's name corroborate each other
        texts.append("the name and the organisation corroborate each other")
    rules = tuple(dict.fromkeys(e.rule for e in evs))
    return Link(contact, best.kind, tuple(texts) + (_how(contact),), strength, rules)


def link_message(msg: ParsedMessage, ctx: LinkContext, *, at: datetime, window: timedelta) -> LinkResult:
    """Run the rules; one link per contact, best first: the strongest evidence, then the most
    rules, then the contact made first (the person the user met is the cause, not a colleague who
    wrote later)."""
    per_contact: dict[str, list[Evidence]] = {}
    vetoes: list[str] = []
    for f in findings(msg, ctx):
        email = f.email.removesuffix("\0org")
        if isinstance(f, Veto):
            c = ctx.ledger.get(email)
            if c is not None and at - window <= c.since <= at and f.text not in vetoes:
                vetoes.append(f.text)
            continue
        per_contact.setdefault(email, []).append(f)
    inside: list[tuple[tuple[int, int, float], Link]] = []
    outside: list[Link] = []
    for email, evs in per_contact.items():
        c = ctx.ledger.get(email)
        if c is None:
            continue
        lk = _combine(c, evs)
        if at - window <= c.since <= at:
            inside.append(((lk.strength, len(lk.rules), -c.since.timestamp()), lk))
        elif c.since < at - window:
            outside.append(lk)
    inside.sort(key=lambda k: k[0], reverse=True)
    return LinkResult(tuple(lk for _, lk in inside), tuple(outside), tuple(vetoes))


def rules_table(disabled: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """The link rules for ``mailguard rules``."""
    return [{"rule": r.name, "strength": STRENGTH_NAMES[r.strength],
             "enabled": "no" if r.name in disabled else "yes", "evidence": r.doc} for r in LINK_RULES]


# -- compatibility helpers (review and tests) ------------------------------------------------


def ranked_links(msg: ParsedMessage, ledger: Ledger, *, at: datetime, window: timedelta) -> list[Link]:
    return list(link_message(msg, LinkContext(ledger), at=at, window=window).links)


def link(msg: ParsedMessage, ledger: Ledger, *, at: datetime, window: timedelta) -> Link | None:
    """The best link within the window, or None."""
    return link_message(msg, LinkContext(ledger), at=at, window=window).best


def expired_links(msg: ParsedMessage, ledger: Ledger, *, at: datetime, window: timedelta) -> list[Link]:
    return list(link_message(msg, LinkContext(ledger), at=at, window=window).expired)
