"""SQLite state: contacts, first-seen senders, decisions, runs, allow/block rules, IMAP watermarks
and the move log. Schema changes are numbered migrations recorded in ``schema_migrations``.

Every other module talks to the database through :class:`Store`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from .core.contacts import Contact
from .errors import ConfigError, StoreError
from .permissions import check_dir
from .core.rules import MOVE, SCORE_NAMES, Decision

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
        4,
        # sync.py: what identifies an IMAP message. imap_decided: each message decided, by its
        # place (folder, UIDVALIDITY, UID) and its content hash (imap.content_hash), so that "already
        # decided" never rests on a Message-ID another message can reuse; real = 0 for a dry run.
        # moves.content_hash: the moved message's content, for "moved once, never moved again",
        # reconciling and undo. Rows written before this migration have none (NULL).
        """
        CREATE TABLE imap_decided (
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id TEXT,
            content_hash TEXT NOT NULL,
            decision_id INTEGER REFERENCES decisions(id),
            action TEXT NOT NULL,
            real INTEGER NOT NULL DEFAULT 1,
            at TEXT NOT NULL,
            PRIMARY KEY (account, folder, uidvalidity, uid)
        );
        CREATE INDEX imap_decided_hash ON imap_decided(account, content_hash);
        CREATE INDEX imap_decided_decision ON imap_decided(decision_id);
        ALTER TABLE moves ADD COLUMN content_hash TEXT;
        CREATE INDEX moves_content_hash ON moves(account, content_hash);
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
        ALTER TABLE contacts ADD COLUMN role TEXT NOT NULL DEFAULT '';
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
    (
        20,
        # digest.py: the weekly digest appended to an account (intent before the APPEND, done
        # after); indexes for the web UI's timelines. Numbered apart from the core's migrations
        # so that branches adding one at the same time do not collide.
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            message_id TEXT NOT NULL,
            period_start TEXT NOT NULL,
            period_end TEXT NOT NULL,
            moved INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('intent', 'done', 'failed')),
            uid INTEGER,
            at TEXT NOT NULL,
            done_at TEXT
        );
        CREATE INDEX digests_account ON digests(account, state);
        CREATE INDEX IF NOT EXISTS ui_moves_decision ON moves(decision_id);
        CREATE INDEX IF NOT EXISTS ui_decisions_linked ON decisions(linked_contact)
        """,
    ),
    (
        21,
        # decisions(message_id) had two indexes (decisions_message of migration 1 and
        # decisions_message_id of migration 10): every saved decision updated both
        """
        DROP INDEX IF EXISTS decisions_message
        """,
    ),
    (
        22,
        # earlier_links (every batch, for each sender) read every decision of a sender through
        # decisions_sender to find the few linked on medium or strong evidence: an index of only
        # those. ui_decisions_linked held a NULL for each of the many unlinked decisions; the UI
        # asks it for given contacts only (linked_contact IN (...)), which implies NOT NULL.
        """
        CREATE INDEX IF NOT EXISTS decisions_earlier_link ON decisions(sender, id)
            WHERE link_strength IN ('strong', 'medium') AND linked_contact IS NOT NULL;
        DROP INDEX IF EXISTS ui_decisions_linked;
        CREATE INDEX ui_decisions_linked ON decisions(linked_contact) WHERE linked_contact IS NOT NULL
        """,
    ),
]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(d: datetime | None) -> str | None:
    return d.astimezone(timezone.utc).isoformat(timespec="seconds") if d else None


_SAVE_DECISION = """INSERT INTO decisions (run_id, message_id, date, sender, subject, action,
                        promo_score, linked_contact, link_kind, reasons, ref, source, decided_at,
                        category, link_strength, scores)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""


def _decision_row(run_id: int | None, d: Decision, source: str, at: str) -> tuple[Any, ...]:
    return (run_id, d.message_id, _iso(d.date), d.sender, d.subject, d.action, d.promo_score,
            d.linked_contact, d.link_kind, _json_texts(d.reasons), d.ref, source, at,
            d.category, d.link_strength, None if d.scores is None else _json_scores(d))


#: json's own string encoder (the C one): what json.dumps writes for a str with its defaults
_JSON_STR: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
#: the JSON keys of Decision.scores_dict, in its order
_SCORE_KEYS = tuple(_JSON_STR(name) + ": " for name in SCORE_NAMES)


def _json_texts(texts: Sequence[Any]) -> str:
    """json.dumps(list(texts)), written directly when every item is a str."""
    if all(type(t) is str for t in texts):
        return "[" + ", ".join(map(_JSON_STR, texts)) + "]"
    return json.dumps(list(texts))


def _json_scores(d: Decision) -> str:
    """json.dumps(d.scores_dict()), written directly for three finite scores (json writes a float
    with float.__repr__, and NaN or Infinity for the others)."""
    scores = d.scores
    if scores is not None and len(scores) == len(SCORE_NAMES):
        rounded = [round(float(p), 4) for p in scores]
        if all(math.isfinite(p) for p in rounded):
            return "{" + ", ".join([k + float.__repr__(p) for k, p in zip(_SCORE_KEYS, rounded)]) + "}"
    return json.dumps(d.scores_dict())


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
    user's own, non-shared directory. One that someone else owns or others can write is refused
    (ConfigError, see :mod:`mailguard.permissions`); one others can only read is never re-moded
    unless it is the user's own: mailguard warns instead."""
    try:
        if path.is_dir():
            check_dir(path, "state directory", ConfigError)
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
            # the journals of a savepoint and of a statement inside a transaction (every batch's
            # writes: the pipeline's transaction inside the batch's) in memory, not in a temporary
            # file written page by page: the first sync's imap_decided upsert 15 -> 7 µs a row
            self.db.execute("PRAGMA temp_store=MEMORY")
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
        """BEGIN ... COMMIT (ROLLBACK on error); sqlite errors become StoreError. Inside another
        transaction it is a SAVEPOINT: its changes are undone on error, and committed with the
        outer transaction."""
        if self.db.in_transaction:
            with self._savepoint():
                yield self.db
            return
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

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._savepoints = getattr(self, "_savepoints", 0) + 1
        name = f"mailguard_{self._savepoints}"
        try:
            self.db.execute(f"SAVEPOINT {name}")
        except sqlite3.Error as exc:
            raise _store_error(f"state database {self.path}", exc) from None
        try:
            yield
        except BaseException:
            try:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
            except sqlite3.Error as exc:  # the outer transaction rolls back anyway
                log.warning("state database %s: rollback to a savepoint failed: %s", self.path, exc)
            raise
        else:
            try:
                self.db.execute(f"RELEASE {name}")
            except sqlite3.Error as exc:
                raise _store_error(f"state database {self.path}", exc) from None

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

    def _executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _store_error(f"state database {self.path}", exc) from None

    # -- contacts --------------------------------------------------------------------------

    def load_contacts(self) -> list[Contact]:
        return [_contact(r) for r in self.execute("SELECT * FROM contacts ORDER BY since")]

    def save_contact(self, c: Contact) -> None:
        self.execute(
            """INSERT INTO contacts (email, name, since, how, message_id, subject, org_domain,
                   org_name, sig_domains, source, network, handle, role)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(email) DO UPDATE SET name=excluded.name, since=excluded.since,
                   how=excluded.how, message_id=excluded.message_id, subject=excluded.subject,
                   org_domain=excluded.org_domain, org_name=excluded.org_name,
                   sig_domains=excluded.sig_domains, source=excluded.source,
                   network=excluded.network, handle=excluded.handle, role=excluded.role""",
            (c.email, c.name, _iso(c.since), c.how, c.message_id, c.subject, c.org_domain,
             c.org_name, json.dumps(sorted(c.named_domains)), c.source, c.network, c.handle, c.role),
        )

    def forget_contact(self, email: str) -> bool:
        return self.execute("DELETE FROM contacts WHERE email = ?", (email.lower(),)).rowcount > 0

    # -- senders first seen ----------------------------------------------------------------

    def first_seen(self, key: str) -> datetime | None:
        row = self.execute("SELECT first_seen FROM senders WHERE key = ?", (key,)).fetchone()
        return _dt(row[0]) if row else None

    def note_sender(self, key: str, when: datetime, note: str = "") -> None:
        iso = _iso(when)
        self.execute(_NOTE_SENDER, (key, iso, iso, note))

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

    def earlier_link(self, sender: str) -> tuple[str, str, str] | None:
        """(contact, "by KIND on DATE", kind) of the first decision that tied ``sender`` to a contact
        on medium or strong evidence."""
        row = self.execute(
            """SELECT linked_contact, link_kind, date FROM decisions WHERE sender = ?
               AND link_strength IN ('strong', 'medium') AND linked_contact IS NOT NULL
               ORDER BY id LIMIT 1""", (sender,)).fetchone()
        if not row:
            return None
        return row[0], f"by {row[1]} on {(row[2] or '')[:10]}", row[1]

    def sender_of_message(self, message_id: str) -> tuple[str, str | None] | None:
        """(sender, category) of a message decided earlier, by its Message-ID."""
        row = self.execute("SELECT sender, category FROM decisions WHERE message_id = ? ORDER BY id LIMIT 1",
                           (message_id,)).fetchone()
        return (row[0], row[1]) if row else None

    # -- the same, for a batch of messages (pipeline.Pipeline.process) ----------------------
    #
    # Each answers for many keys what the single-key method above answers for one, in a few
    # statements; the writes are the single-key statements, in the given order.

    def _rows_in(self, sql: str, keys: Iterable[Any], params: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        """Rows of ``sql`` (``params``, then the keys of its closing "IN ({marks})"), 500 keys at
        a time."""
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            yield from self.execute(sql.format(marks=",".join("?" * len(part))), (*params, *part))

    def first_seen_notes(self, keys: Iterable[str]) -> dict[str, tuple[datetime, str]]:
        """:meth:`first_seen_note` of each key that has one."""
        return {r[0]: (_dt(r[1]), r[2]) for r in self._rows_in(  # type: ignore[misc]
            "SELECT key, first_seen, note FROM senders WHERE key IN ({marks})", keys) if r[1]}

    def note_senders(self, rows: Iterable[tuple[str, datetime, str]]) -> None:
        """:meth:`note_sender` of each (key, when, note), in order: the rows of a key are merged
        first (see :func:`_merged_notes`), one upsert a key."""
        rows = list(rows)
        merged = _merged_notes(rows)
        if merged is None:  # a row without a time: the single-row statements say what is wrong
            self._executemany(_NOTE_SENDER, ((k, iso, iso, n) for k, w, n in rows for iso in (_iso(w),)))
        else:
            self._executemany(_NOTE_SENDERS, ((k, *v) for k, v in merged.items()))

    def note_my_messages(self, rows: Iterable[tuple[str, datetime]]) -> None:
        """:meth:`note_my_message` of each (Message-ID, when), in order."""
        self._executemany("INSERT OR IGNORE INTO my_messages (message_id, at) VALUES (?, ?)",
                          ((m, _iso(w)) for m, w in rows))

    def my_messages_among(self, message_ids: Iterable[str]) -> set[str]:
        """The Message-IDs for which :meth:`is_my_message` is true."""
        return {r[0] for r in self._rows_in(
            "SELECT message_id FROM my_messages WHERE message_id IN ({marks})", message_ids)}

    def earlier_links(self, senders: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """:meth:`earlier_link` of each sender that has one."""
        out: dict[str, tuple[str, str, str]] = {}
        for r in self._rows_in(
                """SELECT sender, linked_contact, link_kind, date, id FROM decisions
                   WHERE link_strength IN ('strong', 'medium') AND linked_contact IS NOT NULL
                     AND sender IN ({marks})""", senders):
            got = out.get(r[0])
            if got is None or r[4] < got[1]:
                out[r[0]] = ((r[1], f"by {r[2]} on {(r[3] or '')[:10]}", r[2]), r[4])  # type: ignore[assignment]
        return {k: v[0] for k, v in out.items()}  # type: ignore[misc]

    def senders_of_messages(self, message_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """:meth:`sender_of_message` of each Message-ID decided earlier."""
        out: dict[str, tuple[tuple[str, str | None], int]] = {}
        for r in self._rows_in("SELECT message_id, sender, category, id FROM decisions "
                               "WHERE message_id IN ({marks})", message_ids):
            got = out.get(r[0])
            if got is None or r[3] < got[1]:
                out[r[0]] = ((r[1], r[2]), r[3])
        return {k: v[0] for k, v in out.items()}

    # -- runs and decisions ----------------------------------------------------------------

    def start_run(self, kind: str, source: str) -> int:
        cur = self.execute("INSERT INTO runs (kind, source, started) VALUES (?, ?, ?)",
                           (kind, source, now_iso()))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None:
        self.execute("UPDATE runs SET finished = ?, counts = ? WHERE id = ?",
                     (now_iso(), json.dumps(counts), run_id))

    def save_decision(self, run_id: int | None, d: Decision, source: str = "") -> int:
        cur = self.execute(_SAVE_DECISION, _decision_row(run_id, d, source, now_iso()))
        return int(cur.lastrowid or 0)

    def save_decisions(self, run_id: int | None, decisions: Iterable[Decision], source: str = "") -> None:
        """:meth:`save_decision` of each decision, in order (one statement for them all)."""
        at = now_iso()
        self._executemany(_SAVE_DECISION, (_decision_row(run_id, d, source, at) for d in decisions))

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

    # -- web UI and digest queries (mailguard.ui, mailguard.review.digest) ---------------------

    def decision_columns(self) -> frozenset[str]:
        """The columns of the decisions table (a later migration may add some, e.g. category)."""
        return frozenset(r["name"] for r in self.execute("PRAGMA table_info(decisions)"))

    def latest_decisions(self) -> list[sqlite3.Row]:
        """The latest decision of every message (one message across scans: its Message-ID, else
        sender|date|subject, as review.py matches them): id, date, action, promo_score, and
        ``undone`` = 1 when an undo took one of its decisions back."""
        return list(self.execute(
            f"""WITH latest AS (SELECT MAX(id) AS last_id, MAX(status = 'undone') AS undone
                                FROM decisions GROUP BY {_MESSAGE_KEY})
                SELECT d.id, d.date, d.action, d.promo_score, latest.undone
                FROM decisions d JOIN latest ON d.id = latest.last_id ORDER BY d.id"""))

    def decisions_about(self, *, contacts: Iterable[str] = (), senders: Iterable[str] = (),
                        message_ids: Iterable[str] = ()) -> list[sqlite3.Row]:
        """Every decision linked to one of ``contacts``, from one of ``senders`` or about one of
        ``message_ids``, oldest first, with ``mkey`` (the message's key across scans)."""
        wanted = [("linked_contact", sorted(set(contacts))), ("sender", sorted(set(senders))),
                  ("message_id", sorted({m for m in message_ids if m}))]
        seen: dict[int, sqlite3.Row] = {}
        for column, values in wanted:
            for start in range(0, len(values), 400):
                part = values[start:start + 400]
                for r in self.execute(
                        f"SELECT *, {_MESSAGE_KEY} AS mkey FROM decisions "
                        f"WHERE {column} IN ({','.join('?' * len(part))})", part):
                    seen[r["id"]] = r
        return [seen[i] for i in sorted(seen)]

    def moves_of_decisions(self, decision_ids: Iterable[int]) -> list[sqlite3.Row]:
        """The moves rows (mailguard's moves and their undos) of these decisions, oldest first."""
        ids = sorted(set(decision_ids))
        out: list[sqlite3.Row] = []
        for start in range(0, len(ids), 400):
            part = ids[start:start + 400]
            out += self.execute(f"SELECT * FROM moves WHERE decision_id IN ({','.join('?' * len(part))})",
                                part)
        return sorted(out, key=lambda r: r["id"])

    def decision_page(self, *, text: str = "", sender: str | None = None,
                      domain: str | None = None, action: str | None = None,
                      undone: bool | None = None, date_from: datetime | None = None,
                      date_to: datetime | None = None, category: str | None = None,
                      before_id: int | None = None, limit: int = 100
                      ) -> tuple[list[sqlite3.Row], int]:
        """One page of the decision log, newest first, and how many decisions match in all.

        text: in the sender, subject or linked contact; sender: this address; domain: senders of
        it and its subdomains; undone: only (True) or no (False) decisions an undo took back;
        date_from/date_to: the message's date, to inclusive of the whole day given; category:
        only when the decisions table has that column; before_id: the page after that id."""
        where: list[str] = []
        args: list[Any] = []
        if text:
            like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(lower(COALESCE(sender, '')) LIKE ? ESCAPE '\\' OR lower(subject) LIKE ? "
                         "ESCAPE '\\' OR lower(COALESCE(linked_contact, '')) LIKE ? ESCAPE '\\')")
            args += [like, like, like]
        if sender:
            where.append("sender = ?")
            args.append(sender)
        if domain:
            where.append("(sender LIKE ? OR sender LIKE ?)")
            args += [f"%@{domain}", f"%.{domain}"]
        if action:
            where.append("action = ?")
            args.append(action)
        if undone is not None:
            where.append("status = 'undone'" if undone else "status != 'undone'")
        if date_from is not None:
            where.append("date >= ?")
            args.append(_iso(date_from))
        if date_to is not None:
            where.append("date < ?")
            args.append(_iso(date_to))
        if category and "category" in self.decision_columns():
            where.append("category = ?")
            args.append(category)
        sql_where = " AND ".join(where) or "1=1"
        total = int(self.execute(f"SELECT COUNT(*) FROM decisions WHERE {sql_where}", args).fetchone()[0])
        page_where, page_args = sql_where, list(args)
        if before_id is not None:
            page_where += " AND id < ?"
            page_args.append(int(before_id))
        rows = list(self.execute(
            f"SELECT * FROM decisions WHERE {page_where} ORDER BY id DESC LIMIT {int(limit)}", page_args))
        return rows, total

    def moved_between(self, account: str, since: datetime, until: datetime, *,
                      reason_prefix: str) -> list[sqlite3.Row]:
        """mailguard's own moves on ``account`` (moves rows whose reason starts with
        ``reason_prefix``) completed in (since, until], with their decision, oldest first;
        ``state`` is 'undone' for those a review undo put back since."""
        return list(self.execute(
            """SELECT m.id AS move_id, m.state AS move_state, m.src_folder, m.dst_folder,
                      m.done_at, d.message_id, d.date, d.sender, d.subject, d.promo_score,
                      d.linked_contact, d.link_kind, d.reasons
               FROM moves m JOIN decisions d ON d.id = m.decision_id
               WHERE m.account = ? AND m.reason LIKE ? AND m.state IN ('done', 'undone')
                 AND m.done_at > ? AND m.done_at <= ?
               ORDER BY m.done_at, m.id""",
            (account, reason_prefix + "%", _iso(since), _iso(until))))

    def digest_rows(self, account: str, state: str) -> list[sqlite3.Row]:
        """The account's digests in ``state`` (intent, done, failed), newest first."""
        return list(self.execute(
            "SELECT * FROM digests WHERE account = ? AND state = ? ORDER BY id DESC", (account, state)))

    def add_digest_intent(self, account: str, folder: str, message_id: str, period_start: datetime,
                          period_end: datetime, moved: int) -> int:
        cur = self.execute(
            """INSERT INTO digests (account, folder, message_id, period_start, period_end, moved,
                   state, at) VALUES (?, ?, ?, ?, ?, ?, 'intent', ?)""",
            (account, folder, message_id, _iso(period_start), _iso(period_end), moved, now_iso()))
        return int(cur.lastrowid or 0)

    def finish_digest(self, digest_id: int, state: str, uid: int | None = None) -> None:
        self.execute("UPDATE digests SET state = ?, uid = ?, done_at = ? WHERE id = ?",
                     (state, uid, now_iso(), digest_id))

    # -- IMAP: folder positions and the messages decided (mailguard.sync) --------------------

    @cached_property
    def journal(self) -> MoveJournal:
        """The move log (:class:`MoveJournal`)."""
        return MoveJournal(self)

    def folder_mark(self, account: str, folder: str) -> tuple[int, int, datetime | None] | None:
        """(UIDVALIDITY, last UID handled, when the first run's learning finished or None) of an
        account's folder; None when mailguard never looked at it."""
        row = self.execute(
            "SELECT uidvalidity, last_uid, learned_until FROM folder_state WHERE account = ? AND folder = ?",
            (account, folder)).fetchone()
        if row is None:
            return None
        return int(row["uidvalidity"]), int(row["last_uid"]), _dt(row["learned_until"])

    def set_folder_mark(self, account: str, folder: str, uidvalidity: int, last_uid: int,
                        learned_until: datetime | None) -> None:
        learned = learned_until.isoformat(timespec="seconds") if learned_until else None
        self.execute(
            """INSERT INTO folder_state (account, folder, uidvalidity, last_uid, learned_until)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(account, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                   last_uid = excluded.last_uid, learned_until = excluded.learned_until""",
            (account, folder, uidvalidity, last_uid, learned))

    def count_contacts(self) -> int:
        return int(self.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])

    def last_decision_id(self) -> int:
        """The highest decisions id (0 when there is none)."""
        return int(self.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])

    def decision_ids_of_run(self, run_id: int, after: int) -> dict[str, int]:
        """ref -> id of the decisions of a run saved after decision id ``after``."""
        return {r["ref"]: int(r["id"]) for r in self.execute(
            "SELECT id, ref FROM decisions WHERE id > ? AND run_id = ?", (after, run_id))}

    def note_decided(self, account: str, places: Iterable[DecidedPlace], *, real: bool) -> None:
        """Note in imap_decided where each decided message is and its content hash. A dry run's
        rows (real False) never replace a real run's."""
        at = now_iso()
        self._executemany(
            """INSERT INTO imap_decided (account, folder, uidvalidity, uid, message_id,
                   content_hash, decision_id, action, real, at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(account, folder, uidvalidity, uid) DO UPDATE SET
                   message_id = excluded.message_id, content_hash = excluded.content_hash,
                   decision_id = excluded.decision_id, action = excluded.action,
                   real = excluded.real, at = excluded.at
               WHERE excluded.real >= imap_decided.real""",
            ((account, p.folder, p.uidvalidity, p.uid, p.message_id, p.content_hash,
              p.decision_id, p.action, 1 if real else 0, at) for p in places))

    def decided_uids(self, account: str, folder: str, uidvalidity: int, uids: Iterable[int], *,
                     real: bool = False, kept: bool = False) -> set[int]:
        """Which of uids (of folder, at this UIDVALIDITY) were decided on this account; real: by a
        real (not dry) run; kept: and not to be moved."""
        sql = ("SELECT uid FROM imap_decided WHERE account = ? AND folder = ? AND uidvalidity = ?"
               + (" AND real = 1" if real else "") + (f" AND action != '{MOVE}'" if kept else "")
               + " AND uid IN ({marks})")
        return self._first_column_in(sql, (account, folder, uidvalidity), uids)

    def decided_hashes(self, account: str, hashes: Iterable[str]) -> set[str]:
        """Which of these content hashes this account decided, in any folder or UIDVALIDITY."""
        return self._first_column_in("SELECT content_hash FROM imap_decided WHERE account = ? "
                                     "AND content_hash IN ({marks})", (account,), hashes)

    def legacy_decided_ids(self, source: str, message_ids: Iterable[str]) -> set[str]:
        """Which of these Message-IDs have a decision of ``source`` from before imap_decided
        (no place noted)."""
        return self._first_column_in(
            """SELECT d.message_id FROM decisions d WHERE d.source = ?
                 AND NOT EXISTS (SELECT 1 FROM imap_decided i WHERE i.decision_id = d.id)
                 AND d.message_id IN ({marks})""", (source,), message_ids)

    def _first_column_in(self, sql: str, params: Sequence[Any], keys: Iterable[Any]) -> set[Any]:
        """Run sql (ending in "IN ({marks})") for the keys, 500 at a time (empty keys left out);
        the first column of every row it returns."""
        return {r[0] for r in self._rows_in(sql, (k for k in keys if k not in (None, "")), params)}

    # -- review (mailguard.review) -----------------------------------------------------------

    def moved_decisions(self) -> list[sqlite3.Row]:
        """The latest decision of every message (keyed as review.py keys them: ``mkey``) when it
        is ``move`` and no undo took one of its decisions back, with ``on_server`` (carried out on
        an IMAP server); oldest first."""
        return list(self.execute(
            # joined on decisions' primary key: a join on a keyed CTE is quadratic in sqlite
            f"""WITH latest AS (SELECT MAX(id) AS last_id, MAX(status = 'undone') AS undone
                                FROM decisions GROUP BY {_REVIEW_KEY})
                SELECT decisions.*, {_REVIEW_KEY} AS mkey, {_ON_SERVER} AS on_server
                FROM decisions JOIN latest ON decisions.id = latest.last_id
                WHERE decisions.action = '{MOVE}' AND latest.undone = 0
                ORDER BY decisions.id"""))

    def latest_decisions_undone(self) -> list[sqlite3.Row]:
        """The latest decision of every message (keyed as review.py keys them), with
        ``was_undone`` = 1 when an undo took one of its decisions back; oldest first."""
        return list(self.execute(
            f"""WITH latest AS (SELECT MAX(id) AS last_id, MAX(status = 'undone') AS undone
                                FROM decisions GROUP BY {_REVIEW_KEY})
                SELECT d.*, latest.undone AS was_undone FROM decisions d
                JOIN latest ON d.id = latest.last_id ORDER BY d.id"""))

    def move_decisions_in(self, status: str) -> list[sqlite3.Row]:
        """id, message_id and ``mkey`` of every move decision in ``status``, oldest first."""
        return list(self.execute(
            f"SELECT id, message_id, {_REVIEW_KEY} AS mkey FROM decisions WHERE action = '{MOVE}' "
            "AND status = ? ORDER BY id", (status,)))

    def decisions_with_status(self, ids: Sequence[int], status: str) -> list[sqlite3.Row]:
        """id and message_id of those of these decisions in ``status``."""
        if not ids:
            return []
        return list(self.execute(
            f"SELECT id, message_id FROM decisions WHERE id IN ({','.join('?' * len(ids))}) "
            "AND status = ?", (*ids, status)))

    def set_decision_status(self, ids: Sequence[int], status: str) -> None:
        if ids:
            self.execute(f"UPDATE decisions SET status = ? WHERE id IN ({','.join('?' * len(ids))})",
                         (status, *ids))

    def subjects_of(self, decision_ids: Sequence[int]) -> list[sqlite3.Row]:
        """sender and subject of the messages of these decisions, one row a message, in order."""
        if not decision_ids:
            return []
        return list(self.execute(
            f"SELECT sender, subject, {_REVIEW_KEY} AS mkey, MIN(id) FROM decisions "
            f"WHERE id IN ({','.join('?' * len(decision_ids))}) GROUP BY mkey ORDER BY MIN(id)",
            decision_ids))

    def log_review(self, action: str, target: str, detail: object) -> int:
        """Add what the user did to review_log (detail: JSON-able); its id."""
        cur = self.execute("INSERT INTO review_log (at, action, target, detail) VALUES (?, ?, ?, ?)",
                           (now_iso(), action, target, json.dumps(detail)))
        return int(cur.lastrowid or 0)

    def review_entries(self, limit: int | None = None) -> list[sqlite3.Row]:
        """review_log, newest first."""
        sql = "SELECT * FROM review_log ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.execute(sql))

    def review_entry(self, entry_id: int) -> sqlite3.Row | None:
        return self.execute("SELECT * FROM review_log WHERE id = ?", (entry_id,)).fetchone()

    def last_unreverted(self, actions: Sequence[str]) -> sqlite3.Row | None:
        """id and at of the newest review_log entry of one of ``actions`` not reverted since."""
        return self.execute(
            f"SELECT id, at FROM review_log WHERE action IN ({','.join('?' * len(actions))}) "
            "AND reverted_by IS NULL ORDER BY id DESC LIMIT 1", tuple(actions)).fetchone()

    def mark_reverted(self, entry_id: int, by: int) -> None:
        self.execute("UPDATE review_log SET reverted_by = ? WHERE id = ?", (by, entry_id))


@dataclass(frozen=True, slots=True)
class DecidedPlace:
    """Where a decided IMAP message is (an imap_decided row): its place under the folder's
    UIDVALIDITY, its Message-ID and content hash, its decision and action."""

    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    content_hash: str
    decision_id: int | None
    action: str


# -- the move journal --------------------------------------------------------------------------

#: moves.state: committed before the IMAP command; after it, done or failed; a done move that
#: an undo reversed becomes undone
INTENT, DONE, FAILED, UNDONE = "intent", "done", "failed", "undone"


@dataclass(frozen=True, slots=True)
class MovePlace:
    """Which message a move is about and where it goes: the fields an intent and a row share."""

    account: str
    message_id: str | None
    src_folder: str
    src_uid: int | None
    src_uidvalidity: int | None
    dst_folder: str


@dataclass(frozen=True, slots=True)
class MoveIntent(MovePlace):
    """A move about to be made: one message (by its place, Message-ID and content hash) from
    src_folder to dst_folder, for a decision, with why (``reason``: mailguard's moves start
    "sync: ", an undo's "undo of move #N")."""

    decision_id: int | None
    reason: str
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class MoveRecord(MovePlace):
    """A row of the move log (built by name: :meth:`of`)."""

    id: int
    dst_uid: int | None
    state: str
    decision_id: int | None
    reason: str
    content_hash: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> MoveRecord:
        return cls(id=int(row["id"]), account=row["account"], message_id=row["message_id"],
                   src_folder=row["src_folder"], src_uid=row["src_uid"],
                   src_uidvalidity=row["src_uidvalidity"], dst_folder=row["dst_folder"],
                   dst_uid=row["dst_uid"], state=row["state"], decision_id=row["decision_id"],
                   reason=row["reason"], content_hash=row["content_hash"])


@dataclass(frozen=True, slots=True)
class Settled:
    """How an interrupted move ended, as reconciling found it: done (with the new UID) or
    failed, and a note for the row's reason."""

    state: str
    dst_uid: int | None = None
    note: str = ""


class MoveJournal:
    """The move log (the ``moves`` table), the one place moves are recorded: by the IMAP sync
    (mailguard's moves to the quarantine) and by review's undo (moves back).

    Every move is an ``intent`` row committed *before* the IMAP command (:meth:`intend`), then
    ``done`` with the new UID (:meth:`done`) or ``failed`` with why (:meth:`fail`). A crash or a
    dropped connection between the two leaves the row in ``intent``: :meth:`unresolved` finds
    those, and :meth:`reconcile` settles each with what a look at the server found. A done move
    that an undo reversed becomes ``undone`` (:meth:`mark_undone`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def intend(self, moves: Sequence[MoveIntent]) -> list[int]:
        """Record moves about to be made, in one transaction; their row ids, in order."""
        with self.store.transaction():
            return [self.record(m) for m in moves]

    def record(self, move: MoveIntent, state: str = INTENT) -> int:
        """One row in ``state``: an intent, or (state failed) a move that could not even start."""
        cur = self.store.execute(
            """INSERT INTO moves (account, message_id, src_folder, src_uid, src_uidvalidity,
                   dst_folder, state, decision_id, reason, at, content_hash)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (move.account, move.message_id, move.src_folder, move.src_uid, move.src_uidvalidity,
             move.dst_folder, state, move.decision_id, move.reason, now_iso(), move.content_hash))
        return int(cur.lastrowid or 0)

    def done(self, move_id: int, dst_uid: int | None, *, at: str | None = None) -> None:
        """The move happened; dst_uid: the message's UID in the destination (None: unknown)."""
        self.store.execute("UPDATE moves SET state = ?, dst_uid = ?, done_at = ? WHERE id = ?",
                           (DONE, dst_uid, at or now_iso(), move_id))

    def fail(self, move_id: int, note: str) -> None:
        """The move did not happen (nothing was moved); note: why, added to the reason."""
        self.settle(move_id, Settled(FAILED, None, note))

    def settle(self, move_id: int, how: Settled) -> None:
        """Finish a row as ``how`` says, its note added to the reason in parentheses."""
        if how.state not in (DONE, FAILED):
            raise ValueError(f"a move is settled as done or failed, not {how.state!r}")
        self.store.execute(
            "UPDATE moves SET state = ?, dst_uid = ?, done_at = ?, reason = reason || ? WHERE id = ?",
            (how.state, how.dst_uid, now_iso(), f" ({how.note})" if how.note else "", move_id))

    def mark_undone(self, move_id: int) -> None:
        """An undo moved the message of this (done) move back."""
        self.store.execute("UPDATE moves SET state = ? WHERE id = ?", (UNDONE, move_id))

    def unresolved(self, account: str, reason_prefix: str = "") -> list[MoveRecord]:
        """The account's rows still in ``intent`` (whose reason starts with reason_prefix), oldest
        first: moves a crash or a dropped connection interrupted."""
        return [MoveRecord.of(r) for r in self.store.execute(
            "SELECT * FROM moves WHERE account = ? AND state = ? AND reason LIKE ? ORDER BY id",
            (account, INTENT, reason_prefix + "%"))]

    def reconcile(self, rows: Iterable[MoveRecord],
                  resolve: Callable[[MoveRecord], Settled]) -> list[tuple[MoveRecord, Settled]]:
        """Settle each unresolved row as ``resolve`` (which looks for its message on the server)
        says, one row at a time, so that what was settled stays settled when resolve raises for
        a later row (that one, and those after it, stay unresolved for the next time)."""
        out = []
        for row in rows:
            how = resolve(row)
            self.settle(row.id, how)
            out.append((row, how))
        return out

    # -- what the log says

    def moved_hashes(self, account: str, hashes: Iterable[str]) -> set[str]:
        """Which of these content hashes mailguard moved (or is moving) on the account: every
        row but a failed one, whatever the folder and UIDVALIDITY."""
        return self.store._first_column_in(
            f"SELECT content_hash FROM moves WHERE account = ? AND state != '{FAILED}' "
            "AND content_hash IN ({marks})", (account,), hashes)

    def legacy_moved_ids(self, account: str, reason_prefix: str, message_ids: Iterable[str]) -> set[str]:
        """Which of these Message-IDs were moved (not failed) by rows written before content
        hashes were kept (no hash), whose reason starts with reason_prefix."""
        return self.store._first_column_in(
            f"SELECT message_id FROM moves WHERE account = ? AND state != '{FAILED}' "
            "AND content_hash IS NULL AND reason LIKE ? AND message_id IN ({marks})",
            (account, reason_prefix + "%"), message_ids)

    def carried_out(self, decision_ids: Sequence[int]) -> set[int]:
        """Which of these decisions a move carried out on a server (done, or undone since)."""
        out: set[int] = set()
        for start in range(0, len(decision_ids), 500):
            chunk = list(decision_ids[start:start + 500])
            out |= {r[0] for r in self.store.execute(
                f"SELECT DISTINCT decision_id FROM moves WHERE decision_id IN ({','.join('?' * len(chunk))}) "
                f"AND state IN ('{DONE}', '{UNDONE}')", chunk)}
        return out

    def reasons(self) -> dict[int, str]:
        """id -> reason of every row."""
        return {r["id"]: r["reason"] or "" for r in self.store.execute("SELECT id, reason FROM moves")}

    def done_with_sender(self) -> list[dict[str, Any]]:
        """Every done row with the sender of its decision (``sender``), oldest first."""
        return [dict(r) for r in self.store.execute(
            f"""SELECT m.*, d.sender AS sender FROM moves m LEFT JOIN decisions d ON d.id = m.decision_id
                WHERE m.state = '{DONE}' ORDER BY m.id""")]

    def done_among(self, move_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Those of these rows that are done, oldest first."""
        if not move_ids:
            return []
        return [dict(r) for r in self.store.execute(
            f"SELECT * FROM moves WHERE id IN ({','.join('?' * len(move_ids))}) AND state = '{DONE}' "
            "ORDER BY id", move_ids)]


_NOTE_SENDER = """INSERT INTO senders (key, first_seen, last_seen, note) VALUES (?, ?, ?, ?)
    ON CONFLICT(key) DO UPDATE SET messages = messages + 1,
        note = CASE WHEN excluded.first_seen < first_seen THEN excluded.note ELSE note END,
        first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen)"""

#: _NOTE_SENDER of the rows of one key merged: (key, first seen, last seen, note, how many)
_NOTE_SENDERS = """INSERT INTO senders (key, first_seen, last_seen, note, messages) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(key) DO UPDATE SET messages = messages + excluded.messages,
        note = CASE WHEN excluded.first_seen < first_seen THEN excluded.note ELSE note END,
        first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen)"""


_NO_TIME: Any = object()


def _merged_notes(rows: Iterable[tuple[str, datetime, str]]
                  ) -> dict[str, list[Any]] | None:
    """key -> [first seen, last seen, note, how many] of (key, when, note) rows, keys in the order
    they first come: what _NOTE_SENDER row after row leaves in a key's row, to be applied to it
    with _NOTE_SENDERS. Its note is that of the first row with the earliest time (a later row
    replaces the note only when strictly earlier, as the statement's CASE does; times compared as
    the ISO text that is stored). None when a row has no time."""
    merged: dict[str, list[Any]] = {}
    last_when: Any = _NO_TIME
    iso: str | None = None
    for key, when, note in rows:
        if when is not last_when:  # the keys of one message come together, with one time
            last_when, iso = when, _iso(when)
            if iso is None:
                return None
        got = merged.get(key)
        if got is None:
            merged[key] = [iso, iso, note, 1]
            continue
        if iso < got[0]:  # type: ignore[operator]
            got[0], got[2] = iso, note
        elif iso > got[1]:  # type: ignore[operator]
            got[1] = iso
        got[3] += 1
    return merged


#: one message across scans, as review.py keys them: its Message-ID, or sender|date|subject
_MESSAGE_KEY = ("COALESCE(NULLIF(message_id, ''), "
                "COALESCE(sender, '') || '|' || COALESCE(date, '') || '|' || subject)")

#: one message across scans, as review.py keys them: decided over IMAP, its content hash
#: (imap_decided), since anyone can reuse a Message-ID; else its Message-ID, or sender|date|subject
_REVIEW_KEY = ("COALESCE((SELECT 'content:' || i.content_hash FROM imap_decided i "
               "WHERE i.decision_id = decisions.id), NULLIF(message_id, ''), "
               "COALESCE(sender, '') || '|' || COALESCE(date, '') || '|' || subject)")
#: whether a decisions row was carried out on an IMAP server
_ON_SERVER = ("EXISTS (SELECT 1 FROM moves mv WHERE mv.decision_id = decisions.id "
              "AND mv.state IN ('done', 'undone'))")


def read_snapshot(path: Path) -> tuple[list[Contact], dict[str, str]]:
    """The contacts and allow/block rules of a state database, read without writing anything
    (no migration, no mode change): what `mailguard scan` without --save decides against.
    ([], {}) when there is no database; StoreError when it cannot be read."""
    if not path.is_file():
        return [], {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"contacts", "sender_rules"} <= tables:
                return [], {}
            contacts = [_contact(r) for r in db.execute("SELECT * FROM contacts ORDER BY since")]
            rules = {r["entry"]: r["status"] for r in db.execute("SELECT entry, status FROM sender_rules")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise _store_error(f"cannot read state database {path}", exc) from None
    return contacts, rules


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
        named_domains=frozenset(json.loads(r["sig_domains"])), source=r["source"],
        network=r["network"], handle=r["handle"],
        role=r["role"] if "role" in r.keys() else "",
    )

