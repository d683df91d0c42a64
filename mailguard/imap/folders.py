"""Folders of an IMAP account: listing them, the special-use ones (Sent), the server's names
for them (namespace prefix and delimiter), creating one, and selecting one."""

from __future__ import annotations

import imaplib
import logging

from ..errors import ImapError
from .client import (
    UID_MAX,
    FolderInfo,
    FolderState,
    ImapProtocolError,
    _server_text,
    _untagged,
    server_folder_name,
)
from .connection import ImapConnection

log = logging.getLogger(__name__)


class ImapFolders(ImapConnection):
    """An IMAP connection and its folders."""

    #: (prefix, delimiter) of the personal namespace, asked once per connection
    _layout: tuple[str, str | None] | None = None

    def connect(self) -> None:
        if not self.connected:
            self._layout = None  # another login may see another namespace
        super().connect()

    def list_folders(self) -> list[FolderInfo]:
        with self._command("LIST") as client:
            rows = client.list_folders()
        return [
            FolderInfo(
                name=str(name),
                flags=tuple(flags),
                delimiter=delim.decode("ascii", "replace") if isinstance(delim, bytes) else delim,
            )
            for flags, delim, name in rows
        ]

    def special_folder(self, flag: bytes | str) -> str | None:
        """The folder carrying a SPECIAL-USE flag such as b"\\Sent" or b"\\Junk" (RFC 6154), else
        a folder with a usual name for it (imapclient's guess), else None."""
        wanted = flag.encode("ascii") if isinstance(flag, str) else flag
        for info in self.list_folders():
            if any(f.lower() == wanted.lower() for f in info.flags):
                return info.name
        with self._command("LIST") as client:
            found = client.find_special_folder(wanted)
        return str(found) if found is not None else None

    def _folder_layout(self) -> tuple[str, str | None]:
        """(prefix, delimiter) of the personal namespace, e.g. ("", "/") or ("INBOX.", ".")."""
        if self._layout is None:
            with self._command("NAMESPACE") as client:
                layout: tuple[str, str | None] | None = None
                if client.has_capability("NAMESPACE"):
                    personal = client.namespace().personal
                    if personal:
                        prefix, delimiter = personal[0]
                        layout = (str(prefix or ""), str(delimiter) if delimiter else None)
                if layout is None:
                    rows = client.list_folders("", "")
                    delim = rows[0][1] if rows else None
                    layout = ("", delim.decode("ascii") if isinstance(delim, bytes) else delim)
            self._layout = layout
        return self._layout

    def folder_name(self, name: str) -> str:
        """The server's name for a folder written with "/" between levels (see server_folder_name)."""
        prefix, delimiter = self._folder_layout()
        return server_folder_name(name, prefix, delimiter)

    def ensure_folder(self, name: str) -> str:
        """Create the folder (and subscribe to it) unless it exists; returns the server's name.

        name is written with "/" between levels and without the namespace prefix, e.g.
        "Übersicht/Werbung"; non-ASCII names are sent in modified UTF-7 by imapclient.
        """
        server_name = self.folder_name(name)
        if server_name == "INBOX":
            return server_name
        with self._command(f"create folder {server_name}") as client:
            rows = client.list_folders("", server_name)
            existing = [FolderInfo(str(n), tuple(f), None) for f, _, n in rows if str(n) == server_name]
            if any(info.selectable for info in existing):
                return server_name
            try:
                client.create_folder(server_name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                if "ALREADYEXISTS" not in _untagged(client) and "already exists" not in _server_text(exc).lower():
                    raise
            try:
                client.subscribe_folder(server_name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                log.warning("created folder %s but could not subscribe to it: %s", server_name, _server_text(exc))
        log.info("created folder %s on %s", server_name, self.settings.address)
        return server_name


    # -- the selected folder

    def select(self, folder: str, readonly: bool = False) -> FolderState:
        """SELECT (or EXAMINE when readonly) a folder by its server name."""
        self._selected = None
        with self._command(f"select {folder}", folder=folder) as client:
            response = client.select_folder(folder, readonly=readonly)
        if b"UIDVALIDITY" not in response:
            raise ImapError(f"{self.settings.address} sent no UIDVALIDITY for {folder}")
        uidnext = response.get(b"UIDNEXT")
        state = FolderState(
            uidvalidity=self._count(response[b"UIDVALIDITY"], "UIDVALIDITY", folder, low=1),
            uidnext=self._count(uidnext, "UIDNEXT", folder, low=1) if uidnext is not None else None,
            exists=self._count(response.get(b"EXISTS", 0), "EXISTS", folder, low=0),
        )
        self._selected = folder
        self._selected_readonly = readonly
        return state

    def _count(self, value: object, what: str, folder: str, *, low: int) -> int:
        """A number of a SELECT answer, checked: 32 bits (RFC 3501). ImapProtocolError otherwise;
        the connection is closed."""
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= UID_MAX:
            return value
        self._drop()
        raise ImapProtocolError(f"select {folder} failed on {self.settings.address}: the server's "
                                f"answer is malformed ({what} {str(value)[:40]})")
