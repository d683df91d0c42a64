"""Serving the page: uvicorn on a socket bound to 127.0.0.1 (never another address), as a
background object for tests and embedding, or in the foreground for ``mailguard ui``.

    server = UiServer(db_path, config)     # binds 127.0.0.1, port 0: any free port
    server.start()                         # returns once it accepts connections (or raises)
    server.url                             # http://127.0.0.1:PORT/?token=...
    server.stop()
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvicorn

from ..config import Config
from ..errors import MailguardError
from .app import make_app, new_token

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def _connector(config: Config, stack: ExitStack) -> Any:
    """review.apply_undo's IMAP connect function, as `mailguard undo` makes it."""
    from ..cli.review import imap_connector

    return imap_connector(config, stack)


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: any free port); MailguardError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise MailguardError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc} "
                             "(choose another --port, or leave it out for any free port)") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _stopped(_signum: int, _frame: object) -> None:
    return None


class _Server(uvicorn.Server):
    """uvicorn's server with an event set once it accepts connections, and no signal handlers
    when it runs in a thread."""

    def __init__(self, config: uvicorn.Config, *, in_thread: bool) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.in_thread = in_thread

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        if not self.in_thread:
            super().install_signal_handlers()  # type: ignore[misc]


class UiServer:
    """The page for one state database, on 127.0.0.1."""

    def __init__(self, db_path: Path, config: Config, *, port: int = 0,
                 token: str | None = None) -> None:
        self.token = token or new_token()
        self.sock = bind(port)
        self.port = int(self.sock.getsockname()[1])
        hosts = frozenset({f"{HOST}:{self.port}", f"localhost:{self.port}"})
        self.app = make_app(db_path=db_path, config=config, token=self.token,
                            hosts=lambda: hosts, connector=_connector)
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def _config(self) -> uvicorn.Config:
        # no access log: URLs carry the token; no lifespan; no server header
        return uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                              server_header=False, proxy_headers=False, ws="none")

    def _run(self, server: _Server) -> None:
        try:
            server.run(sockets=[self.sock])
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self.error = exc
        finally:
            server.ready.set()

    def start(self, ready_timeout: float = 30.0) -> None:
        """Serve in a background thread; return once it accepts connections."""
        self._server = server = _Server(self._config(), in_thread=True)
        self._thread = threading.Thread(target=self._run, args=(server,), name="mailguard-ui",
                                        daemon=True)
        self._thread.start()
        if not server.ready.wait(ready_timeout):
            raise MailguardError(f"the page's server did not start within {ready_timeout:g}s")
        if self.error is not None or not server.started:
            raise MailguardError(f"the page's server failed to start: {self.error}")

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM, then return (exit status 0)."""
        self._server = _Server(self._config(), in_thread=False)
        # uvicorn stops on SIGINT/SIGTERM, then raises the signal again for the handler that was
        # there before: make that one a no-op, so that a stop is a clean return
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._server.run(sockets=[self.sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.sock.close()
