"""A batch's writes are journaled in memory: the savepoint inside a batch's transaction (the
pipeline's) and the upserts inside it write no temporary file, page by page."""

from __future__ import annotations

import os

from mailguard.store import DB_NAME, Store


def _sqlite_temp_files() -> list[str]:
    """SQLite's temporary files this process holds open (named etilqs_*, unlinked once opened:
    seen only through /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def test_a_savepoint_inside_a_batch_writes_no_temporary_file(tmp_path):
    store = Store(tmp_path / "state" / DB_NAME)
    note = "n" * 500
    try:
        with store.transaction():  # about 70 pages of rules, committed
            for i in range(500):
                store.set_sender_rule(f"s{i}@x.example", "allowed", note)
        assert _sqlite_temp_files() == []
        with store.transaction():
            store.set_sender_rule("first@x.example", "allowed")
            with store.transaction():  # a savepoint, as the pipeline's inside a batch's
                for i in range(500):  # every page changed again: its old content journaled
                    store.set_sender_rule(f"s{i}@x.example", "blocked", note.upper())
                assert _sqlite_temp_files() == []  # over SQLite's 64 KiB, the journal stays in memory
        rules = store.sender_rules()
        assert len(rules) == 501 and rules["s7@x.example"] == "blocked"
    finally:
        store.close()
