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

from mailguard.review import ALLOWED, BLOCKED, set_rule
from mailguard.sieve import DEFAULT_FOLDER, matches_key, quote, render_sieve, sieve_targets, string_list
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
