"""Deciding a batch of IMAP messages: fetching it, telling what was decided or moved before
(by place and content hash, never by Message-ID alone), running the pipeline over it in order
and noting each decision's place in the transaction that saves it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone

from ..core.parse import email_date
from ..core.rules import Decision
from ..errors import MailguardError
from ..pipeline import Analysed
from ..review.digest import is_own_digest
from ..store import DecidedPlace
from .client import FetchedMessage, FolderState
from .position import FolderPositions
from .report import SYNC_TAG, PassReport, _norm_id, _shown

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Item:
    """A fetched message and where it is."""

    folder: str
    uidvalidity: int
    msg: FetchedMessage
    when: datetime


#: the Date field after a line end: the header is searched with a "\n" put in front (a search for
#: "\n" is a fast scan, where "^" in multi-line mode is a test at every byte)
_DATE = re.compile(rb"\ndate:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.IGNORECASE)


def _date_of(msg: FetchedMessage) -> datetime:
    """Date header, else INTERNALDATE, else now: the order history is learned in."""
    end = msg.raw.find(b"\r\n\r\n")
    found = _DATE.search(b"\n" + (msg.raw[:end] if end >= 0 else msg.raw))
    if found:
        try:
            d = email_date(" ".join(found.group(1).decode("latin-1").split()))
            return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if msg.internaldate is not None:
        d = msg.internaldate
        return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


class BatchDecisions(FolderPositions):
    """Fetching and deciding batches of messages of one account."""

    # -- lookups
    #
    # What identifies a message: in its folder, (folder, UIDVALIDITY, UID), which no other message
    # ever gets; across folders and a UIDVALIDITY change, its content hash (imap.content_hash). A
    # Message-ID alone never says that a message was seen: anyone can reuse one. Only rows written
    # before the content hash existed (no hash) are still matched by Message-ID.

    def _decided_uids(self, folder: str, uidvalidity: int, uids: Iterable[int], *,
                      real: bool = False, kept: bool = False) -> set[int]:
        """UIDs of folder (at this UIDVALIDITY) already decided on this account; real: by a real
        (not dry) run; kept: and not to be moved."""
        return self.store.decided_uids(self.name, folder, uidvalidity, uids, real=real, kept=kept)

    def _moved_before(self, msgs: Sequence[FetchedMessage]) -> set[int]:
        """UIDs of msgs that mailguard moved once on this account (same content, wherever it is
        now; a move that failed moved nothing). Rows from before the content hash: same
        Message-ID."""
        hashes = self.journal.moved_hashes(self.name, (m.content_hash for m in msgs))
        legacy = self.journal.legacy_moved_ids(self.name, SYNC_TAG,
                                               (_norm_id(m.message_id) for m in msgs))
        return {m.uid for m in msgs
                if m.content_hash in hashes or (m.message_id and _norm_id(m.message_id) in legacy)}

    def _seen_anywhere(self, msgs: Sequence[FetchedMessage]) -> set[int]:
        """UIDs of msgs this account decided or moved before, in whatever folder or UIDVALIDITY
        (same content). Decisions from before the content hash: same Message-ID."""
        hashes = self.store.decided_hashes(self.name, (m.content_hash for m in msgs))
        legacy = self.store.legacy_decided_ids(self.source, (_norm_id(m.message_id) for m in msgs))
        legacy = {_norm_id(x) for x in legacy}
        return self._moved_before(msgs) | {
            m.uid for m in msgs
            if m.content_hash in hashes or (m.message_id and _norm_id(m.message_id) in legacy)}

    def _fetch(self, folder: str, state: FolderState, uids: Sequence[int], body: int) -> list[Item]:
        return [Item(folder, state.uidvalidity, m, _date_of(m))
                for m in self.account.fetch(uids, max_body_bytes=body, batch=self.acct.batch_size)]

    def _fetch_ahead(self, folder: str, state: FolderState, chunks: Iterable[Sequence[int]],
                     body: int) -> Iterator[list[Item]]:
        """:meth:`_fetch` of each chunk, the next chunk's FETCH on its way while the caller works
        on this one (see ``ImapAccount.fetch_ahead``: close it when stopping early)."""
        with closing(self.account.fetch_ahead(chunks, max_body_bytes=body)) as fetched:
            for msgs in fetched:
                yield [Item(folder, state.uidvalidity, m, _date_of(m)) for m in msgs]

    # -- deciding

    def _start_analysis(self, items: list[Item]) -> tuple[list[Item], Callable[[], list[Analysed]]]:
        """Start the pure stages of a batch (in the pipeline's worker processes when it is large)
        and return it with a function that waits for them; mailguard's own digests are left out."""
        from ..parallel import submit

        items = [it for it in items if not is_own_digest(self.store, it.msg.raw)]
        return items, submit([it.msg.raw for it in items], self.pipeline.model,
                             self.pipeline.workers)

    def _decide(self, items: list[Item], *, learn_only: bool, report: PassReport,
                analysed: Callable[[], list[Analysed]] | None = None
                ) -> list[tuple[Item, Decision, int | None]]:
        """Run the pipeline over items in the given order; (item, decision, decision id). A message
        the pipeline fails on is logged and left where it is. ``analysed``: from
        :meth:`_start_analysis` of the same items."""
        # mailguard's own digest (digest.py) is never decided, learned from or moved
        if analysed is None:
            items = [it for it in items if not is_own_digest(self.store, it.msg.raw)]
        if not items:
            return []
        refs = [f"imap:{self.name}/{it.folder}/{it.msg.uid}" for it in items]
        ids: dict[str, int] = {}
        try:
            with self.store.transaction():  # the decisions and the places they are about, together
                last = self._last_decision()
                decisions = self.pipeline.process([it.msg.raw for it in items], refs,
                                                  learn_only=learn_only,
                                                  analysed=analysed() if analysed else None)
                pairs = list(zip(items, decisions, strict=True))
                ids.update(self._record_decided(pairs, last))
        except MailguardError:
            raise
        except Exception:  # noqa: BLE001 - a pipeline bug must not stop the account
            log.exception("%s: deciding a batch of %d failed; trying message by message",
                          self.name, len(items))
            pairs = []
            for it, ref in zip(items, refs, strict=True):
                try:
                    with self.store.transaction():
                        last = self._last_decision()
                        d = self.pipeline.process([it.msg.raw], [ref], learn_only=learn_only)[0]
                        ids.update(self._record_decided([(it, d)], last))
                    pairs.append((it, d))
                except MailguardError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    report.unreadable += 1
                    log.error("%s: %s UID %d (%s) could not be decided (%s): left where it is",
                              self.name, it.folder, it.msg.uid, _shown(it.msg.message_id),
                              type(exc).__name__)
        out = []
        for it, d in pairs:
            if d.reasons and d.reasons[0].startswith("not understood"):
                report.unreadable += 1
                log.warning("%s: %s UID %d (%s): %s", self.name, it.folder, it.msg.uid,
                            _shown(it.msg.message_id), d.reasons[0])
            out.append((it, d, ids.get(d.ref)))
        return out

    def _last_decision(self) -> int:
        return self.store.last_decision_id()

    def _record_decided(self, pairs: Sequence[tuple[Item, Decision]], last: int) -> dict[str, int]:
        """Note in imap_decided where each decided message is (folder, UIDVALIDITY, UID) and its
        content hash; call in the transaction that saved the decisions (those after id last).
        Returns ref -> decision id. A dry run's rows never replace a real run's."""
        ids: dict[str, int] = {}
        if self.pipeline.run_id is not None and pairs:
            ids = self.store.decision_ids_of_run(self.pipeline.run_id, last)
        self.store.note_decided(self.name, (
            DecidedPlace(it.folder, it.uidvalidity, it.msg.uid, _norm_id(it.msg.message_id) or None,
                         it.msg.content_hash, ids.get(d.ref), d.action) for it, d in pairs),
            real=not self.dry_run)
        return ids
