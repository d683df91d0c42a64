"""`mailguard scan` end to end: output formats, summary, state, errors."""

import json
import sqlite3

import pytest

from mailguard.cli import main
from mailfactory import ME, day, mbox, newsletter, personal


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    return h


@pytest.fixture
def inbox(tmp_path):
    msgs = [
        newsletter("Jane Doe <jane@acme.io>", when=day(20), msgid="<blast@acme.io>"),
        personal("Jane Doe <jane@acme.io>", when=day(0), msgid="<hello@acme.io>"),
        personal(f"Sam <{ME}>", to="jane@acme.io", when=day(1), subject="Re: Great meeting you",
                 in_reply_to="<hello@acme.io>", msgid="<reply@rivera.dev>"),
        newsletter("Shop <hi@shop.example>", when=day(5), msgid="<shop@shop.example>"),
        b"this is not\x00 a message",
    ]
    p = tmp_path / "inbox.mbox"
    p.write_bytes(mbox(msgs))
    return p


def test_jsonl_keys_order_and_summary(home, inbox, capsys):
    assert main(["scan", str(inbox), "--me", ME, "--format", "jsonl"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 5
    for r in rows:
        assert {"message_id", "date", "sender", "action", "promo_score", "linked_contact",
                "reasons"} <= r.keys()
        assert isinstance(r["reasons"], list) and r["reasons"]
    dated = [r["message_id"] for r in rows if r["date"]]
    assert dated == ["<hello@acme.io>", "<reply@rivera.dev>", "<shop@shop.example>", "<blast@acme.io>"]
    blast = rows[-1] if rows[-1]["message_id"] == "<blast@acme.io>" else next(
        r for r in rows if r["message_id"] == "<blast@acme.io>")
    assert blast["action"] == "move" and blast["linked_contact"] == "jane@acme.io"
    assert 0.0 <= blast["promo_score"] <= 1.0
    assert "5 messages, 1 contacts (1 new), 1 to move, 1 not understood (kept)" in err


def test_json_is_one_list(home, inbox, capsys):
    assert main(["scan", str(inbox), "--me", ME, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 5
    assert sum(r["action"] == "move" for r in rows) == 1


def test_table_names_the_flagged_sender(home, inbox, capsys):
    assert main(["scan", str(inbox), "--me", ME]) == 0
    out = capsys.readouterr().out
    assert "MOVE" in out and "flagged senders" in out and "jane@acme.io" in out
    assert "1 to move" in out


def test_decisions_are_saved_unless_no_save(home, inbox, capsys):
    assert main(["scan", str(inbox), "--me", ME, "--format", "json", "--no-save"]) == 0
    assert not home.exists()
    assert main(["scan", str(inbox), "--me", ME, "--format", "json"]) == 0
    db = sqlite3.connect(home / "mailguard.sqlite3")
    assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 5
    assert db.execute("SELECT email FROM contacts").fetchall() == [("jane@acme.io",)]
    assert (home.stat().st_mode & 0o777) == 0o700


def test_me_from_config(home, inbox, capsys):
    home.mkdir()
    (home / "config.toml").write_text(f'[mailbox]\nme = ["{ME}"]\n[rules]\nwindow_days = 10\n')
    (home / "config.toml").chmod(0o600)
    assert main(["scan", str(inbox), "--format", "json", "--no-save"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # window 10 days: the blast on day 20 is too late for the contact made on day 0/1
    assert all(r["action"] == "keep" for r in rows)
    assert any(r["reasons"] == ["your own message"] for r in rows)


@pytest.mark.parametrize("args,needle", [
    (["scan", "/nonexistent/box"], "no such file or directory"),
    (["scan", "{bad}"], "not a mailbox"),
    (["scan", "{inbox}", "--model", "/nonexistent.joblib"], "no model at"),
])
def test_errors_are_one_line_and_nonzero(home, inbox, tmp_path, capsys, args, needle):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01\x02 binary")
    args = [a.format(bad=bad, inbox=inbox) for a in args]
    code = main(args)
    err = capsys.readouterr().err
    assert code != 0
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_config_is_one_line(home, inbox, capsys):
    home.mkdir()
    (home / "config.toml").write_text("[rules\nwindow_days = ")
    assert main(["scan", str(inbox)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
