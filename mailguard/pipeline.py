"""The core pipeline, shared by scan, the IMAP daemon and review: parse -> features -> score ->
learn contacts -> link -> decide -> record.

Parsing, features and scoring are pure and batched (scores do not depend on the ledger). Learning,
linking and deciding run message by message in order, so a contact made early in a batch counts
for a promotion later in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .classify import PromoModel
from .contacts import PERSONAL, REPLIED, WROTE, Contact, Ledger, make_contact
from .features import Features, extract
from .identity import signature_domains
from .linker import Link, expired_links, ranked_links
from .parse import ParsedMessage, parse_message
from .rules import KEEP, Decision, Policy, decide, is_from_me, is_personal
from .social import (Network, builtin_networks, kept_reason, learned_line, network_of,
                     parse_notification, social_contact)
from .store import Store

log = logging.getLogger(__name__)

#: the user's own message to more people than this does not make them all contacts
MAX_CONTACTS_PER_SENT = 10


@dataclass(frozen=True, slots=True)
class Analysed:
    """A message after the pure stages."""

    msg: ParsedMessage
    feats: Features | None
    score: float | None


def analyse_one(raw: bytes) -> tuple[ParsedMessage, Features | None]:
    msg = parse_message(raw)
    if msg.unreadable:
        return msg, None
    try:
        return msg, extract(msg)
    except Exception as exc:  # noqa: BLE001 - a feature bug must not lose the message
        log.warning("features failed for %s: %s", msg.message_id or "(no Message-ID)",
                    type(exc).__name__)
        return replace(msg, unreadable=f"features failed: {type(exc).__name__}"), None


def analyse(raws: Sequence[bytes], model: PromoModel,
            mapper: Callable[..., Iterable[tuple[ParsedMessage, Features | None]]] = map
            ) -> list[Analysed]:
    """Parse, extract and score a batch. ``mapper`` may be a process pool's map."""
    pairs = list(mapper(analyse_one, raws))
    scorable = [f for _, f in pairs if f is not None]
    scores = iter(model.score_many(scorable)) if scorable else iter(())
    return [Analysed(m, f, float(next(scores)) if f is not None else None) for m, f in pairs]


def sender_keys(msg: ParsedMessage) -> list[str]:
    """Keys under which a sender's first appearance is remembered (address and list)."""
    keys = []
    if msg.sender:
        keys.append("from:" + msg.sender.email)
    list_id = msg.header("list-id")
    if list_id:
        keys.append("list:" + list_id.lower()[-200:])
    return keys


class Pipeline:
    """Decides messages in order against a ledger kept in the store (or in memory only)."""

    def __init__(self, model: PromoModel, policy: Policy, store: Store | None = None, *,
                 source: str = "", run_kind: str = "scan",
                 social: Sequence[Network] | None = None) -> None:
        self.model = model
        #: social networks whose notifications make contacts (social.load_networks(config.raw))
        self.social = tuple(builtin_networks() if social is None else social)
        self.store = store
        self.source = source
        rules = store.sender_rules() if store else {}
        self.policy = replace(
            policy,
            allowed=policy.allowed | {k for k, v in rules.items() if v == "allowed"},
            blocked=policy.blocked | {k for k, v in rules.items() if v == "blocked"},
        )
        self.window = timedelta(days=policy.window_days)
        self.ledger = Ledger(store.load_contacts() if store else ())
        self._first_seen: dict[str, datetime] = {}
        self.run_id = store.start_run(run_kind, source) if store else None
        self.last_date: datetime | None = None
        self.counts = {"messages": 0, "moves": 0, "new_contacts": 0, "unreadable": 0}
        self.unreadable_reasons: dict[str, int] = {}

    # -- ordering helpers ------------------------------------------------------------------

    def _at(self, msg: ParsedMessage) -> datetime:
        if msg.date is not None:
            self.last_date = msg.date
            return msg.date
        return self.last_date or datetime.now(timezone.utc)

    def _first_seen_before(self, msg: ParsedMessage) -> datetime | None:
        found: list[datetime] = []
        for key in sender_keys(msg):
            d = self._first_seen.get(key)
            if d is None and self.store is not None:
                d = self.store.first_seen(key)
            if d is not None:
                found.append(d)
        return min(found) if found else None

    def _note_sender(self, msg: ParsedMessage, at: datetime) -> None:
        for key in sender_keys(msg):
            old = self._first_seen.get(key)
            if old is None or at < old:
                self._first_seen[key] = at
            if self.store is not None:
                self.store.note_sender(key, at)

    def _learn(self, contact_args: dict | Contact, learned: list[str], line: str = "") -> None:
        c = contact_args if isinstance(contact_args, Contact) else make_contact(**contact_args)
        known = c.email in self.ledger
        stored, changed = self.ledger.add(c)
        if changed and self.store is not None:
            self.store.save_contact(stored)
        if not known:
            self.counts["new_contacts"] += 1
            learned.append(line or f"new contact: {c.email} ({c.how})")

    # -- the step --------------------------------------------------------------------------

    def step(self, a: Analysed, *, ref: str = "", learn_only: bool = False) -> Decision:
        """Decide one analysed message, learn from it and record the decision."""
        msg, feats, score = a.msg, a.feats, a.score
        self.counts["messages"] += 1
        at = self._at(msg)
        learned: list[str] = []
        lnk: Link | None = None
        expired: list[Link] = []
        subscribed: datetime | None = None
        # a social network's own mail speaks for the network, never for the person it names
        net = network_of(msg, self.social) if feats is not None else None
        if msg.unreadable or feats is None:
            self.counts["unreadable"] += 1
            why = msg.unreadable or "unreadable"
            self.unreadable_reasons[why] = self.unreadable_reasons.get(why, 0) + 1
        elif not is_from_me(msg, self.policy) and net is None:
            ranked = ranked_links(msg, self.ledger, at=at, window=self.window)
            lnk = ranked[0] if ranked else None
            if lnk is None:
                expired = expired_links(msg, self.ledger, at=at, window=self.window)
            elif feats.is_bulk:
                # mail from this sender that predates a contact is not that contact's doing: the
                # cause can only be a contact made before the sender's first message
                first = self._first_seen_before(msg)
                if first is not None:
                    causes = [c for c in ranked if c.contact.since <= first]
                    if causes:
                        lnk = causes[0]
                    else:
                        subscribed = first
        d = decide(msg, feats, score, lnk, self.policy, expired=expired,
                   subscribed_since=subscribed, ref=ref)

        if feats is not None and msg.sender is not None and score is not None:
            if is_from_me(msg, self.policy):
                recipients = [r for r in msg.recipients if r.email not in self.policy.me]
                if len(recipients) <= MAX_CONTACTS_PER_SENT:
                    how = REPLIED if msg.header("in-reply-to") else WROTE
                    for r in recipients:
                        self._learn(dict(email=r.email, name=r.name, since=at, how=how,
                                         message_id=msg.message_id, subject=msg.subject), learned)
            else:
                event = parse_notification(msg, self.social) if net is not None else None
                if net is not None:
                    d = replace(d, reasons=(kept_reason(event, net, msg.sender.email), *d.reasons))
                if event is not None:
                    self._learn(social_contact(event, at), learned, line=learned_line(event, at))
                elif d.action == KEEP and net is None and is_personal(msg, feats, score, self.policy):
                    self._learn(dict(email=msg.sender.email, name=msg.sender.name, since=at,
                                     how=PERSONAL, message_id=msg.message_id, subject=msg.subject,
                                     sig_domains=signature_domains(msg)), learned)
                self._note_sender(msg, at)

        if learn_only and d.action != KEEP:
            d = replace(d, action=KEEP,
                        reasons=("learning from history: nothing is moved", *d.reasons))
        if learned:
            d = replace(d, learned=tuple(learned))
        if d.action != KEEP:
            self.counts["moves"] += 1
        if self.store is not None:
            self.store.save_decision(self.run_id, d, self.source)
        return d

    def process(self, raws: Sequence[bytes], refs: Sequence[str] | None = None, *,
                learn_only: bool = False) -> list[Decision]:
        """Analyse a batch and decide it in the given order, in one transaction."""
        analysed = analyse(raws, self.model)
        refs = refs or [""] * len(raws)
        if self.store is None:
            return [self.step(a, ref=r, learn_only=learn_only) for a, r in zip(analysed, refs)]
        with self.store.transaction():
            return [self.step(a, ref=r, learn_only=learn_only) for a, r in zip(analysed, refs)]

    def finish(self) -> dict[str, int]:
        counts = dict(self.counts)
        counts["contacts"] = len(self.ledger)
        if self.store is not None and self.run_id is not None:
            self.store.finish_run(self.run_id, counts)
        return counts
