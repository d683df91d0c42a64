"""Acting on a batch: its offenders are moved to the quarantine through the move journal (an
intent committed before the UID MOVE, done or failed after), and moves a crash or a dropped
connection interrupted are reconciled at the start of the next pass."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..core.rules import MOVE, Decision
from ..errors import ImapError
from ..store import DONE, FAILED, MoveIntent, MoveRecord, Settled
from .batch import BatchDecisions, Item
from .client import HASH_BODY_BYTES, FetchedMessage, FolderMissing, FolderState
from .position import Mark
from .report import SYNC_TAG, Moved, PassReport, _norm_id, _shown

log = logging.getLogger(__name__)


class QuarantineMoves(BatchDecisions):
    """Deciding batches of one account and moving their offenders to the quarantine."""

    def _act_on(self, folder: str, st: FolderState, uids: Sequence[int], quarantine: str,
                report: PassReport, *, commit_mark: Mark | None) -> None:
        """Fetch, decide in UID order and move one batch; commit_mark: advance the folder's
        last UID past the batch (None during a resync)."""
        items = self._fetch(folder, st, uids, self.acct.max_body_bytes)
        self.checkpoint("fetched")
        moved_before = self._moved_before([it.msg for it in items])
        # a batch interrupted (dropped connection, crash) after its decisions were saved comes
        # again: what was kept then is not decided a second time (the same UID, not a Message-ID)
        kept_before = self._decided_uids(folder, st.uidvalidity, uids, real=True, kept=True) \
            if commit_mark is not None else set()
        fresh = []
        for it in items:
            if it.msg.uid in moved_before:
                report.skipped += 1
                log.info("%s: %s UID %d (%s) was moved once and is back: left alone",
                         self.name, folder, it.msg.uid, _shown(it.msg.message_id))
            elif it.msg.uid in kept_before:
                log.debug("%s: %s UID %d (%s) was decided before an interruption: kept",
                          self.name, folder, it.msg.uid, _shown(it.msg.message_id))
            else:
                fresh.append(it)
        results = self._decide(fresh, learn_only=False, report=report) if fresh else []
        report.decided += len(results)
        self.checkpoint("decided")
        offenders = [(it, d, did) for it, d, did in results if d.action == MOVE]
        new_mark = (Mark(st.uidvalidity, max(*uids, commit_mark.last_uid), commit_mark.learned_until)
                    if commit_mark is not None else None)
        if not offenders or self.dry_run:
            for it, d, _ in offenders:
                report.moved.append(Moved(folder, it.msg.uid, quarantine, None, d))
                log.info("%s: would move %s UID %d from %s (%s) [dry run]",
                         self.name, folder, it.msg.uid, d.sender, d.subject)
            if new_mark is not None:
                self._set_mark(folder, new_mark)
            return
        self._move(folder, st.uidvalidity, offenders, quarantine, report, new_mark)

    def _move(self, folder: str, uidvalidity: int, offenders: list[tuple[Item, Decision, int | None]],
              quarantine: str, report: PassReport, new_mark: Mark | None) -> None:
        intents = [MoveIntent(self.name, _norm_id(it.msg.message_id) or None, folder, it.msg.uid,
                              uidvalidity, quarantine, did,
                              SYNC_TAG + (d.reasons[0] if d.reasons else "promotion from a contact"),
                              it.msg.content_hash or None)
                   for it, d, did in offenders]
        rows = dict(zip((it.msg.uid for it, _, _ in offenders), self.journal.intend(intents),
                        strict=True))
        self.checkpoint("intents")
        mapping = self._move_to_quarantine(folder, list(rows), quarantine)
        self.checkpoint("moved")
        vanished = {uid for uid in rows if uid not in mapping}
        with self.store.transaction():
            for uid, row in rows.items():
                if uid in vanished:
                    self.journal.fail(row, f"expunged from {folder} by another client before the move")
                else:
                    self.journal.done(row, mapping.get(uid))
            if new_mark is not None:
                self._set_mark(folder, new_mark)
        self.progress += 1
        for it, d, _ in offenders:
            if it.msg.uid in vanished:
                report.vanished += 1
                log.warning("%s: %s UID %d (%s) was expunged by another client before it could be "
                            "moved: nothing to move", self.name, folder, it.msg.uid,
                            _shown(it.msg.message_id))
                continue
            report.moved.append(Moved(folder, it.msg.uid, quarantine, mapping.get(it.msg.uid), d))
            log.info("%s: moved %s UID %d to %s: %s, %r (%s)", self.name, folder, it.msg.uid,
                     quarantine, d.sender, d.subject,
                     f"{d.link_kind} -> {d.linked_contact}" if d.linked_contact else d.reasons[0])

    def _move_to_quarantine(self, folder: str, uids: list[int], quarantine: str) -> dict[int, int | None]:
        """MOVE uids of folder to the quarantine; a quarantine deleted on the server while running
        is created again (its messages went with it, by the user's hand or another client's)."""
        if self.account.selected != folder:
            self.account.select(folder)
        try:
            return self.account.move(uids, quarantine)
        except FolderMissing as exc:
            if exc.folder != quarantine or self.dry_run:
                raise
        log.warning("%s: the quarantine folder %s is gone (deleted on the server while mailguard "
                    "was running): creating it again", self.name, quarantine)
        self._folders = None
        self.account.ensure_folder(self.acct.quarantine)
        if self.account.selected != folder:
            self.account.select(folder)
        return self.account.move(uids, quarantine)

    # -- reconcile interrupted moves

    def pending_intents(self) -> list[MoveRecord]:
        return self.journal.unresolved(self.name, SYNC_TAG)

    def _reconcile(self, quarantine: str, report: PassReport) -> None:
        rows = self.pending_intents()
        if not rows:
            return
        if self.dry_run:
            log.warning("%s: %d interrupted move(s) wait to be reconciled by a real run",
                        self.name, len(rows))
            return
        log.warning("%s: reconciling %d interrupted move(s)", self.name, len(rows))

        def resolve(row: MoveRecord) -> Settled:
            try:
                how = self._reconcile_one(row)
            except ImapError as exc:
                # a lost connection or a folder read-only for now: retried with the whole pass.
                # Anything else (a folder that is gone, a command the server refuses) would
                # fail the same way at every pass: this row is given up, the others go on.
                if exc.retryable or not self.account.connected:
                    raise
                report.failed += 1
                self.progress += 1
                log.error("%s: move #%d (%s, %s UID %s -> %s) cannot be reconciled and is marked "
                          "failed: %s", self.name, row.id, _shown(row.message_id),
                          row.src_folder, row.src_uid, row.dst_folder, exc)
                return Settled(FAILED, None, f"reconciled: cannot be resolved: {exc}")
            report.reconciled += 1
            self.progress += 1
            return how

        self.journal.reconcile(rows, resolve)

    def _reconcile_one(self, row: MoveRecord) -> Settled:
        """Find the message of an intent row in its source and its destination and finish the
        move (on the server; the journal records how it ended). While the source's UIDVALIDITY holds the message is looked at by its UID (a UID is
        never given to another message); otherwise, and in the destination, by Message-ID. A
        message found there counts only when its content hash is the row's (a different message
        may reuse the Message-ID); rows written before content hashes match by Message-ID."""
        src, dst, mid = row.src_folder, row.dst_folder, row.message_id or ""
        digest: str | None = row.content_hash
        st = self.account.select(src)
        same_uids = st.uidvalidity == row.src_uidvalidity
        if same_uids and row.src_uid is not None:
            head = next(iter(self.account.fetch([row.src_uid], max_body_bytes=HASH_BODY_BYTES)), None)
            same = head is not None and (head.content_hash == digest if digest else
                                         not mid or _norm_id(head.message_id) == mid)
            in_src = [row.src_uid] if same else []
        elif mid:
            in_src = self.account.find_by_message_id(src, mid, content_hash=digest)
        else:
            in_src = []
        in_dst = self.account.find_by_message_id(dst, mid, content_hash=digest) if mid else []
        shown = _shown(mid)
        if in_dst and not in_src:
            log.info("%s: move #%d (%s) had completed: marked done", self.name, row.id, shown)
            return Settled(DONE, in_dst[-1], "reconciled: found in the destination")
        if in_dst and in_src:
            # COPY done, EXPUNGE not (no MOVE on this server): never copy it a second time; the
            # source is removed only when it is byte for byte the copy in the destination
            if same_uids and in_src == [row.src_uid] and self._identical(src, in_src[0], dst, in_dst[-1]):
                self.account.select(src)
                self.account.expunge_copied(in_src)
                log.info("%s: move #%d (%s) was interrupted between COPY and EXPUNGE: the copy in "
                         "%s is identical; completed", self.name, row.id, shown, dst)
                return Settled(DONE, in_dst[-1],
                               "reconciled: the copy was made; the original removed now")
            log.warning("%s: move #%d (%s) was interrupted between COPY and EXPUNGE, and the "
                        "message in %s is not the same as the copy in %s: both are left as they "
                        "are", self.name, row.id, shown, src, dst)
            return Settled(DONE, in_dst[-1], f"reconciled: a copy also remains in {src}, UID {in_src[0]}")
        if in_src:
            mapping = self._move_to_quarantine(src, in_src[:1], dst)
            if in_src[0] not in mapping:
                log.warning("%s: move #%d (%s) had not happened and the message was expunged by "
                            "another client meanwhile: marked failed", self.name, row.id, shown)
                return Settled(FAILED, None, f"reconciled: expunged from {src} meanwhile")
            log.info("%s: move #%d (%s) had not happened: moved now", self.name, row.id, shown)
            return Settled(DONE, mapping.get(in_src[0]), "reconciled: moved after a restart")
        if not mid and not same_uids:
            return Settled(FAILED, None, "reconciled: no Message-ID and UIDVALIDITY changed")
        log.warning("%s: move #%d (%s) is in neither %s nor %s (moved or deleted by someone "
                    "else): marked failed", self.name, row.id, shown, src, dst)
        return Settled(FAILED, None, f"reconciled: in neither {src} nor {dst}")

    def _identical(self, src: str, src_uid: int, dst: str, dst_uid: int) -> bool:
        """True if the two messages are the same bytes (size, then the whole message)."""
        def whole(folder: str, uid: int) -> FetchedMessage | None:
            self.account.select(folder, readonly=True)
            head = next(iter(self.account.fetch([uid], max_body_bytes=1)), None)
            if head is None:
                return None
            return next(iter(self.account.fetch([uid], max_body_bytes=head.size + 1)), None)

        a, b = whole(src, src_uid), whole(dst, dst_uid)
        return a is not None and b is not None and a.size == b.size and a.raw == b.raw
