"""The weekly digest: its config, its signed header (a forged one gives no pass), its text built
from the store, and against the real Dovecot: appended once with APPEND, never decided or moved,
at most once per period, safe across an interrupted APPEND, and nothing in a dry run."""

from __future__ import annotations

import email
import re
from datetime import datetime, timedelta, timezone
from email.policy import default as default_policy
from pathlib import Path

import pytest
from imapkit import (
    ACME,
    OFFENDERS,
    QUARANTINE,
    append_all,
    config_of,
    new_mail,
    seed_history,
    snapshot,
    write_config,
)
from mailfactory import day, newsletter

from mailguard.review import digest
from mailguard.cli.main import main
from mailguard.review.digest import (
    HEADER,
    DigestConfig,
    append_digest,
    build_message,
    digest_config,
    group_moves,
    load_key,
    render,
    verify,
)
from mailguard.errors import ConfigError
from mailguard.imap.session import open_account
from mailguard.store import DB_NAME, Store
from mailguard.imap.sync import SYNC_TAG

KEY = bytes(range(32))
NOW = datetime(2026, 3, 20, 8, 0, tzinfo=timezone.utc)
ENABLED = "[digest]\nenabled = true\n"


def digest_bytes(key: bytes = KEY, subject: str = "mailguard: 2 messages moved") -> tuple[str, bytes]:
    return build_message(key, subject=subject, body="two moved\n", to="sam@rivera.dev", now=NOW)


# -- config ---------------------------------------------------------------------------------------


def test_digest_is_off_by_default_and_reads_its_table():
    assert digest_config({}) == DigestConfig(enabled=False, days=7, skip_empty=True, folder=None)
    assert digest_config({"digest": {"enabled": True, "days": 14, "skip_empty": False,
                                      "folder": "Digests"}}) == \
        DigestConfig(enabled=True, days=14, skip_empty=False, folder="Digests")


@pytest.mark.parametrize("table, words", [
    ({"enabled": "yes"}, "enabled and skip_empty must be true or false"),
    ({"days": 0}, "days must be a whole number of days from 1 to 365"),
    ({"days": 7.5}, "days must be a whole number"),
    ({"days": True}, "days must be a whole number"),
    ({"folder": ""}, "folder must be a folder name"),
    ({"weekly": True}, "unknown key(s): weekly"),
])
def test_a_bad_digest_table_is_one_clear_error(table, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        digest_config({"digest": table})


# -- the signed header ----------------------------------------------------------------------------


def test_own_digest_verifies_and_anything_altered_does_not():
    mid, raw = digest_bytes()
    assert verify(raw, KEY) is True
    assert verify(raw, bytes(32)) is False  # another installation's key
    assert verify(raw, None) is False  # no key here: no pass
    assert verify(raw.replace(b"2 messages moved", b"3 messages moved"), KEY) is False
    assert verify(raw.replace(mid.encode(), b"<other@example.org>"), KEY) is False
    assert verify(b"From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n", KEY) is None


def test_a_copied_or_doubled_or_malformed_header_gives_no_pass():
    _, raw = digest_bytes()
    header = next(line for line in raw.split(b"\r\n") if line.startswith(HEADER.encode()))
    forged = (b"From: news@acme.io\r\nSubject: Last chance: 30% off\r\n"
              b"Message-ID: <blast@acme.io>\r\nDate: Fri, 20 Mar 2026 08:00:00 +0000\r\n"
              + header + b"\r\n\r\nbuy\r\n")
    assert verify(forged, KEY) is False  # a real header on another message
    doubled = raw.replace(header, header + b"\r\n" + header)
    assert verify(doubled, KEY) is False
    assert verify(raw.replace(header, b"X-Mailguard-Digest: v1 t=1 m=" + b"0" * 64), KEY) is False
    assert verify(raw.replace(header, b"X-Mailguard-Digest: yes"), KEY) is False
    # the header name in the body is no header
    assert verify(b"Subject: hi\r\n\r\n" + header + b"\r\n", KEY) is None
    # a header line is found on the first line, in any case, and after LF or CRLF alone
    value = header.partition(b":")[2]
    for head in (b"x-mailguard-digest:" + value + b"\r\nSubject: hi\r\n",
                 b"Subject: hi\nX-MAILGUARD-DIGEST:" + value + b"\n", b"Subject: hi\r\n" + header + b"\r\n"):
        assert verify(head + b"\r\nbuy\r\n", KEY) is False
    assert verify(b"Subject: hi\r\n X-Mailguard-Digest: folded\r\n\r\n", KEY) is None


def test_the_key_is_made_once_private_and_kept(tmp_path):
    assert load_key(tmp_path) is None
    key = load_key(tmp_path, create=True)
    assert key is not None and len(key) == 32
    assert (tmp_path / "digest.key").stat().st_mode & 0o777 == 0o600
    assert load_key(tmp_path, create=True) == key


# -- the text ----------------------------------------------------------------------------------


def _row(sender, subject, contact, link="same organisation", when=day(10), score=0.99, state="done"):
    import json

    return {"sender": sender, "subject": subject, "linked_contact": contact, "link_kind": link,
            "promo_score": score, "date": when.isoformat(), "move_state": state,
            "reasons": json.dumps(["promotional: promo score 0.99 >= 0.65 (List-Unsubscribe, bulk)",
                                   f"linked to {contact} by {link}"])}


def test_the_digest_groups_moves_by_contact_with_one_line_reasons_and_the_commands():
    from mailguard.core.contacts import make_contact

    jane = make_contact("jane@acme.io", "Jane Doe", day(0), "they wrote to you personally",
                        subject="Great meeting you")
    rows = [_row(ACME, "Spring launch", "jane@acme.io", when=day(11)),
            _row("news@dataflow.io", "Dataflow 2.0", "tom@dataflow.io", link="name"),
            _row(ACME, "Last chance", "jane@acme.io", when=day(12), state="undone")]
    groups = group_moves(rows, {"jane@acme.io": jane})
    assert [g.contact for g in groups] == ["jane@acme.io", "tom@dataflow.io"]  # most first
    subject, body = render(groups, account="sam", since=day(7), until=day(14))
    assert subject == "mailguard: 3 messages moved from 2 contacts this week"
    assert ('Jane Doe <jane@acme.io>, contact since 02 Mar 2026 (they wrote to you personally: '
            '"Great meeting you")') in body
    assert '  13 Mar  news@acme.io: "Spring launch"\n          same organisation; promotional: ' \
           'promo score 0.99 >= 0.65, score 0.99\n' in body
    assert "[put back since]" in body
    assert "mailguard review" in body and "mailguard undo SENDER" in body
    assert body.index("jane@acme.io") < body.index("tom@dataflow.io")


# -- against the real Dovecot -----------------------------------------------------------------


def _digests_on_server(dovecot, user, folder="INBOX") -> list[email.message.EmailMessage]:
    with dovecot.client(user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["HEADER", HEADER, ""])
        data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [email.message_from_bytes(d[b"BODY[]"], policy=default_policy) for d in data.values()]


def _decided(home: Path, message_id: str) -> int:
    with Store(home / DB_NAME) as store:
        return store.execute("SELECT COUNT(*) FROM decisions WHERE message_id = ?",
                             (message_id,)).fetchone()[0]


def _run(*args: str) -> int:
    return main(["run", "--once", *args])


@pytest.fixture
def moved_once(dovecot, imap_user, home):
    """A first run, then two offenders moved, with [digest] enabled: the digest is appended."""
    write_config(home, dovecot, imap_user, rest=ENABLED)
    seed_history(dovecot, imap_user)
    assert _run() == 0
    assert _digests_on_server(dovecot, imap_user) == []  # nothing moved yet: no digest
    append_all(dovecot, imap_user, new_mail())
    assert _run() == 0
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    return home


@pytest.mark.dovecot
def test_the_digest_is_appended_once_and_never_decided_or_moved(dovecot, imap_user, moved_once, capsys):
    home = moved_once
    (msg,) = _digests_on_server(dovecot, imap_user)
    mid = msg["Message-ID"]
    assert msg["Subject"] == "mailguard: 2 messages moved from 2 contacts this week"
    assert msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content()
    assert "Jane Doe <jane@acme.io>, contact since 02 Mar 2026 (they wrote to you personally" in body
    assert 'news@acme.io: "Last chance: 30% off"' in body and "same organisation; promotional" in body
    assert "tom@dataflow.io" in body and 'news@dataflow.io: "Dataflow 2.0 is here"' in body
    assert "mailguard review" in body
    assert verify(msg.as_bytes(), load_key(home)) is True
    # the next passes see it in the inbox: never decided, never moved, and no second digest
    assert _run() == 0 and _run() == 0
    assert mid in snapshot(dovecot, imap_user) and mid not in snapshot(dovecot, imap_user, QUARANTINE)
    assert _decided(home, mid) == 0
    assert len(_digests_on_server(dovecot, imap_user)) == 1
    with Store(home / DB_NAME) as store:
        rows = store.digest_rows(imap_user, "done")
    assert [(r["message_id"], r["moved"]) for r in rows] == [(mid, 2)]
    assert _decided(home, "<blast1@acme.io>") == 1  # the mail around it is decided as usual


@pytest.mark.dovecot
def test_a_forged_digest_header_is_decided_like_any_other_mail(dovecot, imap_user, moved_once, caplog):
    home = moved_once
    (real,) = _digests_on_server(dovecot, imap_user)
    copied = real[HEADER]
    forged = [
        newsletter(f"Acme News <{ACME}>", when=day(20), subject="Members only: 40% off",
                   msgid="<forged-copy@acme.io>"),
        newsletter(f"Acme News <{ACME}>", when=day(21), subject="Final hours",
                   msgid="<forged-random@acme.io>"),
    ]
    forged[0] = forged[0].replace(b"\r\nSubject:", f"\r\n{HEADER}: {copied}\r\nSubject:".encode(), 1)
    forged[1] = forged[1].replace(b"\r\nSubject:", f"\r\n{HEADER}: v1 t=1 m={'ab' * 32}\r\nSubject:".encode(), 1)
    append_all(dovecot, imap_user, forged)
    assert _run() == 0
    quarantine = snapshot(dovecot, imap_user, QUARANTINE)
    assert {"<forged-copy@acme.io>", "<forged-random@acme.io>"} <= set(quarantine)  # moved
    assert _decided(home, "<forged-copy@acme.io>") == 1 and _decided(home, "<forged-random@acme.io>") == 1
    assert "header that does not verify: it is decided like any other" in caplog.text
    assert real["Message-ID"] in snapshot(dovecot, imap_user)  # the real one stays


@pytest.mark.dovecot
def test_a_digest_appended_before_a_crash_is_found_not_added_again(dovecot, imap_user, moved_once):
    home = moved_once
    (msg,) = _digests_on_server(dovecot, imap_user)
    with Store(home / DB_NAME) as store:  # as if killed between the APPEND and marking it done
        store.execute("UPDATE digests SET state = 'intent'")
    assert _run() == 0
    assert len(_digests_on_server(dovecot, imap_user)) == 1
    with Store(home / DB_NAME) as store:
        assert [r["message_id"] for r in store.digest_rows(imap_user, "done")] == [msg["Message-ID"]]
        assert store.digest_rows(imap_user, "intent") == []


@pytest.mark.dovecot
def test_one_digest_per_period_then_the_next(dovecot, imap_user, moved_once):
    home = moved_once
    cfg = digest_config(config_of(home).raw)
    with Store(home / DB_NAME) as store, open_account(config_of(home)) as account:
        now = datetime.now(timezone.utc)
        args = dict(account=imap_user, folder="INBOX", to="sam@rivera.dev", reason_prefix=SYNC_TAG)
        assert append_digest(store, account, cfg=cfg, now=now + timedelta(days=6), **args).why == "not due"
        assert append_digest(store, account, cfg=cfg, now=now + timedelta(days=8), **args).why == \
            "nothing moved"  # due, but skip_empty
        quiet = DigestConfig(enabled=True, skip_empty=False)
        result = append_digest(store, account, cfg=quiet, now=now + timedelta(days=8), **args)
        assert result.appended and result.moved == 0
        assert append_digest(store, account, cfg=quiet, now=now + timedelta(days=9), **args).why == "not due"
    subjects = sorted(m["Subject"] for m in _digests_on_server(dovecot, imap_user))
    assert subjects == ["mailguard: 2 messages moved from 2 contacts this week",
                        "mailguard: nothing moved this week"]


@pytest.mark.dovecot
def test_no_digest_when_off_or_in_a_dry_run(dovecot, imap_user, home):
    write_config(home, dovecot, imap_user)  # no [digest]: off
    seed_history(dovecot, imap_user)
    assert _run() == 0
    append_all(dovecot, imap_user, new_mail())
    assert _run() == 0
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    assert _digests_on_server(dovecot, imap_user) == []
    write_config(home, dovecot, imap_user, rest=ENABLED)
    assert _run("--dry-run") == 0
    assert _digests_on_server(dovecot, imap_user) == []
    assert not (home / "digest.key").exists()


@pytest.mark.dovecot
def test_a_bad_digest_table_stops_run_with_one_line(dovecot, imap_user, home, capsys):
    write_config(home, dovecot, imap_user, rest="[digest]\nenabled = 1\n")
    assert _run() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mailguard: error: config ") and "\n" not in err
    assert err.endswith("[digest] enabled must be true or false, not 1")


def test_is_own_digest_reads_the_key_of_the_stores_folder(tmp_path):
    state = tmp_path / "state"
    store = Store(state / DB_NAME)
    try:
        key = load_key(state, create=True)
        assert key is not None
        _, raw = digest_bytes(key)
        assert digest.is_own_digest(store, raw) is True
        _, other = digest_bytes(bytes(32))
        assert digest.is_own_digest(store, other) is False
        assert digest.is_own_digest(store, b"Subject: hi\r\n\r\nx") is False
    finally:
        store.close()
