"""`mailguard ui` as a user runs it: the address with its token on the first line, served on
127.0.0.1 only (the listening socket is checked in /proc), a clean stop on SIGTERM or Ctrl-C, a
taken port or a missing extra in one line, and no option to listen anywhere else."""

from __future__ import annotations

import http.client
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailguard.cli.main import main

URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{40,})$")


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MAILGUARD_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "mailguard.cli.main", "ui", "--no-open", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _first_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The first line the command prints (waits for it, up to timeout)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(deadline - time.monotonic()):
            return proc.stdout.readline().rstrip("\n")
    pytest.fail("mailguard ui printed nothing")


def _get(port: int, target: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target)
        return conn.getresponse().status
    finally:
        conn.close()


def _listening(port: int) -> list[str]:
    """The local addresses listening on port, from /proc/net/tcp and tcp6 (hex, as the kernel
    writes them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.append(addr)
    return found


def test_ui_prints_its_address_first_serves_127_0_0_1_only_and_stops_cleanly(tmp_path):
    proc = _start(tmp_path / "home")
    try:
        line = _first_line(proc)
        found = URL.match(line)
        assert found, line
        port, token = int(found.group(1)), found.group(2)
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, nothing else
        assert _get(port, f"/?token={token}") == 200
        assert _get(port, "/") == 403
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert token not in err  # no access log: URLs carry the token


def test_ui_on_a_given_port_and_ctrl_c(tmp_path):
    with socket.socket() as probe:  # a port that is free now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = _start(tmp_path / "home", "--port", str(port))
    try:
        assert URL.match(_first_line(proc)).group(1) == str(port)  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_a_taken_port_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["ui", "--no-open", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == (f"mailguard: error: cannot listen on 127.0.0.1:{port}: Address already in use "
                   "(choose another --port, or leave it out for any free port)\n")


def test_without_the_ui_extra_the_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    for name in [m for m in sys.modules if m.startswith("mailguard.ui.") and m != "mailguard.cli.ui"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["ui", "--no-open"]) == 2
    assert capsys.readouterr().err == ("mailguard: error: the web page needs the ui extra (uvicorn is "
                                       "missing): pip install 'mailguard[ui]'\n")


def test_there_is_no_option_to_listen_elsewhere(capsys):
    main(["ui", "--help"])
    out = capsys.readouterr().out
    assert "--port" in out and "--no-open" in out
    assert "--host" not in out and "--bind" not in out


def test_the_command_line_and_the_daemon_do_not_load_the_web_stack():
    code = ("import sys, mailguard.cli.main, mailguard.imap.daemon, mailguard.review.digest; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'jinja2', 'uvicorn', 'playwright'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
