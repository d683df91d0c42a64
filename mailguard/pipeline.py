"""The core pipeline, shared by scan, the IMAP daemon and review: parse -> features -> score ->
learn contacts -> link -> decide -> record.

Parsing, features and scoring are pure and batched (scores do not depend on the ledger). Learning,
linking and deciding run message by message in order, so a contact made early in a batch counts
for a promotion later in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from .core.contacts import (PERSONAL, REPLIED, WROTE, Contact, Ledger, is_personal, make_contact,
                            recipient_refusal, role_address)
from .core.features import Features, extract
from .core.identity import org_domain, registrable_domain, signature_domains, signature_role
from .core.linker import MEDIUM, LinkContext, LinkResult, link_message
from .core.orgs import OrgEvidence, freemail_domains
from .core.parse import ParsedMessage, parse_message, pickled_by_fields
from .core.rules import KEEP, Decision, Policy, decide, is_from_me
from .core.social import (Network, builtin_networks, kept_reason, learned_line, network_of,
                          parse_notification, social_contact)
from .store import Store

if TYPE_CHECKING:  # scoring needs scikit-learn: imported by whoever loads a model
    from .core.classify import PromoModel

log = logging.getLogger(__name__)

#: messages scored together (see analyse)
SCORE_BLOCK = 64

#: the user's own message to more people than this does not make them all contacts
MAX_CONTACTS_PER_SENT = 10


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Analysed:
    """A message after the pure stages."""

    msg: ParsedMessage
    feats: Features | None
    #: the calibrated promotional probability
    score: float | None
    #: the calibrated probabilities of personal, promotional, transactional (classify.CLASSES)
    scores: tuple[float, float, float] | None = None
    #: what deciding asks of the message itself, worked out with the pure stages (in a worker when
    #: there are several): the signature's domains, and the organisations it speaks for
    sig: frozenset[str] | None = None
    orgs: dict[str, str] | None = None


def analyse_one(raw: bytes, header_tokens: bool = False) -> tuple[ParsedMessage, Features | None]:
    """Parse and extract one message; ``header_tokens`` for a model that uses them."""
    msg = parse_message(raw)
    if msg.unreadable:
        return msg, None
    try:
        return msg, extract(msg, with_header_tokens=True) if header_tokens else extract(msg)
    except Exception as exc:  # noqa: BLE001 - a feature bug must not lose the message
        log.warning("features failed for %s: %s", msg.message_id or "(no Message-ID)",
                    type(exc).__name__)
        return replace(msg, unreadable=f"features failed: {type(exc).__name__}"), None


def analyse(raws: Sequence[bytes], model: PromoModel,
            mapper: Callable[..., Iterable[tuple[ParsedMessage, Features | None]]] = map
            ) -> list[Analysed]:
    """Parse, extract and score a batch. ``mapper`` may be a process pool's map.

    Scores are computed SCORE_BLOCK messages at a time, counted from the start of the batch: a
    vectorised score can differ in the last bit with the shape of the matrix it is part of, so
    a message's score depends only on its block, never on how a batch is shared among workers
    (:mod:`mailguard.parallel` sends whole blocks)."""
    from .core.classify import PROMOTIONAL

    one = partial(analyse_one, header_tokens=True) if model.uses_header_tokens else analyse_one
    pairs = list(mapper(one, raws))
    out: list[Analysed] = []
    for start in range(0, len(pairs), SCORE_BLOCK):
        block = pairs[start:start + SCORE_BLOCK]
        scorable = [f for _, f in block if f is not None]
        probs = iter(model.predict(scorable).tolist()) if scorable else iter(())
        for m, f in block:
            p = tuple(next(probs)) if f is not None else None
            out.append(_analysed(m, f, p[PROMOTIONAL] if p else None, p))  # type: ignore[arg-type]
    return out


def _analysed(msg: ParsedMessage, feats: Features | None, score: float | None,
              scores: tuple[float, float, float] | None = None) -> Analysed:
    if feats is None or msg.sender is None:
        return Analysed(msg, feats, score, scores)
    from .core.linker import message_org_domains

    try:
        return Analysed(msg, feats, score, scores, signature_domains(msg), message_org_domains(msg))
    except Exception:  # noqa: BLE001 - deciding works them out again (and says what failed)
        return Analysed(msg, feats, score, scores)


def sender_keys(msg: ParsedMessage, orgs: dict[str, str] | None = None) -> list[str]:
    """Keys under which a sender's first appearance is remembered: the address, the list, and the
    organisations the message is from (From, Reply-To; not the sending infrastructure of DKIM,
    Return-Path or List-Unsubscribe, which platforms share), so that a relationship with an
    organisation counts whichever of its addresses showed it."""
    from .core.linker import message_org_domains

    keys = []
    if msg.sender:
        keys.append("from:" + msg.sender.email)
    list_id = msg.header("list-id")
    if list_id:
        keys.append("list:" + list_id.lower()[-200:])
    keys.extend("org:" + org for org, where in (message_org_domains(msg) if orgs is None else orgs).items()
                if where.startswith(("From", "Reply-To")))
    return keys


def _short(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


#: (year, month, day) -> "YYYY-MM-DD" as f"{at:%Y-%m-%d}" writes it (strftime is slow)
_DAY_TEXT: dict[tuple[int, int, int], str] = {}


def _day(at: datetime) -> str:
    key = (at.year, at.month, at.day)
    got = _DAY_TEXT.get(key)
    if got is None:
        if len(_DAY_TEXT) >= 20_000:
            _DAY_TEXT.clear()
        got = _DAY_TEXT[key] = f"{at:%Y-%m-%d}"
    return got


def _describe(msg: ParsedMessage, at: datetime) -> str:
    who = msg.sender.email if msg.sender else "?"
    return f'"{_short(msg.subject)}" from {who} on {_day(at)} showed a relationship with it'


_MSGID = __import__("re").compile(r"<[^<>\s]{1,250}>")


def _referenced_ids(msg: ParsedMessage) -> list[str]:
    """Message-IDs of In-Reply-To and References (at most 50)."""
    out: list[str] = []
    for h in ("in-reply-to", "references"):
        for v in msg.headers.get(h, ()):
            out.extend(_MSGID.findall(v[:8000]))
    return list(dict.fromkeys(out))[:50]


_MISSING: Any = object()


@dataclass
class _Batch:
    """What :meth:`Pipeline.process` keeps for one batch, inside the batch's transaction.

    Store lookups are made for the whole batch at its start (keys that are absent map to None),
    and the first-seen notes and the user's Message-IDs are written at its end. That gives the
    answers one lookup per message gave: while the transaction is open only this pipeline writes,
    everything it notes is in its memory too (which is asked first), and the decisions it saves
    during the batch are tracked here (``decided``, ``linked``) for the lookups that read them.
    ``undo`` takes the batch's changes to memory back when the batch fails. The decisions are
    written together, at the end of the batch or before a lookup in the store that reads them."""

    first_seen: dict[str, tuple[datetime, str] | None] = field(default_factory=dict)
    earlier: dict[str, tuple[str, str, str] | None] = field(default_factory=dict)
    senders_of: dict[str, tuple[str, str | None] | None] = field(default_factory=dict)
    mine: dict[str, bool] = field(default_factory=dict)
    #: Message-ID -> (sender, category) of the first decision about it saved in this batch
    decided: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: senders of the decisions saved in this batch with a medium or strong link
    linked: set[str] = field(default_factory=set)
    notes: list[tuple[str, datetime, str]] = field(default_factory=list)
    my_messages: list[tuple[str, datetime]] = field(default_factory=list)
    #: decisions made and not yet written (written before the store is asked about decisions)
    decisions: list[Decision] = field(default_factory=list)
    #: (dict or set, key, the value before or _MISSING), in the order of the changes
    undo: list[tuple[Any, Any, Any]] = field(default_factory=list)
    #: the ledger before the batch's first contact
    ledger: Ledger | None = None
    #: id(Analysed) -> its sender_keys, worked out by the look-up
    keys: dict[int, list[str]] = field(default_factory=dict)


class Pipeline:
    """Decides messages in order against a ledger kept in the store (or in memory only)."""

    def __init__(self, model: PromoModel, policy: Policy, store: Store | None = None, *,
                 source: str = "", run_kind: str = "scan",
                 social: Sequence[Network] | None = None, workers: int = 1) -> None:
        self.model = model
        #: processes that parse, extract and score a large batch (mailguard.parallel); deciding
        #: stays here, in order, so the decisions do not depend on it
        self.workers = workers
        #: social networks whose notifications make contacts (social.load_networks(config.raw))
        self.social = tuple(builtin_networks() if social is None else social)
        self.store = store
        self.source = source
        rules = store.sender_rules() if store else {}
        own = set(policy.own_orgs)
        for addr in policy.me:
            d = registrable_domain(addr.rpartition("@")[2])
            if d and d not in freemail_domains():
                own.add(d)
        self.policy = replace(
            policy,
            transactional_threshold=(model.transactional_threshold if policy.transactional_threshold is None
                                     else policy.transactional_threshold),
            allowed=policy.allowed | {k for k, v in rules.items() if v == "allowed"},
            blocked=policy.blocked | {k for k, v in rules.items() if v == "blocked"},
            own_orgs=frozenset(own),
        )
        self.window = timedelta(days=policy.window_days)
        self.ledger = Ledger(store.load_contacts() if store else ())
        self._first_seen: dict[str, tuple[datetime, str]] = {}
        #: organisation domain -> addresses seen sending from it
        self._org_addresses: dict[str, set[str]] = {}
        self._my_ids: set[str] = set()
        #: Message-ID -> (sender, category) of received messages (for follow-up bumps)
        self._senders_of: dict[str, tuple[str, str | None]] = {}
        #: Message-ID -> (sender, signature domains) of received messages: a reply makes its
        #: recipient a contact with the signature of the message it answers
        self._signatures: dict[str, tuple[str, frozenset[str]]] = {}
        #: sender -> (contact, "how, when", kind) of its first medium or strong link
        self._sender_links: dict[str, tuple[str, str, str]] = {}
        #: sender address -> the social networks whose notification addresses match it
        self._net_candidates: dict[str, tuple[Network, ...]] = {}
        #: which networks an address can be from: by its domain for the sender patterns with a
        #: literal domain ("*@e.linkedin.com"), always for the others ("notifications@*")
        self._nets_by_domain: dict[str, set[int]] = {}
        self._nets_always: set[int] = set()
        for i, net in enumerate(self.social):
            for pattern in net.senders:
                _, at, domain = pattern.rpartition("@")
                if at and not any(c in domain for c in "*?["):
                    self._nets_by_domain.setdefault(domain, set()).add(i)
                else:
                    self._nets_always.add(i)
        #: the batch :meth:`process` is deciding (None when :meth:`step` is called by itself)
        self._batch: _Batch | None = None
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

    def _put(self, d: dict[Any, Any], key: Any, value: Any) -> None:
        """d[key] = value, undone if the batch fails."""
        if self._batch is not None:
            self._batch.undo.append((d, key, d.get(key, _MISSING)))
        d[key] = value

    def _add(self, s: set[Any], item: Any) -> None:
        """s.add(item), undone if the batch fails."""
        if item not in s:
            if self._batch is not None:
                self._batch.undo.append((s, item, _MISSING))
            s.add(item)

    def _first(self, key: str) -> tuple[datetime, str] | None:
        got = self._first_seen.get(key)
        if got is None and self.store is not None:
            b = self._batch
            got = b.first_seen[key] if b is not None and key in b.first_seen else \
                self.store.first_seen_note(key)
            if got is not None:
                self._put(self._first_seen, key, got)
        return got

    def _note(self, key: str, at: datetime, note: str) -> None:
        old = self._first(key)
        if old is None or at < old[0]:
            self._put(self._first_seen, key, (at, note))
        if self.store is not None:
            if self._batch is not None:
                self._batch.notes.append((key, at, note))
            else:
                self.store.note_sender(key, at, note)

    def _org_evidence(self, org: str) -> OrgEvidence:
        addrs = self._addresses_at(org)
        departments = {a for a in addrs if role_address(a)}
        departments |= {a.rpartition("@")[2] for a in addrs if a.rpartition("@")[2] != org}
        people = {a for a in addrs if not role_address(a)}
        return OrgEvidence(departments=len(departments), people=len(people),
                           contacts=len(self.ledger.by_org.get(org, ())))

    def _addresses_at(self, org: str) -> set[str]:
        got = self._org_addresses.get(org)
        if got is None:
            got = set()
            if self.store is not None:
                prefix = f"at:{org}/"
                got = {k[len(prefix):] for k in self.store.keys_with_prefix(prefix)}
            self._put(self._org_addresses, org, got)
        return got

    def _link_context(self, orgs: dict[str, str] | None = None) -> LinkContext:
        return LinkContext(self.ledger, own_orgs=self.policy.own_orgs, org_evidence=self._org_evidence,
                           disabled=self.policy.disabled_links, earlier_link=self._earlier_link,
                           orgs=orgs)

    def _earlier_link(self, sender: str) -> tuple[str, str, str] | None:
        got = self._sender_links.get(sender)
        if got is None and self.store is not None:
            b = self._batch
            if b is not None and sender in b.earlier and (b.earlier[sender] is not None
                                                          or sender not in b.linked):
                got = b.earlier[sender]
            else:
                self._save_decisions()
                got = self.store.earlier_link(sender)
        return got

    def _is_mine(self, message_id: str) -> bool:
        if message_id in self._my_ids:
            return True
        if self.store is None:
            return False
        b = self._batch
        if b is not None and message_id in b.mine:
            return b.mine[message_id]
        return self.store.is_my_message(message_id)

    def _sender_of(self, message_id: str) -> tuple[str, str | None] | None:
        got = self._senders_of.get(message_id)
        if got is None and self.store is not None:
            b = self._batch
            if b is not None and message_id in b.senders_of:
                got = b.senders_of[message_id] or b.decided.get(message_id)
            else:
                self._save_decisions()
                got = self.store.sender_of_message(message_id)
        return got

    def _network_of(self, msg: ParsedMessage) -> Network | None:
        """social.network_of, asking only the networks whose addresses match the sender."""
        if msg.sender is None or msg.unreadable:
            return None
        address = msg.sender.email
        nets = self._net_candidates.get(address)
        if nets is None:
            if len(self._net_candidates) >= 100_000:
                self._net_candidates.clear()
            maybe = self._nets_always | self._nets_by_domain.get(address.lower().rpartition("@")[2], set())
            nets = self._net_candidates[address] = \
                tuple(self.social[i] for i in sorted(maybe) if self.social[i].sends(address))
        return network_of(msg, nets) if nets else None

    def _org_firsts(self, org: str) -> list[tuple[datetime, str, str]]:
        """(first seen, note, address) of every address at ``org`` the mailbox has heard from or
        written to."""
        out = []
        for addr in self._addresses_at(org):
            got = self._first(f"at:{org}/{addr}")
            if got is not None:
                out.append((got[0], got[1], addr))
        return out

    def _prior(self, msg: ParsedMessage, result: LinkResult, orgs: dict[str, str] | None = None
               ) -> tuple[LinkResult, str | None]:
        """Mail from this sender or organisation that predates the contact is not the contact's
        doing: the cause can only be a contact made before the first such message. Mail from (or to)
        the contact's own address is not such a relationship: it is how the contact was made.
        Returns the links that can be the cause, and the relationship that rules the others out."""
        if result.best is None:
            return result, None
        firsts: list[tuple[datetime, str, str]] = []
        for key in sender_keys(msg, orgs):
            if key.startswith("org:"):
                firsts.extend(self._org_firsts(key[4:]))
                continue
            got = self._first(key)
            if got is not None:
                firsts.append((got[0], got[1], key.removeprefix("from:")))
        causes = []
        ruled_out = None
        for lk in result.links:
            earlier = [f for f in firsts if f[2] != lk.contact.email and f[0] < lk.contact.since]
            if not earlier:
                causes.append(lk)
            elif ruled_out is None:
                first = min(earlier, key=lambda f: f[0])
                ruled_out = first[1] or f"you received mail from {first[2]} since {first[0]:%Y-%m-%d}"
        if causes:
            return replace(result, links=tuple(causes)), None
        return result, ruled_out

    def _conversation(self, msg: ParsedMessage) -> tuple[str | None, str | None]:
        """(why it is a reply in a thread the user took part in, why it is a follow-up bump)."""
        refs = _referenced_ids(msg)
        if not refs:
            return None, None
        for mid in refs:
            if self._is_mine(mid):
                return "a reply in a thread you took part in", None
        me = msg.sender.email if msg.sender else ""
        for mid in refs:
            got = self._sender_of(mid)
            if got and got[0] == me and got[1] == "promotional":
                return None, ("a follow-up to the sender's own promotional message, which you never "
                              "answered")
        return None, None

    def _remember(self, msg: ParsedMessage, at: datetime, category: str | None,
                  a: Analysed | None = None) -> None:
        """Note what this received message shows: the sender, list and organisation first seen."""
        if msg.message_id and msg.sender is not None and len(self._senders_of) < 200_000:
            self._put(self._senders_of, msg.message_id, (msg.sender.email, category))
            sig = a.sig if a is not None and a.sig is not None else signature_domains(msg)
            if sig:
                self._put(self._signatures, msg.message_id, (msg.sender.email, sig))
        note = _describe(msg, at)
        known = self._batch.keys.get(id(a)) if self._batch is not None and a is not None else None
        for key in (sender_keys(msg, a.orgs if a is not None else None) if known is None else known):
            if not key.startswith("org:"):
                self._note(key, at, note)
        if msg.sender is not None:
            org = org_domain(msg.sender.domain)
            if org:
                self._add(self._addresses_at(org), msg.sender.email)
                self._note(f"at:{org}/{msg.sender.email}", at, note)

    def _learn(self, contact_args: dict | Contact, learned: list[str], line: str = "") -> None:
        c = contact_args if isinstance(contact_args, Contact) else make_contact(**contact_args)
        known = c.email in self.ledger
        if self._batch is not None and self._batch.ledger is None:
            self._batch.ledger = Ledger(self.ledger)
        stored, changed = self.ledger.add(c)
        if changed and self.store is not None:
            self.store.save_contact(stored)
        if not known:
            self.counts["new_contacts"] += 1
            learned.append(line or f"new contact: {c.email} ({c.how})")

    def _learn_from_mine(self, msg: ParsedMessage, at: datetime, learned: list[str]) -> None:
        if msg.message_id:
            self._add(self._my_ids, msg.message_id)
            if self._batch is not None and self.store is not None:
                self._batch.my_messages.append((msg.message_id, at))
            elif self.store is not None:
                self.store.note_my_message(msg.message_id, at)
        recipients = [r for r in msg.recipients if r.email not in self.policy.me]
        subject = _short(msg.subject)
        for r in recipients:
            org = org_domain(r.domain)
            if org:  # writing to an organisation is a relationship with it
                self._add(self._addresses_at(org), r.email)
                self._note(f"at:{org}/{r.email}", at,
                           f'your message "{subject}" to {r.email} on {at:%Y-%m-%d} showed a relationship with it')
        if len(recipients) > MAX_CONTACTS_PER_SENT:
            return
        how = REPLIED if msg.header("in-reply-to") else WROTE
        answered = [self._signatures[m] for m in _referenced_ids(msg) if m in self._signatures]
        for r in recipients:
            if recipient_refusal(r.email):
                continue  # writing to support@ does not make a networking contact
            sig = frozenset().union(*(d for who, d in answered if who == r.email))
            self._learn(dict(email=r.email, name=r.name, since=at, how=how,
                             message_id=msg.message_id, subject=msg.subject, named_domains=sig), learned)

    # -- the step --------------------------------------------------------------------------

    def step(self, a: Analysed, *, ref: str = "", learn_only: bool = False) -> Decision:
        """Decide one analysed message, learn from it and record the decision."""
        msg, feats, score = a.msg, a.feats, a.score
        self.counts["messages"] += 1
        at = self._at(msg)
        learned: list[str] = []
        result = LinkResult()
        prior = conversation = bump = None
        # a social network's own mail speaks for the network, never for the person it names
        net = self._network_of(msg) if feats is not None else None
        if msg.unreadable or feats is None:
            self.counts["unreadable"] += 1
            why = msg.unreadable or "unreadable"
            self.unreadable_reasons[why] = self.unreadable_reasons.get(why, 0) + 1
        elif not is_from_me(msg, self.policy) and net is None:
            result = link_message(msg, self._link_context(a.orgs), at=at, window=self.window)
            result, prior = self._prior(msg, result, a.orgs)
            conversation, bump = self._conversation(msg)
        d = decide(msg, feats, score, result, self.policy, prior=prior, conversation=conversation,
                   bump=bump, ref=ref, scores=a.scores)
        best = result.best
        if (best is not None and msg.sender is not None and best.strength >= MEDIUM
                and msg.sender.email not in self._sender_links and len(self._sender_links) < 100_000):
            self._put(self._sender_links, msg.sender.email,
                      (best.contact.email, f"by {best.kind} on {at:%Y-%m-%d}", best.kind))

        if feats is not None and msg.sender is not None and score is not None:
            if is_from_me(msg, self.policy):
                self._learn_from_mine(msg, at, learned)
            else:
                event = parse_notification(msg, self.social) if net is not None else None
                if net is not None:
                    d = replace(d, reasons=(kept_reason(event, net, msg.sender.email), *d.reasons))
                if event is not None:
                    self._learn(social_contact(event, at), learned, line=learned_line(event, at))
                elif (d.action == KEEP and net is None and d.category != "transactional"
                      and is_personal(msg, feats, score, self.policy)):
                    self._learn(dict(email=msg.sender.email, name=msg.sender.name, since=at,
                                     how=PERSONAL, message_id=msg.message_id, subject=msg.subject,
                                     named_domains=a.sig if a.sig is not None else signature_domains(msg),
                                     role=signature_role(msg)),
                                learned)
                if net is None:
                    self._remember(msg, at, d.category, a)

        if learn_only and d.action != KEEP:
            d = replace(d, action=KEEP,
                        reasons=("learning from history: nothing is moved", *d.reasons))
        if learned:
            d = replace(d, learned=tuple(learned))
        if d.action != KEEP:
            self.counts["moves"] += 1
        if self.store is not None:
            b = self._batch
            if b is None:
                self.store.save_decision(self.run_id, d, self.source)
            else:
                b.decisions.append(d)
                if d.message_id and d.message_id not in b.decided:
                    b.decided[d.message_id] = (d.sender, d.category)
                if d.linked_contact is not None and d.link_strength in ("strong", "medium"):
                    b.linked.add(d.sender)
        return d

    def warm(self, messages: int) -> None:
        """Start the worker processes now, without waiting for them, when there are several and
        ``messages`` (about to be analysed) are enough to go to them: a caller about to wait for
        its server lets them start meanwhile."""
        if self.workers > 1:
            from .parallel import MIN_PARALLEL, warm

            if messages >= MIN_PARALLEL:
                warm(self.model, self.workers, wait=False)

    def analyse(self, raws: Sequence[bytes]) -> list[Analysed]:
        """The pure stages of a batch (in worker processes when it is large)."""
        if self.workers <= 1:
            return analyse(raws, self.model)
        from .parallel import analyse_batch

        return analyse_batch(raws, self.model, self.workers)

    def process(self, raws: Sequence[bytes], refs: Sequence[str] | None = None, *,
                learn_only: bool = False, analysed: Sequence[Analysed] | None = None
                ) -> list[Decision]:
        """Analyse a batch (unless ``analysed`` is given, from :meth:`analyse` of the same
        ``raws``) and decide it in the given order, in one transaction."""
        if analysed is None:
            analysed = self.analyse(raws)
        elif len(analysed) != len(raws):
            raise ValueError(f"{len(analysed)} analysed for {len(raws)} messages")
        refs = refs or [""] * len(raws)
        # what the batch learns is kept in memory only if the store keeps it too: a failed batch
        # rolls both back, so a retry message by message learns (and saves) it again
        small = (dict(self.counts), dict(self.unreadable_reasons), self.last_date)
        self._batch = batch = _Batch()
        try:
            if self.store is None:
                return [self.step(a, ref=r, learn_only=learn_only) for a, r in zip(analysed, refs)]
            with self.store.transaction():
                self._look_up(batch, analysed)
                out = [self.step(a, ref=r, learn_only=learn_only) for a, r in zip(analysed, refs)]
                self._save_decisions()
                self.store.note_senders(batch.notes)
                self.store.note_my_messages(batch.my_messages)
                return out
        except BaseException:
            self._undo(batch, small)
            raise
        finally:
            self._batch = None

    def _look_up(self, batch: _Batch, analysed: Sequence[Analysed]) -> None:
        """Ask the store, for the whole batch at once, what deciding it will ask message by
        message (a superset): first-seen notes, earlier links, and the messages replied to."""
        assert self.store is not None
        keys: set[str] = set()
        senders: set[str] = set()
        refs: set[str] = set()
        for a in analysed:
            msg = a.msg
            if a.feats is None or msg.sender is None:
                continue
            if is_from_me(msg, self.policy):
                for r in msg.recipients:
                    org = org_domain(r.domain)
                    if org:
                        keys.add(f"at:{org}/{r.email}")
                continue
            senders.add(msg.sender.email)
            of_msg = batch.keys[id(a)] = sender_keys(msg, a.orgs)
            keys.update(k for k in of_msg if not k.startswith("org:"))
            org = org_domain(msg.sender.domain)
            if org:
                keys.add(f"at:{org}/{msg.sender.email}")
            refs.update(_referenced_ids(msg))
        keys = {k for k in keys if k not in self._first_seen}
        found = self.store.first_seen_notes(keys)
        batch.first_seen = {k: found.get(k) for k in keys}
        senders = {x for x in senders if x not in self._sender_links}
        links = self.store.earlier_links(senders)
        batch.earlier = {x: links.get(x) for x in senders}
        mine = self.store.my_messages_among(m for m in refs if m not in self._my_ids)
        batch.mine = {m: m in mine for m in refs}
        asked = [m for m in refs if m not in self._senders_of]
        got = self.store.senders_of_messages(asked)
        batch.senders_of = {m: got.get(m) for m in asked}

    def _save_decisions(self) -> None:
        """Write the decisions the batch made so far."""
        b = self._batch
        if b is not None and b.decisions and self.store is not None:
            self.store.save_decisions(self.run_id, b.decisions, self.source)
            b.decisions = []

    def _undo(self, batch: _Batch, small: tuple) -> None:
        for container, key, old in reversed(batch.undo):
            if isinstance(container, set):
                container.discard(key)
            elif old is _MISSING:
                container.pop(key, None)
            else:
                container[key] = old
        if batch.ledger is not None:
            self.ledger = batch.ledger
        self.counts, self.unreadable_reasons, self.last_date = small

    def finish(self) -> dict[str, int]:
        counts = dict(self.counts)
        counts["contacts"] = len(self.ledger)
        if self.store is not None and self.run_id is not None:
            self.store.finish_run(self.run_id, counts)
        return counts
