"""The state database's indexes after the migrations: one index per column list (a duplicate
costs every insert), and the lookups by Message-ID still use one."""

from __future__ import annotations

import sqlite3
from collections import Counter

from mailguard.store import DB_NAME, MIGRATIONS, Store


def _index_columns(db: sqlite3.Connection) -> Counter[tuple[str, tuple[str, ...]]]:
    found: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for table, name in db.execute(
            "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"):
        cols = tuple(r[2] for r in db.execute(f"PRAGMA index_info({name})"))
        found[(table, cols)] += 1
    return found


def test_a_new_database_has_no_duplicate_index(tmp_path):
    with Store(tmp_path / DB_NAME) as store:
        counts = _index_columns(store.db)
    assert counts[("decisions", ("message_id",))] == 1
    assert [k for k, n in counts.items() if n > 1] == []


def test_a_database_with_both_message_id_indexes_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, at TEXT)")
    for version, sql in MIGRATIONS:
        if version > 20:
            continue
        db.executescript(sql)
        db.execute("INSERT INTO schema_migrations VALUES (?, 'x')", (version,))
    assert _index_columns(db)[("decisions", ("message_id",))] == 2
    db.execute("""INSERT INTO decisions (message_id, sender, action, decided_at, category)
                  VALUES ('<m@x>', 'a@b.example', 'keep', 'now', 'personal')""")
    db.commit()
    db.close()
    with Store(path) as store:
        assert _index_columns(store.db)[("decisions", ("message_id",))] == 1
        assert 21 in {r[0] for r in store.execute("SELECT version FROM schema_migrations")}
        assert store.senders_of_messages(["<m@x>", "<other@x>"]) == {
            "<m@x>": ("a@b.example", "personal")}
        plan = " ".join(str(r[3]) for r in store.execute(
            "EXPLAIN QUERY PLAN SELECT sender FROM decisions WHERE message_id IN (?, ?)",
            ("<m@x>", "<n@x>")))
        assert "USING INDEX decisions_message_id" in plan


def test_earlier_links_read_only_the_linked_decisions_index(tmp_path):
    """earlier_links runs for every batch: it must not read every decision of a sender."""
    with Store(tmp_path / DB_NAME) as store:
        store.execute("""INSERT INTO decisions (message_id, sender, action, decided_at, linked_contact,
                             link_kind, link_strength, date) VALUES
                         ('<1@x>', 'a@b.example', 'keep', 'now', NULL, NULL, NULL, '2026-01-01'),
                         ('<2@x>', 'a@b.example', 'move', 'now', 'c@d.example', 'org', 'strong', '2026-01-02'),
                         ('<3@x>', 'a@b.example', 'keep', 'now', 'c@d.example', 'name', 'weak', '2026-01-03'),
                         ('<4@x>', 'e@b.example', 'keep', 'now', 'f@d.example', 'org', 'medium', '2026-01-04')""")
        assert store.earlier_links(["a@b.example", "e@b.example", "z@b.example"]) == {
            "a@b.example": ("c@d.example", "by org on 2026-01-02", "org"),
            "e@b.example": ("f@d.example", "by org on 2026-01-04", "org")}
        assert store.earlier_link("a@b.example") == ("c@d.example", "by org on 2026-01-02", "org")
        for sql, n in (("""SELECT sender, linked_contact, link_kind, date, id FROM decisions
                           WHERE link_strength IN ('strong', 'medium') AND linked_contact IS NOT NULL
                             AND sender IN (?, ?)""", 2),
                       ("""SELECT linked_contact, link_kind, date FROM decisions WHERE sender = ?
                           AND link_strength IN ('strong', 'medium') AND linked_contact IS NOT NULL
                           ORDER BY id LIMIT 1""", 1)):
            plan = " ".join(str(r[3]) for r in store.execute("EXPLAIN QUERY PLAN " + sql, ("a",) * n))
            assert "USING INDEX decisions_earlier_link" in plan, plan
        # the UI's lookups by linked contact keep an index (of the linked decisions only)
        plan = " ".join(str(r[3]) for r in store.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM decisions WHERE linked_contact IN (?, ?)", ("a", "b")))
        assert "USING INDEX ui_decisions_linked" in plan, plan
        assert len(store.decisions_about(contacts=["c@d.example"])) == 2
