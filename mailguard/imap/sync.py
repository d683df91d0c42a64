"""One pass over an IMAP account: learn, decide, move, and remember how far it got.

The core pipeline decides; this module only chooses which messages it sees, in which order, and
carries out its ``move`` decisions safely.

First run (no state for the watched folder): contacts are learned from the last ``window_days``
of the watched folder *and* the Sent folder, merged in date order so that the user's replies count,
with ``learn_only``: nothing of that history is moved. The watched folder's UIDNEXT at that moment
is the boundary: only mail with a higher UID is acted on. (Acting on history is the explicit
``mailguard apply-history``.)

Afterwards each pass is incremental by UID: the ``folder_state`` table keeps, per account and
folder, the UIDVALIDITY and the last UID handled. New Sent mail is learned first, then new mail of
the watched folder is fetched in batches (BODY.PEEK: \\Seen is never set) and decided in UID order.

What identifies a message: in its folder, its UID under the folder's UIDVALIDITY (the server
never gives it to another message); across folders and a UIDVALIDITY change, its content hash
(:func:`mailguard.imap.client.content_hash`: the header fields a server does not add, the body's size and
start). A Message-ID is never enough: anyone can reuse one, and a promotion that reuses the
Message-ID of a kept note or of an earlier promotion is decided like any other message. Each
decision is noted in ``imap_decided`` (folder, UIDVALIDITY, UID, content hash), in the transaction
that saves it.

Moves go through the ``moves`` table:

1. an ``intent`` row per offender (Message-ID, content hash, source folder, UID and UIDVALIDITY,
   decision id) is committed *before* the UID MOVE (or COPY + \\Deleted + UID EXPUNGE of exactly
   those UIDs);
2. after it, in one transaction, the rows become ``done`` with the new UID, and the folder's last
   UID moves past the batch.

A pass starts by reconciling ``intent`` rows left by a crash or a dropped connection: the message
is looked up by its UID in the source (while its UIDVALIDITY holds) and by Message-ID in the
quarantine, where only a message with the row's content hash counts; found in the quarantine it
is marked done, found only in the source it is moved now, found in neither it is marked failed
(someone else moved or deleted it). A row that cannot be resolved at all (its folder is gone, the
server refuses the command) is marked failed with the reason, and the pass goes on. Nothing is
moved twice: a message (same content) that mailguard moved once on this account is never moved
again (it is back in the inbox because the user, or an undo, put it there).

A UIDVALIDITY change makes stored UIDs meaningless: the folder's window is read again, messages
already decided or moved (same content hash) are skipped, the rest is learned, and only what
arrived after the first run and was never decided is acted on. Rows from before content hashes
were kept (state databases of earlier versions) are matched by Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import Config, configured_workers
from ..core.social import load_networks
from ..errors import MailguardError
from ..pipeline import Pipeline
from ..scan import make_policy
from ..store import Store
from .collect import fewer_collections
from .history import HistoryLearning
from .report import SENT_BODY_BYTES, SYNC_TAG, Checkpoint, Moved, PassReport, _chunks
from .session import AccountConfig

if TYPE_CHECKING:
    from ..core.classify import PromoModel

__all__ = ["SENT_BODY_BYTES", "SYNC_TAG", "AccountSync", "Checkpoint", "Moved", "PassReport",
           "make_pipeline", "source_of"]

log = logging.getLogger(__name__)


def make_pipeline(config: Config, acct: AccountConfig, store: Store, model: PromoModel, *,
                  run_kind: str = "imap") -> Pipeline:
    """The core pipeline for one account: its addresses, the config's rules and social networks.
    Decisions are recorded with source ``imap:<account name>``."""
    policy = make_policy(config, model, me=acct.me)
    return Pipeline(model, policy, store, source=source_of(acct), run_kind=run_kind,
                    social=load_networks(config.raw), workers=configured_workers(config))


def source_of(acct: AccountConfig) -> str:
    return f"imap:{acct.name}"


class AccountSync(HistoryLearning):
    """Passes over one connected account. Not thread-safe: one per account and thread.

    Assembled from one part per job, each built on the one before:
    :class:`~mailguard.imap.position.FolderPositions` (folder marks, UIDVALIDITY, the folders),
    :class:`~mailguard.imap.batch.BatchDecisions` (fetching and deciding a batch),
    :class:`~mailguard.imap.moves.QuarantineMoves` (moving and reconciling),
    :class:`~mailguard.imap.history.HistoryLearning` (first run, Sent, resync, apply-history);
    this class runs a pass.

    checkpoint: called with a phase name ("fetched", "decided", "intents", "moved") during each
    batch; tests use it to drop the connection or simulate a crash at exactly that point.
    """

    # -- one pass

    def run_pass(self, stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Reconcile, learn from new Sent mail, act on new mail of the watched folder."""
        with fewer_collections():
            return self._run_pass(stop)

    def _run_pass(self, stop: Callable[[], bool]) -> PassReport:
        self._refresh_pipeline()
        report = PassReport(self.name, dry_run=self.dry_run)
        before = self.pipeline.counts["new_contacts"]
        try:
            self._check_can_move()
            watch, sent, quarantine = self.folders()
            self._reconcile(quarantine, report)
            mark = self.mark(watch)
            if mark is None or mark.learned_until is None:
                report.first_run = True
                if not self._first_run(watch, sent, report, stop):
                    report.complete = False
                    return report
            elif sent is not None:
                self._sync_learn_only(sent, report, stop)
            if not stop():
                self._sync_watch(watch, quarantine, report, stop, just_learned=report.first_run)
            else:
                report.complete = False
        finally:
            report.new_contacts = self.pipeline.counts["new_contacts"] - before
        return report

    def has_news(self) -> bool:
        """True if the watched folder holds a UID above the last one handled. Servers announce
        new mail once; an announcement that came in the middle of a pass is not repeated, so
        the daemon asks after every pass and every IDLE slice."""
        watch = self.folders()[0]
        mark = self.mark(watch)
        if mark is None or mark.learned_until is None:
            return True
        if self.account.selected != watch:
            self.account.select(watch)
        return bool(self.account.uids_after(mark.last_uid))

    def _refresh_pipeline(self) -> None:
        if self.renew is None:
            return
        rules = self.store.sender_rules()
        contacts = self.store.count_contacts()
        if self._reload:
            log.info("%s: reloading contacts and rules from the state database", self.name)
        elif rules == self._rules and contacts == len(self.pipeline.ledger):
            return
        else:
            log.info("%s: allow/block rules or contacts changed: reloading them", self.name)
        try:
            self.pipeline.finish()
        except MailguardError as exc:
            log.warning("%s: could not record the end of a run: %s", self.name, exc)
        self.pipeline = self.renew()
        self._rules = rules
        self._reload = False

    def _sync_watch(self, watch: str, quarantine: str, report: PassReport,
                    stop: Callable[[], bool], *, just_learned: bool = False) -> None:
        """Act on the watched folder's mail after its mark. ``just_learned``: the first run has
        just read the folder (selected read-only, in this session): when nothing came after it,
        the folder is left so. A read-write SELECT would take the \\Recent flag of every message
        from the user's own mail client and, on a Maildir server, have it move every message
        of new/ into cur/ (Dovecot: 160 ms for 10,000), when there is nothing to move."""
        mark = self.mark(watch)
        assert mark is not None
        if (just_learned and self.account.selected == watch
                and not self.account.uids_after(mark.last_uid)):
            return
        st = self.account.select(watch)
        if mark.uidvalidity != st.uidvalidity:
            self._resync(watch, st, mark, quarantine=quarantine, report=report, stop=stop)
            mark = self.mark(watch)
            assert mark is not None
            if mark.uidvalidity != st.uidvalidity:
                return  # stopped during the resync
        uids = self.account.uids_after(mark.last_uid)
        for chunk in _chunks(uids, self.acct.batch_size):
            self._act_on(watch, st, chunk, quarantine, report, commit_mark=mark)
            if stop():
                report.complete = False
                return
