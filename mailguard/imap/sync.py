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
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ..config import Config, configured_workers
from ..review.digest import is_own_digest
from ..errors import ImapError, MailguardError
from .client import HASH_BODY_BYTES, FetchedMessage, FolderMissing, FolderState, ImapAccount
from .session import AccountConfig
from ..pipeline import Analysed, Pipeline
from ..core.rules import MOVE, Decision
from ..scan import make_policy
from ..core.social import load_networks
from ..store import Store, now_iso

if TYPE_CHECKING:
    from ..core.classify import PromoModel

log = logging.getLogger(__name__)

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


def make_pipeline(config: Config, acct: AccountConfig, store: Store, model: PromoModel, *,
                  run_kind: str = "imap") -> Pipeline:
    """The core pipeline for one account: its addresses, the config's rules and social networks.
    Decisions are recorded with source ``imap:<account name>``."""
    policy = make_policy(config, model, me=acct.me)
    return Pipeline(model, policy, store, source=source_of(acct), run_kind=run_kind,
                    social=load_networks(config.raw), workers=configured_workers(config))


def source_of(acct: AccountConfig) -> str:
    return f"imap:{acct.name}"


# -- results -----------------------------------------------------------------------------------


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
        parts = []
        if self.first_run:
            parts.append("first run")
        if self.learned:
            parts.append(f"learned from {self.learned} message(s)")
        parts.append(f"{self.decided} new message(s)")
        parts.append(f"{verb} {len(self.moved)}")
        if self.new_contacts:
            parts.append(f"{self.new_contacts} new contact(s)")
        if self.skipped:
            parts.append(f"{self.skipped} moved before and put back: left alone")
        if self.unreadable:
            parts.append(f"{self.unreadable} not understood: left where they are")
        if self.reconciled:
            parts.append(f"{self.reconciled} interrupted move(s) reconciled")
        if self.failed:
            parts.append(f"{self.failed} move(s) failed")
        if self.vanished:
            parts.append(f"{self.vanished} expunged by another client before the move")
        if self.resynced:
            parts.append("UIDVALIDITY changed: resynced " + ", ".join(self.resynced))
        if not self.complete:
            parts.append("stopped early")
        return f"{self.account}: " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Mark:
    """folder_state: UIDs up to last_uid are handled; learned_until is when the first run's
    learning finished (None while it is under way)."""

    uidvalidity: int
    last_uid: int
    learned_until: datetime | None


@dataclass(frozen=True, slots=True)
class Item:
    """A fetched message and where it is."""

    folder: str
    uidvalidity: int
    msg: FetchedMessage
    when: datetime


_DATE = re.compile(rb"^date:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.IGNORECASE | re.MULTILINE)


def _date_of(msg: FetchedMessage) -> datetime:
    """Date header, else INTERNALDATE, else now: the order history is learned in."""
    end = msg.raw.find(b"\r\n\r\n")
    found = _DATE.search(msg.raw, 0, end if end >= 0 else len(msg.raw))
    if found:
        try:
            d = parsedate_to_datetime(" ".join(found.group(1).decode("latin-1").split()))
            return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if msg.internaldate is not None:
        d = msg.internaldate
        return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


# -- the pass ----------------------------------------------------------------------------------


class AccountSync:
    """Passes over one connected account. Not thread-safe: one per account and thread.

    checkpoint: called with a phase name ("fetched", "decided", "intents", "moved") during each
    batch; tests use it to drop the connection or simulate a crash at exactly that point.
    """

    def __init__(self, acct: AccountConfig, account: ImapAccount, store: Store, pipeline: Pipeline,
                 *, window_days: int, dry_run: bool = False,
                 checkpoint: Checkpoint | None = None,
                 renew: Callable[[], Pipeline] | None = None) -> None:
        self.acct = acct
        self.account = account
        self.store = store
        self.pipeline = pipeline
        #: makes a new pipeline when allow/block rules or contacts changed outside this one (the
        #: review commands, a contacts import, another account): a long-running daemon sees them
        self.renew = renew
        self._rules = store.sender_rules()
        self.window_days = window_days
        self.dry_run = dry_run
        self.checkpoint = checkpoint or _noop_checkpoint
        self.name = acct.name
        self.source = pipeline.source
        # dry run: marks live in memory only, so a later real run is not affected
        self._overlay: dict[str, Mark] | None = {} if dry_run else None
        self._folders: tuple[str, str | None, str] | None = None
        self._no_sent_warned = False
        self._reload = False
        #: grows with every piece of work committed (a folder mark advanced, a move finished or
        #: reconciled): the daemon resets its back-off when a connection made progress
        self.progress = 0

    # -- folder state

    def mark(self, folder: str) -> Mark | None:
        if self._overlay is not None and folder in self._overlay:
            return self._overlay[folder]
        row = self.store.execute(
            "SELECT uidvalidity, last_uid, learned_until FROM folder_state WHERE account = ? AND folder = ?",
            (self.name, folder)).fetchone()
        if row is None:
            return None
        learned = datetime.fromisoformat(row["learned_until"]) if row["learned_until"] else None
        return Mark(int(row["uidvalidity"]), int(row["last_uid"]), learned)

    def _set_mark(self, folder: str, mark: Mark) -> None:
        self.progress += 1
        if self._overlay is not None:
            self._overlay[folder] = mark
            return
        learned = mark.learned_until.isoformat(timespec="seconds") if mark.learned_until else None
        self.store.execute(
            """INSERT INTO folder_state (account, folder, uidvalidity, last_uid, learned_until)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(account, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                   last_uid = excluded.last_uid, learned_until = excluded.learned_until""",
            (self.name, folder, mark.uidvalidity, mark.last_uid, learned))

    # -- folders

    def reset(self, *, reload: bool = False) -> None:
        """Forget what was learned about the server (after a reconnect or an error); reload:
        also rebuild the pipeline from the database at the next pass (after an error that may
        have left its memory ahead of the database, e.g. a full disk)."""
        self._folders = None
        self._reload = self._reload or reload

    def folders(self) -> tuple[str, str | None, str]:
        """(watch, sent or None, quarantine) as the server names them; the quarantine is created
        if missing (not in a dry run)."""
        if self._folders is None:
            a = self.account
            watch = a.folder_name(self.acct.watch)
            if self.acct.sent:
                sent: str | None = a.folder_name(self.acct.sent)
            else:
                sent = a.special_folder(b"\\Sent")
                if sent is None and not self._no_sent_warned:
                    log.warning("%s: no Sent folder found (no \\Sent SPECIAL-USE flag): contacts are "
                                "learned from the watched folder only; set [mailbox] sent", self.name)
                    self._no_sent_warned = True
            if sent == watch:
                sent = None
            quarantine = a.folder_name(self.acct.quarantine) if self.dry_run else \
                a.ensure_folder(self.acct.quarantine)
            self._folders = (watch, sent, quarantine)
        return self._folders

    def _check_can_move(self) -> None:
        if self.dry_run or self.account.has("MOVE") or self.account.has("UIDPLUS"):
            return
        raise ImapError(
            f"{self.acct.settings.address} offers neither MOVE nor UIDPLUS, so messages cannot be "
            "moved without risking other deleted messages; use --dry-run on this server"
        )

    # -- lookups
    #
    # What identifies a message: in its folder, (folder, UIDVALIDITY, UID), which no other message
    # ever gets; across folders and a UIDVALIDITY change, its content hash (imap.content_hash). A
    # Message-ID alone never says that a message was seen: anyone can reuse one. Only rows written
    # before the content hash existed (no hash) are still matched by Message-ID.

    def _in(self, sql: str, params: tuple[Any, ...], keys: Iterable[Any]) -> set[Any]:
        """Run sql (ending in "IN ({marks})") for the keys, 500 at a time; the first column of
        every row it returns."""
        wanted = [k for k in dict.fromkeys(keys) if k not in (None, "")]
        found: set[Any] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            rows = self.store.execute(sql.format(marks=",".join("?" * len(part))), (*params, *part))
            found.update(r[0] for r in rows)
        return found

    def _decided_uids(self, folder: str, uidvalidity: int, uids: Iterable[int], *,
                      real: bool = False, kept: bool = False) -> set[int]:
        """UIDs of folder (at this UIDVALIDITY) already decided on this account; real: by a real
        (not dry) run; kept: and not to be moved."""
        sql = ("SELECT uid FROM imap_decided WHERE account = ? AND folder = ? AND uidvalidity = ?"
               + (" AND real = 1" if real else "") + (f" AND action != '{MOVE}'" if kept else "")
               + " AND uid IN ({marks})")
        return self._in(sql, (self.name, folder, uidvalidity), uids)

    def _moved_before(self, msgs: Sequence[FetchedMessage]) -> set[int]:
        """UIDs of msgs that mailguard moved once on this account (same content, wherever it is
        now; a move that failed moved nothing). Rows from before the content hash: same
        Message-ID."""
        hashes = self._in(
            "SELECT content_hash FROM moves WHERE account = ? AND state != 'failed' "
            "AND content_hash IN ({marks})", (self.name,), (m.content_hash for m in msgs))
        legacy = self._in(
            "SELECT message_id FROM moves WHERE account = ? AND state != 'failed' "
            "AND content_hash IS NULL AND reason LIKE ? AND message_id IN ({marks})",
            (self.name, SYNC_TAG + "%"), (_norm_id(m.message_id) for m in msgs))
        return {m.uid for m in msgs
                if m.content_hash in hashes or (m.message_id and _norm_id(m.message_id) in legacy)}

    def _seen_anywhere(self, msgs: Sequence[FetchedMessage]) -> set[int]:
        """UIDs of msgs this account decided or moved before, in whatever folder or UIDVALIDITY
        (same content). Decisions from before the content hash: same Message-ID."""
        hashes = self._in("SELECT content_hash FROM imap_decided WHERE account = ? "
                          "AND content_hash IN ({marks})", (self.name,),
                          (m.content_hash for m in msgs))
        legacy = self._in(
            """SELECT d.message_id FROM decisions d WHERE d.source = ?
                 AND NOT EXISTS (SELECT 1 FROM imap_decided i WHERE i.decision_id = d.id)
                 AND d.message_id IN ({marks})""", (self.source,),
            (_norm_id(m.message_id) for m in msgs))
        legacy = {_norm_id(x) for x in legacy}
        return self._moved_before(msgs) | {
            m.uid for m in msgs
            if m.content_hash in hashes or (m.message_id and _norm_id(m.message_id) in legacy)}

    def _fetch(self, folder: str, state: FolderState, uids: Sequence[int], body: int) -> list[Item]:
        return [Item(folder, state.uidvalidity, m, _date_of(m))
                for m in self.account.fetch(uids, max_body_bytes=body, batch=self.acct.batch_size)]

    # -- one pass

    def run_pass(self, stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Reconcile, learn from new Sent mail, act on new mail of the watched folder."""
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
                self._sync_watch(watch, quarantine, report, stop)
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
        contacts = self.store.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
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
        uids = [u for u in self.account.uids_since(cutoff) if u <= boundary]
        pending = iter(sent_items)
        nxt = next(pending, None)
        # the next batch is analysed (in worker processes) while this one is fetched and decided
        ahead: deque[tuple[list[Item], Callable[[], list[Analysed]]]] = deque()

        def decide_oldest() -> None:
            items, analysed = ahead.popleft()
            self._decide(items, learn_only=True, report=report, analysed=analysed)
            report.learned += len(items)

        for chunk in _chunks(uids, self.acct.batch_size):
            done = self._decided_uids(watch, st.uidvalidity, chunk)  # an interrupted first run
            fresh = [u for u in chunk if u not in done]
            items = self._fetch(watch, st, fresh, self.acct.max_body_bytes) if fresh else []
            if not items:
                continue
            upto = max(it.when for it in items)
            while nxt is not None and nxt.when <= upto:
                items.append(nxt)
                nxt = next(pending, None)
            items.sort(key=lambda it: it.when)
            ahead.append(self._start_analysis(items))
            if len(ahead) > 1:
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

    def _boundary(self, st: FolderState) -> int:
        """The highest UID in the selected folder now (UIDNEXT - 1)."""
        if st.uidnext is not None:
            return max(st.uidnext - 1, 0)
        return max(self.account.uids_after(0), default=0)

    # -- incremental

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

    def _sync_watch(self, watch: str, quarantine: str, report: PassReport,
                    stop: Callable[[], bool]) -> None:
        st = self.account.select(watch)
        mark = self.mark(watch)
        assert mark is not None
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
        at = now_iso()
        rows: dict[int, int] = {}
        with self.store.transaction():
            for it, d, did in offenders:
                reason = SYNC_TAG + (d.reasons[0] if d.reasons else "promotion from a contact")
                cur = self.store.execute(
                    """INSERT INTO moves (account, message_id, src_folder, src_uid, src_uidvalidity,
                           dst_folder, state, decision_id, reason, at, content_hash)
                       VALUES (?, ?, ?, ?, ?, ?, 'intent', ?, ?, ?, ?)""",
                    (self.name, _norm_id(it.msg.message_id) or None, folder, it.msg.uid, uidvalidity,
                     quarantine, did, reason, at, it.msg.content_hash or None))
                rows[it.msg.uid] = int(cur.lastrowid or 0)
        self.checkpoint("intents")
        mapping = self._move_to_quarantine(folder, list(rows), quarantine)
        self.checkpoint("moved")
        done = now_iso()
        vanished = {uid for uid in rows if uid not in mapping}
        with self.store.transaction():
            for uid, row in rows.items():
                if uid in vanished:
                    self._finish_row({"id": row}, "failed", None,
                                     f"expunged from {folder} by another client before the move")
                else:
                    self.store.execute(
                        "UPDATE moves SET state = 'done', dst_uid = ?, done_at = ? WHERE id = ?",
                        (mapping.get(uid), done, row))
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
        return int(self.store.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])

    def _record_decided(self, pairs: Sequence[tuple[Item, Decision]], last: int) -> dict[str, int]:
        """Note in imap_decided where each decided message is (folder, UIDVALIDITY, UID) and its
        content hash; call in the transaction that saved the decisions (those after id last).
        Returns ref -> decision id. A dry run's rows never replace a real run's."""
        ids: dict[str, int] = {}
        if self.pipeline.run_id is not None and pairs:
            for r in self.store.execute("SELECT id, ref FROM decisions WHERE id > ? AND run_id = ?",
                                        (last, self.pipeline.run_id)):
                ids[r["ref"]] = int(r["id"])
        at = now_iso()
        real = 0 if self.dry_run else 1
        for it, d in pairs:
            self.store.execute(
                """INSERT INTO imap_decided (account, folder, uidvalidity, uid, message_id,
                       content_hash, decision_id, action, real, at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(account, folder, uidvalidity, uid) DO UPDATE SET
                       message_id = excluded.message_id, content_hash = excluded.content_hash,
                       decision_id = excluded.decision_id, action = excluded.action,
                       real = excluded.real, at = excluded.at
                   WHERE excluded.real >= imap_decided.real""",
                (self.name, it.folder, it.uidvalidity, it.msg.uid, _norm_id(it.msg.message_id) or None,
                 it.msg.content_hash, ids.get(d.ref), d.action, real, at))
        return ids

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

    # -- reconcile interrupted moves

    def pending_intents(self) -> list[Any]:
        return list(self.store.execute(
            "SELECT * FROM moves WHERE account = ? AND state = 'intent' AND reason LIKE ? ORDER BY id",
            (self.name, SYNC_TAG + "%")))

    def _reconcile(self, quarantine: str, report: PassReport) -> None:
        rows = self.pending_intents()
        if not rows:
            return
        if self.dry_run:
            log.warning("%s: %d interrupted move(s) wait to be reconciled by a real run",
                        self.name, len(rows))
            return
        log.warning("%s: reconciling %d interrupted move(s)", self.name, len(rows))
        for row in rows:
            try:
                self._reconcile_one(row)
            except ImapError as exc:
                # a lost connection or a folder read-only for now: retried with the whole pass.
                # Anything else (a folder that is gone, a command the server refuses) would
                # fail the same way at every pass: this row is given up, the others go on.
                if exc.retryable or not self.account.connected:
                    raise
                self._finish_row(row, "failed", None, f"reconciled: cannot be resolved: {exc}")
                report.failed += 1
                log.error("%s: move #%d (%s, %s UID %s -> %s) cannot be reconciled and is marked "
                          "failed: %s", self.name, row["id"], _shown(row["message_id"]),
                          row["src_folder"], row["src_uid"], row["dst_folder"], exc)
                continue
            report.reconciled += 1

    def _finish_row(self, row: Any, state: str, dst_uid: int | None, note: str = "") -> None:
        self.progress += 1
        self.store.execute(
            "UPDATE moves SET state = ?, dst_uid = ?, done_at = ?, reason = reason || ? WHERE id = ?",
            (state, dst_uid, now_iso(), f" ({note})" if note else "", row["id"]))

    def _reconcile_one(self, row: Any) -> None:
        """Find the message of an intent row in its source and its destination and finish the
        move. While the source's UIDVALIDITY holds the message is looked at by its UID (a UID is
        never given to another message); otherwise, and in the destination, by Message-ID. A
        message found there counts only when its content hash is the row's (a different message
        may reuse the Message-ID); rows written before content hashes match by Message-ID."""
        src, dst, mid = row["src_folder"], row["dst_folder"], row["message_id"] or ""
        digest: str | None = row["content_hash"]
        st = self.account.select(src)
        same_uids = st.uidvalidity == row["src_uidvalidity"]
        if same_uids and row["src_uid"] is not None:
            head = next(iter(self.account.fetch([row["src_uid"]], max_body_bytes=HASH_BODY_BYTES)), None)
            same = head is not None and (head.content_hash == digest if digest else
                                         not mid or _norm_id(head.message_id) == mid)
            in_src = [row["src_uid"]] if same else []
        elif mid:
            in_src = self.account.find_by_message_id(src, mid, content_hash=digest)
        else:
            in_src = []
        in_dst = self.account.find_by_message_id(dst, mid, content_hash=digest) if mid else []
        shown = _shown(mid)
        if in_dst and not in_src:
            self._finish_row(row, "done", in_dst[-1], "reconciled: found in the destination")
            log.info("%s: move #%d (%s) had completed: marked done", self.name, row["id"], shown)
        elif in_dst and in_src:
            # COPY done, EXPUNGE not (no MOVE on this server): never copy it a second time; the
            # source is removed only when it is byte for byte the copy in the destination
            if same_uids and in_src == [row["src_uid"]] and self._identical(src, in_src[0], dst, in_dst[-1]):
                self.account.select(src)
                self.account.expunge_copied(in_src)
                self._finish_row(row, "done", in_dst[-1],
                                 "reconciled: the copy was made; the original removed now")
                log.info("%s: move #%d (%s) was interrupted between COPY and EXPUNGE: the copy in "
                         "%s is identical; completed", self.name, row["id"], shown, dst)
                return
            self._finish_row(row, "done", in_dst[-1],
                             f"reconciled: a copy also remains in {src}, UID {in_src[0]}")
            log.warning("%s: move #%d (%s) was interrupted between COPY and EXPUNGE, and the "
                        "message in %s is not the same as the copy in %s: both are left as they "
                        "are", self.name, row["id"], shown, src, dst)
        elif in_src:
            mapping = self._move_to_quarantine(src, in_src[:1], dst)
            if in_src[0] not in mapping:
                self._finish_row(row, "failed", None, f"reconciled: expunged from {src} meanwhile")
                log.warning("%s: move #%d (%s) had not happened and the message was expunged by "
                            "another client meanwhile: marked failed", self.name, row["id"], shown)
                return
            self._finish_row(row, "done", mapping.get(in_src[0]), "reconciled: moved after a restart")
            log.info("%s: move #%d (%s) had not happened: moved now", self.name, row["id"], shown)
        elif not mid and not same_uids:
            self._finish_row(row, "failed", None, "reconciled: no Message-ID and UIDVALIDITY changed")
        else:
            self._finish_row(row, "failed", None, f"reconciled: in neither {src} nor {dst}")
            log.warning("%s: move #%d (%s) is in neither %s nor %s (moved or deleted by someone "
                        "else): marked failed", self.name, row["id"], shown, src, dst)

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

    # -- explicit action on history

    def apply_history(self, folder: str | None = None, days: int | None = None,
                      stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Decide and act on the existing mail of folder (default: the watched folder) from the
        last `days` (default window_days), merged by date with Sent so that contacts count as they
        did then. Messages mailguard moved before are left alone. Folder state is not changed."""
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
