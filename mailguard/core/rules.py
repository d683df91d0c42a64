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

from .categories import PERSONAL, PROMOTIONAL, TRANSACTIONAL
from .features import Features
from .linker import WEAK, Link, LinkResult
from .parse import ParsedMessage
from .sequences import BUILTIN_TOOLS, SalesTool, tool_of

MOVE = "move"
KEEP = "keep"
#: the order of Decision.scores (classify.CLASSES)
SCORE_NAMES = (PERSONAL, PROMOTIONAL, TRANSACTIONAL)


def model_category(scores: tuple[float, ...], policy: Policy) -> str:
    """The model's category of a message (as ``classify.PromoModel.category``, at the policy's
    thresholds): promotional from the promo threshold; otherwise transactional when P(transactional)
    is at least P(promotional) and at least ``transactional_threshold`` of P(transactional) +
    P(personal); else personal."""
    p_personal, p_promo, p_trans = scores
    if p_promo >= policy.promo_threshold:
        return PROMOTIONAL
    rest = p_personal + p_trans
    t = 0.5 if policy.transactional_threshold is None else policy.transactional_threshold
    if rest > 0 and p_trans >= p_promo and p_trans / rest >= t:
        return TRANSACTIONAL
    return PERSONAL


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and lists; built from config and the command line."""

    me: frozenset[str] = frozenset()
    window_days: int = 180
    #: promo score from which a linked, bulk message is moved
    promo_threshold: float = 0.5
    #: promo score from which a linked message is moved even without bulk signals
    strong_threshold: float = 0.97
    #: mail a sales tool tracked is a sales sequence from this promo score (a first message without
    #: bulk signals makes its sender a contact below ``strong_threshold``: see ``contacts.is_personal``)
    personal_threshold: float = 0.5
    #: a message that is not promotional is transactional from this share of P(transactional) in
    #: P(transactional) + P(personal) (None: the model's)
    transactional_threshold: float | None = None
    #: at most this many recipients for a message to count as one-to-one
    max_personal_recipients: int = 3
    allowed: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    #: the user's own organisation domains (from ``me`` and ``[mailbox] organisations``)
    own_orgs: frozenset[str] = frozenset()
    #: link rules switched off (``[links] name = false``)
    disabled_links: frozenset[str] = frozenset()
    #: sales-engagement tools (built in, plus ``[[sales_tools]]``)
    sales_tools: tuple[SalesTool, ...] = BUILTIN_TOOLS


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
    #: personal, transactional or promotional (None when not understood)
    category: str | None = None
    #: strong, medium or weak: the strength of the link's evidence
    link_strength: str | None = None
    #: the model's calibrated probabilities: personal, promotional, transactional
    scores: tuple[float, float, float] | None = None

    def scores_dict(self) -> dict[str, float] | None:
        if self.scores is None:
            return None
        return {name: round(float(p), 4) for name, p in zip(SCORE_NAMES, self.scores)}

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
            "category": self.category,
            "scores": self.scores_dict(),
            "link_strength": self.link_strength,
        }


def guarded(feats: Features, score: float, policy: Policy) -> str | None:
    """Why a message needs ``strong_threshold`` to be promotional, or None: a post to a discussion
    list, or mail without any bulk signal (one-to-one). Such mail is promotional only when the model
    is very sure; it is never moved below that either."""
    if score >= policy.strong_threshold:
        return None
    if feats.discussion_list:
        return "a post to a discussion list"
    if not feats.is_bulk:
        return "no bulk signals"
    return None


def _probs_txt(scores: tuple[float, ...]) -> str:
    return ", ".join(f"{name} {p:.2f}" for name, p in zip(SCORE_NAMES, scores))


def matches(address: str, entries: frozenset[str]) -> str | None:
    """An allow/block entry matching an address: the address, its domain, or a parent domain."""
    if not entries:  # no entry matches (most users have no allow or block list)
        return None
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


def decide(msg: ParsedMessage, feats: Features | None, score: float | None,
           links: LinkResult | Link | None, policy: Policy, *, prior: str | None = None,
           conversation: str | None = None, bump: str | None = None, ref: str = "",
           scores: tuple[float, float, float] | None = None) -> Decision:
    """Decide one message.

    ``score``: the calibrated promotional probability; ``scores``: the model's three probabilities
    (personal, promotional, transactional), from which the category comes (without them: promotional
    or personal by ``score``). ``links``: what the linker found (the best link within the window,
    those outside it, the vetoes). ``prior``: the message that shows the user's relationship with
    the organisation before the contact was made, if any. ``conversation``: why the message belongs
    to a thread the user took part in. ``bump``: why it is a follow-up to the sender's own unanswered
    message."""
    if isinstance(links, Link):
        links = LinkResult((links,))
    links = links or LinkResult()
    link = links.best
    sender = msg.sender.email if msg.sender else ""
    category: str | None = None

    def out(action: str, *reasons: str) -> Decision:
        return Decision(
            message_id=msg.message_id, date=msg.date, sender=sender, subject=msg.subject,
            action=action, promo_score=score,
            linked_contact=link.contact.email if link else None,
            link_kind=link.kind if link else None, reasons=tuple(reasons), ref=ref,
            category=category, link_strength=link.strength_name if link else None,
            scores=scores,
        )

    if msg.unreadable or feats is None or score is None:
        return out(KEEP, f"not understood ({msg.unreadable or 'unreadable'}): left where it is")
    if is_from_me(msg, policy):
        category = PERSONAL
        return out(KEEP, "your own message")
    score_txt = f"promo score {score:.2f}"
    transactional = feats.transactional_reason
    tool = tool_of(msg, policy.sales_tools)
    sequence = None
    if tool and not conversation and (tool[0].sequencer or bump or score >= policy.personal_threshold):
        # a tracking tool's mark alone is not a sequence: reps track their personal mail too
        sequence = f"sales sequence through {tool[0].name} ({tool[1]})" + (f"; {bump}" if bump else "")
    elif bump and not conversation:
        sequence = f"follow-up bump: {bump}"
    probs = scores if scores is not None else (1.0 - score, score, 0.0)
    by_model = model_category(probs, policy)
    guard = guarded(feats, score, policy)
    if transactional:  # the structural check can only make a message transactional
        category = TRANSACTIONAL
    elif sequence:
        category = PROMOTIONAL
    elif by_model == PROMOTIONAL and guard:
        category = PERSONAL
    else:
        category = by_model
    if transactional:
        cat_txt = f"category: {category} ({transactional})"
    elif sequence and by_model != PROMOTIONAL:
        cat_txt = f"category: {category} (a sales sequence)"
    elif by_model == PROMOTIONAL and guard and not sequence:
        cat_txt = (f"category: {category} ({guard}: promotional only from {policy.strong_threshold:.2f}; "
                   f"model: {_probs_txt(probs)})")
    else:
        cat_txt = f"category: {category} (model: {_probs_txt(probs)})"
    if category == TRANSACTIONAL and not transactional:
        transactional = f"the model says so ({_probs_txt(probs)})"
    allowed = matches(sender, policy.allowed)
    if allowed:
        return out(KEEP, f"sender allowed ({allowed})", cat_txt, score_txt)
    blocked = matches(sender, policy.blocked)
    if blocked:
        return out(MOVE, f"sender blocked ({blocked})", cat_txt, score_txt)
    if not feats.understood and not feats.is_bulk:
        category = None
        return out(KEEP, f"content not understood ({feats.understood_note}): no confident score, "
                         "never moved on it", score_txt)
    if link is None:
        reasons = ["no recent networking contact linked to this sender", *links.vetoes]
        if links.expired:
            e = max(links.expired, key=lambda x: x.contact.since)
            reasons.append(
                f"{e.kind} link to {e.contact.email} is outside the {policy.window_days}-day window "
                f"(contact since {e.contact.since:%Y-%m-%d})"
            )
        reasons += [cat_txt, score_txt]
        return out(KEEP, *reasons)
    link_reasons = (f"linked to {link.contact.email} by {link.kind} ({link.strength_name} evidence; "
                    f"rules: {', '.join(link.rules)})", *link.evidence, *links.vetoes)
    if conversation:
        return out(KEEP, f"conversation: {conversation}", cat_txt, *link_reasons, score_txt)
    if link.strength <= WEAK:
        return out(KEEP, "weak evidence only (a display name): never moved on that alone", cat_txt,
                   *link_reasons, score_txt)
    if feats.discussion_list:
        return out(KEEP, "post to a discussion list: bulk, not promotion", cat_txt, *link_reasons, score_txt)
    if transactional:
        return out(KEEP, f"transactional: {transactional}; only promotion is moved", *link_reasons, score_txt)
    if not sequence and score < policy.promo_threshold:
        return out(KEEP, f"{score_txt} below {policy.promo_threshold:.2f}: not promotional",
                   cat_txt, *link_reasons)
    if not sequence and not feats.is_bulk:
        # one-to-one mail is never moved on the model's word alone: only a sales tool's mark or a
        # bump makes it a blast (a short note the model misreads must not leave the inbox)
        note = "forwarded by the contact, judged on their own words" if feats.forward else \
            "personal one-to-one note, not a blast"
        return out(KEEP, f"{note} ({score_txt}, no bulk signals)", cat_txt, *link_reasons)
    if prior is not None:
        return out(KEEP, f"{prior}, before the contact was made: not the contact's doing",
                   cat_txt, *link_reasons, score_txt)
    if sequence:
        return out(MOVE, f"{sequence} ({score_txt})", cat_txt, *link_reasons)
    bulk = ", ".join(feats.bulk_signals) if feats.bulk_signals else "no bulk headers"
    return out(MOVE, f"promotional: {score_txt} >= {policy.promo_threshold:.2f} ({bulk})",
               cat_txt, *link_reasons)
