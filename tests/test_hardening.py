"""Issue 13: `tls = "none"` only to loopback, checked on the connected socket as well; no core
dumps of a process that holds a password (RLIMIT_CORE 0, and LimitCORE=0 in the systemd unit)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from imapkit import PASSWORD_ENV, config_of, seed_history, wait_until, write_config

from mailguard.errors import ConfigError, ImapError
from mailguard.imap.account import ImapAccount
from mailguard.imap.client import ImapSettings, is_loopback_host
from mailguard.imap.session import open_account

MAILGUARD = str(Path(sys.executable).with_name("mailguard"))
UNIT = Path(__file__).resolve().parent.parent / "deploy" / "mailguard.service"


# -- tls = "none" -------------------------------------------------------------------------------


@pytest.mark.parametrize("host, ok", [
    ("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.8.9.1", True),
    ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("localhost.", False), ("localhost..", False), ("localhost.example.org", False),
    ("localhost.localdomain", False), (" localhost", False), ("127.0.0.1.", False),
    ("0x7f.1", False), ("2130706433", False), ("127.1", False), ("192.0.2.2", False), ("", False),
])
def test_loopback_is_localhost_or_a_loopback_ip_literal(host, ok):
    assert is_loopback_host(host) is ok


def test_tls_none_is_refused_for_a_name_resolved_through_dns():
    with pytest.raises(ConfigError, match="localhost only"):
        ImapSettings(host="localhost.", port=143, username="u", tls="none")


def _non_loopback_address() -> str:
    """An address of this machine that is not loopback (the tests' network interface)."""
    for target in ("192.0.2.1", "198.51.100.1", "203.0.113.1", "10.0.0.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:  # no packet is sent: connect() on UDP only picks the outgoing address
                s.connect((target, 9))
            except OSError:
                continue
            address = s.getsockname()[0]
        if not address.startswith("127."):
            return address
    pytest.fail("this machine has no non-loopback IPv4 address to test with")


def test_tls_none_refuses_a_localhost_that_resolves_elsewhere(monkeypatch):
    """"localhost" resolving to a non-loopback address (a hosts file or resolver gone wrong): the
    connection is closed before a word is said, so the password never crosses the network."""
    address = _non_loopback_address()
    listener = socket.create_server((address, 0))
    port = listener.getsockname()[1]
    heard: list[bytes] = []

    def serve() -> None:  # answers CAPABILITY (imaplib asks at once), records everything else
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"* OK IMAP4rev1 ready\r\n")
            conn.settimeout(5)
            try:
                while data := conn.recv(4096):
                    heard.append(data)
                    if b"CAPABILITY" in data.upper():
                        tag = data.split()[0]
                        conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            except OSError:
                pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real(address if host == "localhost" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings = ImapSettings(host="localhost", port=port, username="sam", tls="none", timeout=5)
    account = ImapAccount(settings, lambda: "the-secret")
    try:
        with pytest.raises(ImapError, match="not a loopback address"):
            account.connect()
    finally:
        listener.close()
    server.join(10)
    assert b"the-secret" not in b"".join(heard) and not any(b"LOGIN" in h for h in heard)
    assert not account.connected


@pytest.mark.dovecot
def test_tls_none_to_localhost_still_works(dovecot, imap_user, home):
    write_config(home, dovecot, imap_user)
    text = (home / "config.toml").read_text().replace(f'host = "{dovecot.host}"', 'host = "localhost"')
    (home / "config.toml").write_text(text)
    with open_account(config_of(home)) as account:
        assert account.select("INBOX").uidvalidity


# -- no core dumps ------------------------------------------------------------------------------


def _cores_allowed() -> None:
    """In the child before exec: allow core dumps, so that only mailguard can forbid them."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _core_limit(pid: int | str) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            soft, hard = line.split()[4:6]
            return soft, hard
    raise AssertionError("no core line in /proc/<pid>/limits")


@pytest.mark.dovecot
def test_mailguard_run_forbids_core_dumps(dovecot, imap_user, home):
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user, imap="poll_seconds = 30")
    env = {**os.environ, "MAILGUARD_HOME": str(home), PASSWORD_ENV: "secret"}
    proc = subprocess.Popen([MAILGUARD, "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_cores_allowed)
    try:
        # the first pass's summary (after the start-up lines): the password was used by then
        lines = []
        while not lines or "first run" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, lines  # the daemon ended before its first pass
            lines.append(line)
        assert _core_limit(proc.pid)[0] == "0"  # the soft limit: the one the kernel applies
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.mark.dovecot
def test_a_command_that_obtains_a_secret_forbids_core_dumps_first(dovecot, imap_user, home, tmp_path):
    """`mailguard check` with a password_command that records the core limit it inherited: the
    limit was already 0 when the secret was asked for."""
    record = tmp_path / "limit.txt"
    script = f'grep "Max core file size" /proc/self/limits > {record}; echo secret'
    write_config(home, dovecot, imap_user)
    text = (home / "config.toml").read_text().replace(
        f'password_env = "{PASSWORD_ENV}"', "password_command = ['sh', '-c', '" + script + "']")
    (home / "config.toml").write_text(text)
    env = {**os.environ, "MAILGUARD_HOME": str(home)}
    out = subprocess.run([MAILGUARD, "check"], env=env, capture_output=True, text=True, timeout=60,
                         preexec_fn=_cores_allowed)
    assert out.returncode == 0, out.stderr
    assert record.read_text().split()[4] == "0"


def test_the_systemd_unit_forbids_core_dumps():
    lines = [line.strip() for line in UNIT.read_text().splitlines()]
    assert "LimitCORE=0" in lines
    service = lines[lines.index("[Service]"):lines.index("[Install]")]
    assert "LimitCORE=0" in service
