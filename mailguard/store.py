"""SQLite state: contacts, first-seen senders, decisions, runs, allow/block rules, IMAP watermarks
and the move log. Schema changes are numbered migrations recorded in ``schema_migrations``.

Every other module talks to the database through :class:`Store`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .contacts import Contact
from .errors import StoreError
from .rules import Decision

log = logging.getLogger(__name__)

DB_NAME = "mailguard.sqlite3"

#: (version, SQL). Append only; never edit a released migration.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE contacts (
            email TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            since TEXT NOT NULL,
            how TEXT NOT NULL,
            message_id TEXT NOT NULL DEFAULT '',
            subject TEXT NOT NULL DEFAULT '',
            org_domain TEXT,
            org_name TEXT NOT NULL DEFAULT '',
            sig_domains TEXT NOT NULL DEFAULT '[]',
            source TEXT NOT NULL DEFAULT 'mail',
            network TEXT NOT NULL DEFAULT '',
            handle TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE senders (
            key TEXT PRIMARY KEY,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            messages INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            counts TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            message_id TEXT,
            date TEXT,
            sender TEXT,
            subject TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            promo_score REAL,
            linked_contact TEXT,
            link_kind TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            ref TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            decided_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'decided'
        );
        CREATE INDEX decisions_sender ON decisions(sender);
        CREATE INDEX decisions_message ON decisions(message_id);
        CREATE TABLE sender_rules (
            entry TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('allowed', 'blocked')),
            at TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE folder_state (
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL DEFAULT 0,
            learned_until TEXT,
            PRIMARY KEY (account, folder)
        );
        CREATE TABLE moves (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            message_id TEXT,
            src_folder TEXT NOT NULL,
            src_uid INTEGER,
            src_uidvalidity INTEGER,
            dst_folder TEXT NOT NULL,
            dst_uid INTEGER,
            state TEXT NOT NULL CHECK (state IN ('intent', 'done', 'failed', 'undone')),
            decision_id INTEGER REFERENCES decisions(id),
            reason TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            done_at TEXT
        );
        CREATE INDEX moves_state ON moves(state);
        """,
    ),
    (
        3,
        # review.py: what the user did (allow, block, unrule, undo, revert), with what it changed
        # (JSON detail) so that it can be reverted; reverted_by points at the entry that did.
        """
        CREATE TABLE review_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            reverted_by INTEGER REFERENCES review_log(id)
        );
        CREATE INDEX review_moves_message_id ON moves(message_id);
        """,
    ),
    (
        10,
        # precision: the first message that showed a relationship with an organisation (its note
        # names it), the user's own Message-IDs (a reply to one is conversation), and the category
        # and link strength of each decision
        """
        ALTER TABLE senders ADD COLUMN note TEXT NOT NULL DEFAULT '';
        CREATE TABLE my_messages (
            message_id TEXT PRIMARY KEY,
            at TEXT NOT NULL
        );
        ALTER TABLE decisions ADD COLUMN category TEXT;
        ALTER TABLE decisions ADD COLUMN link_strength TEXT;
        CREATE INDEX decisions_message_id ON decisions(message_id);
        """,
    ),
    (
        11,
        # the three-way model: the calibrated probabilities of each decision, as JSON
        # {"personal": p, "promotional": p, "transactional": p}
        """
        ALTER TABLE decisions ADD COLUMN scores TEXT;
        """,
    ),
]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(d: datetime | None) -> str | None:
    return d.astimezone(timezone.utc).isoformat(timespec="seconds") if d else None


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def data_dir(env: dict[str, str] | None = None) -> Path:
    """MAILGUARD_HOME if set, else the platform's user data directory."""
    env = os.environ if env is None else env
    home = env.get("MAILGUARD_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mailguard", appauthor=False))


def ensure_private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` mode 0700, or make an existing one 0700 when ``tighten`` and it is the
    user's own, non-shared directory. A shared directory (sticky, like /tmp, or someone else's) is
    never re-moded: mailguard warns instead."""
    try:
        if path.is_dir():
            st = path.stat()
            if st.st_mode & 0o077:
                own = st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX
                if tighten and own:
                    os.chmod(path, 0o700)
                else:
                    log.warning("state directory %s is accessible to other users (mode %o)",
                                path, st.st_mode & 0o777)
            return path
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise StoreError(f"cannot create state directory {path}: {exc.strerror}") from None
    return path


class Store:
    """The state database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                ensure_private_dir(Path(self.path).parent, tighten=False)
            # one Store per thread in mailguard; check_same_thread=False only lets a test reach
            # a daemon worker's connection (sqlite's serialized mode makes that safe)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if self.path != ":memory:" and os.stat(self.path).st_mode & 0o077:
                os.chmod(self.path, 0o600)
            self._migrate()
        except sqlite3.Error as exc:
            error = _store_error(f"cannot open state database {self.path}", exc)
            hint = _disk_trouble(Path(self.path).parent) if self.path != ":memory:" else None
            if hint is not None and not error.retryable:
                error = StoreError(f"{error}: {hint}", retryable=True)
            raise error from None
        except OSError as exc:  # chmod on a read-only file system, say
            raise StoreError(f"cannot open state database {self.path}: {exc.strerror}",
                             retryable=True) from None

    @classmethod
    def open_default(cls, env: dict[str, str] | None = None) -> Store:
        return cls(ensure_private_dir(data_dir(env)) / DB_NAME)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, at TEXT)"
        )
        done = {r[0] for r in self.db.execute("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            with self.transaction():
                for stmt in sql.split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, now_iso()))
            log.debug("applied schema migration %d", version)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN ... COMMIT (ROLLBACK on error); sqlite errors become StoreError."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(f"state database {self.path}", exc) from None
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _store_error(f"state database {self.path}: cannot commit", exc) from None

    def _rollback(self) -> None:
        """ROLLBACK if a transaction is open; sqlite may already have rolled back by itself (a
        full disk, an I/O error), and a failing ROLLBACK must not hide the first error."""
        if not self.db.in_transaction:
            return
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("state database %s: rollback failed: %s", self.path, exc)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise _store_error(f"state database {self.path}", exc) from None

    # -- contacts --------------------------------------------------------------------------

    def load_contacts(self) -> list[Contact]:
        return [_contact(r) for r in self.execute("SELECT * FROM contacts ORDER BY since")]

    def save_contact(self, c: Contact) -> None:
        self.execute(
            """INSERT INTO contacts (email, name, since, how, message_id, subject, org_domain,
                   org_name, sig_domains, source, network, handle)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(email) DO UPDATE SET name=excluded.name, since=excluded.since,
                   how=excluded.how, message_id=excluded.message_id, subject=excluded.subject,
                   org_domain=excluded.org_domain, org_name=excluded.org_name,
                   sig_domains=excluded.sig_domains, source=excluded.source,
                   network=excluded.network, handle=excluded.handle""",
            (c.email, c.name, _iso(c.since), c.how, c.message_id, c.subject, c.org_domain,
             c.org_name, json.dumps(sorted(c.sig_domains)), c.source, c.network, c.handle),
        )

    def forget_contact(self, email: str) -> bool:
        return self.execute("DELETE FROM contacts WHERE email = ?", (email.lower(),)).rowcount > 0

    # -- senders first seen ----------------------------------------------------------------

    def first_seen(self, key: str) -> datetime | None:
        row = self.execute("SELECT first_seen FROM senders WHERE key = ?", (key,)).fetchone()
        return _dt(row[0]) if row else None

    def note_sender(self, key: str, when: datetime, note: str = "") -> None:
        iso = _iso(when)
        self.execute(
            """INSERT INTO senders (key, first_seen, last_seen, note) VALUES (?, ?, ?, ?)
               ON CONFLICT(key) DO UPDATE SET messages = messages + 1,
                   note = CASE WHEN excluded.first_seen < first_seen THEN excluded.note ELSE note END,
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)""",
            (key, iso, iso, note),
        )

    def first_seen_note(self, key: str) -> tuple[datetime, str] | None:
        """When ``key`` was first seen, and the note of that first message."""
        row = self.execute("SELECT first_seen, note FROM senders WHERE key = ?", (key,)).fetchone()
        return (_dt(row[0]), row[1]) if row and row[0] else None  # type: ignore[return-value]

    def keys_with_prefix(self, prefix: str, limit: int = 200) -> list[str]:
        """Sender keys starting with ``prefix`` (e.g. every ``addr@acme.io`` seen: 'at:acme.io/')."""
        rows = self.execute("SELECT key FROM senders WHERE key >= ? AND key < ? LIMIT ?",
                            (prefix, prefix + "\U0010ffff", int(limit)))
        return [r[0] for r in rows]

    # -- the user's own messages -----------------------------------------------------------

    def note_my_message(self, message_id: str, when: datetime) -> None:
        self.execute("INSERT OR IGNORE INTO my_messages (message_id, at) VALUES (?, ?)",
                     (message_id, _iso(when)))

    def is_my_message(self, message_id: str) -> bool:
        return self.execute("SELECT 1 FROM my_messages WHERE message_id = ?",
                            (message_id,)).fetchone() is not None

    def sender_of_message(self, message_id: str) -> str | None:
        """The sender of a message decided earlier, by its Message-ID."""
        row = self.execute("SELECT sender FROM decisions WHERE message_id = ? ORDER BY id LIMIT 1",
                           (message_id,)).fetchone()
        return row[0] if row else None

    # -- runs and decisions ----------------------------------------------------------------

    def start_run(self, kind: str, source: str) -> int:
        cur = self.execute("INSERT INTO runs (kind, source, started) VALUES (?, ?, ?)",
                           (kind, source, now_iso()))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None:
        self.execute("UPDATE runs SET finished = ?, counts = ? WHERE id = ?",
                     (now_iso(), json.dumps(counts), run_id))

    def save_decision(self, run_id: int | None, d: Decision, source: str = "") -> int:
        cur = self.execute(
            """INSERT INTO decisions (run_id, message_id, date, sender, subject, action,
                   promo_score, linked_contact, link_kind, reasons, ref, source, decided_at,
                   category, link_strength, scores)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (run_id, d.message_id, _iso(d.date), d.sender, d.subject, d.action, d.promo_score,
             d.linked_contact, d.link_kind, json.dumps(list(d.reasons)), d.ref, source, now_iso(),
             d.category, d.link_strength,
             None if d.scores is None else json.dumps(d.scores_dict())),
        )
        return int(cur.lastrowid or 0)

    def decisions(self, *, since: datetime | None = None, limit: int | None = None,
                  where: str = "", params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        sql = "SELECT * FROM decisions WHERE 1=1"
        args: list[Any] = list(params)
        if where:
            sql += f" AND ({where})"
        if since:
            sql += " AND decided_at >= ?"
            args.append(_iso(since))
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.execute(sql, args))

    # -- allow / block ---------------------------------------------------------------------

    def sender_rules(self) -> dict[str, str]:
        return {r["entry"]: r["status"] for r in self.execute("SELECT entry, status FROM sender_rules")}

    def set_sender_rule(self, entry: str, status: str | None, note: str = "") -> None:
        if status is None:
            self.execute("DELETE FROM sender_rules WHERE entry = ?", (entry.lower(),))
        else:
            self.execute(
                """INSERT INTO sender_rules (entry, status, at, note) VALUES (?, ?, ?, ?)
                   ON CONFLICT(entry) DO UPDATE SET status=excluded.status, at=excluded.at,
                       note=excluded.note""",
                (entry.lower(), status, now_iso(), note),
            )


#: sqlite primary result codes that can go away by themselves, and what they mean to a user
_TRANSIENT = {
    5: "it is locked by another process",  # SQLITE_BUSY
    6: "it is locked",  # SQLITE_LOCKED
    8: "it is read-only (a read-only file system, or its permissions)",  # SQLITE_READONLY
    10: "the disk returned an I/O error (failing, full or read-only)",  # SQLITE_IOERR
    13: "the disk holding it is full",  # SQLITE_FULL
}


def _disk_trouble(directory: Path) -> str | None:
    """Why files in directory cannot be written, if the reason is the disk: read-only or full."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "it is on a read-only file system"
    if fs.f_bavail == 0:
        return "the disk holding it is full"
    return None


def _store_error(what: str, exc: sqlite3.Error) -> StoreError:
    """A StoreError for a sqlite error: retryable, with the likely cause, when the disk is full,
    read-only or failing or the database is locked; nothing is written in the meantime."""
    code = getattr(exc, "sqlite_errorcode", None)
    cause = _TRANSIENT.get(code & 0xFF) if isinstance(code, int) else None
    if cause is None:
        return StoreError(f"{what}: {exc}")
    return StoreError(f"{what}: {exc}: {cause}", retryable=True)


def _contact(r: sqlite3.Row) -> Contact:
    since = _dt(r["since"])
    assert since is not None
    return Contact(
        email=r["email"], name=r["name"], since=since, how=r["how"], message_id=r["message_id"],
        subject=r["subject"], org_domain=r["org_domain"], org_name=r["org_name"],
        sig_domains=frozenset(json.loads(r["sig_domains"])), source=r["source"],
        network=r["network"], handle=r["handle"],
    )

