"""What `mailguard scan` shows on a terminal: the offenders first, grouped by the networking
contact they were tied to, each group a timeline (the contact made, then the promotion), and on
request the full table of every message.

Grouping is pure (:func:`offender_groups`); the rest turns groups and decisions into rich
renderables sized to the terminal: addresses and subjects wrap, they are never cut. Every piece of
message text goes through :func:`mailguard.cli.output.plain`.

A new field of a Decision is shown by adding one function to :data:`MOVE_PARTS` (the offender
timeline) and, for the full table, one :class:`Column` to :data:`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..core.contacts import Contact
from .output import plain
from ..core.rules import MOVE, Decision

#: width of the date and tag columns of a timeline (so that every group lines up)
DATE_WIDTH = 10
TAG_WIDTH = 9


@dataclass(frozen=True)
class ContactCase:
    """One networking contact and the promotion tied to it, in date order. ``contact`` is None
    for messages moved by a block rule without any contact."""

    contact: str | None
    details: Contact | None
    moves: tuple[Decision, ...]

    @property
    def senders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.sender for d in self.moves))

    @property
    def first_move(self) -> datetime | None:
        return next((d.date for d in self.moves if d.date), None)


def offender_groups(decisions: Iterable[Decision],
                    contact_of: Callable[[str], Contact | None]) -> list[ContactCase]:
    """The moves grouped by linked contact, groups in the order of their first move."""
    by_contact: dict[str | None, list[Decision]] = {}
    for d in decisions:
        if d.action == MOVE:
            by_contact.setdefault(d.linked_contact, []).append(d)
    return [ContactCase(key, contact_of(key) if key else None, tuple(ds))
            for key, ds in by_contact.items()]


def _day(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d") if d else "?"


def _quote(s: str) -> str:
    return f'"{s}"' if s else "(no subject)"


# -- the offender timeline ------------------------------------------------------------------------

#: what a move row says, in order: each part gives a Text for a decision in its group (or None to
#: say nothing); what every move of a group shares (sender, link) is said once, in its heading
MovePart = Callable[[Decision, ContactCase], Text | None]


def _shared(case: ContactCase, value: Callable[[Decision], str | None]) -> str | None:
    """The value every move of the group has, if they all have the same."""
    values = {value(d) for d in case.moves}
    return values.pop() if len(values) == 1 else None


def _sender_part(d: Decision, case: ContactCase) -> Text | None:
    if _shared(case, lambda x: x.sender) is not None:
        return None
    return plain(d.sender or "(no sender)", "bold")


def _subject_part(d: Decision, case: ContactCase) -> Text:
    return plain(_quote(d.subject))


def _how(d: Decision) -> str | None:
    if d.link_kind:
        return d.link_kind
    return d.reasons[0] if d.reasons else None


def _link_part(d: Decision, case: ContactCase) -> Text | None:
    if _shared(case, _how) is not None or not _how(d):
        return None
    return plain(f"({_how(d)})", "dim")


MOVE_PARTS: list[MovePart] = [_sender_part, _subject_part, _link_part]


def _join(parts: Iterable[Text | None]) -> Text:
    return Text(" ").join(p for p in parts if p is not None and p.plain)


def _timeline() -> Table:
    t = Table.grid(padding=(0, 1), pad_edge=False)
    t.add_column(width=1)  # indent
    t.add_column(width=DATE_WIDTH, no_wrap=True)
    t.add_column(width=TAG_WIDTH, no_wrap=True)
    t.add_column(ratio=1, overflow="fold")  # wraps at spaces; only a very long word is folded
    return t


def _heading(case: ContactCase) -> Text:
    """'Jane Doe <jane@acme.io>: 3 to move from news@acme.io (same organisation), starting 17
    days after the contact'; the sender and the link when all moves share them."""
    c = case.details
    n = len(case.moves)
    if case.contact is None:
        head = Text("no networking contact", style="bold")
    elif c is not None and c.name:
        head = Text.assemble(plain(c.name, "bold"), " ", plain(f"<{case.contact}>", "bold"))
    else:
        head = plain(case.contact, "bold")
    head.append(f": {n} to move")
    sender, how = _shared(case, lambda d: d.sender), _shared(case, _how)
    if sender:
        head.append(" from ")
        head.append_text(plain(sender, "bold"))
    if how:
        head.append_text(plain(f" ({how})", "dim"))
    if c is not None and case.first_move is not None:
        days = (case.first_move - c.since).days
        if days >= 0:
            head.append(f", starting {days} day{'s' if days != 1 else ''} after the contact")
    return head


def _contact_row(case: ContactCase) -> tuple[str, Text, Text] | None:
    c = case.details
    if c is None:
        return None
    how = c.how + (f" on {c.network}" if c.network and c.network.lower() not in c.how.lower() else "")
    words = plain(how)
    if c.subject:
        words.append(": ")
        words.append_text(plain(_quote(c.subject)))
    return _day(c.since), Text("contact", style="green"), words


def contact_case(case: ContactCase, parts: Sequence[MovePart] = MOVE_PARTS) -> RenderableType:
    """One group: the contact, then each promotion tied to it, one timeline."""
    t = _timeline()
    row = _contact_row(case)
    if row is not None:
        t.add_row("", *row)
    for d in case.moves:
        score = "" if d.promo_score is None else f" {d.promo_score:.2f}"
        t.add_row("", _day(d.date), Text(f"move{score}", style="bold red"),
                  _join(p(d, case) for p in parts))
    return Group(_heading(case), t)


def offenders(cases: Sequence[ContactCase]) -> RenderableType:
    items: list[RenderableType] = []
    for case in cases:
        items += [contact_case(case), Text("")]
    return Group(*items)


# -- every message -------------------------------------------------------------------------------

#: what a row of the full listing says after its date and action, in order
RowPart = Callable[[Decision], Text | None]


def _why(d: Decision) -> Text | None:
    if d.action == MOVE:
        text = (f"{d.link_kind} -> {d.linked_contact}" if d.linked_contact else
                (d.reasons[0] if d.reasons else ""))
        return plain(f"- {text}", "dim") if text else None
    if d.learned:
        return plain(f"- {d.learned[0]}", "green")
    return plain(f"- {d.reasons[0]}", "dim") if d.reasons else None


ROW_PARTS: list[RowPart] = [
    lambda d: plain(d.sender or "(no sender)", "bold" if d.action == MOVE else ""),
    lambda d: plain(_quote(d.subject)),
    _why,
]


def _action_tag(d: Decision) -> Text:
    score = "" if d.promo_score is None else f" {d.promo_score:.2f}"
    if d.action == MOVE:
        return Text(f"move{score}", style="bold red")
    return Text(f"{d.action}{score}")


def full_listing(decisions: Sequence[Decision], *, moves_only: bool = False,
                 parts: Sequence[RowPart] = ROW_PARTS) -> RenderableType:
    """Every message in date order, one entry each: date, action and score, then sender, subject
    and why, wrapped to the terminal (an address is never cut)."""
    t = _timeline()
    for d in decisions:
        if moves_only and d.action != MOVE:
            continue
        t.add_row("", _day(d.date), _action_tag(d), _join(p(d) for p in parts))
    title = "every message to move, in date order" if moves_only else "every message, in date order"
    return Group(Text(title, style="bold"), t, Text(""))
