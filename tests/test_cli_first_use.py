"""A newcomer's first hour: --version, help texts that read well at 80 and 200 columns, init's
advice, and undo --last saying what it picked before it does anything."""

from __future__ import annotations

import inspect
import io
import json
import re
import tomllib

import pytest
import typer

from mailguard import __version__
from mailguard.cli.main import app, main
from reviewkit import ACME, scan, write_inbox


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    monkeypatch.delenv("MAILGUARD_CONFIG", raising=False)
    return h


def test_version_flag_and_command(capsys):
    assert run(capsys, "--version") == (0, f"mailguard {__version__}\n", "")
    assert run(capsys, "version")[1] == f"{__version__}\n"


# -- help ---------------------------------------------------------------------------------------


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()):
    for info in group.registered_commands:
        yield (*prefix, info.name or info.callback.__name__), info.callback
    for sub in group.registered_groups:
        yield from _commands(sub.typer_instance, (*prefix, sub.name))


COMMANDS = sorted(_commands(app), key=lambda c: c[0])


def _paragraphs(doc: str) -> list[str]:
    """The docstring's paragraphs as one line each, as markdown shows them (no backticks)."""
    return [" ".join(p.split()).replace("`", "") for p in inspect.cleandoc(doc).split("\n\n")]


def test_every_command_is_found():
    names = {" ".join(n) for n, _ in COMMANDS}
    assert {"scan", "undo", "run", "init", "contacts import", "export sieve"} <= names


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("name,callback", COMMANDS, ids=[" ".join(n) for n, _ in COMMANDS])
def test_help_keeps_every_word_and_wraps_to_the_terminal(capsys, monkeypatch, columns, name,
                                                         callback):
    """Nothing of the help text is swallowed as markup ("[imap]", "<profile>"), and paragraphs are
    wrapped to the terminal, not at the docstring's own line breaks."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run(capsys, *name, "--help")
    assert code == 0
    lines = [ln.strip() for ln in out.splitlines()]
    flat = " ".join(" ".join(lines).split())
    for para in _paragraphs(callback.__doc__ or ""):
        assert para in flat, (name, para)
        if len(para) <= columns - 4:  # fits on a line: it must be on one line
            assert any(para == " ".join(ln.split()) or para in ln for ln in lines), (name, para)


def test_bracketed_words_survive_in_option_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = run(capsys, "scan", "--help")[1]
    assert "[mailbox] me in config" in out
    out = run(capsys, "undo", "--help")[1]
    assert "needs an [imap] config" in out


# -- init -----------------------------------------------------------------------------------------


def test_init_asks_only_for_what_was_not_given(home, capsys):
    code, out, _ = run(capsys, "init", "--host", "imap.fastmail.com", "--username", "sam@rivera.dev")
    assert code == 0
    advice = out.split("; set ", 1)[1]
    assert "host" not in advice and "username" not in advice
    assert advice.startswith("where the password comes from")
    (home / "config.toml").unlink()
    out = run(capsys, "init")[1]
    assert "; set host, username, where the password comes from" in out and "me (your own" in out
    data = tomllib.loads((home / "config.toml").read_text())
    assert data["imap"]["host"] == "imap.example.org" and data["mailbox"]["me"] == []


def test_the_written_config_passes_the_schema(home, capsys):
    assert run(capsys, "init", "--host", "h.example", "--username", "u@h.example")[0] == 0
    code, _, err = run(capsys, "scan", "/nonexistent")  # loads the config first
    assert code == 2 and "no such file or directory" in err


# -- undo --last ----------------------------------------------------------------------------------


def test_undo_last_says_what_it_picked_and_asks(home, tmp_path, capsys, monkeypatch):
    scan(write_inbox(tmp_path))
    capsys.readouterr()
    assert run(capsys, "undo", ACME)[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no answer: no
    code, out, err = run(capsys, "undo", "--last")
    assert code == 1 and err.strip() == ("mailguard: error: not confirmed: nothing was changed "
                                         "(answer y, or add --yes)")
    assert out.startswith("undo --last: the newest thing to undo is log entry #1 (undo news@acme.io)")
    assert "remove the allowed rule for news@acme.io" in out
    code, out, _ = run(capsys, "log", "--actions", "--format", "json")
    assert [a["action"] for a in json.loads(out)] == ["undo"]  # nothing was done
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, _ = run(capsys, "undo", "--last")
    assert code == 0 and re.search(r"Go ahead\? \[y/N\] y\n", out)
    assert "removed the allowed rule for news@acme.io" in out
