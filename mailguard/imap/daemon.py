"""The long-running loop: one worker thread per account, each with its own IMAP connection, state
database connection and pipeline.

    daemon = Daemon(config, accounts)
    daemon.start()          # returns once every account finished its first pass (or raises)
    ...
    daemon.stop()           # finish the current batch, close connections, record the runs

A worker runs a pass (:class:`mailguard.imap.sync.AccountSync`), then waits for news: in IDLE (RFC 2177)
when the server offers it, re-issued every ``idle_slice_seconds`` (so a stop request is noticed
quickly and the server's 29-minute limit is never reached), with a full pass at least every
``poll_seconds`` (new Sent mail is learned then); without IDLE it polls every ``poll_seconds``.

A dropped connection, a server restart or a timeout (:class:`~mailguard.imap.client.ImapConnectionLost`)
closes the connection; the worker reconnects after 1, 2, 4... seconds (capped at
``max_backoff``; back to 1 s when the connection committed some work before it dropped, so a
link that keeps dropping mid-batch still makes steady progress) and resumes from the last
committed UID, after reconciling any move the drop interrupted. A state database that cannot be written (disk full, read-only file system) and a
watched folder the server opened read-only are retried the same way, with an error line each
time: nothing is moved meanwhile, and nothing is lost, since the UID mark only advances with the
database. Other errors while running (a refused command, a password that stopped working) are
logged and retried with the same back-off. An error on the very first connection that is not
one of these (bad password, TLS failure, missing folder, bad config) stops the worker: that
needs a change, not a retry.

:meth:`Daemon.run` is the foreground entry point of `mailguard run`: it installs SIGTERM/SIGINT
handlers (main thread only) that ask every worker to finish its current batch and exit.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..review.digest import after_pass, digest_config
from ..errors import ImapError, MailguardError, StoreError
from .account import ImapAccount
from .client import MAX_IDLE_SECONDS, ImapConnectionLost
from .session import AccountConfig, make_account
from ..scan import load_model
from .secrets import forbid_core_dumps
from ..store import DB_NAME, Store, ensure_private_dir
from .sync import AccountSync, Checkpoint, PassReport, make_pipeline

if TYPE_CHECKING:
    from ..core.classify import PromoModel

log = logging.getLogger(__name__)

#: first and largest wait before reconnecting, in seconds
MIN_BACKOFF = 1.0
MAX_BACKOFF = 300.0
#: --once: give up after this many dropped connections in a row
ONCE_ATTEMPTS = 5

Reporter = Callable[[PassReport], None]
_Handler = Callable[[int, FrameType | None], Any] | int | None


class Worker:
    """One account's loop in its own thread."""

    def __init__(self, daemon: Daemon, acct: AccountConfig) -> None:
        self.daemon = daemon
        self.acct = acct
        self.thread = threading.Thread(target=self._main, name=f"mailguard:{acct.name}", daemon=True)
        #: set after the first complete pass, or when the worker ended (see error)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.passes = 0
        self.account: ImapAccount | None = None
        self.sync: AccountSync | None = None

    @property
    def name(self) -> str:
        return self.acct.name

    @property
    def idling(self) -> bool:
        """True while the worker waits in IDLE (the server accepted it): new mail in the watched
        folder is announced to it now."""
        return self.account is not None and self.account.idling.is_set()

    def start(self) -> None:
        self.thread.start()

    # -- the thread

    def _main(self) -> None:
        d = self.daemon
        try:
            store = Store(d.db_path)
        except BaseException as exc:  # noqa: BLE001 - reported by start()/run()
            self.error = exc
            self.ready.set()
            return
        pipeline = None
        try:
            kind = "imap-dry-run" if d.dry_run else ("imap-once" if d.once else "imap")
            pipeline = make_pipeline(d.config, self.acct, store, d.model, run_kind=kind)
            self.account = make_account(self.acct, d.env)
            self.sync = AccountSync(
                self.acct, self.account, store, pipeline, window_days=d.config.rules.window_days,
                dry_run=d.dry_run, checkpoint=d.checkpoint,
                renew=lambda: make_pipeline(d.config, self.acct, store, d.model, run_kind=kind))
            self._loop(self.account, self.sync)
        except BaseException as exc:  # noqa: BLE001 - the thread must report, not die silently
            self.error = exc
            if isinstance(exc, MailguardError):
                if len(d.workers) > 1:  # the others go on; alone, the caller reports it
                    log.error("%s: %s; this account stops", self.name, exc)
            else:
                log.exception("%s: unexpected error; this account stops", self.name)
        finally:
            if self.account is not None:
                self.account.close()
            if self.sync is not None:
                pipeline = self.sync.pipeline
            if pipeline is not None:
                try:
                    pipeline.finish()
                except MailguardError as exc:
                    log.warning("%s: could not record the end of the run: %s", self.name, exc)
            store.close()
            self.ready.set()
            log.info("%s: stopped", self.name)

    def _loop(self, account: ImapAccount, sync: AccountSync) -> None:
        d = self.daemon
        delay = d.min_backoff
        drops = 0
        while not d.stopping.is_set():
            progress = sync.progress
            try:
                account.connect()
                report = sync.run_pass(d.stopping.is_set)
                self.passes += 1
                d.report(report)
                if report.complete and not d.dry_run:
                    after_pass(d.config, sync)  # the weekly digest, if [digest] is enabled
                if report.complete:
                    self.ready.set()
                delay, drops = d.min_backoff, 0
                if d.once or d.stopping.is_set():
                    if report.complete or d.stopping.is_set():
                        return
                    continue
                self._wait_for_news(account, sync)
            except ImapConnectionLost as exc:
                drops += 1
                account.close()
                sync.reset()
                if sync.progress != progress:  # work was committed before the drop: not stuck
                    delay = d.min_backoff
                if d.once and drops >= ONCE_ATTEMPTS:
                    raise
                log.warning("%s: %s; reconnecting in %s", self.name, exc, _seconds(delay))
                d.stopping.wait(_jitter(delay))
                delay = min(delay * 2, d.max_backoff)
            except MailguardError as exc:
                account.close()
                sync.reset(reload=True)
                if sync.progress != progress:
                    delay = d.min_backoff
                if exc.retryable:  # a full or read-only disk, a read-only folder: may pass
                    drops += 1
                    if d.once and drops >= ONCE_ATTEMPTS:
                        raise
                elif self.passes == 0 or d.once:
                    raise  # a config, password, TLS or folder problem: retrying will not fix it
                pending = "; nothing is moved until it can be written" \
                    if isinstance(exc, StoreError) and exc.retryable else ""
                log.error("%s: %s%s; retrying in %s", self.name, exc, pending, _seconds(delay))
                d.stopping.wait(_jitter(delay))
                delay = min(delay * 2, d.max_backoff)

    def _wait_for_news(self, account: ImapAccount, sync: AccountSync) -> None:
        """Return when the watched folder has news, a periodic pass is due, or on stop."""
        d = self.daemon
        deadline = time.monotonic() + self.acct.poll_seconds
        if sync.has_news():  # arrived during the pass: its announcement is gone
            return
        if not (self.acct.idle and account.has("IDLE")):
            d.stopping.wait(self.acct.poll_seconds)
            return
        while not d.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if account.idle_wait(min(self.acct.idle_slice_seconds, remaining, MAX_IDLE_SECONDS)):
                log.debug("%s: news in the watched folder", self.name)
                return
            if sync.has_news():
                return


def _seconds(delay: float) -> str:
    return f"{delay:.1f}s" if delay < 10 else f"{delay:.0f}s"


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)


class Daemon:
    """Runs the accounts side by side: start()/stop() for embedding and tests, run() for the CLI.

    once: one complete pass per account, then the workers end (``mailguard run --once``).
    on_report: called (in the worker's thread) after every pass.
    checkpoint: passed to AccountSync (tests).
    """

    def __init__(self, config: Config, accounts: Sequence[AccountConfig], *,
                 model: PromoModel | None = None, dry_run: bool = False, once: bool = False,
                 on_report: Reporter | None = None, env: Mapping[str, str] | None = None,
                 db_path: Path | None = None, min_backoff: float = MIN_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, checkpoint: Checkpoint | None = None) -> None:
        if not accounts:
            raise ImapError("no account to run")
        forbid_core_dumps()  # the workers will hold passwords: never a core dump of this process
        self.config = config
        digest_config(config.raw)  # a bad [digest] table stops the start, not the first digest
        self.model = model if model is not None else load_model(config)
        self.dry_run = dry_run
        self.once = once
        self.on_report = on_report
        self.env = env
        self.db_path = db_path or ensure_private_dir(config.home) / DB_NAME
        # create and migrate the database here, once: workers opening a new one at the same time
        # would race on its schema ("database is locked")
        Store(self.db_path).close()
        self.min_backoff = min_backoff
        self.max_backoff = max(max_backoff, min_backoff)
        self.checkpoint = checkpoint
        self.stopping = threading.Event()
        self.workers = [Worker(self, a) for a in accounts]
        self._lock = threading.Lock()

    def report(self, report: PassReport) -> None:
        if self.on_report is None:
            return
        with self._lock:
            self.on_report(report)

    # -- lifecycle

    def start(self, ready_timeout: float = 120.0) -> None:
        """Start every worker; return when each finished its first complete pass. Raises the
        first worker's error, or MailguardError when a worker is not ready in time."""
        for w in self.workers:
            w.start()
        deadline = time.monotonic() + ready_timeout
        for w in self.workers:
            if not w.ready.wait(max(deadline - time.monotonic(), 0)):
                raise MailguardError(
                    f"account {w.name} did not finish its first pass within {ready_timeout:g}s "
                    "(a slow server or a large first sync): try increasing ready_timeout"
                )
            if w.error is not None:
                self.stop()
                raise w.error

    def stop(self, timeout: float = 60.0) -> None:
        """Ask every worker to finish its current batch, and wait for them."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for w in self.workers:
            if w.thread.is_alive():
                w.thread.join(max(deadline - time.monotonic(), 0.1))
                if w.thread.is_alive():
                    log.warning("%s: still busy %gs after the stop request", w.name, timeout)

    @property
    def errors(self) -> list[BaseException]:
        return [w.error for w in self.workers if w.error is not None]

    def wait(self) -> None:
        """Block until every worker ended (after stop(), or --once)."""
        for w in self.workers:
            while w.thread.is_alive():
                w.thread.join(0.5)

    def run(self) -> int:
        """Foreground: install signal handlers, run until stopped (or one pass with once), return
        an exit code: 0, or the first worker error's exit code."""
        installed = self._install_signals()
        try:
            for w in self.workers:
                w.start()
            self.wait()
        finally:
            self.stopping.set()
            for sig, handler in installed:
                if handler is not None:  # None: not set from Python, cannot be put back
                    signal.signal(sig, handler)
        if self.errors:
            raise self.errors[0]
        return 0

    def _install_signals(self) -> list[tuple[signal.Signals, _Handler]]:
        if threading.current_thread() is not threading.main_thread():
            return []
        previous: list[tuple[signal.Signals, _Handler]] = []

        def handler(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                log.warning("still finishing the current batch; please wait")
                return
            log.warning("%s: finishing the current batch, then stopping",
                        signal.Signals(signum).name)
            self.stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous.append((sig, signal.getsignal(sig)))
            signal.signal(sig, handler)
        return previous
