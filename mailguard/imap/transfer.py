"""Changing an IMAP account: moving messages (UID MOVE, or COPY + \\Deleted + UID EXPUNGE of
exactly those UIDs), copying them, and appending one."""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from ..errors import ImapError
from .client import (
    _DELETED,
    TRANSFER_BATCH,
    _chunks,
    _send_transfer,
    _server_text,
    _untagged,
    parse_appenduid,
    parse_copyuid,
    uid_set,
)
from .fetch import ImapFetch

log = logging.getLogger(__name__)


class ImapTransfer(ImapFetch):
    """An IMAP connection, its folders and messages, and moving, copying and appending them."""

    def move(self, uids: Iterable[int], dest: str) -> dict[int, int | None]:
        """Move messages of the selected folder to dest; returns old UID -> new UID (None when the
        server did not say). UIDs that no longer exist (expunged by another client since they
        were fetched) are left out of the result; the others are moved.

        Uses UID MOVE (RFC 6851) when offered. Otherwise UID COPY, then \\Deleted and UID EXPUNGE
        (RFC 4315) of exactly these UIDs, so messages the user marked deleted stay; without UIDPLUS
        the move is refused rather than EXPUNGE everything marked deleted. Works in batches: after
        an error, earlier batches are done (see find_by_message_id to reconcile).
        """
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        source = self._require_selected()
        if self.has("MOVE"):
            mapping, gone = self._transfer("MOVE", wanted, dest)
        elif self.has("UIDPLUS"):
            mapping, gone = self._transfer("COPY", wanted, dest)
            self.expunge_copied([uid for uid in wanted if uid not in gone])
        else:
            raise ImapError(
                f"cannot move messages on {self.settings.address}: the server offers neither MOVE nor "
                "UIDPLUS, and a plain EXPUNGE would also remove messages the user marked deleted"
            )
        log.info("moved %d message(s) from %s to %s", len(wanted) - len(gone), source, dest)
        return {uid: mapping.get(uid) for uid in wanted if uid not in gone}

    def expunge_copied(self, uids: Iterable[int]) -> None:
        """The second half of a move made of COPY: flag exactly these UIDs of the selected folder
        \\Deleted and UID EXPUNGE them (RFC 4315), so other messages marked deleted stay. Only for
        messages whose copy is in the destination; refused without UIDPLUS."""
        wanted = sorted(set(uids))
        if not wanted:
            return
        source = self._require_selected()
        if not self.has("UIDPLUS"):
            raise ImapError(f"cannot remove moved messages on {self.settings.address}: no UIDPLUS")
        for chunk in _chunks(wanted, TRANSFER_BATCH):
            with self._command(f"delete moved messages from {source}") as client:
                client.add_flags(uid_set(chunk), [_DELETED], silent=True)
                client.uid_expunge(uid_set(chunk))

    def copy(self, uids: Iterable[int], dest: str) -> dict[int, int | None]:
        """Copy messages of the selected folder to dest; returns old UID -> new UID (or None).
        UIDs that no longer exist are left out."""
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        self._require_selected()
        mapping, gone = self._transfer("COPY", wanted, dest)
        return {uid: mapping.get(uid) for uid in wanted if uid not in gone}

    def _transfer(self, verb: Literal["MOVE", "COPY"], uids: list[int],
                  dest: str) -> tuple[dict[int, int], set[int]]:
        """(old UID -> new UID as the server said, UIDs found expunged)."""
        mapping: dict[int, int] = {}
        gone: set[int] = set()
        for chunk in _chunks(uids, TRANSFER_BATCH):
            with self._command(f"{verb} to {dest}", folder=dest) as client:
                _untagged(client).pop("COPYUID", None)
                _untagged(client).pop("EXPUNGEISSUED", None)
                try:
                    _send_transfer(client, verb, chunk, dest)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error as exc:
                    # RFC 5530 EXPUNGEISSUED: some of the messages were expunged by another
                    # client (Dovecot then transfers none of them): transfer those that remain
                    if "EXPUNGEISSUED" not in _untagged(client) and \
                            "EXPUNGEISSUED" not in _server_text(exc).upper():
                        raise
                    present = set(client.search(["UID", uid_set(chunk)])) & set(chunk)
                    missing = set(chunk) - present
                    if not missing:
                        raise
                    gone |= missing
                    log.warning("%d of %d message(s) to %s were expunged by another client "
                                "meanwhile (UIDs %s)", len(missing), len(chunk), verb,
                                uid_set(missing))
                    if present:
                        _untagged(client).pop("COPYUID", None)
                        _send_transfer(client, verb, sorted(present), dest)
                for data in _untagged(client).pop("COPYUID", []):
                    try:  # only the UIDs of this command are taken from the answer
                        mapping.update(parse_copyuid(data, wanted=chunk)[1])
                    except (ValueError, TypeError) as exc:
                        log.warning("ignoring COPYUID from %s: %s", self.settings.address, exc)
        return mapping, gone

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[bytes | str] = (),
        date: datetime | None = None,
    ) -> int | None:
        """APPEND a message; returns its UID when the server says (APPENDUID), else None.

        date becomes the INTERNALDATE; a naive datetime is taken as local time.
        """
        with self._command(f"append to {folder}", folder=folder) as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=date)
        found = parse_appenduid(response)
        return found[1] if found else None
