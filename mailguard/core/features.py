"""ParsedMessage -> Features for the promo model and the rules. Pure.

Words drift across years and senders; headers and structure travel better. So the model sees both:
``text`` (subject, the start of the visible body and a few header tokens) and ``numeric`` (a fixed
vector of structural signals, named in :data:`NUMERIC_NAMES`).

``bulk_signals`` and ``discussion_list`` are what the rules explain a decision with; they are
independent of the model.

Speed matters (every message of a mailbox passes here): patterns run on lower-cased text without
``re.IGNORECASE``, behind a cheap substring test where one is possible, and only on bounded slices.
"""

from __future__ import annotations

import html as htmllib
import math
import re
from dataclasses import dataclass
from operator import methodcaller

from .categories import transactional_reason, transactional_subject
from .contacts import TICKET_HEADERS
from .identity import esp_of, registrable_domain
from .parse import ParsedMessage, pickled_by_fields

#: The model's structural inputs. Whether a message came through a mailing list is left out on
#: purpose: in training data most personal mail may be list traffic (it is in the SpamAssassin
#: corpus), and a model that learns "not a list, so promotion" fails on the person-to-person and
#: feed mail of another mailbox. The rules handle discussion lists themselves; the model sees only
#: ``marketing_list``: list or bulk headers on mail that is *not* a discussion list.
NUMERIC_NAMES: tuple[str, ...] = (
    "marketing_list",
    "one_click_unsubscribe",
    "esp",
    "feedback_id",
    "log_recipients",
    "no_visible_recipient",
    "html_share",
    "html_only",
    "log_links",
    "log_images",
    "tracking_pixel",
    "unsubscribe_text",
    "view_in_browser_text",
    "is_reply",
    "quoted_text",
    "log_attachments",
    "log_body_chars",
    "subject_caps",
    "subject_exclaim",
    "money_marks",
    "has_signature_dashes",
    "auto_submitted",
    "in_thread",
    "reply_subject_without_thread",
    "from_without_name",
    "reply_to_elsewhere",
    "priority_high",
    "log_html_layout",
    "log_call_to_action",
    "body_caps",
    "link_density",
    "role_sender",
    "sender_digits",
    "message_id_elsewhere",
    "personal_mailer",
    "non_latin_share",
    # what tells account and notification mail (transactional) from promotion
    "report_part",
    "calendar_part",
    "transactional_subject",
    "tracker_headers",
    "noreply_sender",
    "diff_text",
    "subject_number",
    "delivery_words",
    "tracking_number",
    "order_reference",
)

#: Fewer letters than this in the body: no share of capitals (``body_caps`` is 0).
MIN_CAPS_LETTERS = 20
#: Characters of body text given to the word model (the start of a message says what it is).
TEXT_CHARS = 4000

_TAG = re.compile(r"<[^>]*>", re.S)
# Hostile HTML ("<img <img <img ...", "<script>" never closed) must not make these quadratic: a
# block that is not closed ends where the next one of its kind opens, and a tag does not span a "<".
# The block's content is what the lazy ".*?(?:</\1\s*>|(?=<\1\b))" matched, read a run without "<"
# at a time (both ends start with "<"): the same matches, without trying both ends at every character.
_STYLE = re.compile(r"<(style|script|head)\b(?:[^<]++|<(?!/\1\s*>|\1\b))*+(?:</\1\s*>|(?=<\1\b))", re.S | re.I)
_LINK = re.compile(r"""<a\b[^<>]*href\s*=\s*["']?https?://""", re.I)
#: _LINK for lower-cased HTML: the same number of matches where there is no "ſ" (which IGNORECASE
#: matches to the "s" of "https"; no other character matches a letter of the pattern, and
#: lower-casing keeps every other character's class, tests/test_fast_paths.py checks it)
_LINK_LOW = re.compile(_LINK.pattern)
_PIXEL = re.compile(
    r"""<img\b[^<>]*(?:width\s*=\s*["']?[01]["'\s>/]|height\s*=\s*["']?[01]["'\s>/]|"""
    r"""display\s*:\s*none|/open(?:\.gif|\.png|\?|/)|/track|pixel)""",
    re.I,
)
_PIXEL_LOW = re.compile(_PIXEL.pattern)
# The patterns below run on lower-cased text: same matches as with re.I, several times faster.
#: Unsubscribe footers: every string the pattern "unsubscribe|opt[- ]?out|manage (?:your )?(?:preferences|
#: subscription)|email preferences|no longer wish to receive|remove (?:me|yourself) from" matches,
#: looked for as substrings of lower-cased text (str.__contains__: C speed, no pattern)
UNSUBSCRIBE_PHRASES = ("unsubscribe", "opt-out", "opt out", "optout", "manage preferences", "manage subscription",
                       "manage your preferences", "manage your subscription", "email preferences",
                       "no longer wish to receive", "remove me from", "remove yourself from")
_VIEW_BROWSER = re.compile(r"view (?:this|it|in|as a|the)?\s*(?:email |message )?(?:in|on) (?:your|a|the)?\s*"
                           r"(?:browser|web)|view online|web version|trouble (?:viewing|reading)")
#: what each alternative of _VIEW_BROWSER starts with
_VIEW_HINTS = ("view", "web version", "trouble")
# Money marks: a currency sign before a number, "N% off", and a few words (whole words only; the
# boundary is checked in Python because a leading \b makes the pattern several times slower).
_MONEY_SIGN = re.compile(r"[$€£]\s?\d")
_PERCENT_OFF = re.compile(r"\d\s?%\s?off")
#: money words (whole words only): none is part of another and no two occurrences overlap, so
#: counting each with str.find finds what the pattern "free|discount|sale|offer|deal" would
_MONEY_WORDS = ("free", "discount", "sale", "offer", "deal")
#: Calls to action, counted as plain substrings of lower-cased text, grouped under a word they
#: share so that most texts need one ``in`` test per group (str methods run at C speed).
CALLS_TO_ACTION: dict[str, tuple[str, ...]] = {
    "click": ("click here", "click below", "click now"),
    " now": ("order now", "buy now", "act now", "shop now", "call now", "sign up now", "apply now",
             "subscribe now"),
    "guarantee": ("guarantee",),
    "offer": ("special offer",),
    "obligation": ("no obligation",),
    "limited": ("limited time", "limited-time", "for a limited"),
    "money": ("money back", "money-back"),
    "risk": ("risk free", "risk-free"),
    "save up": ("save up to",),
    "learn more": ("learn more",),
    "started": ("get started",),
    " today": ("order today", "sign up today"),
}
#: Characters of a message's text looked at for the mark of a forward.
FWD_CHARS = 20000
#: Characters of the text part looked at for quoted lines.
QUOTE_CHARS = 20000
#: HTML longer than this is read as its first HTML_HEAD and last HTML_TAIL characters.
HTML_CHARS = 32000
HTML_HEAD = 24000
HTML_TAIL = 8000
_HTML_LAYOUT = re.compile(r"<(?:table|td|font)\b|bgcolor")
#: _HTML_LAYOUT's alternatives one by one: none can overlap another or itself, so the matches of
#: the whole are those of the parts, each found by a scan for its first characters (at C speed;
#: the whole tries both alternatives at every "<" and "b")
_HTML_LAYOUT_PARTS = (re.compile(r"<table\b"), re.compile(r"<td\b"), re.compile(r"<font\b"), re.compile("bgcolor"))
_NON_LATIN = re.compile("[^\x00-\u024f]")
_REPLY_SUBJ = re.compile(r"^\s*(re|aw|sv|antw|r|rif)\s*:", re.I)
_WORDS = re.compile(r"[^\W\d_]{2,24}", re.U)
_ROLE = re.compile(
    r"(?:info|news|newsletters?|no-?reply|do-?not-?reply|marketing|sales|offers?|deals?|promos?|promotions?|"
    r"hello|team|updates?|mail|mailer|webmaster|support|service|customerservice|subscriptions?|editor|"
    r"admin|contact|announce|bounces?|campaigns?|digest|list)\b"
)
_MAILER_FAMILY = re.compile(r"[a-z][a-z0-9.-]{1,20}")
#: Mail programs people write with (User-Agent / X-Mailer family), as opposed to bulk senders.
PERSONAL_MAILERS = frozenset(
    """mutt mozilla thunderbird exmh sylpheed sylpheed-claws claws-mail ximian evolution kmail apple gnus
    emacs vm pine alpine mh nmh mulberry pegasus squirrelmail roundcube horde imp eudora entourage
    microsoft-entourage mail mailmate postbox airmail spark canary protonmail tutanota geary balsa
    mew wanderlust notmuch aerc neomutt k-9 fairemail""".split()
)
_PRIORITY_HIGH = re.compile(r"^\s*[12]\b|high|urgent", re.I)
#: Header-name prefixes of issue trackers, code review, CI and help desks (notification mail)
TRACKER_HEADER_PREFIXES = ("x-bugzilla-", "x-github-", "x-gitlab-", "x-gitea-", "x-jira-", "x-redmine-",
                           "x-patchwork-", "x-launchpad-", "x-phabricator-", "x-gerrit-", "x-git-",
                           "x-trac-", "x-mantis-", "x-jenkins-", "x-buildbot-", "x-kernelci-", "x-sentry-",
                           "x-pagerduty-", *TICKET_HEADERS)
_TRACKER_HEADER = methodcaller("startswith", TRACKER_HEADER_PREFIXES)
#: the header names compared with each prefix: those starting with "x-" when every prefix does
#: (they all do), else all (filter(None, ...))
_X_HEADER = methodcaller("startswith", "x-")
_MAY_TRACK = _X_HEADER if all(map(_X_HEADER, TRACKER_HEADER_PREFIXES)) else None
#: Pieces of a sender's local part that mark a system sending on someone's behalf
NOREPLY_MARKS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
                 "notification", "notify", "alert", "mailer-daemon", "postmaster", "daemon", "bounce",
                 "automat", "robot", "bot", "cron", "root", "bugzilla", "jira", "build", "jenkins",
                 "commits", "cvs", "svn", "tracker", "patchwork", "receipt", "billing", "invoice",
                 "account", "security", "verify", "calendar")
#: Line starts of patches, commit and build mail
DIFF_MARKS = ("\ndiff --git", "\n+++ ", "\n@@ -", "\nIndex: ", "\nModified Files:", "\nAdded Files:",
              "\nRevision: ", "\ncommit ", "\nBuild ", "\nbuild ", "\nTest ", "\nFAILED", "\nPASSED")
# Each mark is a line start ("\n") and then text without one, and none is the start of another: at
# each "\n" at most one mark matches, so the marks present are the distinct matches of one pattern
# that runs to each "\n" at C speed (instead of one substring search per mark)
_DIFF_MARK = re.compile("\n(?:" + "|".join(re.escape(m[1:]) for m in DIFF_MARKS) + ")")
_SUBJECT_NUMBER = re.compile(r"\d{4,}|#\s?\d")
#: Words of parcel and delivery notices (any carrier, several languages), counted once each
DELIVERY_WORDS = ("delivered", "delivery", "parcel", "package", "shipment", "shipped", "tracking",
                  "courier", "carrier", "in transit", "dispatched", "on its way", "zugestellt", "sendung",
                  "paket", "lieferung", "paczk", "przesyłk", "colis", "livraison", "envío", "paquete")
# Carrier tracking codes on lower-cased text: UPS 1Z..., UPU S10 (two letters, nine digits, two
# letters), long digit runs (FedEx, USPS, DHL); and order references ("order #A-1234", "order no. 55").
_TRACKING = re.compile(r"\b(?:1z[0-9a-z]{16}|[a-z]{2}\d{9}[a-z]{2}|\d{12,22})\b")
# On the text encoded to ASCII (any other character one "?"), ASCII digits become "0", every other
# byte a space: a run of nine digits is then a substring test (bytes.translate: C speed, unlike
# str.translate), and the tracking pattern runs only where one is
_DIGIT_MASK = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_ORDER_WORDS = ("order", "bestellung", "commande", "pedido", "zamówi")
_ORDER_WORDS_ASCII = tuple(w for w in _ORDER_WORDS if w.isascii())  # what ASCII text can hold
_ORDER_REF = re.compile(r"\b(?:order|bestellung|commande|pedido|zamówieni\w*)\s?(?:#|no\.?|nr\.?|number|nummer|n°|:)?\s?"
                        r"#?[a-z]{0,4}-?\d[\d-]{2,}")


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Features:
    """Model input and the bulk signals the rules explain themselves with."""

    text: str
    numeric: tuple[float, ...]
    esp: str | None
    bulk_signals: tuple[str, ...]
    discussion_list: bool
    #: a forward: the signals and words above are the forwarder's own, not the forwarded message's
    forward: bool = False
    #: False when the content could not be understood (undecodable, random bytes, nearly no text)
    understood: bool = True
    understood_note: str = ""
    #: header tokens (``extract(..., header_tokens=True)``), for models trained on one mailbox
    header_tokens: tuple[str, ...] = ()
    #: why the rules' structural/subject check calls the message transactional, or None
    #: (:func:`mailguard.core.categories.transactional_reason`)
    transactional_reason: str | None = None

    @property
    def is_bulk(self) -> bool:
        return bool(self.bulk_signals)

    def value(self, name: str) -> float:
        return self.numeric[NUMERIC_NAMES.index(name)]


def html_to_text(html: str, low: str | None = None) -> str:
    """The text of HTML; ``low`` is ``html.lower()`` when the caller has it."""
    if low is None:
        low = html.lower()
    # _STYLE can only match where one of these opens ("ſ" folds to "s" under re.I)
    if "<style" in low or "<script" in low or "<head" in low or "\u017f" in low:
        s = _STYLE.sub(" ", html)
    else:
        s = html
    end = s.rfind(">") + 1  # no tag after the last ">": looking for one there is quadratic
    s = _TAG.sub(" ", s[:end]) + s[end:]
    return htmllib.unescape(s) if "&" in s else s


def _log(n: float) -> float:
    return math.log1p(max(n, 0.0))


def _view_in_browser(low: str) -> bool:
    """Whether _VIEW_BROWSER matches lower-cased text: tried only where one of _VIEW_HINTS is (each
    of its alternatives starts with one), not at every character."""
    find, match = low.find, _VIEW_BROWSER.match
    for hint in _VIEW_HINTS:
        at = find(hint)
        while at >= 0:
            if match(low, at) is not None:
                return True
            at = find(hint, at + 1)
    return False


def mailer_family(msg: ParsedMessage) -> str:
    """'mutt', 'microsoft', 'apple' ...: the first word of User-Agent or X-Mailer, or ''."""
    value = (msg.header("user-agent") or msg.header("x-mailer")).lower()
    m = _MAILER_FAMILY.search(value[:80])
    return m.group(0).rstrip(".-") if m else ""


def _domain_of_message_id(mid: str) -> str:
    at = mid.rfind("@")
    return mid[at + 1:].strip(" <>").lower() if at >= 0 else ""


def _non_latin_share(s: str) -> float:
    if not s or s.isascii():
        return 0.0
    return len(_NON_LATIN.findall(s)) / len(s)


_ASCII_UPPER = bytes(range(65, 91))
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))


def _caps_share(s: str, min_letters: int = 1) -> float:
    """Upper-case share of the ASCII letters of ``s`` (bytes.translate: C speed); 0 with fewer than
    ``min_letters`` letters."""
    b = s.encode("ascii", "ignore")
    letters = len(b) - len(b.translate(None, _ASCII_LETTERS))
    if not letters or letters < min_letters:
        return 0.0
    return (len(b) - len(b.translate(None, _ASCII_UPPER))) / letters


def _quoted(text: str) -> bool:
    """Whether a line of the first QUOTE_CHARS characters of ``text`` starts with ">" (what the
    pattern ``(?:^|[\r\n])>`` finds), with str.find at C speed."""
    return (text.startswith(">") or text.find("\n>", 0, QUOTE_CHARS) >= 0
            or text.find("\r>", 0, QUOTE_CHARS) >= 0)


def _links(html: str, low: str) -> int:
    """How many links to web pages ``html`` has (_LINK's matches), ``low`` being html.lower()."""
    if not html:
        return 0
    return len(_LINK.findall(html) if "\u017f" in html else _LINK_LOW.findall(low))


def _layout_marks(low: str) -> int:
    """_HTML_LAYOUT's matches in the first 10,000 characters of lower-cased HTML."""
    return sum(len(rx.findall(low, 0, 10000)) for rx in _HTML_LAYOUT_PARTS) if low else 0


def _tracking_number(low: str) -> bool:
    """A carrier tracking code in lower-cased text (see _TRACKING)."""
    if "1z" not in low and b"000000000" not in low.encode("ascii", "replace").translate(_DIGIT_MASK):
        return False
    return _TRACKING.search(low) is not None


def _groups(words: tuple[str, ...], parts: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``words`` under the first of ``parts`` each holds, to be looked for only where that part is
    (each substring test reads the whole text, however long the word: one for several words
    that are mostly absent); a word that holds none is its own part, with no words under it."""
    under = tuple((p, tuple(w for w in words if p in w)) for p in parts)
    alone = tuple((w, ()) for w in words if not any(p in w for p in parts))
    return tuple(g for g in under if g[1]) + alone


def _count_grouped(low: str, groups: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """How many of the grouped words (see _groups) are in ``low``: the sum of their substring tests."""
    n = 0
    for part, words in groups:
        if part in low:
            n += sum(map(low.__contains__, words)) if words else 1
    return n


#: UNSUBSCRIBE_PHRASES under what several share
_UNSUBSCRIBE_GROUPS = _groups(UNSUBSCRIBE_PHRASES, ("opt", "manage ", "remove "))


def _unsubscribe_text(low: str) -> bool:
    """Whether lower-cased text has an unsubscribe footer's words (see UNSUBSCRIBE_PHRASES)."""
    for part, words in _UNSUBSCRIBE_GROUPS:
        if part in low and (not words or any(map(low.__contains__, words))):
            return True
    return False


#: DELIVERY_WORDS under what several share; those with a letter beyond ASCII apart (ASCII text,
#: most of it, cannot hold them)
_DELIVERY_GROUPS = _groups(tuple(w for w in DELIVERY_WORDS if w.isascii()), ("deliver", "ship", "rier"))
_DELIVERY_OTHER = _groups(tuple(w for w in DELIVERY_WORDS if not w.isascii()), ())


def _delivery_words(low: str) -> int:
    """How many DELIVERY_WORDS are in lower-cased text (each counted once)."""
    n = _count_grouped(low, _DELIVERY_GROUPS)
    return n if low.isascii() else n + _count_grouped(low, _DELIVERY_OTHER)


def _diff_text(sample: str) -> bool:
    """Whether two different DIFF_MARKS are in ``sample`` (patches, commit and build mail)."""
    return len(set(_DIFF_MARK.findall(sample))) >= 2


def _has_border(p: str) -> bool:
    """Whether ``p`` has a proper prefix that is also its suffix (so its occurrences can overlap)."""
    return any(p[:k] == p[-k:] for k in range(1, len(p)))


def _key_positions(key: str, phrases: tuple[str, ...]) -> tuple[bool, tuple[str, ...]] | None:
    """How the phrases of a group can be counted at the occurrences of its key: (True, the rest
    of each phrase after the key) when they all start with it, (False, what comes before it) when
    they all end with it; None if that count could differ from the sum of ``str.count``: a phrase
    whose occurrences can overlap (str.count counts those once), or two phrases that can occur
    at the same key (one rest the start, or the end, of another)."""
    if any(map(_has_border, phrases)) or len(set(phrases)) < len(phrases):
        return None
    if all(p.startswith(key) for p in phrases):
        rests = tuple(p[len(key):] for p in phrases)
        if not any(a != b and b.startswith(a) for a in rests for b in rests):
            return True, rests
    if all(p.endswith(key) for p in phrases):
        rests = tuple(p[:len(p) - len(key)] for p in phrases)
        if not any(a != b and b.endswith(a) for a in rests for b in rests):
            return False, rests
    return None


_CTA_GROUPS = tuple((key, phrases, _key_positions(key, phrases)) for key, phrases in CALLS_TO_ACTION.items())


def _order_reference(low: str) -> bool:
    """Whether _ORDER_REF matches lower-cased text: tried only where one of _ORDER_WORDS occurs
    (a match starts with one), not at every character."""
    find = low.find
    for w in _ORDER_WORDS if not low.isascii() else _ORDER_WORDS_ASCII:
        i = find(w)
        while i >= 0:
            if _ORDER_REF.match(low, i) is not None:  # \b still sees the character before i
                return True
            i = find(w, i + 1)
    return False


def _calls_to_action(low: str, groups: tuple[tuple[str, tuple[str, ...], tuple[bool, tuple[str, ...]] | None], ...]
                     = _CTA_GROUPS, within: str | None = None) -> int:
    """Occurrences of CALLS_TO_ACTION phrases (the sum of str.count of each). Where a group allows
    it (see _key_positions), each occurrence of the key is looked at once (a phrase starts or ends
    there, or not) instead of a count of each phrase through the whole text.

    ``within``, when ``low`` is ``within``, a space and a part of ``within`` (a short text read
    twice): a key without a space is in ``low`` only if it is in ``within``, looked for there first."""
    n = 0
    find = low.find
    for key, phrases, at_key in groups:
        if within is not None and " " not in key and key not in within:
            continue
        i = find(key)
        if i < 0:
            continue
        if at_key is None:
            n += sum(low.count(p) for p in phrases)
            continue
        after, rests = at_key
        while i >= 0:
            if low.startswith(rests, i + len(key)) if after else low.endswith(rests, 0, i):
                n += 1
            i = find(key, i + 1)
    return n


def _percents_off(low: str) -> int:
    """How many times _PERCENT_OFF matches ("20% off"): tried only where a "%" is, not at every
    digit. A match holds one "%" and starts at the digit right before it or one whitespace
    before that; no two share a "%"."""
    n = 0
    find, match = low.find, _PERCENT_OFF.match
    at = find("%", 1)
    while at >= 0:
        if match(low, at - 1) is not None or (at >= 2 and match(low, at - 2) is not None):
            n += 1
        at = find("%", at + 1)
    return n


def _money_marks(low: str) -> int:
    n = len(_MONEY_SIGN.findall(low)) if "$" in low or "€" in low or "£" in low else 0
    if "%" in low:
        n += _percents_off(low)
    end = len(low)
    find = low.find
    for w in _MONEY_WORDS:  # whole words only
        a = find(w)
        while a >= 0:
            b = a + len(w)
            if (a == 0 or not low[a - 1].isalnum()) and (b == end or not low[b].isalnum()):
                n += 1
            a = find(w, b)
    return n


_FWD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|i|vs|doorst)\s*:", re.I)
_FWD_MARK = re.compile(
    r"^[ \t>]*+(?:-{2,}+\s*+(?:forwarded message|original message|weitergeleitete nachricht|"
    r"message transf[ée]r[ée]|mensaje reenviado)\s*-{2,}|begin forwarded message:)",
    re.I | re.M)


def forwarded_own_words(msg: ParsedMessage) -> str | None:
    """For a forward, the forwarder's own words (what comes before the forwarded message); else
    None. A forward is judged on what the forwarder wrote, not on the newsletter it carries."""
    return _own_words(msg, _plain_text(msg))


def _plain_text(msg: ParsedMessage) -> str:
    """The text a forward is looked for in: the text part, else the start of the HTML's text."""
    return msg.text or (html_to_text(msg.html[:HTML_CHARS]) if msg.html else "")


def _own_words(msg: ParsedMessage, text: str) -> str | None:
    """:func:`forwarded_own_words` given the message's text (its HTML's when it has none)."""
    at = _forward_mark(text)
    if at < 0:
        if "message/rfc822" in msg.content_types and _FWD_SUBJECT.match(msg.subject):
            return text
        return None
    return text[:at]


def _forward_mark(text: str) -> int:
    """Where _FWD_MARK.search(text, 0, FWD_CHARS) matches, or -1, trying the pattern only where it
    can match. It needs "begin forwarded message:", whose "orwarded" IGNORECASE matches only in
    ASCII letters, or a line that holds "--": without "orwarded" the pattern is tried only at the
    start of each line with a "--" (each line once: linear), not at every line start."""
    if "orwarded" in text[:FWD_CHARS].lower():
        m = _FWD_MARK.search(text, 0, FWD_CHARS)
        return -1 if m is None else m.start()
    find = text.find
    dash = find("--", 0, FWD_CHARS)
    while dash >= 0:
        start = text.rfind("\n", 0, dash) + 1  # where "^" (MULTILINE) matches: after a "\n"
        if _FWD_MARK.match(text, start, FWD_CHARS) is not None:
            return start
        end = find("\n", dash)
        if end < 0:
            return -1
        dash = find("--", end, FWD_CHARS)
    return -1


#: what a body that did not decode is made of: replacement characters, C0 (but tab and line ends)
#: and C1 controls, DEL
_UNDECODED = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), *range(0x7f, 0xa0), 0xfffd]}
_UNDECODED_ASCII = bytes(c for c in _UNDECODED if c < 128)
_UNDECODED_OTHER = frozenset(chr(c) for c in _UNDECODED if c >= 128)
_ASCII_BYTES = bytes(range(128))


def _understood(msg: ParsedMessage, text: str) -> str:
    """'' when the content reads as text; else what is wrong with it."""
    sample = text[:4000]
    stripped = sample.strip()
    if len(stripped) < 3 and not msg.subject.strip():
        return "empty message"
    if not stripped:
        return "" if msg.subject.strip() and msg.n_attachments else "no body text"
    # the ASCII characters counted on the UTF-8 bytes at C speed (ASCII letters are A-Z and a-z;
    # the bytes of other characters are all >= 0x80), the others one by one
    b = sample.encode("utf-8", "surrogatepass")
    bad = len(b) - len(b.translate(None, _UNDECODED_ASCII))
    letters = len(b) - len(b.translate(None, _ASCII_LETTERS))
    if not sample.isascii():
        # the other characters: their UTF-8 bytes are all >= 0x80, so the bytes left once the
        # ASCII ones are deleted decode to them, in order (at C speed, unlike a pattern's findall)
        others = b.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
        bad += sum(map(_UNDECODED_OTHER.__contains__, others))
        letters += sum(map(str.isalpha, others))
    if bad / len(sample) > 0.05:
        return "the body does not decode as text"
    if len(stripped) > 40 and letters / len(sample) < 0.3:
        return "the body is not language"
    return ""


# Header tokens: characters kept inside a token (addresses, host names, versions); the rest splits.
_HTOKEN_TABLE = str.maketrans({c: " " for c in map(chr, range(128))
                               if not (c.isalnum() or c in ".-@_")})
#: Headers read for header tokens, each with its token prefix; addresses and hosts are kept whole.
_ADDRESS_HEADERS = (("to", "to"), ("cc", "to"), ("reply-to", "rt"), ("return-path", "rp"),
                    ("sender", "snd"), ("errors-to", "err"), ("delivered-to", "dto"))
MAX_RECEIVED = 4
MAX_HEADER_NAMES = 60


def _split_tokens(value: str, limit: int = 600) -> list[str]:
    return value[:limit].lower().translate(_HTOKEN_TABLE).split()


def _host_tokens(prefix: str, value: str, out: list[str]) -> None:
    """Host names (whole and their last two labels), addresses and /24 networks in a header."""
    for t in _split_tokens(value):
        t = t.strip(".-_")
        if "@" in t:
            out.append(f"{prefix}:{t}")
            t = t.rpartition("@")[2]
            out.append(f"{prefix}:@{t}")
            continue
        if "." not in t or len(t) < 4:
            continue
        parts = t.split(".")
        if all(p.isdigit() for p in parts):
            if len(parts) == 4:
                out.append(f"{prefix}:ip{'.'.join(parts[:3])}")
            continue
        if not any(c.isalpha() for c in parts[-1]):
            continue  # a version number, not a host
        out.append(f"{prefix}:{t}")
        if len(parts) > 2:
            out.append(f"{prefix}:{'.'.join(parts[-2:])}")


def header_tokens(msg: ParsedMessage) -> tuple[str, ...]:
    """Tokens of the headers that identify where a message came from in *one* mailbox: sender and
    recipient addresses, Received hosts and networks, the Message-ID's domain, the mail program,
    DKIM domain, list, content type, and the names of the header fields present. They are reliable
    within one person's mail (what bogofilter learns) and do not travel between mailboxes, so only
    models trained on the user's own mail use them."""
    out: list[str] = []
    h = msg.headers
    if msg.sender is not None:
        out.append(f"from:{msg.sender.email}")
        out.append(f"from:@{msg.sender.domain}")
        out.extend(f"fname:{w}" for w in _split_tokens(msg.sender.name, 80)[:6])
    for name, prefix in _ADDRESS_HEADERS:
        for v in h.get(name, ())[:2]:
            _host_tokens(prefix, v, out)
    for v in h.get("received", ())[:MAX_RECEIVED]:
        _host_tokens("rcvd", v, out)
    mid = msg.message_id
    at = mid.rfind("@")
    if at >= 0:
        out.append("mid:" + mid[at + 1:].strip(" <>").lower()[:80])
    else:
        out.append("mid:none" if not mid else "mid:noat")
    mailer = (msg.header("x-mailer") or msg.header("user-agent"))[:80]
    out.extend(f"xm:{w}" for w in _split_tokens(mailer, 80)[:6])
    dkim = msg.header("dkim-signature")
    i = dkim.find("d=")
    if i >= 0:
        out.extend(f"dkim:{w}" for w in _split_tokens(dkim[i + 2:i + 80], 80)[:1])
    for name in ("list-id", "x-beenthere", "mailing-list", "precedence", "x-loop"):
        v = msg.header(name)
        if v:
            out.extend(f"{name}:{w}" for w in _split_tokens(v, 120)[:4])
    out.extend(f"ct:{t}" for t in sorted(msg.content_types)[:8])
    out.extend(f"hn:{n}" for n in list(h)[:MAX_HEADER_NAMES])
    return tuple(out)


def extract(msg: ParsedMessage, *, with_header_tokens: bool = False) -> Features:
    """The features of one message; ``with_header_tokens`` adds :func:`header_tokens` (only models
    trained on the user's own mail use them)."""
    # the text forwarded_own_words reads (_plain_text): the same as html_text below when there is
    # only short HTML, and then the HTML below is the string own_low was made from
    own_html = msg.html[:HTML_CHARS] if not msg.text else ""
    own_low = own_html.lower()
    own_text = msg.text or (html_to_text(own_html, own_low) if own_html else "")
    own = _own_words(msg, own_text)
    if own is not None:
        from dataclasses import replace as _replace
        msg = _replace(msg, text=own, html="", n_images=0)
    h = msg.headers
    lu = msg.header("list-unsubscribe")
    precedence = msg.header("precedence").lower()
    list_id = "list-id" in h
    # Mailman and friends: a list people post to, not a marketing list.
    discussion = (
        ("list-post" in h and "mailto:" in msg.header("list-post").lower())
        or "x-mailman-version" in h
        or "x-beenthere" in h
        or "mailing-list" in h
        or "x-google-group-id" in h
        or ("list-archive" in h and "list-help" in h)
    )
    esp = esp_of(msg)
    full_html = msg.html
    total = len(msg.text) + len(full_html)
    html_share = len(full_html) / total if total else 0.0
    # A long HTML part is read at its start and its end (where footers and tracking pixels are).
    html = full_html if len(full_html) <= HTML_CHARS else full_html[:HTML_HEAD] + full_html[-HTML_TAIL:]
    html_low = (own_low if html is own_html else html.lower()) if html else ""
    html_text = (own_text if own is None and not msg.text and html is full_html
                 else html_to_text(html, html_low)) if html else ""
    text = msg.text
    has_text = bool(text) and not text.isspace()  # bool(text.strip()), without copying the text
    body = text if has_text else html_text
    start = body[:5000]
    start_low = start.lower()
    n_links = _links(html, html_low) + text.count("://", 0, 20000)
    # on ASCII HTML, IGNORECASE matches what the lower-cased text matches without it
    pixel = bool(html and "<img" in html_low
                 and (_PIXEL_LOW.search(html_low) if html.isascii() else _PIXEL.search(html)))
    # the end and the start of what a reader sees, lower-cased once
    visible = body[-4000:].lower() if len(body) > 5000 else start_low[-4000:]
    if has_text and html_text:
        visible += " " + html_text[-4000:].lower()
    unsub_text = _unsubscribe_text(visible)
    head_low = start_low[:3000]
    if has_text and html_text:
        head_low += " " + html_text[:3000].lower()
    view_browser = _view_in_browser(head_low)
    in_thread = bool(msg.header("in-reply-to") or msg.header("references"))
    reply_subject = bool(_REPLY_SUBJ.match(msg.subject))
    is_reply = bool(msg.header("in-reply-to")) or reply_subject
    quoted = ">" in text and _quoted(text)
    recipients = len(msg.recipients)
    caps = _caps_share(msg.subject)
    auto = msg.header("auto-submitted").lower()

    money = _money_marks(msg.subject.lower() + " " + start_low)
    # a short body is all in start_low, and what is visible of it a part of that
    cta = _calls_to_action(start_low[:2000] + " " + visible[-1500:],
                           within=start_low if len(start_low) <= 2000 and not (has_text and html_text) else None)
    layout = _layout_marks(html_low)
    # a few words ("See you Thursday. Jane") are too short for a share of capitals to mean anything
    body_caps = _caps_share(start[:3000], MIN_CAPS_LETTERS)
    link_density = min(n_links / (len(body) / 1000 + 1.0), 20.0)

    sender = msg.sender
    local, _, sdomain = sender.email.rpartition("@") if sender else ("", "", "")
    sreg = registrable_domain(sdomain) if sdomain else ""
    reply_elsewhere = any(registrable_domain(a.domain) != sreg for a in msg.reply_to) if sreg else False
    mid_domain = _domain_of_message_id(msg.message_id)
    mid_elsewhere = bool(sreg) and (not mid_domain or registrable_domain(mid_domain) != sreg)
    family = mailer_family(msg)
    prio = msg.header("x-priority") or msg.header("x-msmail-priority") or msg.header("importance")
    types = msg.content_types
    tx_reason = transactional_reason(msg)
    tx_subject = transactional_subject(msg.subject) if tx_reason else None
    low_local = local.lower()
    diff_sample = "\n" + start[:3000]
    notice_low = msg.subject[:300].lower() + " " + start_low[:2000]

    numeric = (
        float((bool(lu) or precedence in ("bulk", "junk") or esp is not None) and not discussion),
        float("list-unsubscribe-post" in h),
        float(esp is not None),
        float("feedback-id" in h),
        _log(recipients),
        float(recipients == 0),
        html_share,
        float(bool(html) and not has_text),
        _log(n_links),
        _log(msg.n_images),
        float(pixel),
        float(unsub_text),
        float(view_browser),
        float(is_reply),
        float(quoted),
        _log(msg.n_attachments),
        _log(len(body)),
        caps,
        float(msg.subject.count("!")),
        _log(money),
        float("\n--" in text and ("\n-- \n" in text or "\n--\n" in text)),
        float(auto not in ("", "no")),
        float(in_thread),
        float(reply_subject and not in_thread),
        float(sender is not None and not sender.name),
        float(reply_elsewhere),
        float(bool(prio) and _PRIORITY_HIGH.search(prio) is not None),
        _log(layout),
        _log(cta),
        body_caps,
        link_density,
        float(_ROLE.match(local) is not None),
        float(sum(map(str.isdigit, local)) >= 3),
        float(mid_elsewhere),
        float(family in PERSONAL_MAILERS),
        _non_latin_share(msg.subject + " " + start[:1000]),
        float(bool(types & {"multipart/report", "message/delivery-status", "message/disposition-notification",
                            "message/feedback-report", "text/rfc822-headers"})),
        float(bool(types & {"text/calendar", "application/ics"})),
        float(tx_subject is not None),
        float(any(map(_TRACKER_HEADER, filter(_MAY_TRACK, h)))),
        float(any(map(low_local.__contains__, NOREPLY_MARKS))),
        float(_diff_text(diff_sample)),
        float(_SUBJECT_NUMBER.search(msg.subject[:300]) is not None),
        _log(_delivery_words(notice_low)),
        float(_tracking_number(notice_low)),
        float(_order_reference(notice_low)),
    )

    signals: list[str] = []
    if lu:
        signals.append("List-Unsubscribe" + (" with One-Click" if "list-unsubscribe-post" in h else ""))
    if precedence in ("bulk", "junk", "list"):
        signals.append(f"Precedence: {precedence}")
    if esp:
        signals.append(f"sent through {esp}")
    if "feedback-id" in h:
        signals.append("Feedback-ID")
    if pixel:
        signals.append("tracking pixel")
    if unsub_text and (html or lu):
        signals.append("unsubscribe footer")
    if view_browser:
        signals.append('"view in browser"')
    if list_id and not signals:
        signals.append("List-Id")

    # Text for the word model: the subject twice (short and telling), the start of the body, and
    # header tokens the vectorizer keeps whole (``__esp__``, ``__mailer_mutt__``).
    tokens = [msg.subject, msg.subject, body[:TEXT_CHARS]]
    if esp:
        tokens.append("__esp__")
    if family:
        tokens.append(f"__mailer_{family.replace('-', '_').replace('.', '_')}__")
    note = _understood(msg, body)
    return Features(
        text=" ".join(tokens),
        numeric=numeric,
        esp=esp,
        bulk_signals=tuple(signals),
        discussion_list=discussion,
        forward=own is not None,
        understood=not note,
        understood_note=note,
        header_tokens=header_tokens(msg) if with_header_tokens else (),
        transactional_reason=tx_reason,
    )


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())
