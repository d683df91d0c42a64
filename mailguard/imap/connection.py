"""One IMAP connection: opening it (TLS, login), the error funnel every command goes through,
what the server offers, and which folder is selected.

:class:`ImapConnection` is the base of :class:`~mailguard.imap.account.ImapAccount`; the layers
above it (folders, fetch, transfer, account) run their commands inside :meth:`_command`, which
turns imapclient, imaplib, socket and ssl exceptions into :class:`~mailguard.errors.ImapError`
(:class:`~mailguard.imap.client.ImapConnectionLost` for a network fault, after which the
connection is closed: connect() again).
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from imapclient import IMAPClient
from imapclient import exceptions as imapclient_errors

from ..errors import ConfigError, ImapError
from .client import (
    _ABORT_PREFIX,
    _NONEXISTENT,
    _UNEXPECTED,
    Credentials,
    FolderMissing,
    FolderReadOnly,
    ImapConnectionLost,
    ImapProtocolError,
    ImapSettings,
    _discard_unsolicited,
    _malformed_detail,
    _network_reason,
    _new_mail,
    _one_line,
    _server_text,
    _shutdown_quietly,
    _untagged,
    is_loopback_address,
)

log = logging.getLogger(__name__)


class ImapConnection:
    """One IMAP connection, logged in as settings.username.

    Use as a context manager, or call connect() and close(). Any ImapConnectionLost closes the
    connection; connect() opens a fresh one.
    """

    def __init__(self, settings: ImapSettings, auth: Callable[[], str] | Credentials) -> None:
        self.settings = settings
        self._credentials = auth if isinstance(auth, Credentials) else Credentials(password=auth)
        self._client: IMAPClient | None = None
        self._lost = False
        self._caps: frozenset[str] = frozenset()
        self._selected: str | None = None
        self._selected_readonly = False
        #: set while the connection is in IDLE (from the server's continuation to DONE): what a
        #: daemon's observer (a test, say) waits on instead of guessing a delay
        self.idling = threading.Event()


    # -- lifecycle

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        """Open the connection, negotiate TLS and log in. Does nothing if already connected."""
        if self._client is not None:
            return
        s = self.settings
        context = self._ssl_context() if s.tls != "none" else None
        log.debug("connecting to %s (tls=%s)", s.address, s.tls)
        try:
            client = IMAPClient(
                s.host, port=s.port, ssl=s.tls == "ssl", ssl_context=context, timeout=s.timeout
            )
        except Exception as exc:
            raise self._connect_error(exc) from exc
        try:
            if s.tls == "none":
                self._check_loopback_peer(client)
            if s.tls == "starttls":
                self._starttls(client, context)
            log.info("login as %s to %s:%d", s.username, s.host, s.port)
            self._login(client)
            try:
                capabilities = client.capabilities()
            except Exception as exc:
                raise self._connect_error(exc) from exc
        except BaseException:
            _shutdown_quietly(client)
            raise
        self._caps = frozenset(c.decode("ascii", "replace").upper() for c in capabilities)
        client.normalise_times = False  # aware INTERNALDATEs, not naive local times
        self._client = client
        self._lost = False
        self._selected = None
        log.debug("logged in to %s; capabilities: %s", s.address, " ".join(sorted(self._caps)))

    def close(self) -> None:
        """Log out (best effort) and forget the connection. Safe to call twice."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception as exc:  # the connection is being dropped anyway
            log.debug("logout from %s failed (%s); closing the socket", self.settings.address, exc)
            _shutdown_quietly(client)

    def _check_loopback_peer(self, client: IMAPClient) -> None:
        """tls="none": the host was checked to be loopback by name; check the address the socket
        really reached too ("localhost" comes from a hosts file or a resolver), before a word of
        the login is sent."""
        try:
            peer = client.socket().getpeername()[0]
        except (OSError, AttributeError, IndexError) as exc:
            raise ImapConnectionLost(f"cannot connect to {self.settings.address}: "
                                     f"{_network_reason(exc, self.settings.timeout)}") from None
        if not is_loopback_address(str(peer)):
            raise ImapError(
                f"refusing to log in to {self.settings.address} without TLS: {self.settings.host} "
                f"reached {peer}, which is not a loopback address (tls='none' is for this machine only)")

    def _ssl_context(self) -> ssl.SSLContext:
        if self.settings.ssl_context is not None:
            return self.settings.ssl_context
        try:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load CA file {self.settings.ca_file}: {_network_reason(exc, 0)}"
            ) from exc

    def _starttls(self, client: IMAPClient, context: ssl.SSLContext | None) -> None:
        where = self.settings.address
        try:
            if not client.has_capability("STARTTLS"):
                raise ImapError(
                    f"{where} does not offer STARTTLS; use tls='ssl' (usually port 993)"
                )
            client.starttls(context)
        except ImapError:
            raise
        except Exception as exc:
            raise self._connect_error(exc) from exc

    def _login(self, client: IMAPClient) -> None:
        s, creds = self.settings, self._credentials
        failed = f"login failed for {s.username} on {s.address}"
        try:
            if creds.oauth2_token is not None:
                mech = creds.oauth2_mech
                if not client.has_capability(f"AUTH={mech}"):
                    raise ImapError(f"{failed}: the server does not offer AUTH={mech}")
                token = creds.oauth2_token()
                if mech == "OAUTHBEARER":
                    client.oauthbearer_login(s.username, token)
                else:
                    client.oauth2_login(s.username, token, mech=mech)
                return
            assert creds.password is not None
            password = creds.password()
            if not password:
                raise ImapError(f"{failed}: the password is empty")
            if password.isascii():
                client.login(s.username, password)
            elif client.has_capability("AUTH=PLAIN"):
                client.plain_login(s.username, password)  # UTF-8 inside SASL PLAIN
            else:
                raise ImapError(
                    f"{failed}: the password has non-ASCII characters and the server offers no "
                    "AUTH=PLAIN to send them"
                )
        except ImapError:
            raise
        # `from None` everywhere below: the chained exception could carry the command line.
        except imaplib.IMAP4.abort as exc:
            raise ImapConnectionLost(
                f"{failed}: {_network_reason(exc, s.timeout)}"
            ) from None
        except imapclient_errors.LoginError as exc:
            text = _server_text(exc)
            if _ABORT_PREFIX.match(text) or text.startswith("socket error"):
                # imapclient turns every failure during login, a dropped connection too, into LoginError
                reason = _network_reason(imaplib.IMAP4.abort(text), s.timeout)
                raise ImapConnectionLost(f"{failed}: {reason}") from None
            if "AUTHENTICATIONFAILED" in text.upper() or "authentication failed" in text.lower():
                text = "authentication failed"
            raise ImapError(f"{failed}: {text}") from None
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"{failed}: {_server_text(exc)}") from None
        except OSError as exc:
            raise ImapConnectionLost(f"{failed}: {_network_reason(exc, s.timeout)}") from None
        except UnicodeError:
            raise ImapError(f"{failed}: the user name or secret cannot be encoded") from None

    def _connect_error(self, exc: BaseException) -> ImapError:
        """Map an exception raised while opening the connection or negotiating TLS."""
        s = self.settings
        where = s.address
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or "unknown reason"
            return ImapError(f"TLS handshake with {where} failed: certificate verify failed: {detail}")
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            reason = (exc.reason or _one_line(str(exc))).replace("_", " ").lower()
            hint = ""
            if "wrong version number" in reason or "record layer failure" in reason:
                hint = " (is this a plain-text port? use tls='starttls', or port 993 for tls='ssl')"
            return ImapError(f"TLS handshake with {where} failed: {reason}{hint}")
        if isinstance(exc, socket.gaierror):
            text = f"cannot connect to {where}: cannot resolve host name {s.host!r}"
            if exc.errno == socket.EAI_AGAIN:
                return ImapConnectionLost(text + " (temporary DNS failure)")
            return ImapError(text)
        if isinstance(exc, ConnectionRefusedError):
            return ImapConnectionLost(f"cannot connect to {where}: connection refused")
        if isinstance(exc, (OSError, imaplib.IMAP4.abort)):
            return ImapConnectionLost(f"cannot connect to {where}: {_network_reason(exc, s.timeout)}")
        if isinstance(exc, imaplib.IMAP4.error):
            return ImapError(f"cannot connect to {where}: {_server_text(exc)}")
        return ImapError(f"cannot connect to {where}: {_one_line(str(exc)) or type(exc).__name__}")


    # -- the error funnel for commands

    def _require(self) -> IMAPClient:
        if self._client is None:
            if self._lost:
                raise ImapConnectionLost(
                    f"the connection to {self.settings.address} was lost; connect() again"
                )
            raise ImapError(f"not connected to {self.settings.address}; call connect() first")
        return self._client

    def _require_selected(self) -> str:
        self._require()
        if self._selected is None:
            raise ImapError("no folder is selected; call select() first")
        return self._selected

    @contextmanager
    def _command(self, action: str, folder: str | None = None) -> Iterator[IMAPClient]:
        """Run IMAP commands, mapping failures to ImapError / ImapConnectionLost.

        folder: the folder the commands are about; a "doesn't exist" answer then becomes
        "no such folder: <folder>".
        """
        client = self._require()
        where = self.settings.address
        selected = self._selected
        for code in ("NONEXISTENT", "TRYCREATE"):
            _untagged(client).pop(code, None)
        try:
            yield client
        except ImapError:
            raise
        except imaplib.IMAP4.readonly as exc:  # a subclass of abort that is not a lost connection
            raise FolderReadOnly(selected or folder or "the selected folder", where) from exc
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            self._drop()
            if isinstance(exc, imaplib.IMAP4.abort) and _UNEXPECTED.search(_server_text(exc)):
                # imaplib's words for a line it cannot parse: the connection is fine, the server not
                raise ImapProtocolError(
                    f"{action} failed on {where}: the server's answer is malformed "
                    f"({_server_text(exc)[:120]})") from exc
            raise ImapConnectionLost(
                f"connection to {where} lost during {action}: "
                f"{_network_reason(exc, self.settings.timeout)}"
            ) from exc
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # imapclient's parsers: a number that is not one, a list that is too short...
            detail = _malformed_detail(client) or _one_line(str(exc))[:120] or type(exc).__name__
            self._drop()
            raise ImapProtocolError(
                f"{action} failed on {where}: the server's answer is malformed ({detail})") from exc
        except imaplib.IMAP4.error as exc:
            text = _server_text(exc)
            if "* BYE" in text:  # e.g. "Unexpected IDLE response: b'* BYE Server shutting down.'"
                self._drop()
                raise ImapConnectionLost(
                    f"connection to {where} lost during {action}: the server said "
                    f"{text[text.index('* BYE') + 2:].rstrip(chr(39)).strip()}"
                ) from exc
            codes = _untagged(client)
            if folder is not None and (
                _NONEXISTENT.search(text) or "NONEXISTENT" in codes or "TRYCREATE" in codes
            ):
                raise FolderMissing(folder) from exc
            raise ImapError(f"{action} failed on {where}: {text}") from exc
        else:
            _discard_unsolicited(client)

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._lost = True
        self._selected = None
        if client is not None:
            _shutdown_quietly(client)
        log.info("connection to %s lost", self.settings.address)


    # -- server facts

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities announced after login, upper-case: {"IMAP4REV1", "IDLE", "MOVE", ...}."""
        self._require()
        return self._caps

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    @property
    def selected(self) -> str | None:
        """The selected folder, or None."""
        return self._selected

    def noop(self) -> bool:
        """NOOP: keeps the connection alive and detects a dead one. True if the server announced
        new messages in the selected folder."""
        with self._command("NOOP") as client:
            _, responses = client.noop()
        return _new_mail(responses)
