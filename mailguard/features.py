"""ParsedMessage -> Features for the promo model and the rules. Pure.

Words drift across years and senders; headers and structure travel better. So the model sees both:
``text`` (subject, visible body text and a few header tokens) and ``numeric`` (a fixed vector of
structural signals, named in :data:`NUMERIC_NAMES`).
"""

from __future__ import annotations

import html as htmllib
import math
import re
from dataclasses import dataclass

from .identity import esp_of
from .parse import ParsedMessage

NUMERIC_NAMES: tuple[str, ...] = (
    "list_unsubscribe",
    "one_click_unsubscribe",
    "precedence_bulk",
    "precedence_list",
    "list_id",
    "discussion_list",
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
)

_TAG = re.compile(r"<[^>]*>", re.S)
_STYLE = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.S | re.I)
_LINK = re.compile(r"""<a\b[^>]*href\s*=\s*["']?https?://""", re.I)
_TEXT_URL = re.compile(r"https?://", re.I)
_PIXEL = re.compile(
    r"""<img\b[^>]*(?:width\s*=\s*["']?[01]["'\s>/]|height\s*=\s*["']?[01]["'\s>/]|"""
    r"""display\s*:\s*none|/open(?:\.gif|\.png|\?|/)|/track|pixel)""",
    re.I,
)
_UNSUB = re.compile(r"unsubscribe|opt[- ]?out|manage (?:your )?(?:preferences|subscription)|"
                    r"email preferences|no longer wish to receive|remove (?:me|yourself) from", re.I)
_VIEW_BROWSER = re.compile(r"view (?:this|it|in|as a|the)?\s*(?:email |message )?(?:in|on) (?:your|a|the)?\s*"
                           r"(?:browser|web)|view online|web version|trouble (?:viewing|reading)", re.I)
_MONEY = re.compile(r"[$€£]\s?\d|\d+\s?%\s?off|\bfree\b|\bdiscount\b|\bsale\b|\boffer\b|\bdeal\b", re.I)
_REPLY_SUBJ = re.compile(r"^\s*(re|aw|sv|antw|r|rif)\s*:", re.I)
_WORDS = re.compile(r"[^\W\d_]{2,24}", re.U)


@dataclass(frozen=True, slots=True)
class Features:
    """Model input and the bulk signals the rules explain themselves with."""

    text: str
    numeric: tuple[float, ...]
    esp: str | None
    bulk_signals: tuple[str, ...]
    discussion_list: bool

    @property
    def is_bulk(self) -> bool:
        return bool(self.bulk_signals)

    def value(self, name: str) -> float:
        return self.numeric[NUMERIC_NAMES.index(name)]


def html_to_text(html: str) -> str:
    s = _STYLE.sub(" ", html)
    s = _TAG.sub(" ", s)
    return htmllib.unescape(s)


def _log(n: float) -> float:
    return math.log1p(max(n, 0.0))


def extract(msg: ParsedMessage) -> Features:
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
    html_text = html_to_text(msg.html) if msg.html else ""
    body = msg.text if msg.text.strip() else html_text
    total = len(msg.text) + len(msg.html)
    html_share = len(msg.html) / total if total else 0.0
    n_links = len(_LINK.findall(msg.html)) + len(_TEXT_URL.findall(msg.text))
    pixel = bool(msg.html and _PIXEL.search(msg.html))
    visible = body[-4000:] + " " + html_text[-4000:]
    unsub_text = bool(_UNSUB.search(visible))
    view_browser = bool(_VIEW_BROWSER.search(body[:3000] + " " + html_text[:3000]))
    is_reply = bool(msg.header("in-reply-to") or _REPLY_SUBJ.match(msg.subject))
    quoted = sum(1 for line in msg.text.splitlines()[:400] if line.startswith(">"))
    recipients = len(msg.recipients)
    subj_letters = [c for c in msg.subject if c.isalpha()]
    caps = sum(c.isupper() for c in subj_letters) / len(subj_letters) if subj_letters else 0.0
    auto = msg.header("auto-submitted").lower()

    numeric = (
        float(bool(lu)),
        float("list-unsubscribe-post" in h),
        float(precedence in ("bulk", "junk")),
        float(precedence == "list"),
        float(list_id),
        float(discussion),
        float(esp is not None),
        float("feedback-id" in h),
        _log(recipients),
        float(recipients == 0),
        html_share,
        float(bool(msg.html) and not msg.text.strip()),
        _log(n_links),
        _log(msg.n_images),
        float(pixel),
        float(unsub_text),
        float(view_browser),
        float(is_reply),
        float(quoted > 0),
        _log(msg.n_attachments),
        _log(len(body)),
        caps,
        float(msg.subject.count("!")),
        _log(len(_MONEY.findall(msg.subject + " " + body[:5000]))),
        float("\n-- \n" in msg.text or "\n--\n" in msg.text),
        float(auto not in ("", "no")),
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
    if unsub_text and (msg.html or lu):
        signals.append("unsubscribe footer")
    if view_browser:
        signals.append('"view in browser"')
    if list_id and not signals:
        signals.append("List-Id")

    # Text for the model: subject twice (it is short and telling), the body's words, header tokens.
    tokens = [msg.subject, msg.subject, body[:20000]]
    if esp:
        tokens.append("__esp__")
    text = " ".join(tokens)
    return Features(
        text=text,
        numeric=numeric,
        esp=esp,
        bulk_signals=tuple(signals),
        discussion_list=discussion,
    )


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())
