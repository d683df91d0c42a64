"""mailguard.imap.secrets: where the password comes from, and that it never shows up in logs, error
messages or `-vv` output (logged in against the real Dovecot)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
from imapkit import PASSWORD_ENV, config_of, write_config

from mailguard.cli.main import main
from mailguard.errors import ConfigError, SecretError
from mailguard.imap.session import load_accounts, open_account
from mailguard.imap.secrets import (
    credentials,
    from_command,
    from_env,
    from_keyring,
    secret_spec,
)

#: Dovecot's test password (tests/dovecot/dovecot-test.conf) as a whole word
LEAK = re.compile(r"(?<![\w.])secret(?!\w)")
PY = sys.executable


def spec(**table):
    return secret_spec(table, username="sam@rivera.dev")


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "message"), [
    ({}, "needs one of password_env, password_command"),
    ({"password_env": "A", "password_command": "pass x"}, "has password_env and password_command"),
    ({"password_env": " "}, "password_env must name"),
    ({"password_command": "pass 'unclosed"}, "cannot be split"),
    ({"keyring": 3}, "keyring must be true or a keyring service name"),
    ({"password_env": "A", "secret_timeout": 0}, "secret_timeout"),
    ({"oauth2_token_command": "tok", "oauth2_mech": "PLAIN"}, "oauth2_mech"),
])
def test_bad_secret_config_is_refused(table, message):
    with pytest.raises(ConfigError, match=message):
        spec(**table)


def test_command_is_split_without_a_shell():
    s = spec(password_command="pass show 'mail/my imap'")
    assert s.kind == "command" and s.argv == ("pass", "show", "mail/my imap")
    assert spec(password_command=["a", "b c"]).argv == ("a", "b c")
    assert spec(keyring=True).value == "mailguard" and spec(keyring="svc").value == "svc"
    assert "pass" in s.describe() and "show" not in s.describe()


# -- fetching -----------------------------------------------------------------------------------


def test_env_gives_the_value_and_names_a_missing_variable():
    assert from_env("PW", {"PW": "hunter2\n"}) == "hunter2"
    with pytest.raises(SecretError, match="PW is not set"):
        from_env("PW", {})
    with pytest.raises(SecretError, match="PW is empty"):
        from_env("PW", {"PW": ""})


def test_command_gives_its_first_line_only():
    assert from_command((PY, "-c", "print('pw 1'); print('login: sam')")) == "pw 1"


def test_a_failing_command_says_nothing_of_what_it_printed():
    argv = (PY, "-c", "import sys; print('hunter2'); sys.stderr.write('hunter2 is wrong'); sys.exit(3)")
    with pytest.raises(SecretError) as err:
        from_command(argv)
    assert "exit status 3" in str(err.value) and "hunter2" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None or \
        "hunter2" not in repr(err.value.__context__)


def test_command_errors_are_one_line():
    with pytest.raises(SecretError, match="not found"):
        from_command(("/nonexistent/pass",))
    with pytest.raises(SecretError, match="did not finish within 0.3s"):
        from_command((PY, "-c", "import time; time.sleep(5)"), timeout=0.3)
    with pytest.raises(SecretError, match="printed nothing"):
        from_command((PY, "-c", "pass"))


def test_keyring_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # as if not installed
    with pytest.raises(SecretError, match="pip install keyring"):
        from_keyring("mailguard", "sam@rivera.dev")


def test_credentials_ask_again_at_each_connect(tmp_path):
    counter = tmp_path / "n"
    code = f"import pathlib; p = pathlib.Path({str(counter)!r}); n = int(p.read_text() if p.exists() else 0) + 1; p.write_text(str(n)); print(n)"
    creds = credentials(spec(password_command=[PY, "-c", code]))
    assert creds.password is not None and creds.oauth2_token is None
    assert [creds.password(), creds.password()] == ["1", "2"]
    token = credentials(spec(oauth2_token_command="echo tok"))
    assert token.oauth2_token is not None and token.oauth2_token() == "tok"


# -- against Dovecot ----------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    return h


@pytest.mark.dovecot
@pytest.mark.parametrize("source", ["env", "command", "oauth2"])
def test_logs_in_with_each_source(dovecot, imap_user, home, monkeypatch, source):
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    lines = {
        "env": "",
        "command": f"password_command = [\"{PY}\", \"-c\", \"print('secret')\"]",
        "oauth2": "oauth2_token_command = \"echo secret\"",
    }[source]
    write_config(home, dovecot, imap_user, imap=lines)
    text = (home / "config.toml").read_text()
    if source != "env":
        (home / "config.toml").write_text(text.replace(f'password_env = "{PASSWORD_ENV}"\n', ""))
    cfg = config_of(home)
    with open_account(cfg) as account:
        assert account.connected and "INBOX" in {f.name for f in account.list_folders()}
    assert load_accounts(cfg)[0].secret.kind == {"env": "env", "command": "command",
                                                 "oauth2": "oauth2_command"}[source]


@pytest.mark.dovecot
def test_bad_password_is_named_but_never_shown(dovecot, imap_user, home, monkeypatch, capsys, caplog):
    wrong = "Wr0ng-pa55word-zq"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    write_config(home, dovecot, imap_user)
    caplog.set_level(logging.DEBUG)
    assert main(["check"]) == 1
    out = capsys.readouterr()
    assert "bad password (or user name)" in out.err and imap_user in out.err
    assert len(out.err.strip().splitlines()) == 1
    assert wrong not in out.out + out.err + caplog.text


@pytest.mark.dovecot
def test_password_never_appears_in_vv_output(dovecot, imap_user, home, tmp_path):
    """A real `mailguard -vv check` and `-vv run --once` (imapclient's protocol log included)."""
    write_config(home, dovecot, imap_user,
                 imap=f"password_command = [\"{PY}\", \"-c\", \"print('secret')\"]")
    text = (home / "config.toml").read_text()
    (home / "config.toml").write_text(text.replace(f'password_env = "{PASSWORD_ENV}"\n', ""))
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    env["MAILGUARD_HOME"] = str(home)
    outputs = []
    for args in (["-vv", "check"], ["-vv", "run", "--once"]):
        proc = subprocess.run([PY, "-m", "mailguard.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout + proc.stderr)
    assert "**REDACTED**" in outputs[0]  # the LOGIN line was logged, without its arguments
    assert "DEBUG" in outputs[1]
    for text in outputs:
        assert not LEAK.findall(text), [line for line in text.splitlines() if LEAK.search(line)]
