"""Fixtures for tests against a real Dovecot on 127.0.0.1 (see tests/dovecot.py).

Servers are started on first use, shared by the whole session and stopped together at its end.
Every test gets its own user name from imap_user: Dovecot's static userdb accepts any name with the
password "secret", so tests never see each other's mail. Without dovecot-imapd the server fixtures
FAIL (they never skip): CI must install it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dovecot import DovecotError, DovecotServer
from imapkit import PASSWORD_ENV, load_model

# An old Courier-like server: "INBOX." prefix, "." separator, no MOVE, no UIDPLUS, no IDLE.
LEGACY_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT NAMESPACE LITERAL+ CHILDREN SPECIAL-USE"

StartServer = Callable[..., DovecotServer]


@pytest.fixture(scope="session")
def _dovecot_servers() -> Iterator[StartServer]:
    """Starts servers for the fixtures below; stops them all at once at the end of the session
    (a Dovecot master needs about a second to stop)."""
    servers: list[DovecotServer] = []

    def start(**options: object) -> DovecotServer:
        root = Path(tempfile.mkdtemp(prefix="mailguard-dovecot-"))
        server = DovecotServer(root, **options)  # type: ignore[arg-type]
        try:
            server.start()
            error = None
        except DovecotError as exc:
            error = str(exc)
        if error is not None:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(error, pytrace=False)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.begin_stop()
    for server in servers:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot(_dovecot_servers: StartServer) -> DovecotServer:
    """Dovecot with MOVE, UIDPLUS, IDLE and XOAUTH2, plus TLS on dovecot.tls_port (and STARTTLS)
    with a self-signed certificate for localhost/127.0.0.1 in dovecot.ca_file."""
    return _dovecot_servers(tls=True)


@pytest.fixture(scope="session")
def dovecot_nomove(_dovecot_servers: StartServer) -> DovecotServer:
    """Dovecot that advertises no MOVE (UIDPLUS yes): the COPY + UID EXPUNGE fallback."""
    return _dovecot_servers(no_move=True)


@pytest.fixture(scope="session")
def dovecot_legacy(_dovecot_servers: StartServer) -> DovecotServer:
    """Dovecot posing as an old server: namespace "INBOX." with "." separator; no MOVE, UIDPLUS, IDLE."""
    return _dovecot_servers(capabilities=LEGACY_CAPABILITIES, namespace_prefix="INBOX.", separator=".")


@pytest.fixture
def imap_user(request: pytest.FixtureRequest) -> str:
    """A user name no other test uses, e.g. "test-move-keeps-flags-3f2a9c1b@example.test"."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{slug}-{uuid.uuid4().hex[:8]}@example.test"


@pytest.fixture(scope="session")
def model():
    """The shipped promo model, loaded once."""
    return load_model()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$MAILGUARD_HOME for an IMAP test (not created yet), with the test password in the
    environment variable imapkit's configs name. Some test files define their own."""
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    return h


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI (``CI`` set, as .ci/run does) a skipped test fails the run: every test here must run
    on a bare machine with what CI installs, so a skip is a hidden failure."""
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; every test must run here", red=True)
        session.exitstatus = 1
