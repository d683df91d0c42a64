"""The IMAP commands: init, check (with its one-line diagnoses), run --once [--dry-run] and
apply-history, against the real Dovecot; and the [imap]/[[accounts]] config parsing."""

from __future__ import annotations

import stat
import tomllib

import pytest
from imapkit import (
    OFFENDERS,
    PASSWORD_ENV,
    QUARANTINE,
    append_all,
    config_of,
    new_mail,
    seed_history,
    snapshot,
    write_config,
)

from mailguard.cli.main import main
from mailguard.config import load_config
from mailguard.errors import ConfigError
from mailguard.imap.session import find_account, load_accounts


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- init and config ----------------------------------------------------------------------------


def test_init_writes_a_private_commented_config_and_never_overwrites(home, capsys):
    code, out, _ = cli(capsys, "init", "--host", "imap.fastmail.com", "--username", "sam@rivera.dev")
    assert code == 0 and "mode 0600" in out
    path = home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    text = path.read_text()
    assert text.count("\n# ") > 10  # commented
    data = tomllib.loads(text)
    assert data["imap"]["host"] == "imap.fastmail.com" and data["mailbox"]["me"] == ["sam@rivera.dev"]
    (acct,) = load_accounts(load_config())
    assert acct.settings.tls == "ssl" and acct.settings.port == 993 and acct.quarantine == QUARANTINE
    path.write_text(text + "\n# mine\n")
    code, _, err = cli(capsys, "init")
    assert code == 2 and "exists; not overwritten" in err
    assert path.read_text().endswith("# mine\n")


def test_tls_none_is_refused_for_a_remote_host(home, capsys):
    home.mkdir()
    (home / "config.toml").write_text(
        '[imap]\nhost = "imap.example.org"\nusername = "sam@rivera.dev"\ntls = "none"\n'
        f'password_env = "{PASSWORD_ENV}"\n')
    code, _, err = cli(capsys, "check")
    assert code == 2 and "refusing tls='none' for imap.example.org" in err
    assert len(err.strip().splitlines()) == 1


def test_accounts_inherit_imap_and_mailbox_defaults(home):
    home.mkdir()
    (home / "config.toml").write_text("""
[imap]
host = "imap.example.org"
password_env = "PW"
[mailbox]
me = ["sam@rivera.dev"]
quarantine = "Promo"
[[accounts]]
name = "home"
username = "sam@rivera.dev"
[[accounts]]
name = "work"
host = "imap.work.example"
port = 143
tls = "starttls"
username = "sam@work.example"
password_command = "pass show work"
[accounts.mailbox]
me = ["sam@work.example"]
sent = "Sent Items"
""")
    cfg = load_config()
    home_acct, work = load_accounts(cfg)
    assert home_acct.settings.host == "imap.example.org" and home_acct.quarantine == "Promo"
    assert home_acct.secret.kind == "env"
    assert work.settings.address == "imap.work.example:143" and work.secret.kind == "command"
    assert work.me == ("sam@work.example",) and work.sent == "Sent Items"
    assert find_account(cfg, "sam@work.example") is not None and find_account(cfg).name == "home"
    with pytest.raises(ConfigError, match="no account named 'nope'"):
        find_account(cfg, "nope")


# -- check --------------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_check_lists_folders_and_capabilities(dovecot, imap_user, home, capsys):
    write_config(home, dovecot, imap_user)
    code, out, _ = cli(capsys, "check")
    assert code == 0
    assert f"logged in to {dovecot.host}:{dovecot.port} as {imap_user}" in out
    assert "password from $" + PASSWORD_ENV in out
    assert "capabilities:" in out and "IDLE" in out and "MOVE" in out
    assert "    Sent  \\Sent" in out and "sent: Sent (\\Sent folder)" in out
    assert f"quarantine: {QUARANTINE} (missing: created on the first run)" in out
    assert out.rstrip().endswith(f"{imap_user}: ok")


@pytest.mark.dovecot
@pytest.mark.parametrize(("case", "expected"), [
    ("password", "bad password (or user name): login failed"),
    ("folder", "no such folder: Archive/Nope"),
    ("tls", "TLS failure: TLS handshake with 127.0.0.1"),
    ("certificate", "TLS failure: TLS handshake with 127.0.0.1:{tls_port} failed: certificate verify failed"),
    ("secret", "cannot get the password: environment variable"),
])
def test_check_says_what_is_wrong_in_one_line(dovecot, imap_user, home, capsys, monkeypatch, case, expected):
    imap = ""
    if case == "password":
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
    if case == "secret":
        monkeypatch.delenv(PASSWORD_ENV)
    write_config(home, dovecot, imap_user, imap=imap, mailbox='watch = "Archive/Nope"' if case == "folder" else "")
    text = (home / "config.toml").read_text()
    if case == "tls":  # implicit TLS against the plain-text port
        text = text.replace('tls = "none"', 'tls = "ssl"')
    if case == "certificate":  # the TLS port, but its self-signed certificate is not trusted
        text = text.replace('tls = "none"', 'tls = "ssl"').replace(f"port = {dovecot.port}",
                                                                   f"port = {dovecot.tls_port}")
    (home / "config.toml").write_text(text)
    code, _, err = cli(capsys, "check")
    assert code != 0
    assert expected.format(tls_port=dovecot.tls_port) in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.dovecot
def test_check_over_verified_tls_with_a_ca_file(dovecot, imap_user, home, capsys):
    write_config(home, dovecot, imap_user, imap=f'ca_file = "{dovecot.ca_file}"')
    text = (home / "config.toml").read_text().replace('tls = "none"', 'tls = "ssl"')
    (home / "config.toml").write_text(text.replace(f"port = {dovecot.port}", f"port = {dovecot.tls_port}"))
    code, out, err = cli(capsys, "check")
    assert code == 0, err
    assert "(tls=ssl;" in out


# -- run and apply-history ----------------------------------------------------------------------


@pytest.mark.dovecot
def test_run_once_then_dry_run_then_real_run(dovecot, imap_user, home, capsys):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    code, out, _ = cli(capsys, "run", "--once")
    assert code == 0 and "first run, learned from 4 message(s)" in out and "moved 0" in out
    append_all(dovecot, imap_user, new_mail())
    code, out, _ = cli(capsys, "run", "--once", "--dry-run")
    assert code == 0 and out.count(": would move ") == 2 and "4 new message(s), would move 2" in out
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == set()
    code, out, _ = cli(capsys, "run", "--once", "--account", imap_user)
    assert code == 0
    assert 'moved news@dataflow.io "Dataflow 2.0 is here" from INBOX to Contact-Promo ' \
           "(same organisation -> tom@dataflow.io)" in out
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    code, out, _ = cli(capsys, "run", "--once")
    assert code == 0 and "0 new message(s), moved 0" in out
    code, _, err = cli(capsys, "run", "--once", "--account", "nobody")
    assert code == 2 and "no account named 'nobody'" in err


@pytest.mark.dovecot
def test_apply_history_acts_on_existing_mail_only_when_asked(dovecot, imap_user, home, capsys):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    assert cli(capsys, "run", "--once")[0] == 0
    code, out, _ = cli(capsys, "apply-history", "--dry-run")
    assert code == 0 and 'would move news@acme.io "Spring launch: 30% off this week"' in out
    assert snapshot(dovecot, imap_user, QUARANTINE) == {}
    code, out, _ = cli(capsys, "apply-history", "--days", "365")
    assert code == 0 and "moved 1" in out
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == {"<blast0@acme.io>"}


@pytest.mark.dovecot
def test_run_refuses_a_server_that_cannot_move_safely(dovecot_legacy, imap_user, home, capsys):
    write_config(home, dovecot_legacy, imap_user)
    code, _, err = cli(capsys, "run", "--once")
    assert code == 1 and "neither MOVE nor UIDPLUS" in err and "--dry-run" in err
    code, out, _ = cli(capsys, "run", "--once", "--dry-run")
    assert code == 0 and "first run" in out
    assert config_of(home).raw["imap"]["tls"] == "none"


@pytest.mark.dovecot
def test_review_undo_moves_back_through_open_account_and_run_leaves_it(dovecot, imap_user, home, capsys):
    """`mailguard undo` (review) reaches the account through imap_session.open_account, and a
    message put back is never moved again, even without an allow rule."""
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    assert cli(capsys, "run", "--once")[0] == 0
    append_all(dovecot, imap_user, new_mail())
    assert cli(capsys, "run", "--once")[0] == 0
    code, out, err = cli(capsys, "undo", "news@acme.io", "--no-allow")
    assert code == 0, err
    assert "<blast1@acme.io>" in snapshot(dovecot, imap_user)
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS - {"<blast1@acme.io>"}
    code, out, _ = cli(capsys, "run", "--once")
    assert code == 0 and "1 moved before and put back: left alone" in out and "moved 0" in out
    assert "<blast1@acme.io>" in snapshot(dovecot, imap_user)


@pytest.mark.dovecot
def test_run_stops_at_once_on_a_bad_password_with_one_line(dovecot, imap_user, home, capsys, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    write_config(home, dovecot, imap_user)
    code, out, err = cli(capsys, "run")  # the daemon: a bad password is not retried
    assert code == 1
    start = out.splitlines()  # what it would watch, said once at start; then nothing but the error
    assert len(start) == 2 and "watching, 1 account(s)" in start[0]
    assert f"{imap_user}: watches INBOX on {dovecot.host}:{dovecot.port} (tls none) and moves " \
           "contact-then-promotion mail to" in start[1]
    assert err.strip() == (f"mailguard: error: {imap_user}: bad password (or user name): login failed "
                           f"for {imap_user} on {dovecot.host}:{dovecot.port}: authentication failed")


# -- first use: what run prints, and undo --last after a review undo -----------------------------

_STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) "


@pytest.mark.dovecot
def test_run_prints_one_cleaned_line_format(dovecot, imap_user, home, capsys):
    """A Subject with an OSC 8 hyperlink, C1 and bidi controls (RFC 2047 encoded) reaches the
    terminal as text; every line run prints has the log lines' format."""
    import re

    from mailfactory import day, newsletter

    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    assert cli(capsys, "run", "--once")[0] == 0
    evil = ("=?utf-8?b?" + __import__("base64").b64encode(
        "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \u202eexe.txt \x9b2J".encode()).decode()
        + "?=")
    raw = newsletter("Acme News <news@acme.io>", when=day(12), subject="placeholder",
                     msgid="<evil@acme.io>").replace(b"Subject: placeholder", f"Subject: {evil}".encode())
    append_all(dovecot, imap_user, [raw])
    code, out, err = cli(capsys, "run", "--once")
    assert code == 0, err
    assert "<evil@acme.io>" in snapshot(dovecot, imap_user, QUARANTINE)
    for bad in ("\x1b", "\x9b", "\u202e"):
        assert bad not in out and bad not in err
    assert "click" in out and "moved news@acme.io" in out
    lines = out.splitlines()
    assert lines and all(re.match(_STAMP, ln) for ln in lines), lines
    assert "watches INBOX" in lines[1] and f"to {QUARANTINE}" in lines[1]


@pytest.mark.dovecot
def test_undo_last_after_a_review_undo_says_what_it_will_do_and_asks(dovecot, imap_user, home,
                                                                     capsys, monkeypatch):
    """The newest thing to undo is the review's undo itself: undo --last says so, says that the
    message goes back into the quarantine, and does nothing without a yes."""
    import io

    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    assert cli(capsys, "run", "--once")[0] == 0
    append_all(dovecot, imap_user, new_mail())
    assert cli(capsys, "run", "--once")[0] == 0
    code, out, _ = cli(capsys, "flagged")  # moved on the server: "moved", not "would move"
    assert out.count(": flagged, 1 moved, promo score") == 2 and "would move" not in out
    monkeypatch.setattr("sys.stdin", io.StringIO("u\nq\n"))  # undo the first flagged sender
    code, out, _ = cli(capsys, "review")
    assert code == 0 and "moved back" in out
    back = set(snapshot(dovecot, imap_user)) & OFFENDERS
    assert len(back) == 1
    quarantined = set(snapshot(dovecot, imap_user, QUARANTINE))

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = cli(capsys, "undo", "--last")
    assert code == 1 and "not confirmed: nothing was changed" in err
    assert "the newest thing to undo is log entry #" in out and "(undo news@" in out
    assert f"1 message(s) will be moved into {QUARANTINE}" in out
    assert "Go ahead? [y/N] n" in out
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == quarantined  # nothing changed

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, err = cli(capsys, "undo", "--last")
    assert code == 0, err
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == quarantined | back
