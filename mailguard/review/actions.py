"""Review what mailguard moved: the flagged senders, allow and block rules, undo, the decision log,
and the labels a review gives to training.

Reading and planning are functions over the :class:`~mailguard.store.Store`; nothing changes until
:func:`set_rule` or :func:`apply_undo` is called. An undo is planned first (:func:`plan_undo`,
:func:`plan_revert`; :func:`plan_moves_back` is the pure core) and the plan is what ``--dry-run``
prints. Applying it moves messages back on the IMAP account through any object with the
:class:`Mover` methods (``mailguard.imap.account.ImapAccount`` has them), logging an ``intent`` row in the
``moves`` table before each move and marking it ``done`` after, and records what it changed in
``review_log`` so that the undo can itself be undone (:func:`plan_revert`).

Words used here:

- a *moved message* is one whose latest decision (over every scan of it, matched by Message-ID) is
  ``move`` and that no undo has put back;
- a *flagged sender* is a sender with moved messages; its *status* is ``allowed`` or ``blocked`` when
  an allow/block rule matches it (address, domain or parent domain), else ``flagged``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..errors import MailguardError, ReviewError, SourceError
from ..core.rules import matches
from ..store import FAILED, MoveIntent, Store

log = logging.getLogger(__name__)

FLAGGED = "flagged"
ALLOWED = "allowed"
BLOCKED = "blocked"

#: decisions.status of a decision that an undo took back; 'decided' otherwise
UNDONE = "undone"
DECIDED = "decided"

#: what the user did, as review_log.action
ALLOW, BLOCK, UNRULE, UNDO, REVERT = "allow", "block", "unrule", "undo", "revert"
_RULE_ACTION = {ALLOWED: ALLOW, BLOCKED: BLOCK, None: UNRULE}

UNDO_REASON = "undo of move #{}"
_UNDO_REASON = re.compile(r"^undo of move #(\d+)")

IMAP_NEEDED = ("undoing a move on the IMAP account needs an [imap] config (and mailguard.imap.session); "
               "nothing was changed")


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def filter_date(text: str | None, error: MailguardError) -> datetime | None:
    """A date (2026-03-12) or date-time a user filters the log by (None for no text); without a
    zone it is UTC. ``error`` is raised when it is neither."""
    if not text:
        return None
    try:
        d = datetime.fromisoformat(text.strip())
    except ValueError:
        raise error from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


# -- moved messages and flagged senders ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MovedMessage:
    """The latest move decision of one message."""

    decision_id: int
    key: str
    message_id: str
    date: datetime | None
    sender: str
    subject: str
    promo_score: float | None
    linked_contact: str | None
    link_kind: str | None
    reasons: tuple[str, ...]
    ref: str
    source: str
    decided_at: datetime
    #: moved on an IMAP server (a ``done`` or since ``undone`` row in the move log); False for a
    #: decision only (a scan, a dry run): it "would move"
    on_server: bool = False


def _moved(r: Mapping[str, Any]) -> MovedMessage:
    return MovedMessage(
        decision_id=r["id"], key=r["mkey"], message_id=r["message_id"] or "", date=_dt(r["date"]),
        sender=r["sender"] or "", subject=r["subject"] or "", promo_score=r["promo_score"],
        linked_contact=r["linked_contact"], link_kind=r["link_kind"],
        reasons=tuple(json.loads(r["reasons"] or "[]")), ref=r["ref"] or "", source=r["source"] or "",
        decided_at=_dt(r["decided_at"]) or datetime.now(timezone.utc),
        on_server=bool(r["on_server"]),
    )


def moved_messages(store: Store) -> list[MovedMessage]:
    """Every moved message once (the same mbox scanned twice counts once), oldest decision first."""
    return [_moved(r) for r in store.moved_decisions()]


def rule_status(sender: str, rules: Mapping[str, str]) -> tuple[str, str | None]:
    """(flagged|allowed|blocked, the matching rule entry) as the pipeline applies them: allow first."""
    for status in (ALLOWED, BLOCKED):
        hit = matches(sender, frozenset(e for e, s in rules.items() if s == status))
        if hit:
            return status, hit
    return FLAGGED, None


@dataclass(frozen=True, slots=True)
class FlaggedSender:
    """One sender whose mail mailguard moved, with the contact it was tied to and the evidence."""

    sender: str
    linked_contact: str | None
    link: str | None
    contact_name: str
    contact_since: datetime | None
    contact_how: str
    contact_subject: str
    contact_source: str
    messages: int
    last_subject: str
    last_date: datetime | None
    max_score: float | None
    status: str
    rule: str | None
    reasons: tuple[str, ...]
    message_ids: tuple[str, ...]
    last_decision_id: int
    #: how many of ``messages`` were moved on a server; the others are decisions only ("would move")
    moved_on_server: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "sender": self.sender,
            "linked_contact": self.linked_contact,
            "link": self.link,
            "contact_name": self.contact_name,
            "contact_since": self.contact_since.date().isoformat() if self.contact_since else None,
            "contact_how": self.contact_how,
            "contact_subject": self.contact_subject,
            "contact_source": self.contact_source,
            "messages": self.messages,
            "moved_on_server": self.moved_on_server,
            "last_subject": self.last_subject,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "max_score": None if self.max_score is None else round(self.max_score, 4),
            "status": self.status,
            "rule": self.rule,
            "reasons": list(self.reasons),
        }


def flagged_senders(store: Store, messages: Sequence[MovedMessage] | None = None
                    ) -> list[FlaggedSender]:
    """One row per sender of moved messages, newest (last message date) first."""
    moved = moved_messages(store) if messages is None else messages
    contacts = {c.email: c for c in store.load_contacts()}
    rules = store.sender_rules()
    by_sender: dict[str, list[MovedMessage]] = defaultdict(list)
    for m in moved:
        by_sender[m.sender].append(m)
    out = []
    for sender, ms in by_sender.items():
        last = max(ms, key=_recency)
        linked = last.linked_contact or next((m.linked_contact for m in reversed(ms)
                                              if m.linked_contact), None)
        link = last.link_kind if last.linked_contact else next(
            (m.link_kind for m in reversed(ms) if m.linked_contact), None)
        c = contacts.get(linked) if linked else None
        scores = [m.promo_score for m in ms if m.promo_score is not None]
        status, rule = rule_status(sender, rules)
        out.append(FlaggedSender(
            sender=sender, linked_contact=linked, link=link,
            contact_name=c.name if c else "", contact_since=c.since if c else None,
            contact_how=c.how if c else "", contact_subject=c.subject if c else "",
            contact_source=c.source if c else "",
            messages=len(ms), last_subject=last.subject, last_date=last.date,
            max_score=max(scores) if scores else None, status=status, rule=rule,
            reasons=last.reasons, message_ids=tuple(m.message_id for m in ms if m.message_id),
            last_decision_id=last.decision_id,
            moved_on_server=sum(m.on_server for m in ms),
        ))
    out.sort(key=lambda f: (f.last_date or _EPOCH, f.last_decision_id), reverse=True)
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _recency(m: MovedMessage) -> tuple[datetime, int]:
    return (m.date or _EPOCH, m.decision_id)


# -- allow / block ------------------------------------------------------------------------------

_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\"]+$")
_LABEL = re.compile(r"^[^\s@<>()\[\],;:\"./\\]+$")


def normalise_entry(text: str) -> str:
    """'News@Acme.io' -> 'news@acme.io'; '@acme.io' or 'acme.io' -> 'acme.io'. ReviewError otherwise."""
    t = text.strip().strip("<>").strip().lower()
    if not t.isprintable():  # a control character: nothing mail could be from, nor Sieve could hold
        raise ReviewError(f"{text!r} is neither an email address nor a domain (e.g. news@acme.io "
                          "or acme.io)")
    if t.startswith("@"):
        t = t[1:]
    local, at, domain = t.rpartition("@")
    labels = domain.split(".")
    ok_domain = len(labels) >= 2 and all(_LABEL.match(x) for x in labels)
    if ok_domain and (not at or _LOCAL.match(local)):
        return t
    raise ReviewError(f"{text!r} is neither an email address nor a domain (e.g. news@acme.io or acme.io)")


@dataclass(frozen=True, slots=True)
class RuleChange:
    """An allow/block entry going from one status (None: no rule) to another."""

    entry: str
    before: str | None
    after: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"entry": self.entry, "before": self.before, "after": self.after}


def set_rule(store: Store, entry: str, status: str | None, *, note: str = "") -> RuleChange:
    """Allow (``'allowed'``), block (``'blocked'``) or clear (None) an address or domain; logged."""
    if status not in (ALLOWED, BLOCKED, None):
        raise ValueError(f"bad rule status {status!r}")
    entry = normalise_entry(entry)
    change = RuleChange(entry, store.sender_rules().get(entry), status)
    with store.transaction():
        store.set_sender_rule(entry, status, note)
        store.log_review(_RULE_ACTION[status], entry, {"rule": change.as_dict()})
    return change


def messages_of(entry: str, messages: Iterable[MovedMessage]) -> list[MovedMessage]:
    """The moved messages an allow/block entry (address, domain or parent domain) covers."""
    entries = frozenset({entry})
    return [m for m in messages if m.sender and matches(m.sender, entries)]


# -- labels for training ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """A scanned message that review labelled: 0 personal (sender allowed, or a move undone),
    1 promotion (sender blocked). ``source`` is the scanned path and ``ref`` the message's place in
    it, as :func:`mailguard.sources.open_source` names it ("inbox.mbox#12"); see :func:`read_examples`."""

    message_id: str
    sender: str
    subject: str
    label: int
    why: str
    source: str
    ref: str
    decision_id: int


def labelled_examples(store: Store) -> list[LabelledExample]:
    """Training labels from review, one per message (its latest decision), oldest first.

    allow -> 0 (personal), block -> 1 (promo), following the rule that matches the sender now; a
    message whose move was undone is 0 even when its sender has no rule. Messages of senders without
    a rule are not labelled: a scan's own decision is not a label.
    """
    rules = store.sender_rules()
    out = []
    for r in store.latest_decisions_undone():
        sender = r["sender"] or ""
        status, entry = rule_status(sender, rules) if sender else (FLAGGED, None)
        if status == ALLOWED:
            label, why = 0, f"allowed ({entry})"
        elif status == BLOCKED:
            label, why = 1, f"blocked ({entry})"
        elif r["was_undone"]:
            label, why = 0, "move undone"
        else:
            continue
        out.append(LabelledExample(
            message_id=r["message_id"] or "", sender=sender, subject=r["subject"] or "", label=label,
            why=why, source=r["source"] or "", ref=r["ref"] or "", decision_id=r["id"],
        ))
    return out


def read_examples(examples: Iterable[LabelledExample]
                  ) -> Iterator[tuple[LabelledExample, bytes]]:
    """The raw bytes of each example whose source is still on disk (grouped by source file).

    Examples from IMAP (``ref`` "imap:...") or from a file that is gone are skipped with a warning.
    Use: ``for ex, raw in read_examples(labelled_examples(store)): analyse_one(raw) ... ex.label``.
    """
    from ..sources import open_source

    by_source: dict[str, list[LabelledExample]] = defaultdict(list)
    for ex in examples:
        by_source[ex.source].append(ex)
    for source, exs in by_source.items():
        if not source or not Path(source).exists():
            log.warning("%d labelled message(s) from %s cannot be read: not a file on this machine",
                        len(exs), source or "(unknown source)")
            continue
        try:
            src = open_source(source)
        except SourceError as exc:
            log.warning("labelled messages from %s cannot be read: %s", source, exc)
            continue
        with src:
            items = {it.ref: it for it in src.items()}
            for ex in exs:
                it = items.get(ex.ref)
                if it is None:
                    log.warning("%s is no longer in %s", ex.ref, source)
                    continue
                yield ex, src.read(it)


# -- the decision log ---------------------------------------------------------------------------


def decision_log(store: Store, *, since: datetime | None = None, limit: int | None = None,
                 sender: str | None = None, moves_only: bool = False) -> list[dict[str, object]]:
    """Decisions newest first, with their reasons (``since``: decided at or after)."""
    where, params = [], []
    if moves_only:
        where.append("action = 'move'")
    if sender:
        entry = normalise_entry(sender)
        if "@" in entry:
            where.append("sender = ?")
            params.append(entry)
        else:
            where.append("(sender LIKE ? OR sender LIKE ?)")
            params += [f"%@{entry}", f"%.{entry}"]
    rows = store.decisions(since=since, limit=limit, where=" AND ".join(where), params=params)
    on_server = store.journal.carried_out([r["id"] for r in rows if r["action"] == "move"])
    return [{
        "id": r["id"],
        "run": r["run_id"],
        "decided_at": r["decided_at"],
        "date": r["date"],
        "message_id": r["message_id"],
        "sender": r["sender"],
        "subject": r["subject"],
        "action": r["action"],
        "status": r["status"],
        "moved_on_server": r["id"] in on_server,
        "promo_score": None if r["promo_score"] is None else round(r["promo_score"], 4),
        "linked_contact": r["linked_contact"],
        "link": r["link_kind"],
        "reasons": json.loads(r["reasons"] or "[]"),
        "ref": r["ref"],
    } for r in rows]


def review_actions(store: Store, *, limit: int | None = None) -> list[dict[str, object]]:
    """What the user did (allow, block, unrule, undo, revert), newest first."""
    return [{
        "id": r["id"], "at": r["at"], "action": r["action"], "target": r["target"],
        "reverted_by": r["reverted_by"], "detail": json.loads(r["detail"] or "{}"),
    } for r in store.review_entries(limit)]


# -- undo: plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoveBack:
    """One step of an undo: the message moved by ``moves`` row ``move_id`` goes from where it is now
    (``from_folder``, where that move put it) back to ``to_folder`` (where it came from)."""

    move_id: int
    account: str
    message_id: str
    from_folder: str
    to_folder: str
    uid: int | None
    decision_id: int | None
    #: the moved message's content hash (imap.content_hash), when the move log has it: a message
    #: that reuses the Message-ID is never taken for it
    content_hash: str | None = None

    def describe(self) -> str:
        return f"{self.message_id or '(no Message-ID)'}: {self.from_folder} -> {self.to_folder} " \
               f"on {self.account} (undo of move #{self.move_id})"


def plan_moves_back(moves: Iterable[Mapping[str, Any]]) -> list[MoveBack]:
    """Pure: each ``done`` row of the moves table -> the step that reverses it (dst -> src), in
    order. Rows in any other state are left out: an intent never finished, a failure moved nothing,
    and an ``undone`` move was already reversed."""
    return [
        MoveBack(move_id=int(m["id"]), account=m["account"], message_id=m["message_id"] or "",
                 from_folder=m["dst_folder"], to_folder=m["src_folder"], uid=m["dst_uid"],
                 decision_id=m["decision_id"], content_hash=_field(m, "content_hash"))
        for m in moves if m["state"] == "done"
    ]


def _field(row: Mapping[str, Any], name: str) -> Any:
    try:
        return row[name]
    except (KeyError, IndexError):  # a row from before that column
        return None


@dataclass(frozen=True)
class UndoPlan:
    """Everything an undo (or the revert of a logged action) will change, before it changes it."""

    action: str
    target: str
    #: (decision id, message id) of the decisions whose status becomes ``decisions_to``
    decisions: tuple[tuple[int, str], ...] = ()
    decisions_to: str = UNDONE
    moves: tuple[MoveBack, ...] = ()
    rule: RuleChange | None = None
    #: "sender: subject" of the messages concerned, for the user
    messages: tuple[str, ...] = ()
    reverts: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.decisions or self.moves or self.rule)

    def lines(self) -> list[str]:
        """The plan in words, one change a line."""
        what = f"revert of log entry #{self.reverts}" if self.reverts else f"undo {self.target}"
        out = [f"{what}:"]
        for step in self.moves:
            out.append(f"  move back {step.describe()}")
        if self.decisions:
            status = "kept (undone)" if self.decisions_to == UNDONE else "moved (flagged again)"
            scans = (f" ({len(self.decisions)} decisions over several scans)"
                     if len(self.decisions) > len(self.messages) > 0 else "")
            out.append(f"  mark {len(self.messages) or len(self.decisions)} message(s) "
                       f"{status}{scans}:")
            out += [f"    {m}" for m in self.messages[:20]]
            if len(self.messages) > 20:
                out.append(f"    ... and {len(self.messages) - 20} more")
        if self.rule:
            out.append(f"  {_rule_words(self.rule)}")
        out += [f"  note: {n}" for n in self.notes]
        return out


def _rule_words(r: RuleChange) -> str:
    if r.after == ALLOWED:
        return f"allow {r.entry} so it is not flagged again"
    if r.after == BLOCKED:
        return f"block {r.entry} again"
    return f"remove the {r.before or ''} rule for {r.entry}".replace("  ", " ")


def _decisions_of(store: Store, keys: set[str], status: str) -> list[tuple[int, str]]:
    """(id, message_id) of every move decision of these messages currently in ``status``."""
    if not keys:
        return []
    out = []
    for r in store.move_decisions_in(status):
        if r["mkey"] in keys:
            out.append((r["id"], r["message_id"] or ""))
    return out


def undo_depth(reasons: Mapping[int, str], move_id: int) -> int:
    """Pure: how many undos deep a moves row is (0: mailguard's own move; 1: its undo; 2: the undo
    of that undo, which put the message where mailguard's move had...), following the
    "undo of move #N" reasons."""
    depth, seen = 0, set()
    reason = reasons.get(move_id, "")
    while (m := _UNDO_REASON.match(reason)) and move_id not in seen:
        seen.add(move_id)
        move_id = int(m.group(1))
        reason = reasons.get(move_id, "")
        depth += 1
    return depth


def _forward_moves(store: Store) -> list[Mapping[str, Any]]:
    """moves rows in place (``done``) that leave a message where mailguard put it (an even number
    of undos deep), with the sender of their decision."""
    reasons = store.journal.reasons()
    return [r for r in store.journal.done_with_sender() if undo_depth(reasons, r["id"]) % 2 == 0]


def _allow_change(store: Store, entry: str) -> RuleChange | None:
    rules = store.sender_rules()
    status, _ = rule_status(entry if "@" in entry else "x@" + entry, rules)
    if status == ALLOWED:
        return None
    return RuleChange(entry, rules.get(entry), ALLOWED)


def _plan(store: Store, target: str, msgs: list[MovedMessage], moves: list[Mapping[str, Any]],
          allow: str | None) -> UndoPlan:
    decisions = _decisions_of(store, {m.key for m in msgs}, DECIDED)
    steps = plan_moves_back(moves)
    if not decisions and not steps:
        raise ReviewError(f"nothing to undo for {target}: no message of it is moved")
    return UndoPlan(
        action=UNDO, target=target, decisions=tuple(decisions), decisions_to=UNDONE,
        moves=tuple(steps), rule=_allow_change(store, allow) if allow else None,
        messages=tuple(f"{m.sender}: {m.subject}" for m in msgs),
    )


def plan_undo(store: Store, *, sender: str | None = None, message_id: str | None = None,
              last: bool = False, allow: bool = True) -> UndoPlan:
    """Plan the undo of a sender's (or domain's) moved messages, of one message, or of the most
    recent thing done (``last``: the newest moved message, or the newest undo, which is reverted).

    ``allow``: also allow the sender (or the domain named) so that the next scan does not flag it
    again. Raises ReviewError when there is nothing to undo.
    """
    if sum(x is not None and x is not False for x in (sender, message_id, last)) != 1:
        raise ReviewError("name one of: a sender or domain, --message-id ID, or --last")
    if last:
        return _plan_last(store, allow=allow)
    moved = moved_messages(store)
    if sender is not None:
        entry = normalise_entry(sender)
        msgs = messages_of(entry, moved)
        moves = [m for m in _forward_moves(store)
                 if m["sender"] and matches(m["sender"], frozenset({entry}))]
        return _plan(store, entry, msgs, moves, entry if allow else None)
    assert message_id is not None
    bare = " ".join(message_id.split()).strip("<>")
    wanted = {" ".join(message_id.split()), f"<{bare}>", bare}  # with or without the brackets
    msgs = [m for m in moved if m.message_id in wanted]
    moves = [m for m in _forward_moves(store) if m["message_id"] in wanted]
    senders = {m.sender for m in msgs} | {m["sender"] for m in moves if m["sender"]}
    who = next(iter(senders)) if len(senders) == 1 else None
    return _plan(store, message_id.strip(), msgs, moves, who if allow else None)


def _plan_last(store: Store, *, allow: bool) -> UndoPlan:
    entry = store.last_unreverted((UNDO, REVERT))
    moved = moved_messages(store)
    newest = max(moved, key=lambda m: m.decision_id) if moved else None
    entry_at = _dt(entry["at"]) if entry is not None else None
    if entry is not None and (newest is None or (entry_at and entry_at >= newest.decided_at)):
        return plan_revert(store, entry["id"])
    if newest is None:
        raise ReviewError("nothing to undo: no moved message, and no undo in the log")
    forward = _forward_moves(store)
    # the same message (content hash), not another that reuses its Message-ID
    digests = {m["content_hash"] for m in forward
               if m["decision_id"] == newest.decision_id and m["content_hash"]}
    moves = [m for m in forward
             if m["decision_id"] == newest.decision_id
             or (newest.message_id and m["message_id"] == newest.message_id
                 and (not digests or not m["content_hash"] or m["content_hash"] in digests))]
    return _plan(store, newest.message_id or newest.key, [newest], moves,
                 newest.sender if allow and newest.sender else None)


def plan_revert(store: Store, entry_id: int) -> UndoPlan:
    """Plan undoing logged review action #entry_id (an undo, a revert, an allow or a block):
    decisions get their status back, the rule its former state (unless changed since), and
    messages that undo moved are moved back again."""
    row = store.review_entry(entry_id)
    if row is None:
        raise ReviewError(f"no review log entry #{entry_id} (see: mailguard log --actions)")
    if row["reverted_by"]:
        raise ReviewError(f"log entry #{entry_id} was already reverted by #{row['reverted_by']}")
    detail = json.loads(row["detail"] or "{}")
    notes: list[str] = []
    ids = [int(i) for i in detail.get("decisions", [])]
    status_now = detail.get("decisions_to", UNDONE)
    status_back = detail.get("decisions_from", DECIDED)
    decisions = [(r["id"], r["message_id"] or "") for r in store.decisions_with_status(ids, status_now)]
    rule = None
    if detail.get("rule"):
        r = detail["rule"]
        current = store.sender_rules().get(r["entry"])
        if current == r["after"]:
            rule = RuleChange(r["entry"], current, r["before"])
        else:
            notes.append(f"the rule for {r['entry']} was changed since; left as it is ({current})")
    move_ids = [int(i) for i in detail.get("moves_done", [])]
    moves = store.journal.done_among(move_ids)
    subjects = [f"{r['sender']}: {r['subject']}" for r in store.subjects_of([d[0] for d in decisions])]
    plan = UndoPlan(action=REVERT, target=f"#{entry_id} ({row['action']} {row['target']})",
                    decisions=tuple(decisions), decisions_to=status_back,
                    moves=tuple(plan_moves_back(moves)), rule=rule, messages=tuple(subjects),
                    reverts=entry_id, notes=tuple(notes))
    if plan.empty:
        raise ReviewError(f"log entry #{entry_id} ({row['action']} {row['target']}) changed nothing "
                          "that is still in place")
    return plan


# -- undo: act --------------------------------------------------------------------------------


class Mover(Protocol):
    """What an undo needs of an IMAP account (``mailguard.imap.account.ImapAccount`` has it)."""

    def select(self, folder: str) -> object: ...

    def find_by_message_id(self, folder: str, message_id: str, **kw: Any) -> list[int]: ...

    def move(self, uids: Sequence[int], dest: str) -> dict[int, int | None]: ...


@dataclass
class UndoResult:
    """What an applied plan did: the review_log entry, the moves done (step, new moves row id, new
    UID) and the steps that failed, with why."""

    entry_id: int
    plan: UndoPlan
    moved: list[tuple[MoveBack, int, int | None]] = field(default_factory=list)
    failed: list[tuple[MoveBack, str]] = field(default_factory=list)
    decisions: int = 0


def _uidvalidity(state: object) -> int | None:
    value = getattr(state, "uidvalidity", None)
    if value is None and isinstance(state, Mapping):
        value = state.get(b"UIDVALIDITY", state.get("uidvalidity"))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _intent(step: MoveBack, uid: int | None, uidvalidity: int | None, reason: str) -> MoveIntent:
    return MoveIntent(step.account, step.message_id or None, step.from_folder, uid, uidvalidity,
                      step.to_folder, step.decision_id, reason, step.content_hash)


def move_back(store: Store, mover: Mover, step: MoveBack) -> list[tuple[int, int | None]]:
    """Carry out one step: find the message by Message-ID where the move put it, log the intent,
    move it, log it done and mark the original move undone. Returns [(moves row id, new UID)].
    Raises ReviewError (after logging a failed row) when the message is not there or the server
    refuses."""
    reason = UNDO_REASON.format(step.move_id)
    journal = store.journal
    if not step.message_id:
        journal.record(_intent(step, step.uid, None, reason + ": no Message-ID to find it by"), FAILED)
        raise ReviewError(f"move #{step.move_id} has no Message-ID: cannot find the message")
    uidvalidity = _uidvalidity(mover.select(step.from_folder))
    # only the message this move put there: not another that reuses its Message-ID
    same = {"content_hash": step.content_hash} if step.content_hash else {}
    uids = mover.find_by_message_id(step.from_folder, step.message_id, **same)
    if step.uid is not None and step.uid in uids:
        uids = [step.uid]
    if not uids:
        journal.record(_intent(step, None, uidvalidity, f"{reason}: not in {step.from_folder} any more"),
                       FAILED)
        raise ReviewError(f"{step.message_id} is not in {step.from_folder} any more")
    rows = dict(zip(uids, journal.intend([_intent(step, uid, uidvalidity, reason) for uid in uids]),
                    strict=True))
    try:
        mapping = mover.move(list(uids), step.to_folder)
    except BaseException as exc:
        for row in rows.values():
            journal.fail(row, str(exc))
        if isinstance(exc, MailguardError):
            raise ReviewError(f"moving {step.message_id} back failed: {exc}") from None
        raise
    vanished = [uid for uid in rows if uid not in mapping]  # expunged by another client meanwhile
    with store.transaction():
        for uid, row in rows.items():
            if uid in vanished:
                journal.fail(row, f"expunged from {step.from_folder} by another client")
            else:
                journal.done(row, mapping.get(uid))
        if len(vanished) < len(rows):
            journal.mark_undone(step.move_id)
    if len(vanished) == len(rows):
        raise ReviewError(f"{step.message_id} was expunged from {step.from_folder} by another "
                          "client while it was being moved back")
    return [(row, mapping.get(uid)) for uid, row in rows.items() if uid not in vanished]


def apply_undo(store: Store, plan: UndoPlan,
               connect: Callable[[str], Mover] | None = None) -> UndoResult:
    """Carry out a plan: IMAP steps first (``connect(account)`` gives a :class:`Mover`), then the
    decisions and the rule in one transaction, logged in review_log. A message that could not be
    moved back keeps its decision (so ``flagged`` still shows it and the undo can be retried)."""
    if plan.moves and connect is None:
        raise ReviewError(IMAP_NEEDED)
    result = UndoResult(entry_id=0, plan=plan)
    by_account: dict[str, list[MoveBack]] = defaultdict(list)
    for step in plan.moves:
        by_account[step.account].append(step)
    for account, steps in by_account.items():
        assert connect is not None
        try:
            mover = connect(account)
        except MailguardError as exc:
            result.failed += [(s, f"cannot open {account}: {exc}") for s in steps]
            continue
        for step in steps:
            try:
                for row, uid in move_back(store, mover, step):
                    result.moved.append((step, row, uid))
            except MailguardError as exc:
                result.failed.append((step, str(exc)))
    failed_ids = {s.message_id for s, _ in result.failed if s.message_id}
    failed_decisions = {s.decision_id for s, _ in result.failed}
    decision_ids = [d for d, mid in plan.decisions
                    if mid not in failed_ids and d not in failed_decisions]
    with store.transaction():
        store.set_decision_status(decision_ids, plan.decisions_to)
        if plan.rule:
            store.set_sender_rule(plan.rule.entry, plan.rule.after,
                                  note=f"{plan.action} {plan.target}")
        detail = {
            "decisions": decision_ids,
            "decisions_from": DECIDED if plan.decisions_to == UNDONE else UNDONE,
            "decisions_to": plan.decisions_to,
            "rule": plan.rule.as_dict() if plan.rule else None,
            "moves_done": [row for _, row, _ in result.moved],
            "moves_failed": [{"move": s.move_id, "why": why} for s, why in result.failed],
            "reverts": plan.reverts,
        }
        result.entry_id = store.log_review(plan.action, plan.target, detail)
        if plan.reverts:
            store.mark_reverted(plan.reverts, result.entry_id)
    result.decisions = len(decision_ids)
    return result
