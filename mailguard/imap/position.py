"""Where each folder of an account stands: the folder marks (UIDVALIDITY, the last UID handled,
when the first run's learning finished; in memory only for a dry run), the folders a pass works
on, and the boundary of the first run. The base of :class:`~mailguard.imap.sync.AccountSync`:
it holds what every part of a pass shares (the account, its connection, the store, the pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..errors import ImapError
from ..pipeline import Pipeline
from ..store import Store
from .account import ImapAccount
from .client import FolderState
from .report import Checkpoint, _noop_checkpoint
from .session import AccountConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mark:
    """folder_state: UIDs up to last_uid are handled; learned_until is when the first run's
    learning finished (None while it is under way)."""

    uidvalidity: int
    last_uid: int
    learned_until: datetime | None


class FolderPositions:
    """What the parts of a pass over one account share (the arguments are AccountSync's), and
    where its folders stand."""

    def __init__(self, acct: AccountConfig, account: ImapAccount, store: Store, pipeline: Pipeline,
                 *, window_days: int, dry_run: bool = False,
                 checkpoint: Checkpoint | None = None,
                 renew: Callable[[], Pipeline] | None = None) -> None:
        self.acct = acct
        self.account = account
        self.store = store
        self.journal = store.journal
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
        found = self.store.folder_mark(self.name, folder)
        return Mark(*found) if found is not None else None

    def _set_mark(self, folder: str, mark: Mark) -> None:
        self.progress += 1
        if self._overlay is not None:
            self._overlay[folder] = mark
            return
        self.store.set_folder_mark(self.name, folder, mark.uidvalidity, mark.last_uid,
                                   mark.learned_until)

    def _boundary(self, st: FolderState) -> int:
        """The highest UID in the selected folder now (UIDNEXT - 1)."""
        if st.uidnext is not None:
            return max(st.uidnext - 1, 0)
        return max(self.account.uids_after(0), default=0)

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
