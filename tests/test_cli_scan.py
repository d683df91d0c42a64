"""`mailguard scan` end to end: output formats, summary, state, errors."""

import json
import sqlite3

import pytest

from mailguard.cli.main import main
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


def test_table_leads_with_the_offenders_grouped_by_contact(home, inbox, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["scan", str(inbox), "--me", ME]) == 0
    out = capsys.readouterr().out
    squeezed = "".join(out.split())  # the temporary path is longer than a line: it wraps
    assert squeezed.startswith(f"{inbox}:5messagesfrom2026-03-02to2026-03-22".replace(" ", ""))
    lines = [ln.rstrip() for ln in out[out.index("\n1 to move"):].splitlines()]
    assert lines[1] == "1 to move: promotion from 1 sender tied to 1 networking contact"
    assert "nothing moved or saved" in lines[2]
    # the group: who the contact is, then the timeline (contact made, then the promotion)
    heading = next(i for i, ln in enumerate(lines) if ln.startswith("Jane Doe <jane@acme.io>: "))
    assert f"{lines[heading]} {lines[heading + 1]}" == (
        "Jane Doe <jane@acme.io>: 1 to move from jane@acme.io (same address), starting "
        "20 days after the contact")
    assert lines[heading + 2].split() == ["2026-03-02", "contact", "they", "wrote", "to", "you",
                                          "personally:", '"Great', 'meeting', 'you"']
    assert lines[heading + 3].split()[:3] == ["2026-03-22", "move", "1.00"]
    assert '"Spring launch: 30% off this week"' in lines[heading + 3]
    assert not any("shop.example" in ln for ln in lines)  # kept mail: only with --all
    assert lines[-2].startswith("5 messages, 1 contacts (1 new), 1 to move")  # the summary, last


def test_all_lists_every_message_in_date_order(home, inbox, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["scan", str(inbox), "--me", ME, "--all"]) == 0
    out = capsys.readouterr().out
    listing = out[out.index("every message, in date order"):].splitlines()[1:6]
    dated = [ln for ln in listing if not ln.split()[0] == "?"]  # the undated one keeps its place
    assert [ln.split()[0] for ln in dated] == ["2026-03-02", "2026-03-03", "2026-03-07", "2026-03-22"]
    assert "hi@shop.example" in dated[2] and "keep" in dated[2]
    assert "move" in dated[3] and "same address -> jane@acme.io" in dated[3]


def test_addresses_wrap_and_are_never_cut(home, tmp_path, capsys, monkeypatch):
    """At 80 columns a long sender and subject wrap; nothing is shortened with an ellipsis."""
    monkeypatch.setenv("COLUMNS", "80")
    long_from = "product-announcements-and-newsletters@mail.marketing.acme-industries.io"
    long_subject = "Our spring launch is here and it is a very long subject line " * 2
    p = tmp_path / "long.mbox"
    p.write_bytes(mbox([
        personal("Jane Doe <jane@acme-industries.io>", when=day(0), msgid="<hi@a>"),
        newsletter(f"Acme <{long_from}>", when=day(9), subject=long_subject.strip(), msgid="<n@a>"),
    ]))
    for extra in ([], ["--all"]):
        assert main(["scan", str(p), "--me", ME, *extra]) == 0
        out = capsys.readouterr().out
        assert "…" not in out
        assert max(len(ln.rstrip()) for ln in out.splitlines()) <= 80
        joined = " ".join(ln.strip() for ln in out.splitlines())
        assert long_from in joined.replace(" ", "") and long_subject.split()[-1] in joined


def test_scan_saves_nothing_unless_asked(home, inbox, capsys):
    """The quick start must leave no trace in the state a later daemon uses."""
    for fmt in ("table", "json", "jsonl"):
        assert main(["scan", str(inbox), "--me", ME, "--format", fmt]) == 0
    assert main(["scan", str(inbox), "--me", ME, "--no-save"]) == 0  # the old flag still works
    assert not home.exists()
    capsys.readouterr()
    assert main(["scan", str(inbox), "--me", ME, "--format", "json", "--save"]) == 0
    db = sqlite3.connect(home / "mailguard.sqlite3")
    assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 5
    assert db.execute("SELECT email FROM contacts").fetchall() == [("jane@acme.io",)]
    assert (home.stat().st_mode & 0o777) == 0o700
    assert main(["scan", str(inbox), "--save", "--no-save"]) == 2


def test_without_me_the_warning_comes_again_at_the_end(home, inbox, capsys, caplog):
    assert main(["scan", str(inbox)]) == 0
    out, err = capsys.readouterr()
    assert "no --me address given" in caplog.text  # before the scan (logged) ...
    last = out[out.rindex("\nwarning: ") + 1:]  # ... and again at the very end of the output
    assert last.startswith("warning: no --me address given") and last.rstrip().endswith("config.toml)")
    caplog.clear()
    assert main(["scan", str(inbox), "--format", "jsonl"]) == 0
    warnings = [r.getMessage() for r in caplog.records if "no --me address given" in r.getMessage()]
    assert len(warnings) == 2 and caplog.records[-1].getMessage() == warnings[-1]  # last, again


def test_json_is_written_as_is(home, tmp_path, capsys):
    """JSON goes straight to stdout: no emoji codes (":warning:"), no wrapping, no markup."""
    p = tmp_path / "e.mbox"
    subject = ":warning: [bold]read me[/bold] " + "x" * 300
    p.write_bytes(mbox([personal("Jane <jane@acme.io>", subject=subject, msgid="<e@a>")]))
    for fmt in ("json", "jsonl"):
        assert main(["scan", str(p), "--me", ME, "--format", fmt]) == 0
        out = capsys.readouterr().out
        rows = json.loads(out) if fmt == "json" else [json.loads(ln) for ln in out.splitlines()]
        assert rows[0]["subject"] == subject


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


def test_an_unsaved_scan_uses_what_mailguard_knows_and_changes_nothing(home, tmp_path, capsys):
    """Imported contacts and allow rules count in a scan without --save; the state is untouched."""
    csv_path = tmp_path / "Connections.csv"
    csv_path.write_text("First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
                        "Marco,Rossi,,marco@corvid.dev,Corvid,Founder,12 Feb 2026\r\n"
                        "Ann,Lee,,ann@shop.example,Shop,Owner,12 Feb 2026\r\n")
    assert main(["contacts", "import", str(csv_path)]) == 0
    assert main(["allow", "hi@shop.example"]) == 0
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([
        newsletter("Corvid <news@corvid.dev>", when=day(3), msgid="<c@corvid.dev>"),
        newsletter("Shop <hi@shop.example>", when=day(4), msgid="<s@shop.example>"),
    ]))
    db = home / "mailguard.sqlite3"
    before = db.read_bytes()
    capsys.readouterr()
    assert main(["scan", str(p), "--me", ME, "--format", "json"]) == 0
    rows = {r["message_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["<c@corvid.dev>"]["action"] == "move"
    assert rows["<c@corvid.dev>"]["linked_contact"] == "marco@corvid.dev"
    assert rows["<s@shop.example>"]["action"] == "keep"  # linked to Ann, but allowed
    assert any("allow" in r for r in rows["<s@shop.example>"]["reasons"])
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
