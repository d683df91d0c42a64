"""The IMAP account mailguard works with: :class:`ImapAccount`, assembled from one layer per job,
each in its own module and each built on the one below:

- :mod:`~mailguard.imap.connection`: connecting (TLS, login), the error funnel, capabilities;
- :mod:`~mailguard.imap.folders`: folders, their server names, SELECT;
- :mod:`~mailguard.imap.fetch`: new UIDs, FETCH without \\Seen, finding by Message-ID;
- :mod:`~mailguard.imap.transfer`: MOVE (or COPY + UID EXPUNGE), COPY, APPEND;
- this module: waiting for news (IDLE, or NOOP polling).

The data it answers with, its errors and the pure protocol helpers are in
:mod:`~mailguard.imap.client`.
"""

from __future__ import annotations

import time

from .client import MAX_IDLE_SECONDS, NOOP_POLL_SECONDS, ImapConnectionLost, _new_mail, _said_bye
from .transfer import ImapTransfer

__all__ = ["ImapAccount"]


class ImapAccount(ImapTransfer):
    """One IMAP connection, logged in as settings.username.

    Use as a context manager (``with ImapAccount(settings, password) as account:``), or call
    connect() and close(). Methods that work on "the selected folder" need a select() first.
    Any ImapConnectionLost closes the account; connect() opens a fresh connection.
    """

    # -- waiting

    def idle_wait(self, timeout_s: float) -> bool:
        """Wait in IDLE (RFC 2177) up to timeout_s seconds for news in the selected folder.

        True as soon as the server reports EXISTS or RECENT (new mail), False on time-out. A NOOP
        before each IDLE reports mail that came in since the last command. Other updates (flags,
        expunges, keep-alives) end the current IDLE, which is re-issued until the time is up. Call it again before 29 minutes pass; timeout_s is capped at that. Without IDLE
        the server is polled with NOOP every 30 s.
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, not {timeout_s}")
        if timeout_s > MAX_IDLE_SECONDS:
            raise ValueError(f"timeout_s must be <= {MAX_IDLE_SECONDS}: IDLE must be re-issued sooner")
        self._require_selected()
        deadline = time.monotonic() + timeout_s
        if not self.has("IDLE"):
            return self._poll_wait(deadline)
        while (remaining := deadline - time.monotonic()) > 0:
            # Dovecot's IDLE reports only changes made after it starts; NOOP catches the rest.
            if self.noop():
                return True
            with self._command("IDLE") as client:
                client.idle()  # returns on the server's "+ idling" continuation
                self.idling.set()
                try:
                    responses = list(client.idle_check(timeout=remaining))
                finally:
                    self.idling.clear()
                _, tail = client.idle_done()  # raises if the server hung up
                responses.extend(tail)
            bye = _said_bye(responses)
            if bye is not None:
                self._drop()
                raise ImapConnectionLost(f"connection to {self.settings.address} lost during IDLE: {bye}")
            if _new_mail(responses):
                return True
        return False

    def _poll_wait(self, deadline: float) -> bool:
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(NOOP_POLL_SECONDS, remaining))
            if self.noop():
                return True
        return False
