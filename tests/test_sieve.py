"""sieve.py: RFC 5228 strings and the exported script, parsed by sievelib and run by Pigeonhole's
sieve-test when they are installed (`pip install sievelib`, `apt-get install dovecot-sieve`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailguard.errors import ReviewError
from mailguard.core.parse import parse_message
from mailguard.review.actions import ALLOWED, BLOCKED, normalise_entry, set_rule
from mailguard.review.sieve import DEFAULT_FOLDER, matches_key, quote, render_sieve, sieve_targets, string_list
from reviewkit import ACME, DATAFLOW, open_store, scan, write_inbox


def unquote(token: str) -> str:
    """RFC 5228 2.4.2: inside a quoted string, backslash escapes the next character."""
    assert token[0] == token[-1] == '"'
    return re.sub(r"\\(.)", r"\1", token[1:-1])


@pytest.mark.parametrize("s", ["news@acme.io", 'a"b@x.io', "back\\slash@x.io", 'both\\"@x', "Ünïcode"])
def test_quote_round_trips(s):
    q = quote(s)
    assert unquote(q) == s
    assert re.fullmatch(r'"(?:[^"\\]|\\.)*"', q)  # no bare quote inside


def test_quote_escapes_exactly():
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert matches_key("a*b?c\\d") == "a\\*b\\?c\\\\d"
    with pytest.raises(ValueError, match="control character"):
        quote("evil\r\n}\r\nredirect \"x@y\";")


def test_string_list_is_one_list():
    assert string_list(["a@x", "b@y"]) == '["a@x", "b@y"]'
    long = string_list([f"sender{i}@example.org" for i in range(6)])
    assert long.startswith("[\n") and long.rstrip().endswith("]") and long.count(",") == 5


def test_render_addresses_and_domains():
    script = render_sieve(["news@acme.io", 'odd"one@x.io'], ["shop.example"], folder="Promo Mail",
                          generated=datetime(2026, 3, 1, tzinfo=timezone.utc),
                          why={"news@acme.io": "flagged (same organisation -> jane@acme.io)"})
    assert script.splitlines()[3] == 'require ["fileinto"];'
    assert 'address :all :is "from" ["news@acme.io", "odd\\"one@x.io"]' in script
    assert 'address :domain :is "from" ["shop.example"]' in script
    assert 'address :domain :matches "from" ["*.shop.example"]' in script
    assert 'fileinto "Promo Mail";' in script
    assert script.count("if anyof (") == 1 and script.rstrip().endswith("}")
    assert "#   news@acme.io: flagged (same organisation -> jane@acme.io)" in script
    assert "generated 2026-03-01 00:00 UTC" in script


def test_render_nothing_is_still_a_valid_script():
    script = render_sieve([], [])
    assert 'require ["fileinto"];' in script and "if " not in script
    with pytest.raises(ValueError, match="folder"):
        render_sieve(["a@b.io"], folder="bad\nfolder")


def test_targets_are_blocked_and_flagged_never_allowed(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    scan(write_inbox(tmp_path))
    with open_store(home) as store:
        set_rule(store, "shop.example", BLOCKED)
        set_rule(store, "promo@x.io", BLOCKED)
        set_rule(store, ACME, ALLOWED)
        t = sieve_targets(store)
    assert t.addresses == (DATAFLOW, "promo@x.io")
    assert t.domains == ("shop.example",)
    assert t.why[DATAFLOW] == "flagged (same organisation -> tom@dataflow.io)"
    assert t.why["shop.example"] == "blocked"


def _script():
    return render_sieve(["news@acme.io", 'odd"one@x.io'], ["shop.example"], folder=DEFAULT_FOLDER)


def test_sievelib_parses_the_script():
    from sievelib.parser import Parser  # a test dependency: missing is a failure, not a skip

    p = Parser()
    assert p.parse(_script()), p.error
    assert not p.parse('require ["fileinto"];\nif address :is "from" ["a"b"] { fileinto "X"; }\n')


@pytest.fixture
def sieve_dir():
    """A scratch folder that user nobody can use too (pytest's tmp_path is private to root)."""
    work = Path(tempfile.mkdtemp(prefix="mailguard-sieve-"))
    os.chmod(work, 0o777)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("sender, filed", [
    ("news@acme.io", True), ("NEWS@ACME.IO", True),
    ("other@acme.io", False), ("hi@shop.example", True), ("hi@mail.shop.example", True),
    ("hi@notshop.example", False),
])
def test_sieve_test_files_exactly_the_right_senders(sieve_dir, sender, filed):
    # the script holds an address with a quote too: it must still compile and run
    assert shutil.which("sieve-test"), "Pigeonhole's sieve-test is missing: apt-get install dovecot-sieve"
    work = sieve_dir
    (work / "mailguard.sieve").write_text(_script())
    (work / "msg.eml").write_text(f"From: Someone <{sender}>\r\nTo: sam@rivera.dev\r\n"
                                  "Subject: hi\r\nMessage-ID: <t@x>\r\n\r\nbody\r\n")
    (work / "dovecot.conf").write_text(f"mail_location = maildir:{work}/mail\n")
    cmd = ["sieve-test", "-c", str(work / "dovecot.conf"), str(work / "mailguard.sieve"),
           str(work / "msg.eml")]
    if os.geteuid() == 0:  # sieve-test will not run as root without a mail_uid: run it as nobody
        cmd = ["runuser", "-u", "nobody", "--", "env", f"HOME={work}", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert "final result: success" in out.stdout + out.stderr, out.stderr
    actions = out.stdout.split("Implicit keep:")[0]
    assert (f"store message in folder: {DEFAULT_FOLDER}" in actions) == filed, out.stdout


# -- issue 13: control characters, allow over block, only the bulk mail of a flagged sender -------


def sieve_files(work: Path, script: str, message: str) -> bool:
    """Run script on message with Pigeonhole's sieve-test: True if it files it into the folder."""
    assert shutil.which("sieve-test"), "Pigeonhole's sieve-test is missing: apt-get install dovecot-sieve"
    (work / "mailguard.sieve").write_text(script, encoding="utf-8")
    (work / "msg.eml").write_text(message)
    (work / "dovecot.conf").write_text(f"mail_location = maildir:{work}/mail\n")
    cmd = ["sieve-test", "-c", str(work / "dovecot.conf"), str(work / "mailguard.sieve"),
           str(work / "msg.eml")]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "nobody", "--", "env", f"HOME={work}", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert "final result: success" in out.stdout + out.stderr, out.stdout + out.stderr
    return f"store message in folder: {DEFAULT_FOLDER}" in out.stdout.split("Implicit keep:")[0]


def mail(sender: str, *headers: str) -> str:
    return "\r\n".join([f"From: Someone <{sender}>", "To: sam@rivera.dev", "Subject: hi",
                        "Message-ID: <t@x>", *headers, "", "body", ""])


def test_control_characters_never_reach_the_script(sieve_dir):
    why = {"news@acme.io": "flagged (same address -> ja\x00ne@acme.io\x07)", "shop.example": "blocked\r\nx"}
    script = render_sieve(["news@acme.io"], ["shop.example"], why=why)
    assert not any(not ch.isprintable() for ch in script.replace("\n", ""))
    assert "#   news@acme.io: flagged (same address -> ja?ne@acme.io?)" in script
    assert sieve_files(sieve_dir, script, mail("news@acme.io"))


def test_parser_refuses_addresses_with_control_characters():
    for frm in (b"From: =?utf-8?q?a=00b@acme.io?=", b"From: Jane <=?utf-8?q?ja=01ne?=@acme.io>",
                b"From: <jane@ac\x7fme.io>"):
        msg = parse_message(frm + b"\r\nTo: sam@rivera.dev\r\nSubject: x\r\n\r\nhi\r\n")
        assert msg.sender is None, msg.sender
    for entry in ("ja\x00ne@acme.io", "acme\x01.io", "a@b\x7f.io"):
        with pytest.raises(ReviewError):
            normalise_entry(entry)


def test_rules_with_control_characters_are_left_out_not_fatal(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    scan(write_inbox(tmp_path))
    with open_store(home) as store:  # written by an older version that did not check them
        store.set_sender_rule("sh\x00op.example", BLOCKED)
        store.set_sender_rule("x\x01@y.io", BLOCKED)
        t = sieve_targets(store)
    assert set(t.left_out) == {"sh\x00op.example", "x\x01@y.io"}
    render_sieve(t.addresses, t.domains, why=t.why, allowed=t.allowed, bulk=t.bulk)


@pytest.fixture
def reviewed(tmp_path, monkeypatch):
    """The review mailbox scanned: Dataflow's and Acme's newsletters flagged (bulk: List-Unsubscribe,
    Precedence: bulk, SendGrid)."""
    home = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    scan(write_inbox(tmp_path))
    return home


def _export(home) -> str:
    with open_store(home) as store:
        t = sieve_targets(store)
    return render_sieve(t.addresses, t.domains, why=t.why, allowed=t.allowed, bulk=t.bulk)


def test_allowed_sender_wins_over_a_blocked_domain(reviewed, sieve_dir):
    with open_store(reviewed) as store:
        set_rule(store, "acme.io", BLOCKED)
        set_rule(store, "jane@acme.io", ALLOWED)
    script = _export(reviewed)
    assert not sieve_files(sieve_dir, script, mail("jane@acme.io"))
    assert sieve_files(sieve_dir, script, mail("other@acme.io"))  # blocked: always filed
    assert sieve_files(sieve_dir, script, mail("news@mail.acme.io"))


def test_flagged_sender_is_filed_only_with_the_bulk_headers_it_was_moved_for(reviewed, sieve_dir):
    script = _export(reviewed)
    assert not sieve_files(sieve_dir, script, mail(DATAFLOW))  # a personal note from the address
    assert sieve_files(sieve_dir, script, mail(DATAFLOW, "List-Unsubscribe: <mailto:u@dataflow.io>"))
    assert sieve_files(sieve_dir, script, mail(DATAFLOW, "Precedence: bulk"))
    assert sieve_files(sieve_dir, script, mail(DATAFLOW, "X-SG-EID: abc"))
    assert not sieve_files(sieve_dir, script, mail("tom@dataflow.io", "Precedence: bulk"))


def test_flagged_sender_moved_for_its_content_only_is_left_out(tmp_path, monkeypatch):
    """A sender moved without any bulk header Sieve could test (a one-to-one sales sequence) cannot
    be told from a personal note by a Sieve script: left out, and said so."""
    home = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    scan(write_inbox(tmp_path))
    with open_store(home) as store:
        store.execute("UPDATE decisions SET reasons = ? WHERE sender = ? AND action = 'move'",
                      ('["sales sequence: a follow-up (promo score 0.99)", "linked to tom@dataflow.io"]',
                       DATAFLOW))
        t = sieve_targets(store)
    assert DATAFLOW not in t.addresses and DATAFLOW in t.content_only
    script = render_sieve(t.addresses, t.domains, why=t.why, allowed=t.allowed, bulk=t.bulk,
                          content_only=t.content_only)
    assert f"# not in this script (moved for their content, which Sieve cannot judge): {DATAFLOW}" in script
