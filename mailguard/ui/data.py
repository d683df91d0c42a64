"""What the web page shows, as typed dataclasses built from the store: the flagged senders (the
same rows as ``mailguard flagged``), each with its timeline (the message that made the contact,
then every message linked to it, with what mailguard did and the evidence), the figures behind
the charts, and one page of the decision log.

Building is split into pure functions over rows (tested on their own) and thin loaders that read
the :class:`~mailguard.store.Store`. Nothing here changes the database.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core.contacts import Contact
from ..review.actions import FLAGGED, FlaggedSender, flagged_senders
from ..core.rules import MOVE
from ..store import Store

#: a timeline shows at most this many messages (the decision log has the rest)
MAX_EVENTS = 200
#: flagged senders per page
PER_PAGE = 50

CONTACT, MOVED, BACK, WOULD, KEPT = "contact", "moved", "back", "would", "kept"

_CATEGORY_REASON = re.compile(r"^category:\s*([\w-]+)", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def category_of(row: Mapping[str, Any], reasons: Sequence[str] = ()) -> str | None:
    """A decision's category (personal, transactional, promotional) when it has one: its
    ``category`` column if the database has it, else a reason "category: X"; None otherwise."""
    try:
        value = row["category"]
    except (KeyError, IndexError):
        value = None
    if value:
        return str(value)
    for r in reasons:
        found = _CATEGORY_REASON.match(r)
        if found:
            return found.group(1).lower()
    return None


# -- timelines -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """How the contact was made: the first entry of a timeline."""

    email: str
    name: str
    since: datetime
    how: str
    subject: str
    source: str
    network: str

    @property
    def who(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """What the timelines and the log show of every decision."""

    decision_id: int
    date: datetime | None
    sender: str
    subject: str
    action: str
    undone: bool
    score: float | None
    category: str | None
    link: str | None


@dataclass(frozen=True, slots=True)
class Event(DecisionRow):
    """One message in a timeline (its latest decision across scans)."""

    evidence: tuple[str, ...]
    #: CONTACT (the message that made the contact), MOVED, BACK (moved, then put back), WOULD
    #: (a scan's move: nothing moved on a server) or KEPT
    kind: str
    #: what mailguard did, in words
    did: str
    #: whole days after the contact was made (None without a contact or a date)
    days_after: int | None


@dataclass(frozen=True, slots=True)
class Card:
    """A flagged sender with its timeline and the one-sentence case it makes."""

    sender: FlaggedSender
    anchor: str
    origin: Origin | None
    events: tuple[Event, ...]
    more: int
    story: str
    first_move: datetime | None


def anchor_of(sender: str) -> str:
    """A stable HTML id for a sender's entry."""
    import hashlib

    return "s-" + hashlib.sha1(sender.encode("utf-8")).hexdigest()[:12]


def origin_of(c: Contact) -> Origin:
    return Origin(email=c.email, name=c.name, since=c.since, how=c.how, subject=c.subject,
                  source=c.source, network=c.network)


def describe_moves(action: str, undone: bool, source: str, moves: Sequence[Mapping[str, Any]]
                   ) -> tuple[str, str]:
    """Pure: (kind, what mailguard did in words) for a decision, whether an undo took it back,
    and its moves rows (oldest first; an undo's reason starts "undo of move #", mailguard's own
    moves' do not)."""
    if action != MOVE:
        return KEPT, "kept in the inbox"
    own = [m for m in moves if not str(m["reason"] or "").startswith("undo of move #")]
    back = [m for m in moves if str(m["reason"] or "").startswith("undo of move #")
            and m["state"] == "done"]
    done = [m for m in own if m["state"] in ("done", "undone")]
    if done:
        m = done[-1]
        moved = f"moved from {m['src_folder']} to {m['dst_folder']} on {_day(_dt(m['done_at']) or _dt(m['at']))}"
        if undone:
            b = back[-1] if back else None
            when = f" on {_day(_dt(b['done_at']))}" if b is not None and b["done_at"] else ""
            return BACK, f"{moved}; put back in {m['src_folder']}{when} (undo)"
        if back:
            return MOVED, f"{moved}; put back, then moved again (an undo reverted)"
        return MOVED, moved
    if own:
        m = own[-1]
        if m["state"] == "failed":
            return KEPT, f"the move to {m['dst_folder']} failed: {m['reason']}"
        return MOVED, f"being moved to {m['dst_folder']}"
    if undone:
        return BACK, "would have been moved (scan); undone: kept"
    if source.startswith("imap:"):
        return WOULD, f"would be moved (dry run on {source[5:]}: nothing moved)"
    where = source.rsplit("/", 1)[-1] if source else "an export"
    return WOULD, f"flagged to move by the scan of {where}"


def _day(d: datetime | None) -> str:
    return f"{d.day} {d:%b %Y}" if d else "?"


def latest_per_message(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], bool]]:
    """Pure: (latest decision, undone) per message key ``mkey``; undone when any of its decisions
    was taken back by an undo (as review.moved_messages counts them). Oldest first."""
    latest: dict[str, Mapping[str, Any]] = {}
    undone: dict[str, bool] = defaultdict(bool)
    for r in rows:
        key = r["mkey"]
        if key not in latest or r["id"] > latest[key]["id"]:
            latest[key] = r
        undone[key] = undone[key] or r["status"] == "undone"
    out = [(r, undone[k]) for k, r in latest.items()]
    out.sort(key=lambda p: (_dt(p[0]["date"]) or _EPOCH, p[0]["id"]))
    return out


#: reasons a timeline does not repeat under each message: its first entry says when the contact
#: was made, and each message says how it was linked
_SAID_ONCE = ("contact since ", "linked to ")


def evidence_of(reasons: Sequence[str]) -> tuple[str, ...]:
    """Pure: the reasons worth showing under a message in a timeline."""
    return tuple(r for r in reasons if not r.startswith(_SAID_ONCE))


def build_events(rows: Iterable[Mapping[str, Any]], moves: Sequence[Mapping[str, Any]],
                 origin: Origin | None, origin_message_id: str = "") -> list[Event]:
    """Pure: the events of one timeline from its decisions (with ``mkey``) and their moves rows."""
    by_decision: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for m in moves:
        if m["decision_id"] is not None:
            by_decision[int(m["decision_id"])].append(m)
    out = []
    for r, undone in latest_per_message(rows):
        reasons = tuple(json.loads(r["reasons"] or "[]"))
        when = _dt(r["date"])
        if origin_message_id and r["message_id"] == origin_message_id:
            kind, did = CONTACT, "made the contact; kept"
        else:
            kind, did = describe_moves(r["action"], undone, r["source"] or "",
                                       by_decision.get(int(r["id"]), []))
        days = (when - origin.since).days if origin is not None and when is not None else None
        out.append(Event(
            decision_id=int(r["id"]), date=when, sender=r["sender"] or "", subject=r["subject"] or "",
            action=r["action"], undone=undone, score=r["promo_score"],
            category=category_of(r, reasons), link=r["link_kind"], evidence=evidence_of(reasons),
            kind=kind,
            did=did, days_after=days))
    return out


def story(f: FlaggedSender, origin: Origin | None, events: Sequence[Event]) -> tuple[str, datetime | None]:
    """Pure: the case in one sentence, and the date of the first move: "Emma Varga: they wrote to
    you personally on 14 Apr 2026 ("coffee sometime?"); from 10 Jul 2026, 87 days later, 5
    promotional messages followed from emma@emmavarga.dev (same address)."""
    mine = [e for e in events if e.sender == f.sender and e.kind in (MOVED, WOULD)]
    first = min((e.date for e in mine if e.date), default=None)
    n = f.messages
    followed = f"{n} promotional message{'s' if n != 1 else ''}"
    if origin is None:
        rule = f" by the {f.status} rule {f.rule}" if f.rule else ""
        return f"No networking contact: {followed} from {f.sender} moved{rule}.", first
    about = f' ("{_short(origin.subject, 60)}")' if origin.subject else ""
    head = f"{origin.name or origin.email}: {origin.how} on {_day(origin.since)}{about}"
    if first is not None:
        gap = (first - origin.since).days
        later = f", {gap} day{'s' if gap != 1 else ''} later" if gap > 0 else ""
        tail = f"; from {_day(first)}{later}, {followed} followed from {f.sender}"
    else:
        tail = f"; then {followed} from {f.sender}"
    how = f" ({f.link})" if f.link else ""
    return head + tail + how + ".", first


def _short(s: str, n: int) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def build_cards(store: Store, senders: Sequence[FlaggedSender]) -> list[Card]:
    """The timelines of these flagged senders, read in three queries."""
    contacts = {c.email: c for c in store.load_contacts()}
    linked = {f.linked_contact for f in senders if f.linked_contact}
    origin_ids = {contacts[c].message_id for c in linked if c in contacts and contacts[c].message_id}
    rows = store.decisions_about(contacts=linked, senders=[f.sender for f in senders],
                                 message_ids=origin_ids)
    moves = store.moves_of_decisions(r["id"] for r in rows)
    cards = []
    for f in senders:
        c = contacts.get(f.linked_contact) if f.linked_contact else None
        origin = origin_of(c) if c is not None else None
        mine = [r for r in rows if r["sender"] == f.sender
                or (f.linked_contact and r["linked_contact"] == f.linked_contact)
                or (c is not None and c.message_id and r["message_id"] == c.message_id)]
        events = build_events(mine, moves, origin, c.message_id if c else "")
        text, first = story(f, origin, events)
        more = max(len(events) - MAX_EVENTS, 0)
        cards.append(Card(sender=f, anchor=anchor_of(f.sender), origin=origin,
                          events=tuple(events[-MAX_EVENTS:]) if more else tuple(events),
                          more=more, story=text, first_move=first))
    return cards


# -- the flagged page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlaggedPage:
    """One page of flagged senders, with the totals over all of them."""

    cards: list[Card]
    total: int
    matching: int
    page: int
    pages: int
    by_status: dict[str, int]
    moved_messages: int


def matches_query(f: FlaggedSender, q: str) -> bool:
    """Pure: the search box: every word in the sender, linked contact, its name, how it was
    linked, or the last subject (case-insensitive)."""
    hay = " ".join((f.sender, f.linked_contact or "", f.contact_name, f.link or "",
                    f.last_subject, f.contact_subject)).lower()
    return all(w in hay for w in q.lower().split())


def flagged_page(store: Store, *, q: str = "", status: str | None = None, page: int = 1,
                 per_page: int = PER_PAGE, senders: Sequence[FlaggedSender] | None = None
                 ) -> FlaggedPage:
    everyone = flagged_senders(store) if senders is None else list(senders)
    by_status: dict[str, int] = defaultdict(int)
    for f in everyone:
        by_status[f.status] += 1
    chosen = [f for f in everyone if (status is None or f.status == status)
              and (not q.strip() or matches_query(f, q))]
    pages = max((len(chosen) + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    part = chosen[(page - 1) * per_page: page * per_page]
    return FlaggedPage(cards=build_cards(store, part), total=len(everyone), matching=len(chosen),
                       page=page, pages=pages, by_status={FLAGGED: 0, **by_status},
                       moved_messages=sum(f.messages for f in everyone))


# -- chart figures ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Week:
    start: date
    moved: int
    back: int


@dataclass(frozen=True, slots=True)
class Bin:
    low: float
    high: float
    moved: int
    kept: int


def weekly_moves(rows: Iterable[Mapping[str, Any]], *, weeks: int = 26) -> list[Week]:
    """Pure: messages moved per week (Monday to Sunday, by the message's date) over the last
    ``weeks`` weeks that have any, from Store.latest_decisions rows; ``back``: moved, then put
    back by an undo. Empty weeks in between are included."""
    moved: dict[date, int] = defaultdict(int)
    back: dict[date, int] = defaultdict(int)
    for r in rows:
        if r["action"] != MOVE or not r["date"]:
            continue
        d = datetime.fromisoformat(r["date"]).date()
        monday = d - timedelta(days=d.weekday())
        (back if r["undone"] else moved)[monday] += 1
    if not moved and not back:
        return []
    last = max(set(moved) | set(back))
    first = max(min(set(moved) | set(back)), last - timedelta(weeks=weeks - 1))
    out = []
    w = first
    while w <= last:
        out.append(Week(w, moved.get(w, 0), back.get(w, 0)))
        w += timedelta(weeks=1)
    return out


def score_bins(rows: Iterable[Mapping[str, Any]], *, bins: int = 20) -> list[Bin]:
    """Pure: how many messages fall in each promo-score bin, moved (or put back) and kept."""
    moved = [0] * bins
    kept = [0] * bins
    for r in rows:
        s = r["promo_score"]
        if s is None:
            continue
        i = min(max(int(float(s) * bins), 0), bins - 1)
        (moved if r["action"] == MOVE else kept)[i] += 1
    return [Bin(i / bins, (i + 1) / bins, moved[i], kept[i]) for i in range(bins)]


# -- the decision log ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRow(DecisionRow):
    decided_at: datetime | None
    linked_contact: str | None
    reasons: tuple[str, ...]
    source: str


def log_rows(rows: Iterable[Mapping[str, Any]]) -> list[LogRow]:
    out = []
    for r in rows:
        reasons = tuple(json.loads(r["reasons"] or "[]"))
        out.append(LogRow(
            decision_id=int(r["id"]), date=_dt(r["date"]), decided_at=_dt(r["decided_at"]),
            sender=r["sender"] or "", subject=r["subject"] or "", action=r["action"],
            undone=r["status"] == "undone", score=r["promo_score"],
            category=category_of(r, reasons), linked_contact=r["linked_contact"],
            link=r["link_kind"], reasons=reasons, source=r["source"] or ""))
    return out
