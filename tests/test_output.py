"""Terminal-bound text goes through one cleaning function; JSON and CSV are written as they are,
safely: no escape sequence, control or bidi character from a message reaches a terminal, no
rich markup or emoji code is interpreted, no CSV cell is a formula."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from mailguard.cli.main import main
from mailguard.cli.output import (REPLACEMENT, LogFormatter, clean, console, csv_cell, json_text, plain,
                              write_csv)
from mailfactory import ME, day, mbox, newsletter, personal

#: an OSC 8 hyperlink, a screen clear, NUL, DEL, a C1 CSI, bidi override and isolates
HOSTILE = ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J \x00 \x7f \x9b31m "
           "\u202eexe.txt\u202c \u2066iso\u2069 \u200fx")
UNSAFE = ["\x1b", "\x00", "\x7f", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069", "\u200f"]


def test_clean_replaces_every_control_and_bidi_character():
    out = clean(HOSTILE)
    assert not any(c in out for c in UNSAFE)
    assert "click" in out and "exe.txt" in out  # the text itself stays readable
    assert clean("a\tb") == "a b"
    assert clean("one\ntwo") == f"one{REPLACEMENT}two"  # a forged second line
    assert clean("one\ntwo", multiline=True) == "one\ntwo"
    assert clean("Grüße — 日本 🎉") == "Grüße — 日本 🎉"  # ordinary text is untouched


def test_rich_never_reads_message_text_as_markup_or_emoji():
    buf = io.StringIO()
    c = console()
    c.file = buf
    c.print(plain("[bold red]x[/] [link=https://evil.example]y[/link] :warning:"))
    assert buf.getvalue().strip() == "[bold red]x[/] [link=https://evil.example]y[/link] :warning:"


def test_json_escapes_what_json_dumps_leaves_raw_and_reads_back_the_same():
    value = {"subject": HOSTILE + " :warning:"}
    text = json_text(value)
    assert not any(c in text for c in UNSAFE)
    assert json.loads(text) == value and ":warning:" in text


@pytest.mark.parametrize("cell,written", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
    ("+1 555", "'+1 555"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("news@acme.io", "news@acme.io"), ("a\x1b[2Jb", f"a{REPLACEMENT}[2Jb"),
    (["a", "b"], "a | b"), (None, ""),
])
def test_csv_cells(cell, written):
    assert csv_cell(cell) == written


def test_csv_stays_valid_with_quotes_commas_and_newlines():
    buf = io.StringIO()
    rows = [{"name": 'Doe, "Jane"', "subject": "line1\nline2", "n": 3}]
    write_csv(rows, stream=buf)
    back = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert back == [{"name": 'Doe, "Jane"', "subject": f"line1{REPLACEMENT}line2", "n": "3"}]
    assert buf.getvalue().count("\n") == 2  # one record a line


def test_log_lines_are_cleaned_and_have_one_format():
    record = logging.LogRecord("mailguard.imap.sync", logging.WARNING, __file__, 1,
                               "moved %s", ("x\n2026-01-01 00:00:00 INFO forged \x1b[2J",), None)
    line = LogFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line
    assert line[:20].count("-") == 2 and " WARNING moved x" in line


# -- the commands ---------------------------------------------------------------------------------


@pytest.fixture
def hostile_state(tmp_path, monkeypatch, capsys):
    """A saved scan where the contact's name and the promotion's subject are hostile."""
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILGUARD_CONFIG", raising=False)
    name = "=cmd|' /C calc'!A0 \u202eJane"
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([
        personal(f'"{name}" <jane@acme.io>', when=day(0), subject="hi \x1b]0;title\x07"),
        personal(f"Sam <{ME}>", to="jane@acme.io", when=day(1), subject="Re: hi"),
        newsletter("Acme <news@acme.io>", when=day(9), subject=HOSTILE, msgid="<evil@acme.io>"),
    ]))
    assert main(["scan", str(p), "--me", ME, "--save", "--format", "json"]) == 0
    capsys.readouterr()
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["flagged"], ["flagged", "--format", "csv"], ["flagged", "--format", "json"],
    ["log"], ["log", "--format", "csv"], ["log", "--format", "json"],
    ["contacts", "list"], ["contacts", "list", "--format", "csv"],
    ["undo", "news@acme.io", "--dry-run"], ["review"],
])
def test_no_command_passes_control_or_bidi_characters(hostile_state, capsys, monkeypatch, argv):
    monkeypatch.setattr("sys.stdin", io.StringIO("s\n"))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in UNSAFE), argv
    if "csv" in argv:
        rows = list(csv.reader(io.StringIO(out)))
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_scan_table_and_listing_print_subjects_as_text(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "300")
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([
        personal("Jane <jane@acme.io>", when=day(0)),
        newsletter("Jane <jane@acme.io>", when=day(9), subject="[bold]Big[/] " + HOSTILE),
    ]))
    assert main(["scan", str(p), "--me", ME, "--all"]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in UNSAFE)
    assert out.count("[bold]Big[/]") == 2  # in the offenders and in the listing, as written
