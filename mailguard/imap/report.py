"""What a pass over an IMAP account reports (:class:`PassReport`, :class:`Moved`), and the small
helpers the parts of :class:`~mailguard.imap.sync.AccountSync` share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ..core.rules import Decision

#: reason prefix of the moves rows written here (review.py's undo rows start "undo of move #")
SYNC_TAG = "sync: "
#: Sent mail is only learned from: its start is enough
SENT_BODY_BYTES = 4096

Checkpoint = Callable[[str], None]


def _noop_checkpoint(_phase: str) -> None:
    return None


def _norm_id(message_id: str | None) -> str:
    return " ".join((message_id or "").split())


def _shown(message_id: str | None) -> str:
    """A Message-ID for a log line: control characters escaped, at most 200 characters."""
    if not message_id:
        return "no Message-ID"
    text = message_id if message_id.isprintable() else repr(message_id)[1:-1]
    return text if len(text) <= 200 else text[:200] + "..."


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True, slots=True)
class Moved:
    """One message moved (or, in a dry run, that would have been)."""

    folder: str
    uid: int
    dest: str
    new_uid: int | None
    decision: Decision


@dataclass
class PassReport:
    """What one pass did."""

    account: str
    dry_run: bool = False
    first_run: bool = False
    learned: int = 0
    decided: int = 0
    moved: list[Moved] = field(default_factory=list)
    skipped: int = 0
    unreadable: int = 0
    failed: int = 0
    #: offenders expunged by another client between FETCH and MOVE
    vanished: int = 0
    reconciled: int = 0
    resynced: list[str] = field(default_factory=list)
    new_contacts: int = 0
    complete: bool = True

    @property
    def busy(self) -> bool:
        return bool(self.learned or self.decided or self.moved or self.reconciled or self.resynced)

    def summary(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        parts = ["first run"] if self.first_run else []
        if self.learned:
            parts.append(f"learned from {self.learned} message(s)")
        parts += [f"{self.decided} new message(s)", f"{verb} {len(self.moved)}"]
        counted = [(self.new_contacts, "{} new contact(s)"),
                   (self.skipped, "{} moved before and put back: left alone"),
                   (self.unreadable, "{} not understood: left where they are"),
                   (self.reconciled, "{} interrupted move(s) reconciled"),
                   (self.failed, "{} move(s) failed"),
                   (self.vanished, "{} expunged by another client before the move")]
        parts += [text.format(n) for n, text in counted if n]
        if self.resynced:
            parts.append("UIDVALIDITY changed: resynced " + ", ".join(self.resynced))
        if not self.complete:
            parts.append("stopped early")
        return f"{self.account}: " + ", ".join(parts)
