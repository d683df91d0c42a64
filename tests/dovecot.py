"""A throwaway Dovecot IMAP server on 127.0.0.1 for tests.

    server = DovecotServer(Path(tempfile.mkdtemp()))
    server.start()                      # any user name logs in with password "secret"
    uid = server.append("sam@example.test", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
    server.kick("sam@example.test")     # the user's connections get "BYE Server shutting down"
    server.stop()

Needs Debian's dovecot-imapd (Dovecot 2.3) and root: Dovecot runs its mail processes as "mail" and
its login processes as "dovenull". The config is tests/dovecot/dovecot-test.conf, rendered into
root/dovecot.conf; the server logs to root/dovecot.log. Test helpers talk to it with imapclient
directly, never through mailguard.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

TEMPLATE = Path(__file__).parent / "dovecot" / "dovecot-test.conf"
PASSWORD = "secret"
NOT_INSTALLED = "dovecot-imapd is not installed: apt-get install dovecot-imapd"
NO_MOVE_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT NAMESPACE UIDPLUS LITERAL+ CHILDREN "
    "SPECIAL-USE"
)
_NO_MOVE_LINE = "# imap_capability = "
# Longest socket name Dovecot creates under base_dir; unix socket paths must stay < 108 bytes.
_LONGEST_SOCKET = "imap-urlauth-worker"


class DovecotError(RuntimeError):
    """The test server could not be started or driven; the message says why and what to do."""


class DovecotNotInstalled(DovecotError):
    """dovecot / doveadm binaries are missing."""


def find_binary(name: str) -> str:
    """Path of a Dovecot binary; /usr/sbin is searched even when it is not on PATH."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found is None:
        raise DovecotNotInstalled(NOT_INSTALLED)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DovecotServer:
    """One Dovecot master process serving IMAP on 127.0.0.1.

    no_move: advertise no MOVE (the commented imap_capability line of the config), to test the
        COPY + \\Deleted + UID EXPUNGE fallback.
    tls: also serve implicit TLS on tls_port and offer STARTTLS, with a self-signed certificate for
        localhost / 127.0.0.1 written to ca_file.
    capabilities: a full post-login capability list (overrides no_move), e.g. without UIDPLUS.
    namespace_prefix, separator: the personal namespace, e.g. "INBOX." and "." like Courier.
    """

    host = "127.0.0.1"
    password = PASSWORD

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        no_move: bool = False,
        *,
        tls: bool = False,
        capabilities: str | None = None,
        namespace_prefix: str = "",
        separator: str = "/",
        start_timeout: float = 10.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.no_move = no_move
        self.tls = tls
        self.capabilities = capabilities
        self.namespace_prefix = namespace_prefix
        self.separator = separator
        self.start_timeout = start_timeout
        self._fixed_port = port
        self._port: int | None = port
        self._tls_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- where things are

    @property
    def port(self) -> int:
        if self._port is None:
            raise DovecotError("the Dovecot test server has no port yet: start() it first")
        return self._port

    @property
    def tls_port(self) -> int:
        if not self.tls or self._tls_port is None:
            raise DovecotError("this Dovecot test server has no TLS port: use tls=True and start()")
        return self._tls_port

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate (also its own CA) of the TLS listener."""
        return self.root / "tls" / "cert.pem"

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.log_path, self.root / "dovecot.stderr"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                if tail:
                    parts.append(f"--- tail of {path}:\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no output in {self.log_path})"

    # -- lifecycle

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Render the config, prepare the directories, start Dovecot and wait for its greeting."""
        if self.running:
            return
        binary = find_binary("dovecot")
        find_binary("doveadm")
        self._check_environment()
        self._prepare_dirs()
        if self.tls:
            self._make_certificate()
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            if self._port is None or attempt > 1:
                self._port = free_port()
            if self.tls and (self._tls_port is None or attempt > 1):
                self._tls_port = free_port()
            self.config_path.write_text(self.render_config())
            try:
                self._launch(binary)
                return
            except DovecotError:
                in_use = "Address already in use" in self.log_tail(5)
                if not in_use or attempt == attempts:
                    raise

    def begin_stop(self) -> None:
        """Drop all connections and ask Dovecot to stop without waiting (its master takes about a
        second to finish): lets a caller stop several servers at once, then stop() each."""
        if self._process is not None and self._process.poll() is None:
            # Dovecot's master does not end running imap processes: an idle session would keep
            # working on its own, so kick everyone first (they get "BYE Server shutting down").
            try:
                self.doveadm("kick", "*", check=False)
            except (OSError, subprocess.SubprocessError, DovecotError):
                pass  # stopping anyway
            self._process.terminate()

    def stop(self) -> None:
        """Stop Dovecot (connections, then the master process) and wait until the port is closed."""
        self.begin_stop()
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._port is not None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _accepts(self.host, self._port):
                time.sleep(0.05)

    def restart(self) -> None:
        """Stop and start again on the same port(s); mail and UIDs are kept."""
        self.stop()
        self._fixed_port = self._port
        self.start()

    def render_config(self) -> str:
        """The config file text for the current root, port(s) and options."""
        text = TEMPLATE.read_text()
        if _NO_MOVE_LINE not in text:
            raise DovecotError(f"{TEMPLATE} lost its commented '{_NO_MOVE_LINE.strip()}' line")
        text = text.replace("@ROOT@", str(self.root)).replace("@PORT@", str(self.port))
        extra: list[str] = []
        if self.capabilities is not None:
            extra.append(f"imap_capability = {self.capabilities}")
        elif self.no_move:
            text = text.replace(_NO_MOVE_LINE, "imap_capability = ")
        if self.namespace_prefix or self.separator != "/":
            extra += [
                "namespace inbox {",
                f"  separator = {self.separator}",
                f"  prefix = {self.namespace_prefix}",
                "}",
            ]
        if self.tls:
            tls_dir = self.root / "tls"
            extra += [
                "ssl = yes",
                f"ssl_cert = <{tls_dir / 'cert.pem'}",
                f"ssl_key = <{tls_dir / 'key.pem'}",
                "service imap-login {",
                "  inet_listener imaps {",
                f"    address = {self.host}",
                f"    port = {self._tls_port}",
                "  }",
                "}",
            ]
        if extra:
            text += "\n# Added by tests/dovecot.py\n" + "\n".join(extra) + "\n"
        return text

    def _check_environment(self) -> None:
        if os.geteuid() != 0:
            raise DovecotError(
                "the Dovecot test server must be started as root (Dovecot switches to the users "
                "mail, dovecot and dovenull); run the tests as root, as in the CI container"
            )
        for user in ("mail", "dovecot", "dovenull"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                raise DovecotError(f"user {user!r} is missing: reinstall dovecot-imapd") from None
        socket_path = self.root / "run" / _LONGEST_SOCKET
        if len(str(socket_path).encode()) > 100:
            raise DovecotError(f"{self.root} is too long for unix sockets: use a shorter directory")
        for parent in self.root.parents:  # root itself gets mode 755
            if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                raise DovecotError(
                    f"{parent} is not searchable by other users, so Dovecot's 'mail' user cannot "
                    f"reach {self.root}: use a directory such as tempfile.mkdtemp() under /tmp"
                )

    def _prepare_dirs(self) -> None:
        mail = pwd.getpwnam("mail")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir(exist_ok=True)
        # A socket left by another config would make auth hang for 5 s instead of skipping penalties.
        (self.root / "run" / "anvil-auth-penalty").unlink(missing_ok=True)
        for dirpath, dirnames, filenames in os.walk(self.root / "mail"):
            os.chown(dirpath, mail.pw_uid, mail.pw_gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), mail.pw_uid, mail.pw_gid)

    def _make_certificate(self) -> None:
        tls_dir = self.root / "tls"
        if (tls_dir / "cert.pem").exists() and (tls_dir / "key.pem").exists():
            return
        tls_dir.mkdir(exist_ok=True)
        openssl = shutil.which("openssl")
        if openssl is None:
            raise DovecotError("openssl is not installed (it comes with dovecot-core): apt-get install openssl")
        _run(
            [
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "3", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(tls_dir / "key.pem"), "-out", str(tls_dir / "cert.pem"),
            ],
            what="creating the test TLS certificate",
        )

    def _launch(self, binary: str) -> None:
        stderr = open(self.root / "dovecot.stderr", "ab")  # noqa: SIM115 - lives as long as Dovecot
        try:
            self._process = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
            )
        finally:
            stderr.close()
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt yet"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise DovecotError(
                    f"dovecot exited with status {code} while starting on {self.host}:{self.port}\n"
                    + self.log_tail()
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    greeting = sock.recv(512)
                if greeting.startswith(b"* OK"):
                    return
                last_error = f"unexpected greeting {greeting[:80]!r}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        self.stop()
        raise DovecotError(
            f"Dovecot did not greet on {self.host}:{self.port} within {self.start_timeout:g}s "
            f"(last error: {last_error}); raise start_timeout if the machine is slow\n"
            + self.log_tail()
        )

    # -- administration

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(
            [find_binary("doveadm"), "-c", str(self.config_path), *args],
            what=f"doveadm {' '.join(args)}",
            check=check,
        )

    def kick(self, user: str, timeout: float = 5.0) -> None:
        """Drop all connections of user (they get "BYE Server shutting down") and wait until gone."""
        self.doveadm("kick", user, check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            who = self.doveadm("who", check=False).stdout.splitlines()[1:]
            if not any(line.split()[:1] == [user] for line in who):
                return
            time.sleep(0.02)
        raise DovecotError(f"{user} still has connections {timeout:g}s after doveadm kick")

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """The folder's UIDVALIDITY, read with doveadm (no IMAP session)."""
        out = self.doveadm("-f", "tab", "mailbox", "status", "-u", user, "uidvalidity", folder)
        rows = out.stdout.splitlines()
        if len(rows) < 2:
            raise DovecotError(f"doveadm gave no UIDVALIDITY for {folder} of {user}: {out.stderr.strip()}")
        return int(rows[1].split("\t")[-1])

    def change_uidvalidity(self, user: str, folder: str = "INBOX", new: int | None = None) -> int:
        """Give the folder a new UIDVALIDITY (default: the old one + 1) and return it.

        Uses `doveadm mailbox update --uid-validity`; message UIDs stay, so every stored UID of the
        folder becomes meaningless to a client, as after a server migration. Dovecot disconnects
        sessions that have the folder selected ("BYE IMAP session state is inconsistent").
        """
        old = self.uidvalidity(user, folder)
        value = old + 1 if new is None else new
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)
        now = self.uidvalidity(user, folder)
        if now != value or now == old:
            raise DovecotError(f"UIDVALIDITY of {folder} for {user} is {now} after setting {value}")
        return now

    # -- IMAP helpers (plain imapclient, not mailguard)

    @contextmanager
    def client(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in imapclient connection over plain text."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.login(user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the test may have killed the connection on purpose
                client.shutdown()

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Sequence[bytes] = (),
        date: datetime | None = None,
    ) -> int:
        """APPEND a raw message for user (creating folder if needed); returns its UID."""
        with self.client(user) as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags), msg_time=date)
        text = response.decode() if isinstance(response, bytes) else str(response)
        if "[APPENDUID " not in text:
            raise DovecotError(f"APPEND to {folder} gave no APPENDUID: {text}")
        return int(text.split("[APPENDUID ", 1)[1].split()[1].rstrip("]"))

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags (without the session-dependent \\Recent) of every message in folder."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search()
            data = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {
            uid: tuple(f for f in item[b"FLAGS"] if f != b"\\Recent") for uid, item in sorted(data.items())
        }


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _run(args: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise DovecotError(f"{what} failed with status {result.returncode}: {' / '.join(detail)}")
    return result
