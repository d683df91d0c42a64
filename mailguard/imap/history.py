"""Reading a window of an account's past mail: the first run (learning contacts from the watched
folder and Sent, merged by date, moving nothing), new Sent mail (learned only), a UIDVALIDITY
change (the window read again, by content), and ``apply-history`` (acting on past mail on
request)."""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import date, datetime, timedelta, timezone

from ..core.rules import MOVE
from ..errors import ImapError
from ..pipeline import Analysed
from .batch import Item
from .collect import fewer_collections
from .client import HASH_BODY_BYTES, FolderState
from .moves import QuarantineMoves
from .position import Mark
from .report import SENT_BODY_BYTES, Moved, PassReport, _chunks

log = logging.getLogger(__name__)

#: batches of the first run being analysed while the oldest is decided: with two queued, the
#: workers still have one when deciding and the next FETCH take the deciding process a while
ANALYSED_AHEAD = 2


class HistoryLearning(QuarantineMoves):
    """Learning from (and, on request, acting on) the past mail of one account."""

    # -- first run

    def _first_run(self, watch: str, sent: str | None, report: PassReport,
                   stop: Callable[[], bool]) -> bool:
        """Learn the window of history of watch and Sent, merged by date. False if stopped early."""
        cutoff = (datetime.now(timezone.utc) - timedelta(days=self.window_days)).date()
        sent_items: list[Item] = []
        sent_mark: Mark | None = None
        if sent is not None:
            st = self.account.select(sent, readonly=True)
            boundary = self._boundary(st)
            uids = [u for u in self.account.uids_since(cutoff) if u <= boundary]
            for chunk in _chunks(uids, self.acct.batch_size):
                done = self._decided_uids(sent, st.uidvalidity, chunk)
                sent_items += self._fetch(sent, st, [u for u in chunk if u not in done],
                                          SENT_BODY_BYTES)
            sent_items.sort(key=lambda it: it.when)
            sent_mark = Mark(st.uidvalidity, boundary, None)
        st = self.account.select(watch, readonly=True)  # learning only: works read-only too
        # the worker processes start while the folder is searched and its first batch fetched,
        # and the first batch finds them ready
        self.pipeline.warm(st.exists)
        mark = self.mark(watch)
        if mark is not None and mark.uidvalidity == st.uidvalidity and mark.learned_until is None:
            boundary = mark.last_uid  # an interrupted first run: same history, same boundary
            log.info("%s: resuming the first run (learning history of %s up to UID %d)",
                     self.name, watch, boundary)
        else:
            boundary = self._boundary(st)
            self._set_mark(watch, Mark(st.uidvalidity, boundary, None))
            log.info("%s: first run: learning contacts from the last %d days of %s%s; nothing of "
                     "that is moved", self.name, self.window_days, watch,
                     f" and {sent}" if sent else "")
        uids = self._window(cutoff, boundary)
        pending = iter(sent_items)
        nxt = next(pending, None)
        # the next batches are analysed (in worker processes) while this one is fetched and decided
        ahead: deque[tuple[list[Item], Callable[[], list[Analysed]]]] = deque()

        def decide_oldest() -> None:
            items, analysed = ahead.popleft()
            self._decide(items, learn_only=True, report=report, analysed=analysed)
            report.learned += len(items)

        def fresh(chunk: Sequence[int]) -> list[int]:
            done = self._decided_uids(watch, st.uidvalidity, chunk)  # an interrupted first run
            return [u for u in chunk if u not in done]

        # the FETCH of the next batch is on its way while this one is handed over and decided
        with closing(self._fetch_ahead(watch, st, map(fresh, _batched(uids, self.acct.batch_size)),
                                       self.acct.max_body_bytes)) as fetched:
            for items in fetched:
                if not items:
                    continue
                upto = max(it.when for it in items)
                while nxt is not None and nxt.when <= upto:
                    items.append(nxt)
                    nxt = next(pending, None)
                items.sort(key=lambda it: it.when)
                ahead.append(self._start_analysis(items))
                if len(ahead) > ANALYSED_AHEAD:
                    decide_oldest()
                    if stop():
                        return False
        while ahead:
            decide_oldest()
            if stop():
                return False
        rest = ([nxt] if nxt is not None else []) + list(pending)
        for start in range(0, len(rest), self.acct.batch_size):
            part = rest[start:start + self.acct.batch_size]
            self._decide(part, learn_only=True, report=report)
            report.learned += len(part)
        now = datetime.now(timezone.utc)
        with self.store.transaction():
            if sent is not None and sent_mark is not None:
                self._set_mark(sent, Mark(sent_mark.uidvalidity, sent_mark.last_uid, now))
            self._set_mark(watch, Mark(st.uidvalidity, boundary, now))
        log.info("%s: first run learned from %d message(s); mail arriving from now on is acted on",
                 self.name, report.learned)
        return True

    def _window(self, cutoff: date, boundary: int) -> Iterator[int]:
        """UIDs of the selected folder up to boundary that arrived on or after cutoff, ascending,
        searched a span at a time as they are asked for: the first span a batch, each next one
        twice the last. The first batch is fetched, and the workers busy with it, after a search
        of that span alone, not of the whole folder (which a server with a cold index answers
        after a look at every message: 130 ms for 10,000 on the bench's Dovecot); each later
        search runs while the workers have the batches ahead (see ANALYSED_AHEAD). Asked for
        between two FETCHes (see ImapAccount.fetch_ahead): no command is on its way then."""
        every = self.account.uids_upto(boundary)
        start, span = 0, max(self.acct.batch_size, 1)
        while start < len(every):
            yield from self.account.uids_since(cutoff, among=every[start:start + span])
            start += span
            span *= 2

    # -- learning only

    def _sync_learn_only(self, folder: str, report: PassReport, stop: Callable[[], bool]) -> None:
        """Learn from new mail of a folder (Sent); nothing there is ever moved."""
        st = self.account.select(folder, readonly=True)
        mark = self.mark(folder)
        if mark is None or mark.uidvalidity != st.uidvalidity:
            self._resync(folder, st, mark, quarantine=None, report=report, stop=stop)
            return
        uids = self.account.uids_after(mark.last_uid)
        for chunk in _chunks(uids, self.acct.batch_size):
            items = self._fetch(folder, st, chunk, SENT_BODY_BYTES)
            if items:
                self._decide(items, learn_only=True, report=report)
                report.learned += len(items)
            self._set_mark(folder, Mark(st.uidvalidity, max(chunk), mark.learned_until))
            if stop():
                return

    # -- UIDVALIDITY change

    def _resync(self, folder: str, st: FolderState, mark: Mark | None, *, quarantine: str | None,
                report: PassReport, stop: Callable[[], bool]) -> None:
        """Read the folder's window again after a UIDVALIDITY change (or the first time for a
        learn-only folder). Messages already decided or moved are skipped; the rest is learned,
        except (quarantine given) what arrived after the first run, which is acted on."""
        if mark is not None:
            log.warning("%s: UIDVALIDITY of %s changed (%d -> %d): stored UIDs are void; resyncing "
                        "by content, nothing already decided is moved", self.name, folder,
                        mark.uidvalidity, st.uidvalidity)
            report.resynced.append(folder)
        cutoff = (datetime.now(timezone.utc) - timedelta(days=self.window_days)).date()
        boundary = self._boundary(st)
        uids = [u for u in self.account.uids_since(cutoff) if u <= boundary]
        learned_until = mark.learned_until if mark is not None else None
        learn: list[int] = []
        act: list[int] = []
        for chunk in _chunks(uids, 1000):
            # the header and the start of the body: what the content hash is made of
            heads = list(self.account.fetch(chunk, max_body_bytes=HASH_BODY_BYTES, batch=500))
            seen = self._seen_anywhere(heads)
            for m in heads:
                if m.uid in seen:
                    continue
                arrived = m.internaldate
                if (quarantine is not None and learned_until is not None
                        and arrived is not None and arrived >= learned_until):
                    act.append(m.uid)
                else:
                    learn.append(m.uid)
        body = self.acct.max_body_bytes if quarantine is not None else SENT_BODY_BYTES
        for chunk in _chunks(learn, self.acct.batch_size):
            items = self._fetch(folder, st, chunk, body)
            if items:
                self._decide(items, learn_only=True, report=report)
                report.learned += len(items)
            if stop():
                return
        if quarantine is not None:
            for chunk in _chunks(act, self.acct.batch_size):
                self._act_on(folder, st, chunk, quarantine, report, commit_mark=None)
                if stop():
                    return
        self._set_mark(folder, Mark(st.uidvalidity, boundary, learned_until or datetime.now(timezone.utc)))

    # -- explicit action on history

    def apply_history(self, folder: str | None = None, days: int | None = None,
                      stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Decide and act on the existing mail of folder (default: the watched folder) from the
        last `days` (default window_days), merged by date with Sent so that contacts count as they
        did then. Messages mailguard moved before are left alone. Folder state is not changed."""
        with fewer_collections():
            return self._apply_history(folder, days, stop)

    def _apply_history(self, folder: str | None, days: int | None,
                       stop: Callable[[], bool]) -> PassReport:
        report = PassReport(self.name, dry_run=self.dry_run)
        before = self.pipeline.counts["new_contacts"]
        self._check_can_move()
        watch, sent, quarantine = self.folders()
        target = self.account.folder_name(folder) if folder else watch
        if target == quarantine:
            raise ImapError(f"{target} is the quarantine folder: nothing to apply there")
        self._reconcile(quarantine, report)
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days or self.window_days)).date()
        sent_items: list[Item] = []
        if sent is not None and sent != target:
            sst = self.account.select(sent, readonly=True)
            for chunk in _chunks(self.account.uids_since(cutoff), self.acct.batch_size):
                sent_items += self._fetch(sent, sst, chunk, SENT_BODY_BYTES)
            sent_items.sort(key=lambda it: it.when)
        st = self.account.select(target)
        uids = self.account.uids_since(cutoff)
        pending = iter(sent_items)
        nxt = next(pending, None)
        for chunk in _chunks(uids, self.acct.batch_size):
            items = self._fetch(target, st, chunk, self.acct.max_body_bytes)
            moved_before = self._moved_before([it.msg for it in items])
            fresh = [it for it in items if it.msg.uid not in moved_before]
            report.skipped += len(items) - len(fresh)
            if not fresh:
                continue
            upto = max(it.when for it in fresh)
            learn = []
            while nxt is not None and nxt.when <= upto:
                learn.append(nxt)
                nxt = next(pending, None)
            merged = sorted(fresh + learn, key=lambda it: it.when)
            results = self._decide(merged, learn_only=False, report=report)
            report.decided += len(fresh)
            report.learned += len(learn)
            offenders = [(it, d, did) for it, d, did in results
                         if d.action == MOVE and it.folder == target]
            if offenders and not self.dry_run:
                self._move(target, st.uidvalidity, offenders, quarantine, report, None)
            else:
                report.moved += [Moved(target, it.msg.uid, quarantine, None, d) for it, d, _ in offenders]
            if stop():
                report.complete = False
                break
        report.new_contacts = self.pipeline.counts["new_contacts"] - before
        return report


def _batched(items: Iterable[int], size: int) -> Iterator[list[int]]:
    """Lists of size items in turn (the last one shorter), each taken when asked for."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
