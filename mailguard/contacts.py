"""The ledger of networking contacts: who, since when, how, and on what evidence.

Pure data and in-memory indexes; persistence is :mod:`mailguard.store`'s job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from .identity import org_domain, org_name_of_domain, split_display_name

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
    sig_domains: frozenset[str] = field(default_factory=frozenset)
    source: str = "mail"
    #: for social contacts: network and handle; for imports: the file
    network: str = ""
    handle: str = ""

    @property
    def person(self) -> str:
        return split_display_name(self.name).person

    def orgs(self) -> frozenset[str]:
        """Every organisation domain this contact is tied to (own domain and signature)."""
        out = set(self.sig_domains)
        if self.org_domain:
            out.add(self.org_domain)
        return frozenset(out)

    def org_names(self) -> frozenset[str]:
        names = {org_name_of_domain(d) for d in self.orgs()}
        if self.org_name:
            names.add(self.org_name)
        names.discard("")
        return frozenset(names)


def make_contact(email: str, name: str, since: datetime, how: str, *, message_id: str = "",
                 subject: str = "", sig_domains: Iterable[str] = (), org_name: str = "",
                 source: str = "mail", network: str = "", handle: str = "") -> Contact:
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
        sig_domains=frozenset(sig_domains),
        source=source,
        network=network,
        handle=handle,
    )


class Ledger:
    """Contacts by address, with indexes for the linker. Adding a known address keeps the earliest
    ``since`` and merges what was learned (signature domains, name)."""

    def __init__(self, contacts: Iterable[Contact] = ()) -> None:
        self._by_email: dict[str, Contact] = {}
        self.by_org: dict[str, set[str]] = defaultdict(set)
        self.by_person: dict[str, set[str]] = defaultdict(set)
        self.by_org_name: dict[str, set[str]] = defaultdict(set)
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
                sig_domains=old.sig_domains | c.sig_domains,
                org_name=old.org_name or c.org_name,
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
        for index in (self.by_org, self.by_person, self.by_org_name):
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
