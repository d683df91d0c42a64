"""Social notification mail -> the person it is about. Pure and table-driven.

"Jane Doe accepted your invitation" (LinkedIn), "Jane Doe (@janedoe) followed you" (X, GitHub,
Mastodon, Bluesky), "Jane Doe registered for your event" (Meetup, Eventbrite, Luma): the mailbox hears
of a new networking contact before the contact ever writes. :func:`parse_notification` turns such a
message into a :class:`SocialEvent`; the pipeline stores it as a contact with ``source="social"``.

Every network is one small entry of a table (:data:`BUILTIN_TABLE`), in the same shape as the
``[[social.networks]]`` tables of config.toml, so a user adds a network without code
(:func:`load_networks`). The keys of an entry:

- ``name``, ``key``: "GitHub", "github" (``key`` defaults to the name, slugged; it names the
  synthetic contact address ``social:github/janedoe``);
- ``senders``: glob patterns for the From address (``"invitations@linkedin.com"``,
  ``"*@email.meetup.com"``); only mail from these is looked at;
- ``events``: ``{kind, subject, body, noun}``; ``subject`` and/or ``body`` are regexes (case-insensitive,
  multi-line) that must all match; their named groups ``name``, ``handle``, ``headline``, ``org``,
  ``website``, ``email``, ``event`` say where the person sits;
- ``fields``: further regexes over the body for the same groups; ``{name}`` and ``{handle}`` stand for
  what is already known (``"^{name}\\n(?P<headline>[^\\n]+)$"``: the line under the name);
- ``profile``: regex of a profile URL with a ``handle`` group (``not_handles`` lists paths that are not
  people, like ``settings``);
- ``ignore_subjects``: the network's own marketing ("Jobs you may be interested in");
- ``hosts``: the network's own domains (never an organisation); ``handle_is_domain`` (Bluesky: a handle
  such as ``jane.acme.io`` names the domain acme.io); ``fediverse`` (Mastodon: any instance, but the
  body must link a profile ``https://<sender's domain>/@...``); ``max_profiles`` (see below).

Precision first, so a message that does not fit returns None and is left to the ordinary pipeline:

- the From address must match the entry's senders, and a DKIM signature, when present, must be the
  sender's own domain (a spoofed "GitHub <noreply@github.com>" from elsewhere is not believed);
- the subject must not be the network's own marketing, and one event must match;
- a digest (a subject such as "Jane Doe and 4 others followed you", "5 new invitations", or a body
  listing more than ``max_profiles`` distinct profiles or more than one labelled name) returns None:
  nobody in it becomes a contact;
- the name must look like a person's name (no digits, not "You", not the network's name);
- an organisation is only taken from a labelled field ("Company: Acme") or from "<role> at/@ <Org>" in
  the headline, never from a free-text bio; "Self-employed", "Stealth" and the like are not
  organisations.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from .contacts import Contact, make_contact
from ..errors import ConfigError
from .features import html_to_text
from .identity import _fold_org as fold_org  # the fold the ledger indexes organisation names by
from .identity import dkim_domains, org_domain, registrable_domain
from .parse import ParsedMessage

#: the named groups a pattern may use
GROUPS = frozenset({"name", "handle", "headline", "org", "website", "email", "event"})

#: short nouns for the reasons ("via social contact (GitHub follow)"), by event kind
KIND_NOUNS: dict[str, str] = {
    "followed you": "follow",
    "requested to follow you": "follow request",
    "accepted your invitation": "connection",
    "wants to connect": "connection request",
    "registered for your event": "event registration",
    "joined your group": "group join",
}

#: subjects of digests: many people in one mail, none of whom becomes a contact
DIGEST_SUBJECTS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.I) for p in (
    r"\band \d+ others?\b",
    r"\band (?:many )?others\b",
    (r"\b\d+ (?:new |more )?(?:people|persons|followers|connections|invitations|invites|members|"
     r"attendees|guests|registrations|rsvps|orders|notifications|follow requests|profiles)\b"),
    r"\bnew (?:followers|connections|members|registrations|rsvps|attendees|guests)\b",
))

#: labelled fields any notification may carry (after the network's own fields)
GENERIC_FIELDS: tuple[str, ...] = (
    r"^(?:company|organi[sz]ation|works at|employer):\s*@?(?P<org>[^\n]{2,80})$",
    r"^(?:headline|title|job title|role|position|intro|bio|about):\s*(?P<headline>[^\n]{2,200})$",
    r"^(?:website|blog|web|homepage|url):\s*(?P<website>\S+)(?: \S+)?$",  # HTML: "text URL"
    r"^e-?mail(?: address)?:\s*(?P<email>[^\s@]+@[^\s@]+\.[a-z]{2,})$",
)

#: a body line from which on it is the network's footer (about the recipient, not the person)
_FOOTER = re.compile(
    r"^(?:-{3,}|_{3,}|={3,}|©|\(c\) \d{4}|this (?:e-?mail|message) was (?:intended|sent) (?:for|to)\b|"
    r"you(?:'re| are) receiving\b|learn why we included this|unsubscribe\b|"
    r"manage (?:your )?(?:e-?mail|notification)|to stop receiving\b)",
    re.I,
)

#: domains that never name a person's organisation, whatever a profile says
NEVER_ORG_DOMAINS = frozenset(
    """linkedin.com lnkd.in licdn.com x.com twitter.com t.co twimg.com github.com github.blog
    githubusercontent.com gitlab.com bsky.app bsky.social meetup.com meetupstatic.com eventbrite.com
    eventbrite.co.uk eventbrite.de eventbrite.fr eventbrite.ca eventbrite.com.au evbuc.com lu.ma
    luma.com luma-mail.com mastodon.social mastodon.online joinmastodon.org linktr.ee medium.com
    substack.com youtube.com youtu.be instagram.com facebook.com threads.net tiktok.com calendly.com
    cal.com bit.ly notion.so notion.site about.me carrd.co google.com apple.com wikipedia.org
    example.com example.org""".split()
)

#: "organisations" that are not one
_NOT_ORGS = frozenset(
    """selfemployed self freelance freelancer freelancing stealth stealthstartup independent
    consultant none na retired student home various confidential opentowork lookingforwork
    myself unemployed""".split()
)

#: display names that are not a person
_NOT_NAMES = frozenset(
    """you someone somebody others everyone member newmember anewmember guest aguest attendee
    user aperson people team""".split()
)

#: first words of display names that are not a person ("You", "A new member", "Someone you know")
_NOT_FIRST_WORDS = frozenset("you your someone somebody a an the new people members everyone".split())

_ROLE = r"^\s*(?P<role>(?:[^\s@]+\s+){0,5}?[^\s@]+)\s+"
#: words that make "<role> at <Org>" a job ("Smiling at People" is not one)
_ROLE_WORDS = frozenset(
    """founder cofounder co founding ceo cto coo cfo cmo cpo vp president owner partner principal
    director head lead manager engineer developer designer architect researcher scientist analyst
    consultant advisor investor associate officer chief staff senior junior intern student professor
    lecturer teacher editor writer journalist producer recruiter marketer marketing sales product
    growth operations ops strategist specialist coordinator organizer organiser maintainer
    contributor fellow member employee gm md board chair chairman chairwoman evangelist advocate
    devrel coach creative""".split()
)
#: "<role of at most six words> at|@ <Capitalised Org>" at the start of a headline segment
_HEADLINE_ORG = re.compile(
    _ROLE + r"(?:at\s+@?|@)(?P<org>[A-Z0-9][\w&'-]*(?:\s+(?:&\s+)?[A-Z0-9][\w&'-]*){0,3})"
)
#: ... or a lower-case organisation handle: "Founder @acme"
_HEADLINE_ORG_HANDLE = re.compile(_ROLE + r"(?:at\s+)?@(?P<org>[a-z0-9][\w-]{1,38})\b", re.I)
# (?<!\s) and possessive runs: a run of blanks is read once from its start, not from each blank
_SEGMENTS = re.compile(r"(?<!\s)[^\S\n]*+(?:[|·•;]|\.\s|\n)\s*+")
_DOMAIN_IN_TEXT = re.compile(r"(?<![@\w.-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24})(?![\w-])",
                             re.I)
_NOT_HEADLINE = re.compile(r"^(?:view|message|accept|ignore|reply|see|connect|follow|visit|"
                           r"open|manage|unsubscribe)\b|://", re.I)
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:", re.I)
_NAME_TAIL = re.compile(r"(?<!\s)(?:\s*+[,(|\[]|\s++[-–—·•]\s).*$", re.S)
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLOCK_TAG = re.compile(r"<\s*+/?\s*+(?:br|p|div|tr|td|th|li|ul|ol|h[1-6]|table|tbody|section|hr)\b[^>]*>",
                        re.I)
# An anchor's URL stops at its closing quote and its text at the next "<a": "(.*?)\1 ... (.*?)</a>"
# was cubic on anchors never closed (500 of them, 12 KB, took 8 s; 64 KB, half an hour).
_ANCHOR = re.compile(r"""<a\b[^<>]*?\bhref\s*=\s*(["'])((?:(?!\1).)*)\1[^<>]*>((?:(?!<a\b).)*?)</a\s*>""",
                     re.I | re.S)
_FLAGS = re.I | re.M


@dataclass(frozen=True, slots=True)
class EventRule:
    """One kind of notification of a network: what it means and how it is recognised."""

    kind: str
    subject: re.Pattern[str] | None
    body: re.Pattern[str] | None
    noun: str


@dataclass(frozen=True, slots=True)
class Network:
    """One entry of the table; built by :func:`network_from_dict` from a builtin or config dict."""

    key: str
    name: str
    senders: tuple[str, ...]
    events: tuple[EventRule, ...]
    not_senders: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    profile: re.Pattern[str] | None = None
    not_handles: frozenset[str] = frozenset()
    ignore_subjects: tuple[re.Pattern[str], ...] = ()
    hosts: frozenset[str] = frozenset()
    handle_is_domain: bool = False
    fediverse: bool = False
    max_profiles: int = 3

    def sends(self, address: str) -> bool:
        address = address.lower()
        return (any(fnmatch.fnmatchcase(address, g) for g in self.senders)
                and not any(fnmatch.fnmatchcase(address, g) for g in self.not_senders))


@dataclass(frozen=True, slots=True)
class SocialEvent:
    """A person a social network told you about. ``organisation`` is as written ("Acme Labs");
    ``domains`` are organisation domains named by the profile (website, headline, e-mail, handle)."""

    network: str
    network_key: str
    kind: str
    noun: str
    name: str
    handle: str
    profile_url: str
    headline: str
    organisation: str
    domains: frozenset[str]
    date: datetime | None
    message_id: str = ""
    subject: str = ""

    @property
    def key(self) -> str:
        """The synthetic contact address: ``social:github/janedoe`` (the real one is unknown)."""
        if self.handle:
            part = _key_part(self.handle)
        else:
            part = "-".join(_fold(self.name).split())
            if self.organisation:
                part += "+" + fold_org(self.organisation)
        return f"social:{self.network_key}/{part}"

    @property
    def who(self) -> str:
        return self.name or f"@{self.handle.lstrip('@')}"

    def describe(self) -> str:
        """'Jane Doe followed you on GitHub'."""
        return f"{self.who} {self.kind} on {self.network}"


# -- the table -----------------------------------------------------------------------------

_FOLLOW = r"(?:followed you|is now following you|started following you)"

#: The built-in networks, in the same shape as ``[[social.networks]]`` in config.toml.
BUILTIN_TABLE: tuple[dict[str, Any], ...] = (
    {
        "name": "LinkedIn",
        "senders": ["invitations@linkedin.com", "*-noreply@linkedin.com", "notifications@linkedin.com",
                    "news@linkedin.com", "jobs-listings@linkedin.com", "*@e.linkedin.com",
                    "*@em.linkedin.com", "*@bounce.linkedin.com"],
        "hosts": ["linkedin.com", "lnkd.in", "licdn.com"],
        "events": [
            {"kind": "accepted your invitation",
             "subject": r"^(?:[^,]{1,40}, )?(?P<name>[^,:]{2,80}?) (?:has )?accepted your invitation"
                        r"(?: to connect)?\.?$"},
            {"kind": "accepted your invitation",
             "subject": r"^[^,]{1,40}, start a conversation with your new connection,? (?P<name>[^,]{2,80})$"},
            {"kind": "accepted your invitation",
             "subject": r"^you and (?P<name>[^,]{2,80}?) are now connected\.?$"},
            {"kind": "wants to connect",
             "subject": r"^(?:invitation: )?(?:[^,]{1,40}, )?(?P<name>[^,:]{2,80}?) wants to connect"
                        r"(?: with you)?(?: on linkedin)?\.?$"},
            {"kind": "wants to connect",
             "subject": r"^invitation to connect from (?P<name>[^,:]{2,80})$"},
        ],
        "fields": [r"^{name}\n(?P<headline>[^\n]{2,200})$",
                   r"^{name} (?:has )?accepted your invitation[^\n]{0,40}\n(?P<headline>[^\n]{2,200})$"],
        "profile": r"https?://(?:[a-z]{2,3}\.|www\.)?linkedin\.com/(?:comm/)?in/(?P<handle>[a-z0-9_%-]{3,100})",
        "ignore_subjects": [r"\bjobs? (?:you may be interested in|alert|for you|recommended)",
                            r"\bpremium\b", r"viewed your profile", r"appeared in \d+ search",
                            r"\bis hiring\b", r"^linkedin news", r"\byour (?:weekly|daily|monthly)\b",
                            r"people you may know", r"\bnewsletter\b"],
    },
    {
        "name": "X",
        "key": "x",
        "senders": ["notify@x.com", "info@x.com", "verify@x.com", "notify@twitter.com", "info@twitter.com",
                    "notify@*.x.com", "*@notify.x.com"],
        "hosts": ["x.com", "twitter.com", "t.co", "twimg.com"],
        "events": [
            {"kind": "followed you",
             "subject": r"^(?P<name>[^()@]{1,60}?) \(@(?P<handle>\w{1,15})\) " + _FOLLOW + r"(?: on x)?!?$"},
            {"kind": "followed you", "subject": r"^@(?P<handle>\w{1,15}) " + _FOLLOW + r"(?: on x)?!?$"},
            {"kind": "followed you", "subject": r"^you have a new follower(?: on (?:x|twitter))?!?$",
             "body": r"^(?P<name>[^\n@]{1,60})\n@(?P<handle>\w{1,15})$"},
        ],
        "fields": [r"^(?P<name>[^\n@]{1,60})\n@{handle}$",
                   r"^@{handle}\n(?P<headline>[^\n]{2,200})$"],
        "profile": r"https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/(?P<handle>\w{1,15})(?![\w/])",
        "not_handles": ["home", "settings", "i", "explore", "notifications", "messages", "login",
                        "signup", "tos", "privacy", "search", "intent", "account", "compose", "share",
                        "download", "premium"],
        "ignore_subjects": [r"what'?s happening", r"\bpremium\b", r"\byour (?:weekly|daily)\b",
                            r"\bhighlights?\b", r"\bpopular\b"],
    },
    {
        "name": "Mastodon",
        "senders": ["notifications@*"],
        # platforms with /@user profile URLs that are not the fediverse
        "not_senders": ["*@substack.com", "*@medium.com", "*@youtube.com", "*@tiktok.com",
                        "*@instagram.com", "*@threads.net", "*@facebook.com"],
        "fediverse": True,
        "hosts": ["mastodon.social", "mastodon.online", "joinmastodon.org"],
        "events": [
            {"kind": "followed you", "subject": r"^(?P<name>[^\n]{1,80}?) " + _FOLLOW + r"!?$"},
            {"kind": "requested to follow you",
             "subject": r"^(?:pending follower|follow request|new follow request): (?P<name>[^\n]{1,80})$"},
            {"kind": "requested to follow you",
             "subject": r"^(?P<name>[^\n]{1,80}?) (?:has )?requested to follow you$"},
        ],
        # the body shows the raw display name, custom emoji and all: "Jane :verified: (@jane@x.y)"
        "fields": [r"^{name}[^\n(@]{0,40}(?:https?://\S+\s*)?\(@(?P<handle>\w{1,30}(?:@[a-z0-9.-]+\.[a-z]{2,})?)\)[^\n]*$",
                   r"^(?=[^\n]*\(@{handle}\))[^\n]*+\n(?P<headline>[^\n]{2,200})$"],
        "profile": r"https?://(?P<host>[a-z0-9.-]+\.[a-z]{2,})/@(?P<handle>\w{1,30}(?:@[a-z0-9.-]+\.[a-z]{2,})?)"
                   r"(?![\w@/])",
        "ignore_subjects": [r"\bterms of service\b", r"\bprivacy policy\b", r"\bannouncement\b"],
    },
    {
        "name": "GitHub",
        "senders": ["noreply@github.com", "notifications@github.com", "*@email.github.com"],
        "hosts": ["github.com", "githubusercontent.com", "github.blog"],
        "events": [
            {"kind": "followed you",
             "subject": r"^(?:\[github\] )?(?P<name>[^()@\[\]]{1,80}?) \(@?(?P<handle>[a-z0-9-]{1,39})\) "
                        + _FOLLOW + r"(?: on github)?\.?$"},
            {"kind": "followed you",
             "subject": r"^(?:\[github\] )?@(?P<handle>[a-z0-9-]{1,39}) " + _FOLLOW + r"(?: on github)?\.?$"},
        ],
        "fields": [r"^(?P<name>[^\n@]{1,80})\n@?{handle}$",
                   (r"^{name}\n@?{handle}\n(?P<headline>(?!(?:company|location|website|blog|view)\b)"
                    r"[^\n]{2,200})$")],
        "profile": r"https?://github\.com/(?P<handle>[a-z0-9](?:[a-z0-9-]{0,38}))(?![\w/-])",
        "not_handles": ["settings", "notifications", "orgs", "sponsors", "marketplace", "features",
                        "pricing", "login", "about", "site", "security", "contact", "explore", "topics",
                        "trending", "collections", "events", "apps", "enterprise", "team", "new",
                        "organizations", "github", "readme", "customer-stories", "pulls", "issues"],
        "ignore_subjects": [r"\bnewsletter\b", r"\binsider\b", r"\buniverse\b", r"\bchangelog\b",
                            r"\bintroducing\b", r"\bwebinar\b", r"\btrial\b"],
    },
    {
        "name": "Bluesky",
        "senders": ["noreply@bsky.app", "notifications@bsky.app", "*@mail.bsky.app", "noreply@bsky.social"],
        "hosts": ["bsky.app", "bsky.social"],
        "handle_is_domain": True,
        "events": [
            {"kind": "followed you",
             "subject": r"^(?P<name>[^()@]{1,80}?) \(@(?P<handle>[a-z0-9.-]+\.[a-z]{2,})\) " + _FOLLOW
                        + r"(?: on bluesky)?!?$"},
            {"kind": "followed you",
             "subject": r"^@(?P<handle>[a-z0-9.-]+\.[a-z]{2,}) " + _FOLLOW + r"(?: on bluesky)?!?$"},
        ],
        "fields": [r"^(?P<name>[^\n@]{1,80}) \(@{handle}\)[^\n]*$",
                   r"^(?=[^\n]*\(@{handle}\))[^\n]*+\n(?P<headline>[^\n]{2,200})$"],
        "profile": r"https?://bsky\.app/profile/(?P<handle>[a-z0-9.-]+\.[a-z]{2,}|did:plc:[a-z0-9]+)",
        "ignore_subjects": [r"\bnewsletter\b", r"\bwhat'?s new\b"],
    },
    {
        "name": "Meetup",
        "senders": ["*@email.meetup.com", "info@meetup.com", "noreply@meetup.com", "*@mail.meetup.com"],
        "hosts": ["meetup.com", "meetupstatic.com"],
        "events": [
            {"kind": "registered for your event",
             "subject": r"^(?P<name>[^:]{2,80}?) rsvp(?:'?e)?d(?: yes)? (?:to|for) (?P<event>.{2,200})$"},
            {"kind": "registered for your event",
             "subject": r"^new rsvp(?: for [^:]{2,200})?: (?P<name>[^:]{2,80}?)(?: is going(?: to .*)?)?$"},
            {"kind": "joined your group",
             "subject": r"^(?P<name>[^:]{2,80}?) (?:just )?joined (?P<event>.{2,200})$"},
            {"kind": "joined your group",
             "subject": r"^new member: (?P<name>[^:]{2,80}?)(?: joined .*)?$"},
        ],
        # the member's own answer to the organiser's question is their self-description
        "fields": [r"^[^\n]{1,40}'s answer to [^\n]{0,200}:\n\"?(?P<headline>[^\n]{2,200})$"],
        "profile": r"https?://(?:www\.)?meetup\.com/(?:[a-z0-9-]+/)?members/(?P<handle>\d{3,12})",
        "ignore_subjects": [r"\bevents? (?:you might like|for you|near you|this week)", r"meetup\+|meetup pro",
                            r"\bsubscription\b", r"\byour (?:weekly|daily)\b", r"\bwe miss you\b",
                            r"\bupcoming events\b", r"^you(?:'re| are| have)? "],
    },
    {
        "name": "Eventbrite",
        "senders": ["*@order.eventbrite.com", "noreply@eventbrite.com", "*@mail.eventbrite.com",
                    "*@e.eventbrite.com"],
        "hosts": ["eventbrite.com", "eventbrite.co.uk", "eventbrite.de", "evbuc.com"],
        "events": [
            {"kind": "registered for your event",
             "subject": r"^new (?:order|registration|attendee) (?:for|to|on) (?P<event>.{2,200}?)"
                        r"(?: \(order #?\d+\))?$",
             "body": r"^(?:name|attendee|buyer|ordered by):\s*(?P<name>[^\n]{2,80})$"},
            {"kind": "registered for your event",
             "subject": r"^(?P<name>[^:]{2,80}?) (?:registered|bought tickets?|signed up) for (?P<event>.{2,200})$"},
        ],
        "ignore_subjects": [r"^your (?:order|tickets?|registration)", r"\border confirmation\b",
                            r"\bsales (?:summary|report)\b", r"\bevents? (?:you'?ll love|near you|for you)\b",
                            r"\bthis weekend\b", r"^reminder\b"],
    },
    {
        "name": "Luma",
        "senders": ["*@luma-mail.com", "*@calendar.luma-mail.com", "*@user.luma-mail.com",
                    "notifications@lu.ma", "hello@lu.ma"],
        "hosts": ["lu.ma", "luma.com", "luma-mail.com", "lumacdn.com"],
        "events": [
            {"kind": "registered for your event",
             "subject": r"^(?P<name>[^:]{2,80}?) (?:has )?(?:registered|signed up) for (?P<event>.{2,200})$"},
            {"kind": "registered for your event",
             "subject": r"^new (?:guest|registration|registrant)(?: for [^:]{2,200})?: (?P<name>[^:]{2,80}?)$"},
            {"kind": "registered for your event",
             "subject": r"^(?P<name>[^:]{2,80}?) is going to (?P<event>.{2,200})$"},
        ],
        "profile": r"https?://(?:lu\.ma|luma\.com)/(?:user/)?(?P<handle>usr-[a-z0-9]{6,})",
        "ignore_subjects": [r"^you(?:'re| are) (?:registered|going|in|invited)", r"\bpopular events\b",
                            r"\bevents? (?:near you|this week|for you)\b", r"\bdiscover\b", r"^reminder\b",
                            r"\bstarting (?:soon|in)\b"],
    },
)

_ENTRY_KEYS = frozenset({"name", "key", "senders", "not_senders", "events", "fields", "profile",
                         "not_handles", "ignore_subjects", "hosts", "handle_is_domain", "fediverse", "max_profiles",
                         "enabled"})
_EVENT_KEYS = frozenset({"kind", "subject", "body", "noun"})


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        rx = re.compile(pattern.replace("{name}", "x").replace("{handle}", "x"), _FLAGS)
    except re.error as exc:
        raise ConfigError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
    unknown = set(rx.groupindex) - GROUPS - {"host"}
    if unknown:
        raise ConfigError(f"{where}: unknown group(s) {', '.join(sorted(unknown))} in {pattern!r} "
                          f"(allowed: {', '.join(sorted(GROUPS))})")
    return rx


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def network_from_dict(d: Mapping[str, Any], where: str = "[[social.networks]]") -> Network:
    """Build one table entry; raises ConfigError saying what is wrong."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = set(d) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: 'name' is required")
    where = f"{where} {name!r}"
    key = d.get("key") or "-".join(_fold(name).split())
    if not isinstance(key, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", key):
        raise ConfigError(f"{where}: 'key' must be lower-case letters, digits and '-'")
    senders = tuple(s.lower() for s in _strings(d.get("senders"), f"{where}: 'senders'"))
    if not senders or any("@" not in s for s in senders):
        raise ConfigError(f"{where}: 'senders' must list address patterns such as 'noreply@example.com'")
    raw_events = d.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise ConfigError(f"{where}: 'events' must list at least one {{kind, subject}} table")
    events = []
    for i, e in enumerate(raw_events):
        ew = f"{where} event {i + 1}"
        if not isinstance(e, Mapping) or set(e) - _EVENT_KEYS:
            raise ConfigError(f"{ew}: keys are {', '.join(sorted(_EVENT_KEYS))}")
        kind = e.get("kind")
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigError(f"{ew}: 'kind' is required (e.g. \"followed you\")")
        if not e.get("subject") and not e.get("body"):
            raise ConfigError(f"{ew}: give 'subject' or 'body' (or both)")
        subj = _compile(e["subject"], ew) if e.get("subject") else None
        body = _compile(e["body"], ew) if e.get("body") else None
        noun = e.get("noun") or KIND_NOUNS.get(kind.strip(), "notification")
        events.append(EventRule(kind.strip(), subj, body, str(noun)))
    fields = _strings(d.get("fields"), f"{where}: 'fields'")
    for f in fields:
        _compile(f, where)
    profile = _compile(d["profile"], where) if d.get("profile") else None
    if profile is not None and "handle" not in profile.groupindex:
        raise ConfigError(f"{where}: 'profile' needs a (?P<handle>...) group")
    max_profiles = d.get("max_profiles", 3)
    if not isinstance(max_profiles, int) or max_profiles < 1:
        raise ConfigError(f"{where}: 'max_profiles' must be a positive integer")
    return Network(
        key=key,
        name=name.strip(),
        senders=senders,
        events=tuple(events),
        not_senders=tuple(x.lower() for x in _strings(d.get("not_senders"), f"{where}: 'not_senders'")),
        fields=fields,
        profile=profile,
        not_handles=frozenset(h.lower() for h in _strings(d.get("not_handles"), where)),
        ignore_subjects=tuple(_compile(p, where) for p in _strings(d.get("ignore_subjects"), where)),
        hosts=frozenset(h.lower() for h in _strings(d.get("hosts"), where)),
        handle_is_domain=bool(d.get("handle_is_domain", False)),
        fediverse=bool(d.get("fediverse", False)),
        max_profiles=max_profiles,
    )


@lru_cache(maxsize=1)
def builtin_networks() -> tuple[Network, ...]:
    return tuple(network_from_dict(d, "builtin network") for d in BUILTIN_TABLE)


def load_networks(raw: Mapping[str, Any] | None = None) -> tuple[Network, ...]:
    """Config's ``[[social.networks]]`` (``Config.raw``), then the built-in networks. An entry with
    the key of a built-in one replaces it; ``enabled = false`` drops it. The user's entries are
    tried first, so they win over a built-in one matching the same sender."""
    builtin = {n.key: n for n in builtin_networks()}
    table: dict[str, Network] = {}
    social = (raw or {}).get("social", {})
    if not isinstance(social, Mapping):
        raise ConfigError("[social] must be a table")
    entries = social.get("networks", [])
    if not isinstance(entries, list):
        raise ConfigError("[[social.networks]] must be an array of tables")
    for i, d in enumerate(entries):
        where = f"[[social.networks]] #{i + 1}"
        if isinstance(d, Mapping) and d.get("enabled") is False:
            key = d.get("key") or "-".join(_fold(str(d.get("name", ""))).split())
            builtin.pop(key, None)
            continue
        n = network_from_dict(d, where)
        builtin.pop(n.key, None)
        table[n.key] = n
    return (*table.values(), *builtin.values())


# -- recognising ---------------------------------------------------------------------------


def _aligned(msg: ParsedMessage) -> bool:
    """No DKIM signature, or one by the sender's own domain."""
    signers = dkim_domains(msg)
    if not signers or msg.sender is None:
        return True
    own = registrable_domain(msg.sender.domain)
    return any(registrable_domain(d) == own for d in signers)


def network_of(msg: ParsedMessage, table: Sequence[Network]) -> Network | None:
    """The network whose notification address sent this message, if any. Its mail is the network
    speaking, never the person it names: the pipeline links none of it to a contact."""
    if msg.sender is None or msg.unreadable:
        return None
    for net in table:
        if not net.sends(msg.sender.email):
            continue
        if net.fediverse and not _links_own_profile(msg, net):
            continue
        if not _aligned(msg):
            return None
        return net
    return None


def _links_own_profile(msg: ParsedMessage, net: Network) -> bool:
    """A fediverse notification links profiles on the sending instance itself."""
    if net.profile is None or msg.sender is None:
        return False
    host = msg.sender.domain
    for body in (msg.text, msg.html):
        for m in net.profile.finditer(body):
            if "host" in m.groupdict() and (m.group("host") or "").lower() == host:
                return True
    return False


def _lines(s: str) -> str:
    out = []
    for line in s.splitlines():
        line = _WS.sub(" ", line).strip()
        if line:
            out.append(line)
    return "\n".join(out)


def _cut_footer(s: str) -> str:
    lines = s.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and _FOOTER.search(line):
            return "\n".join(lines[:i])
    return s


def html_lines(html: str) -> str:
    """HTML -> one text line per block, links kept as 'text URL'."""
    s = _ANCHOR.sub(lambda m: f" {m.group(3)} {m.group(2)} ", html)
    end = s.rfind(">") + 1  # no tag after the last ">": looking for one there is quadratic
    s = _BLOCK_TAG.sub("\n", s[:end]) + s[end:]
    return _lines(html_to_text(s))


def _bodies(msg: ParsedMessage) -> list[str]:
    """The readable bodies, text part first, each without the network's footer."""
    out = []
    if msg.text.strip():
        out.append(_cut_footer(_lines(msg.text)))
    if msg.html.strip():
        out.append(_cut_footer(html_lines(msg.html)))
    return [b for b in out if b]


def _strip_symbols(s: str) -> str:
    s = _SHORTCODE.sub(" ", s)
    # emoji and pictographs (So, skin-tone Sk), joiners; keeps "|", "+", "·" that separate parts
    s = "".join(ch for ch in s if not (unicodedata.category(ch) == "So"
                                       or (unicodedata.category(ch) == "Sk" and ord(ch) > 0xFFFF)
                                       or ch in "\u200d\ufe0f"))
    return _WS.sub(" ", s).strip()


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s).split())


def clean_name(raw: str) -> str:
    """'Jane Doe, PhD 🚀' -> 'Jane Doe'; ':verified: Jane' -> 'Jane'."""
    s = _strip_symbols(raw).strip(" '\"")
    s = _NAME_TAIL.sub("", s)
    return s.strip(" .'\"-")


def _plausible_name(name: str, table_names: frozenset[str]) -> bool:
    if not name or len(name) > 64 or any(ch.isdigit() for ch in name) or "@" in name:
        return False
    folded = _fold(name)
    words = folded.split()
    if not words or len(words) > 6:
        return False
    squashed = "".join(words)
    return (squashed not in _NOT_NAMES and squashed not in table_names
            and words[0] not in _NOT_FIRST_WORDS)


def _org_of(org_field: str, headline: str, table_names: frozenset[str]) -> str:
    """An organisation from a labelled field, else from '<role> at <Org>' in the headline."""
    candidates = []
    if org_field:
        candidates.append(org_field.lstrip("@"))
    for seg in _SEGMENTS.split(headline):
        m = _HEADLINE_ORG.match(seg) or _HEADLINE_ORG_HANDLE.match(seg)
        if m and _ROLE_WORDS & set(_fold(m.group("role")).split()):
            candidates.append(m.group("org"))
            break
    for c in candidates:
        c = _strip_symbols(re.split(r"\s[|·•–—-]\s|[|·•,;()]|\.(?:\s|$)", c)[0]).strip(" .'\"-")
        folded = fold_org(c)
        if c and folded and folded not in _NOT_ORGS and folded not in table_names and len(c) <= 60:
            return c
    return ""


def _psl() -> PublicSuffixList:
    from .orgs import psl

    return psl()


def _host(url: str) -> str:
    url = url.strip().strip("<>()[]\"'.,")
    if "://" not in url:
        url = "http://" + url
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _domains(ev: dict[str, str], net: Network, sender_domain: str) -> frozenset[str]:
    found: list[str] = []
    if ev.get("website"):
        found.append(_host(ev["website"]))
    if ev.get("email") and "@" in ev["email"]:
        found.append(ev["email"].rpartition("@")[2].lower().strip(".>"))
    for text in (ev.get("headline", ""), ev.get("org", "")):
        for d in _DOMAIN_IN_TEXT.findall(text):
            if _psl().publicsuffix(d.lower(), accept_unknown=False):
                found.append(d.lower())
    handle = ev.get("handle", "").lstrip("@")
    if net.handle_is_domain and "." in handle and not handle.startswith("did:"):
        found.append(handle.lower())
    never = NEVER_ORG_DOMAINS | net.hosts | {registrable_domain(sender_domain)}
    out = set()
    for d in found:
        od = org_domain(d) if d else None
        if od and od not in never and registrable_domain(od) not in never:
            out.add(od)
    return frozenset(out)


def _key_part(handle: str) -> str:
    h = handle.strip().lstrip("@").lower()
    if "@" in h:  # fediverse: user@host -> host/user (a contact key must not look like an address)
        user, _, host = h.partition("@")
        h = f"{host}/{user}"
    return re.sub(r"[^a-z0-9._/:+-]+", "-", h).strip("-")


def _template(pattern: str, known: Mapping[str, str]) -> re.Pattern[str] | None:
    for ph in ("name", "handle"):
        token = "{" + ph + "}"
        if token in pattern:
            value = known.get(ph, "")
            if not value:
                return None
            pattern = pattern.replace(token, re.escape(value))
    try:
        return _cached(pattern)
    except re.error:
        return None


@lru_cache(maxsize=4096)
def _cached(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _FLAGS)


def _search(rx: re.Pattern[str], bodies: Sequence[str]) -> re.Match[str] | None:
    for b in bodies:
        m = rx.search(b)
        if m:
            return m
    return None


def _merge(into: dict[str, str], m: re.Match[str]) -> None:
    for k, v in m.groupdict().items():
        if v and k not in into:
            into[k] = v.strip()


def _labelled_people(rx: re.Pattern[str], bodies: Sequence[str]) -> int:
    if "name" not in rx.groupindex:
        return 0
    return max((len({_fold(m.group("name")) for m in rx.finditer(b)}) for b in bodies), default=0)


def _likely_profile(handles: list[str], name: str, bodies: Sequence[str], urls: Mapping[str, str]) -> str:
    """Of several profile links, the person's: a handle spelling part of the name ("jane-doe-8a1b"),
    else the first link after the name, else the first. (A header may link the recipient's own.)"""
    tokens = [t for t in _fold(name).split() if len(t) >= 3]
    for h in handles:
        if any(t in _fold(h).replace(" ", "") for t in tokens):
            return h
    if name:
        for b in bodies:
            at = b.find(name)
            if at < 0:
                continue
            after = [(b.find(urls[h], at), h) for h in handles if b.find(urls[h], at) >= 0]
            if after:
                return min(after)[1]
    return handles[0]


def parse_notification(msg: ParsedMessage, table: Sequence[Network] | None = None) -> SocialEvent | None:
    """The person a social network's notification is about, or None (not a notification of a known
    network, the network's own marketing, a digest, or no believable person in it)."""
    table = builtin_networks() if table is None else table
    net = network_of(msg, table)
    if net is None:
        return None
    subject = _strip_symbols(msg.subject)
    if any(rx.search(subject) for rx in (*DIGEST_SUBJECTS, *net.ignore_subjects)):
        return None
    bodies = _bodies(msg)
    got: dict[str, str] = {}
    rule: EventRule | None = None
    for ev in net.events:
        found: dict[str, str] = {}
        if ev.subject is not None:
            m = ev.subject.search(subject)
            if not m:
                continue
            _merge(found, m)
        if ev.body is not None:
            if _labelled_people(ev.body, bodies) > 1:
                return None  # a list of registrations: a digest
            mb = _search(ev.body, bodies)
            if not mb:
                continue
            _merge(found, mb)
        rule, got = ev, found
        break
    if rule is None:
        return None

    table_names = frozenset(n for t in table for n in (t.key, fold_org(t.name), "".join(_fold(t.name).split())))
    if got.get("name"):
        got["name"] = clean_name(got["name"])
    for pattern in (*net.fields, *GENERIC_FIELDS):
        rx = _template(pattern, got)
        if rx is None:
            continue
        m = _search(rx, bodies)
        if m:
            _merge(got, m)
            if got.get("name"):
                got["name"] = clean_name(got["name"])

    profile_url = ""
    if net.profile is not None:
        handles: dict[str, str] = {}
        for b in bodies:
            for m in net.profile.finditer(b):
                h = m.group("handle")
                if h.lower() in net.not_handles:
                    continue
                if net.fediverse and "@" not in h and m.groupdict().get("host"):
                    h = f"{h}@{m.group('host')}"
                handles.setdefault(h.lower(), m.group(0).split("?")[0].split("#")[0])
        if len(handles) > net.max_profiles:
            return None  # a digest of profiles
        known = got.get("handle", "").lstrip("@").lower()
        if known and net.fediverse and "@" not in known and msg.sender is not None:
            known = f"{known}@{msg.sender.domain}"
        if known and known in handles:
            profile_url = handles[known]
        elif not known and handles:
            h = _likely_profile(list(handles), got.get("name", ""), bodies, handles)
            got["handle"], profile_url = h, handles[h]
        if known:
            got["handle"] = known

    name = got.get("name", "")
    if name and not _plausible_name(name, table_names):
        return None
    if not name and not got.get("handle"):
        return None
    headline = _strip_symbols(got.get("headline", ""))
    if _NOT_HEADLINE.search(headline) or (name and _fold(headline) == _fold(name)):
        headline = ""
    organisation = _org_of(got.get("org", ""), headline, table_names)
    got["headline"] = headline
    return SocialEvent(
        network=net.name,
        network_key=net.key,
        kind=rule.kind,
        noun=rule.noun,
        name=name,
        handle=got.get("handle", "").lstrip("@"),
        profile_url=profile_url,
        headline=headline,
        organisation=organisation,
        domains=_domains(got, net, msg.sender.domain if msg.sender else ""),
        date=msg.date,
        message_id=msg.message_id,
        subject=msg.subject,
    )


# -- contacts ------------------------------------------------------------------------------


def social_contact(ev: SocialEvent, at: datetime) -> Contact:
    """The contact a notification makes: synthetic address, the network and handle as its source,
    the organisation (folded, as the ledger indexes it) and the profile's domains."""
    c = make_contact(
        email=ev.key, name=ev.who, since=at, how=f"{ev.kind} on {ev.network}",
        message_id=ev.message_id, subject=ev.subject, named_domains=ev.domains, source="social",
        network=ev.network, handle=ev.handle, role=ev.headline,
    )
    # make_contact would read an organisation out of the name ("Jane" -> "jane"); a social
    # contact's organisation is only what the profile says.
    return replace(c, org_name=ev.organisation or "")


def learned_line(ev: SocialEvent, at: datetime) -> str:
    """'new social contact: Jane Doe (followed you on GitHub on 3 Oct 2026)'."""
    return f"new social contact: {ev.who} ({ev.kind} on {ev.network} on {at.day} {at:%b %Y})"


def kept_reason(ev: SocialEvent | None, net: Network, sender: str) -> str:
    """Why a network's own mail is not linked to anyone."""
    if ev is not None:
        return (f"{net.name} notification: {ev.describe()}; the notification is the network's mail, "
                f"never promotion from {ev.who}")
    return f"mail from {net.name} ({sender}): the network's own mail is not linked to any contact"


def noun_of(c: Contact, table: Iterable[Network] | None = None) -> str:
    """The short noun of a social contact's event ('follow'), from its ``how``."""
    for kind, noun in KIND_NOUNS.items():
        if c.how.startswith(kind):
            return noun
    for net in table or builtin_networks():
        for ev in net.events:
            if c.how.startswith(ev.kind):
                return ev.noun
    return "notification"


def link_evidence(c: Contact) -> str:
    """The evidence line a link to a social contact ends with; names the notification."""
    d = f"{c.since:%Y-%m-%d}"
    return (f"contact since {d} via social contact ({c.network} {noun_of(c)}): "
            f"{c.name} {c.how} on {d}" + (f' ("{c.subject}")' if c.subject else ""))


