"""The review commands end to end through mailguard.cli.main, on a really scanned mailbox."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mailguard.cli.main import app, main
from reviewkit import ACME, DATAFLOW, SHOP, open_store, scan, write_inbox


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    monkeypatch.delenv("MAILGUARD_CONFIG", raising=False)
    return h


@pytest.fixture
def inbox(tmp_path):
    return write_inbox(tmp_path)


@pytest.fixture
def scanned(home, inbox, capsys):
    scan(inbox)
    capsys.readouterr()
    return home


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def flagged_json(capsys):
    code, out, _ = run(capsys, "flagged", "--format", "json")
    assert code == 0
    return json.loads(out)


# -- flagged ------------------------------------------------------------------------------------


def test_flagged_json_one_row_per_sender_and_no_double_count(scanned, inbox, capsys):
    rows = flagged_json(capsys)
    assert [r["sender"] for r in rows] == [DATAFLOW, ACME]
    acme = rows[1]
    assert acme["linked_contact"] == "jane@acme.io" and acme["link"] == "same organisation"
    assert acme["contact_since"] == "2026-03-02" and acme["contact_subject"] == "Great meeting you"
    assert acme["messages"] == 2 and acme["last_subject"] == "Last chance: 30% off"
    assert acme["status"] == "flagged"
    scan(inbox)
    capsys.readouterr()
    assert [r["messages"] for r in flagged_json(capsys)] == [1, 2]


def test_flagged_table_and_csv(scanned, capsys):
    code, out, _ = run(capsys, "flagged")
    assert code == 0
    assert "flagged senders" in out and "news@dataflow.io" in out and "jane@acme.io" in out
    assert out.index("news@dataflow.io") < out.index("news@acme.io")
    code, out, _ = run(capsys, "flagged", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["sender"], r["messages"], r["status"]) for r in rows] == [
        (DATAFLOW, "1", "flagged"), (ACME, "2", "flagged")]


def test_flagged_before_any_scan(home, capsys):
    code, out, _ = run(capsys, "flagged")
    assert code == 0 and "no flagged senders" in out
    assert run(capsys, "flagged", "--format", "json")[1].strip() == "[]"


# -- allow / block ------------------------------------------------------------------------------


def test_allow_and_block_set_status_and_say_what_they_mean(scanned, capsys):
    code, out, _ = run(capsys, "allow", "News@Acme.io")
    assert code == 0
    assert "allowed news@acme.io: its mail is never moved again." in out
    assert "`mailguard undo news@acme.io` puts them back" in out
    code, out, _ = run(capsys, "block", "dataflow.io", "--note", "no thanks")
    assert code == 0 and "blocked dataflow.io: its mail is always moved from now on (1 message" in out
    status = {r["sender"]: r["status"] for r in flagged_json(capsys)}
    assert status == {ACME: "allowed", DATAFLOW: "blocked"}
    code, out, _ = run(capsys, "flagged", "--status", "blocked", "--format", "json")
    assert [r["sender"] for r in json.loads(out)] == [DATAFLOW]
    code, out, _ = run(capsys, "block", ACME)
    assert "blocked news@acme.io (was allowed)" in out
    code, out, _ = run(capsys, "block", "--remove", ACME)
    assert code == 0 and "removed the block rule for news@acme.io" in out
    with open_store(scanned) as store:
        assert store.sender_rules() == {"dataflow.io": "blocked"}


def test_allow_errors_are_one_line(scanned, capsys):
    code, out, err = run(capsys, "allow", "not an address")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("mailguard: error: 'not an address' is neither an email address nor a domain")
    code, _, err = run(capsys, "allow", "--remove", SHOP)
    assert code == 1 and "hi@shop.example is not allowed (its rule: none)" in err


# -- undo ---------------------------------------------------------------------------------------


def test_undo_dry_run_changes_nothing(scanned, capsys):
    code, out, _ = run(capsys, "undo", ACME, "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "undo news@acme.io:",
        "  mark 2 message(s) kept (undone):",
        "    news@acme.io: Spring launch: 30% off this week",
        "    news@acme.io: Last chance: 30% off",
        "  allow news@acme.io so it is not flagged again",
        "dry run: nothing was changed",
    ]
    assert len(flagged_json(capsys)) == 2


def test_undo_sender_then_undo_last_reverts_it(scanned, capsys):
    code, out, _ = run(capsys, "undo", ACME)
    assert code == 0
    assert "marked 2 decision(s) kept (undone)" in out
    assert "allowed news@acme.io so that it is not flagged again" in out
    assert "logged as #1; `mailguard undo --last` undoes it" in out
    assert [r["sender"] for r in flagged_json(capsys)] == [DATAFLOW]

    code, out, _ = run(capsys, "undo", "--last", "--yes")
    assert code == 0 and "removed the allowed rule for news@acme.io" in out
    assert [r["sender"] for r in flagged_json(capsys)] == [DATAFLOW, ACME]

    code, out, _ = run(capsys, "log", "--actions", "--format", "json")
    actions = json.loads(out)
    assert [(a["action"], a["reverted_by"]) for a in actions] == [("revert", None), ("undo", 2)]


def test_undo_message_id_no_allow_and_revert_by_number(scanned, capsys):
    code, out, _ = run(capsys, "undo", "--message-id", "<df@dataflow.io>", "--no-allow")
    assert code == 0 and "allowed" not in out
    assert [r["sender"] for r in flagged_json(capsys)] == [ACME]
    assert run(capsys, "undo", "--revert", "1")[0] == 0
    assert [r["sender"] for r in flagged_json(capsys)] == [DATAFLOW, ACME]
    code, _, err = run(capsys, "undo", "--revert", "1")
    assert code == 1 and "already reverted by #2" in err


def test_undo_needs_exactly_one_target(scanned, capsys):
    for argv in (["undo"], ["undo", ACME, "--last"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "name exactly one of" in err
    code, _, err = run(capsys, "undo", SHOP)
    assert code == 1 and "nothing to undo for hi@shop.example" in err


def test_undo_of_an_imap_move_without_imap_config_says_so_in_one_line(scanned, capsys):
    with open_store(scanned) as store:
        d = store.decisions(where="message_id = '<df@dataflow.io>'", limit=1)[0]["id"]
        store.execute("""INSERT INTO moves (account, message_id, src_folder, dst_folder, dst_uid,
                         state, decision_id, reason, at) VALUES ('sam', '<df@dataflow.io>', 'INBOX',
                         'Contact-Promo', 4, 'done', ?, 'contact then promo', '2026-04-01')""", (d,))
    code, out, err = run(capsys, "undo", DATAFLOW, "--dry-run")
    assert code == 0
    assert "move back <df@dataflow.io>: Contact-Promo -> INBOX on sam (undo of move #1)" in out
    code, out, err = run(capsys, "undo", DATAFLOW)
    assert code == 1
    assert err == ("mailguard: error: undoing a move on the IMAP account needs an [imap] config "
                   "(and mailguard.imap.session); nothing was changed\n")
    assert [r["sender"] for r in flagged_json(capsys)] == [DATAFLOW, ACME]


# -- review -------------------------------------------------------------------------------------


def test_review_takes_single_keys_from_input(scanned, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("x\nb\na\n"))
    code, out, _ = run(capsys, "review")
    assert code == 0
    assert "[1/2] news@dataflow.io: flagged, 1 would move" in out  # a saved scan moved nothing
    assert "the contact" in out and "the promotion" in out
    assert "Tom Berger <tom@dataflow.io>" in out and "Intro: Sam <> Tom" in out
    assert "Dataflow 2.0 is here" in out and "promo score up to" in out
    assert "unknown key 'x'" in out
    assert "blocked news@dataflow.io" in out and "allowed news@acme.io" in out
    assert "reviewed: 1 allowed, 1 blocked, 0 undone, 0 skipped" in out
    with open_store(scanned) as store:
        assert store.sender_rules() == {DATAFLOW: "blocked", ACME: "allowed"}
    # reviewed senders are not asked again
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert "no flagged senders to review" in run(capsys, "review")[1]


def test_review_quit_and_end_of_input_change_nothing(scanned, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("s\nq\n"))
    code, out, _ = run(capsys, "review")
    assert code == 0 and "skipped" in out and "[2/2]" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(capsys, "review")[0] == 0
    with open_store(scanned) as store:
        assert store.sender_rules() == {}
        assert store.execute("SELECT count(*) FROM review_log").fetchone()[0] == 0


def test_review_undo_key(scanned, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("u\nq\n"))
    code, out, _ = run(capsys, "review")
    assert code == 0 and "marked 1 decision(s) kept (undone)" in out
    assert "reviewed: 0 allowed, 0 blocked, 1 undone, 0 skipped" in out
    assert [r["sender"] for r in flagged_json(capsys)] == [ACME]


# -- log ----------------------------------------------------------------------------------------


def test_log_newest_first_with_reasons(scanned, capsys):
    code, out, _ = run(capsys, "log", "--format", "json", "--limit", "0")
    rows = json.loads(out)
    assert len(rows) == 7 and rows[0]["id"] > rows[-1]["id"]
    assert all(r["reasons"] for r in rows)
    code, out, _ = run(capsys, "log", "--moves-only", "--format", "json")
    assert {r["sender"] for r in json.loads(out)} == {ACME, DATAFLOW}
    code, out, _ = run(capsys, "log", "--limit", "2")
    assert "decision log" in out and "would move" in out and "MOVE" not in out  # scan: nothing moved
    code, out, _ = run(capsys, "log", "--since", "2999-01-01")
    assert "no decisions logged since 2999-01-01" in out
    code, _, err = run(capsys, "log", "--since", "last week")
    assert code == 2 and "expected a date like 2026-03-12" in err


# -- contacts -----------------------------------------------------------------------------------

CONNECTIONS = (
    "Notes:\n\"Some addresses are missing.\"\n\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Priya,Patel,https://www.linkedin.com/in/priya-patel,,Brightloop,Head of Growth,03 Mar 2026\n"
    "Jane,Doe,https://www.linkedin.com/in/janedoe,jane@acme.io,Acme,CEO,01 Jan 2026\n"
)


def test_contacts_import_list_forget(scanned, tmp_path, capsys):
    f = tmp_path / "Connections.csv"
    f.write_text(CONNECTIONS)
    code, out, _ = run(capsys, "contacts", "import", str(f))
    assert code == 0
    assert "imported 2 contact(s) from Connections.csv (LinkedIn): 1 new, 1 updated, 0 unchanged" in out
    assert "1 without an email address: linked by name and company only" in out
    code, out, _ = run(capsys, "contacts", "list", "--format", "json")
    rows = {r["email"]: r for r in json.loads(out)}
    assert rows["linkedin:priya-patel"]["source"] == "import"
    assert rows["linkedin:priya-patel"]["network"] == "linkedin"
    assert rows["linkedin:priya-patel"]["handle"] == "https://www.linkedin.com/in/priya-patel"
    assert rows["jane@acme.io"]["since"].startswith("2026-01-01")  # the earlier date wins
    assert rows["tom@dataflow.io"]["source"] == "mail"
    code, out, _ = run(capsys, "contacts", "list", "--source", "import")
    assert "linkedin:priya-patel" in out and "tom@dataflow.io" not in out
    code, out, _ = run(capsys, "contacts", "forget", "LinkedIn:Priya-Patel")
    assert code == 0 and "forgot linkedin:priya-patel" in out
    code, _, err = run(capsys, "contacts", "forget", "linkedin:priya-patel")
    assert code == 1 and "no contact 'linkedin:priya-patel'" in err


def test_contacts_import_vcard_dry_run_and_bad_file(home, tmp_path, capsys):
    f = tmp_path / "people.vcf"
    f.write_text("BEGIN:VCARD\nVERSION:4.0\nFN:Lee Kim\nEMAIL:lee@kim.co\nEND:VCARD\n")
    code, out, _ = run(capsys, "contacts", "import", str(f), "--dry-run", "--since", "2026-02-01")
    assert code == 0 and "would import 1 contact(s) from people.vcf (vCard)" in out
    assert "1 without a date: dated 2026-02-01" in out
    assert "no contacts yet" in run(capsys, "contacts", "list")[1]
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    code, _, err = run(capsys, "contacts", "import", str(bad))
    assert code == 2 and "neither a LinkedIn Connections.csv" in err and err.count("\n") == 1


# -- export sieve -------------------------------------------------------------------------------


def test_export_sieve(scanned, tmp_path, capsys):
    run(capsys, "allow", ACME)
    run(capsys, "block", "shop.example")
    code, out, _ = run(capsys, "export", "sieve")
    assert code == 0
    assert 'require ["fileinto"];' in out
    assert 'address :all :is "from" ["news@dataflow.io"]' in out
    assert 'address :domain :is "from" ["shop.example"]' in out
    # allowed: tested first and never filed
    assert ('if address :all :is "from" ["news@acme.io"] {\n    # allowed: left where it is\n'
            '} elsif') in out
    assert 'fileinto "Contact-Promo";' in out
    target = tmp_path / "mailguard.sieve"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[sieve]\nfolder = "Promotions/Contacts"\n')
    code, out, _ = run(capsys, "export", "sieve", "--out", str(target), "--config", str(cfg))
    assert code == 0
    assert out.strip() == f"wrote 1 address(es) and 1 domain(s) filed into 'Promotions/Contacts' to {target}"
    assert 'fileinto "Promotions/Contacts";' in target.read_text()
    run(capsys, "export", "sieve", "--out", str(target), "--folder", "Junk")
    assert 'fileinto "Junk";' in target.read_text()


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["flagged"], ["review"], ["allow"], ["block"], ["undo"], ["log"], ["contacts", "import"],
    ["contacts", "list"], ["contacts", "forget"], ["export", "sieve"],
])
def test_every_review_command_has_help_with_an_example(argv, capsys):
    code, out, _ = run(capsys, *argv, "--help")
    assert code == 0 and "Example: mailguard" in out


def test_commands_are_registered_once():
    names = [c.name for c in app.registered_commands]
    for name in ("flagged", "review", "allow", "block", "undo", "log"):
        assert names.count(name) == 1
    groups = [g.name for g in app.registered_groups]
    assert groups.count("contacts") == 1 and groups.count("export") == 1


def test_review_on_a_terminal_reads_single_keys_with_getchar(scanned, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    keys = iter(["B", "s"])
    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.setattr("typer.getchar", lambda echo=False: next(keys))
    code, out, _ = run(capsys, "review")
    assert code == 0
    assert "[a]llow [b]lock [s]kip [u]ndo [q]uit? B\nblocked news@dataflow.io" in out
    assert "reviewed: 0 allowed, 1 blocked, 0 undone, 1 skipped" in out


def test_hostile_subjects_are_plain_text_in_every_table(home, tmp_path, capsys, monkeypatch):
    from mailfactory import ME, day, newsletter, personal

    evil = "[/bold] \x1b[2J50% off [red]now"
    inbox = write_inbox(tmp_path, [
        personal("Jane Doe <jane@acme.io>", when=day(0), subject="[bold]hi[/bold]"),
        newsletter("Acme <news@acme.io>", when=day(9), subject=evil, msgid="<evil@acme.io>"),
    ])
    assert main(["scan", str(inbox), "--me", ME, "--format", "json", "--save"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("s\n"))
    for argv in (["flagged"], ["log"], ["review"], ["undo", "news@acme.io", "--dry-run"],
                 ["contacts", "list"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
        assert "\x1b" not in out, argv
    assert "[/bold]" in run(capsys, "flagged")[1]
    assert "[bold]hi[/bold]" in run(capsys, "flagged", "--format", "json")[1]
