"""The ledger of networking contacts: who, since when, how, and on what evidence.

Pure data and in-memory indexes; persistence is :mod:`mailguard.store`'s job.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from .identity import org_domain, org_name_keys, org_name_of_domain, split_display_name
from .parse import ParsedMessage

if TYPE_CHECKING:  # features and rules import this module
    from .features import Features
    from .rules import Policy

# how a contact was made
WROTE = "you wrote to them"
REPLIED = "you replied to them"
PERSONAL = "they wrote to you personally"
IMPORTED = "imported"


@dataclass(frozen=True, slots=True)
class Contact:
    """A networking contact. ``org_domain`` is None for freemail addresses."""

    email: str
    name: str
    since: datetime
    how: str
    message_id: str = ""
    subject: str = ""
    org_domain: str | None = None
    org_name: str = ""
    #: organisation domains their signature block named (a social contact: their profile), never
    #: links elsewhere in the text (stored in the ``sig_domains`` column)
    named_domains: frozenset[str] = field(default_factory=frozenset)
    source: str = "mail"
    #: for social contacts: network and handle; for imports: the file
    network: str = ""
    handle: str = ""
    #: what they do, as their signature or profile says ("Founder, Hollowlayer")
    role: str = ""

    @property
    def person(self) -> str:
        return split_display_name(self.name).person

    def orgs(self) -> frozenset[str]:
        """Every organisation domain this contact is tied to (own domain and named domains)."""
        out = set(self.named_domains)
        if self.org_domain:
            out.add(self.org_domain)
        return frozenset(out)

    def slugs(self) -> frozenset[str]:
        """How this person's name is spelled in an address: the local part of their own address,
        and janedoe, jane.doe, jdoe for Jane Doe (at least four characters)."""
        out = set()
        local = self.email.partition("@")[0] if "@" in self.email else ""
        if local:
            out.add(local)
        words = self.person.split() if self.person else []
        if len(words) >= 2:
            out |= {"".join(words), ".".join(words), words[0][0] + words[-1]}
        return frozenset(s for s in out if len(s) >= 4)

    def org_names(self) -> frozenset[str]:
        """The keys of every organisation name this contact is tied to (see org_name_keys)."""
        names: set[str] = set()
        for d in self.orgs():
            names |= org_name_keys(org_name_of_domain(d))
        if self.org_name:
            names |= org_name_keys(self.org_name)
        return frozenset(names)


def make_contact(email: str, name: str, since: datetime, how: str, *, message_id: str = "",
                 subject: str = "", named_domains: Iterable[str] = (), org_name: str = "",
                 source: str = "mail", network: str = "", handle: str = "", role: str = "") -> Contact:
    email = email.lower()
    parts = split_display_name(name)
    return Contact(
        email=email,
        name=name,
        since=since,
        how=how,
        message_id=message_id,
        subject=subject,
        org_domain=org_domain(email.rpartition("@")[2]) if "@" in email else None,
        org_name=org_name or (parts.org if parts.person else ""),
        named_domains=frozenset(named_domains),
        source=source,
        network=network,
        handle=handle,
        role=role[:200],
    )


class Ledger:
    """Contacts by address, with indexes for the linker. Adding a known address keeps the earliest
    ``since`` and merges what was learned (named domains, name)."""

    def __init__(self, contacts: Iterable[Contact] = ()) -> None:
        self._by_email: dict[str, Contact] = {}
        self.by_org: dict[str, set[str]] = defaultdict(set)
        self.by_person: dict[str, set[str]] = defaultdict(set)
        self.by_org_name: dict[str, set[str]] = defaultdict(set)
        #: address local parts and name spellings (janedoe, jane.doe, jdoe) -> contacts
        self.by_slug: dict[str, set[str]] = defaultdict(set)
        for c in contacts:
            self.add(c)

    def __len__(self) -> int:
        return len(self._by_email)

    def __iter__(self) -> Iterator[Contact]:
        return iter(self._by_email.values())

    def __contains__(self, email: object) -> bool:
        return isinstance(email, str) and email.lower() in self._by_email

    def get(self, email: str) -> Contact | None:
        return self._by_email.get(email.lower())

    def add(self, c: Contact) -> tuple[Contact, bool]:
        """Add or merge; returns (the stored contact, whether anything changed)."""
        old = self._by_email.get(c.email)
        if old is not None:
            merged = replace(
                old,
                name=old.name or c.name,
                named_domains=old.named_domains | c.named_domains,
                org_name=old.org_name or c.org_name,
                role=old.role or c.role,
            )
            if c.since < old.since:
                merged = replace(merged, since=c.since, how=c.how, message_id=c.message_id,
                                 subject=c.subject, source=c.source)
            if merged == old:
                return old, False
            c = merged
        self._by_email[c.email] = c
        self._index(c)
        return c, True

    def remove(self, email: str) -> bool:
        c = self._by_email.pop(email.lower(), None)
        if c is None:
            return False
        for index in (self.by_org, self.by_person, self.by_org_name, self.by_slug):
            for key in list(index):
                index[key].discard(c.email)
        return True

    def _index(self, c: Contact) -> None:
        for d in c.orgs():
            self.by_org[d].add(c.email)
        if c.person:
            self.by_person[c.person].add(c.email)
        for n in c.org_names():
            self.by_org_name[n].add(c.email)
        for slug in c.slugs():
            self.by_slug[slug].add(c.email)


# -- who becomes a networking contact ------------------------------------------------------
#
# A networking contact is a person in a conversation: human-written one-to-one mail, or someone the
# user wrote to personally. Role and robot senders never become contacts, and writing to a role
# address (support@, billing@) does not make one.

#: words of an address's local part that name a role, a department or a robot, not a person
ROLE_WORDS = frozenset(
    """noreply no-reply donotreply do-not-reply dontreply mailer-daemon mailerdaemon postmaster
    hostmaster webmaster abuse support help helpdesk servicedesk service services care customer
    customers customerservice customercare billing invoice invoices invoicing receipts receipt
    payments payment orders order shipping delivery accounts account security alert alerts notify
    notification notifications notices notice statements statement estatement calendar
    calendar-notification drive-shares-noreply drive-shares-dm-noreply docs comments team hello hi
    info information contact contacts enquiries inquiries news newsletter newsletters marketing
    promo promotions offers deals sales updates update digest admin administrator office hr
    careers jobs recruiting talent events event community members membership feedback bounce
    bounces system robot bot automated auto reply replies tickets ticket reservations bookings
    booking store shop mail mailer email emails list lists announce announcements press media
    partners partnerships success onboarding welcome growth subscriptions subscription registrar
    alumni giving development admissions registry library it legal privacy compliance finance
    treasury ops operations devnull nobody verify verification confirm confirmation no do not
    dont""".split()
)
_LOCAL_SPLIT = re.compile(r"[._+=-]")


@lru_cache(maxsize=65536)
def role_address(email: str) -> str | None:
    """Why an address is a role or robot address (support@, no-reply@, statements@), or None."""
    local = email.lower().partition("@")[0]
    if not local:
        return None
    if local in ROLE_WORDS or local.startswith(("noreply", "no-reply", "donotreply", "do-not-reply",
                                                "bounce", "mailer-daemon")):
        return f"{email} is a role or robot address"
    words = [w for w in _LOCAL_SPLIT.split(local[:64]) if w]
    if words and all(w in ROLE_WORDS or w.isdigit() for w in words):
        return f"{email} is a role or robot address"
    if sum(c.isdigit() for c in local) >= 6 or len(local) >= 40:
        return f"{email} is a machine-made address"
    return None


#: headers that ticket systems and help desks put on their mail
TICKET_HEADERS = ("x-zendesk-from-account-id", "x-zendesk-email-id", "x-freshdesk-ticket-id",
                  "x-helpscout-conversation-id", "x-helpscout-thread-id", "x-hs-ticket-id",
                  "x-jira-fingerprint", "x-otrs-ticketnumber", "x-rt-ticket", "x-intercom-conversation")
_VIA_SERVICE = re.compile(r"\(via [^()]{2,40}\)\s*$", re.I)
_INVITE_SUBJECT = re.compile(r"^\s*(?:updated |new )?(?:invitation|invite|einladung|invitaci[oó]n|"
                             r"accepted|declined|tentative|canceled|cancelled|event canceled)\b[^:]{0,30}:",
                             re.I)


def robot_reason(msg: ParsedMessage) -> str | None:
    """Why a message was sent by a machine or a service on someone's behalf, or None."""
    if msg.sender is None:
        return "no sender"
    role = role_address(msg.sender.email)
    if role:
        return role
    auto = msg.header("auto-submitted").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    types = msg.content_types
    if "text/calendar" in types or "application/ics" in types or _INVITE_SUBJECT.match(msg.subject):
        return "a calendar invitation"
    if types & {"multipart/report", "message/delivery-status", "message/disposition-notification"}:
        return "a delivery or read report"
    if _VIA_SERVICE.search(msg.sender.name or ""):
        return f'sent by a service on someone\'s behalf ("{msg.sender.name[-45:]}")'
    for h in TICKET_HEADERS:
        if h in msg.headers:
            return f"a help-desk ticket ({h})"
    return None


def contact_refusal(msg: ParsedMessage, *, bulk: bool, discussion: bool, score: float,
                    personal_threshold: float, max_recipients: int,
                    me: frozenset[str]) -> str | None:
    """Why the sender of a received message does not become a networking contact, or None when
    it does: one-to-one (at most ``max_recipients``, the user among them), human-written (no role or
    robot sender, no service sending on someone's behalf), not bulk, not promotional."""
    if msg.sender is None:
        return "no sender"
    if bulk or discussion:
        return "bulk or list mail"
    if score >= personal_threshold:
        return "promotional"
    recipients = msg.recipients
    if not recipients or len(recipients) > max_recipients:
        return "not one-to-one"
    if me and not any(a.email in me for a in recipients):
        return "not addressed to you"
    return robot_reason(msg)


def is_personal(msg: ParsedMessage, feats: Features, score: float, policy: Policy) -> bool:
    """One-to-one, human-written, not bulk, not promotional: a message that makes its sender a
    networking contact (see :func:`contact_refusal`).

    Mail without bulk signals is promotional only from ``strong_threshold`` (as in
    :func:`mailguard.core.rules.guarded`): the model has seen few first notes from new people (its
    personal training mail is mostly replies on lists), so it gives them middling scores, and a
    first note must still make a contact."""
    no_bulk_signals = score < policy.strong_threshold and not feats.discussion_list and not feats.is_bulk
    return contact_refusal(msg, bulk=feats.is_bulk, discussion=feats.discussion_list,
                           score=0.0 if no_bulk_signals else score,
                           personal_threshold=policy.personal_threshold,
                           max_recipients=policy.max_personal_recipients, me=policy.me) is None


def recipient_refusal(email: str) -> str | None:
    """Why writing to this address does not make a networking contact (support@, billing@...)."""
    return role_address(email)
