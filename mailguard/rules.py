"""Pure rules: (message, features, score, link, policy) -> Decision with reasons.

The order matters: contact, *then* promotion.

- the user's own mail is never moved;
- a message that could not be understood is kept;
- an allowed sender is kept, a blocked one moved;
- without a recent contact link, nothing is moved: an ordinary newsletter is not our business;
- a post to a discussion list is bulk but not promotion;
- a personal one-to-one note is not a blast: a move needs bulk signals, or a very high score;
- a list the user received *before* the contact was made is not the contact's doing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .features import Features
from .linker import Link
from .parse import ParsedMessage

MOVE = "move"
KEEP = "keep"

#: sales-engagement tools: a message through one of them with open tracking is a templated
#: sequence step, whatever its words (the model, trained on newsletters, scores them low)
SEQUENCE_PLATFORMS = frozenset({"HubSpot", "Outreach", "Apollo", "SalesLoft", "lemlist", "Mixmax"})


def sales_sequence(feats: Features) -> str | None:
    """'sales sequence through HubSpot with open tracking', or None."""
    if feats.esp in SEQUENCE_PLATFORMS and "tracking pixel" in feats.bulk_signals:
        return f"sales sequence through {feats.esp} with open tracking"
    return None


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and lists; built from config and the command line."""

    me: frozenset[str] = frozenset()
    window_days: int = 180
    #: promo score from which a linked, bulk message is moved
    promo_threshold: float = 0.5
    #: promo score from which a linked message is moved even without bulk signals
    strong_threshold: float = 0.97
    #: a first message scoring below this (and not bulk) makes its sender a contact
    personal_threshold: float = 0.5
    #: at most this many recipients for a message to count as one-to-one
    max_personal_recipients: int = 3
    allowed: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one message, and why."""

    message_id: str
    date: datetime | None
    sender: str
    subject: str
    action: str
    promo_score: float | None
    linked_contact: str | None
    link_kind: str | None
    reasons: tuple[str, ...]
    #: where the message came from (file path, "mbox#12", "imap:INBOX/123")
    ref: str = ""
    #: what the pipeline learned (e.g. "new contact: x@y (you replied to them)")
    learned: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "message_id": self.message_id or None,
            "date": self.date.isoformat() if self.date else None,
            "sender": self.sender or None,
            "subject": self.subject,
            "action": self.action,
            "promo_score": None if self.promo_score is None else round(self.promo_score, 4),
            "linked_contact": self.linked_contact,
            "link": self.link_kind,
            "reasons": list(self.reasons),
            "learned": list(self.learned),
            "ref": self.ref,
        }


def matches(address: str, entries: frozenset[str]) -> str | None:
    """An allow/block entry matching an address: the address, its domain, or a parent domain."""
    address = address.lower()
    if address in entries:
        return address
    domain = address.rpartition("@")[2]
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        d = ".".join(labels[i:])
        if d in entries or "@" + d in entries:
            return d
    return None


def is_from_me(msg: ParsedMessage, policy: Policy) -> bool:
    return msg.sender is not None and msg.sender.email in policy.me


def is_personal(msg: ParsedMessage, feats: Features, score: float, policy: Policy) -> bool:
    """One-to-one, not bulk, not promotional: the kind of first message that makes a contact."""
    if msg.sender is None or feats.is_bulk or feats.discussion_list:
        return False
    if score >= policy.personal_threshold:
        return False
    recipients = msg.recipients
    if not recipients or len(recipients) > policy.max_personal_recipients:
        return False
    if policy.me and not any(a.email in policy.me for a in recipients):
        return False
    local = msg.sender.email.partition("@")[0]
    if local in _ROBOT_LOCALPARTS or local.startswith(("no-reply", "noreply", "donotreply", "bounce")):
        return False
    return True


_ROBOT_LOCALPARTS = frozenset(
    """noreply no-reply donotreply do-not-reply mailer-daemon postmaster notifications notification
    news newsletter hello info marketing updates support team billing receipts orders""".split()
)


def decide(msg: ParsedMessage, feats: Features | None, score: float | None, link: Link | None,
           policy: Policy, *, expired: list[Link] | None = None,
           subscribed_since: datetime | None = None, ref: str = "") -> Decision:
    """Decide one message. ``subscribed_since``: when mail from this bulk sender was first seen, if
    that was before the linked contact was made."""
    sender = msg.sender.email if msg.sender else ""

    def out(action: str, *reasons: str) -> Decision:
        return Decision(
            message_id=msg.message_id, date=msg.date, sender=sender, subject=msg.subject,
            action=action, promo_score=score,
            linked_contact=link.contact.email if link else None,
            link_kind=link.kind if link else None, reasons=tuple(reasons), ref=ref,
        )

    if msg.unreadable or feats is None or score is None:
        return out(KEEP, f"not understood ({msg.unreadable or 'unreadable'}): left where it is")
    if is_from_me(msg, policy):
        return out(KEEP, "your own message")
    score_txt = f"promo score {score:.2f}"
    allowed = matches(sender, policy.allowed)
    if allowed:
        return out(KEEP, f"sender allowed ({allowed})", score_txt)
    blocked = matches(sender, policy.blocked)
    if blocked:
        return out(MOVE, f"sender blocked ({blocked})", score_txt)
    if link is None:
        reasons = ["no recent networking contact linked to this sender"]
        if expired:
            e = max(expired, key=lambda x: x.contact.since)
            reasons.append(
                f"{e.kind} link to {e.contact.email} is outside the {policy.window_days}-day window "
                f"(contact since {e.contact.since:%Y-%m-%d})"
            )
        reasons.append(score_txt)
        return out(KEEP, *reasons)
    link_reasons = (f"linked to {link.contact.email} by {link.kind}", *link.evidence)
    if feats.discussion_list:
        return out(KEEP, "post to a discussion list: bulk, not promotion", *link_reasons, score_txt)
    sequence = sales_sequence(feats)
    if not sequence and score < policy.promo_threshold:
        return out(KEEP, f"{score_txt} below {policy.promo_threshold:.2f}: not promotional",
                   *link_reasons)
    if not sequence and not feats.is_bulk and score < policy.strong_threshold:
        return out(KEEP, f"personal one-to-one note, not a blast ({score_txt}, no bulk signals)",
                   *link_reasons)
    if subscribed_since is not None:
        return out(
            KEEP,
            f"you received this sender's mail since {subscribed_since:%Y-%m-%d}, before the contact "
            f"was made: not the contact's doing",
            *link_reasons, score_txt,
        )
    if sequence:
        return out(MOVE, f"{sequence} ({score_txt})", *link_reasons)
    bulk = ", ".join(feats.bulk_signals) if feats.bulk_signals else "no bulk headers"
    return out(MOVE, f"promotional: {score_txt} >= {policy.promo_threshold:.2f} ({bulk})",
               *link_reasons)
