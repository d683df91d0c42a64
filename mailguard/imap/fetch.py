"""Reading messages of an IMAP account: which UIDs are new (or arrived since a day), fetching
them without setting \\Seen, and finding a message by its Message-ID (and content hash)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from ..errors import ImapError

from .client import (
    HASH_BODY_BYTES,
    MIN_SEARCH_TERM,
    TRANSFER_BATCH,
    FetchedMessage,
    _body_part,
    _chunks,
    _fetched,
    _uids,
    imap_quoted,
    message_id_of,
    search_term,
)
from .folders import ImapFolders
from .wire import finish_uid_fetch, start_uid_fetch, uid_fetch

log = logging.getLogger(__name__)


class ImapFetch(ImapFolders):
    """An IMAP connection, its folders, and reading the messages in them."""

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than last_uid in the selected folder, ascending.

        A NOOP first brings in mail that arrived since the last command: servers (Dovecot) answer
        SEARCH from the session's view, which grows only when they report EXISTS.
        "UID SEARCH UID n+1:*" also matches the highest message when every UID is <= n (the "*"
        stands for the largest UID in use), so the answer is filtered.
        """
        if last_uid < 0:
            raise ValueError(f"last_uid must be >= 0, not {last_uid}")
        self._require_selected()
        self.noop()
        with self._command("UID SEARCH") as client:
            found = client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in _uids(found) if uid > last_uid)

    def uids_since(self, day: date, among: Sequence[int] | None = None) -> list[int]:
        """UIDs of messages that arrived (INTERNALDATE) on or after day, ascending (after a NOOP,
        as uids_after). ``among``: only those of these UIDs (ascending; one SEARCH of the UIDs
        from the first to the last, no NOOP), which costs the server a look at these messages
        alone, where a search of the whole folder looks at every message's date before it
        answers (a cold Dovecot index: about 10 µs a message)."""
        self._require_selected()
        when = day.date() if isinstance(day, datetime) else day
        if among is not None:
            if not among:
                return []
            with self._command("UID SEARCH") as client:
                found = client.search(["UID", f"{among[0]}:{among[-1]}", "SINCE", when])
            wanted = set(among)
            return sorted(uid for uid in _uids(found) if uid in wanted)
        self.noop()
        with self._command("UID SEARCH") as client:
            found = client.search(["SINCE", when])
        return sorted(_uids(found))

    def uids_upto(self, last_uid: int) -> list[int]:
        """UIDs of the selected folder up to last_uid, ascending (after a NOOP, as uids_after):
        what the server's index holds, no message looked at."""
        self._require_selected()
        self.noop()
        if last_uid < 1:
            return []
        with self._command("UID SEARCH") as client:
            found = client.search(["UID", f"1:{last_uid}"])
        return sorted(uid for uid in _uids(found) if uid <= last_uid)

    def fetch(
        self, uids: Iterable[int], max_body_bytes: int = 65536, batch: int = 200
    ) -> Iterator[FetchedMessage]:
        """Fetch header, the first max_body_bytes of the body, size, flags and INTERNALDATE of
        messages in the selected folder, in ascending UID order, batch UIDs per command.

        Uses BODY.PEEK, so \\Seen is never set. UIDs that no longer exist are skipped.
        """
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, not {max_body_bytes}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        wanted = sorted(set(uids))
        self._require_selected()
        return self._fetch_batches(wanted, max_body_bytes, batch)

    def fetch_ahead(self, chunks: Iterable[Sequence[int]], max_body_bytes: int = 65536
                    ) -> Iterator[list[FetchedMessage]]:
        """:meth:`fetch` of each chunk of UIDs in turn, one list per chunk (an empty chunk gives
        an empty list), one command per chunk. The FETCH of the next chunk is sent before the
        messages of this one are handed over: the server reads and sends them while the caller
        works on these. Nothing else may be sent on the connection until the iterator is done or
        closed (closing reads the answer still on its way)."""
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, not {max_body_bytes}")
        self._require_selected()
        return self._fetch_ahead(iter(chunks), _fetch_items(max_body_bytes))

    def _fetch_ahead(self, chunks: Iterator[Sequence[int]], items: list[str]
                     ) -> Iterator[list[FetchedMessage]]:
        def send(chunk: Sequence[int]) -> tuple[list[int], bytes | None]:
            uids = sorted(set(chunk))
            if not uids:
                return uids, None
            with self._command("UID FETCH") as client:
                return uids, start_uid_fetch(client, uids, items)

        def answer(uids: list[int], tag: bytes | None) -> dict[int, dict[bytes, Any]]:
            if tag is None:
                return {}
            with self._command("UID FETCH") as client:
                return finish_uid_fetch(client, tag, uids)

        pending: tuple[list[int], bytes | None] | None = None
        try:
            first = next(chunks, None)
            pending = None if first is None else send(first)
            while pending is not None:
                uids, tag = pending
                pending = None
                response = answer(uids, tag)
                following = next(chunks, None)
                if following is not None:
                    pending = send(following)
                yield self._messages(uids, response)
        finally:
            if pending is not None and pending[1] is not None and self._client is not None:
                try:  # the caller stopped early: the answer in flight is read and dropped
                    answer(*pending)
                except ImapError as exc:
                    log.warning("reading the answer to a FETCH no longer wanted failed: %s", exc)

    def _messages(self, uids: list[int], response: dict[int, dict[bytes, Any]]
                  ) -> list[FetchedMessage]:
        out = []
        for uid in uids:
            message = _fetched(uid, response[uid]) if uid in response else None
            if message is None:
                log.debug("message %d is gone from %s; skipped", uid, self._selected)
                continue
            out.append(message)
        return out

    def _fetch_batches(self, uids: list[int], max_body_bytes: int, batch: int) -> Iterator[FetchedMessage]:
        items = _fetch_items(max_body_bytes)
        for chunk in _chunks(uids, batch):
            with self._command("UID FETCH") as client:
                response = uid_fetch(client, chunk, items)
            for uid in chunk:
                message = _fetched(uid, response[uid]) if uid in response else None
                if message is None:
                    log.debug("message %d is gone from %s; skipped", uid, self._selected)
                    continue
                yield message

    def find_by_message_id(self, folder: str, message_id: str,
                           content_hash: str | None = None) -> list[int]:
        """UIDs of the messages in folder whose Message-ID is exactly message_id (ascending) and,
        when content_hash is given, whose content has that hash (see :func:`content_hash`): a
        different message that reuses the Message-ID is not the one looked for.

        For reconciling a move that was interrupted (is the message already in the destination?)
        and for undo. Any Message-ID can be looked for: the SEARCH sends a quoted, printable part
        of it (:func:`search_term`) and the candidates' headers are compared exactly. The folder
        is examined read-only; the previously selected folder is selected again after.
        """
        wanted = " ".join(message_id.split())
        if not wanted:
            raise ValueError("empty Message-ID")
        term = search_term(wanted)
        criteria = (b"HEADER Message-ID " + imap_quoted(term)
                    if len(term) >= MIN_SEARCH_TERM else b"ALL")
        previous, previous_readonly = self._selected, self._selected_readonly
        try:
            if previous != folder:
                self.select(folder, readonly=True)
            with self._command(f"search {folder}", folder=folder) as client:
                candidates = sorted(_uids(client.search(criteria)))
            found: list[int] = []
            for chunk in _chunks(candidates, TRANSFER_BATCH):
                with self._command(f"fetch from {folder}", folder=folder) as client:
                    headers = client.fetch(list(chunk), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                found += [uid for uid in chunk if uid in headers and
                          message_id_of(_body_part(headers[uid], b"BODY[HEADER.FIELDS") or b"") == wanted]
            if content_hash is not None and found:
                found = [m.uid for m in self._fetch_batches(found, HASH_BODY_BYTES, TRANSFER_BATCH)
                         if m.content_hash == content_hash]
        finally:
            if previous is not None and previous != folder and self._client is not None:
                self.select(previous, readonly=previous_readonly)
        return sorted(found)


def _fetch_items(max_body_bytes: int) -> list[str]:
    """What a FETCH of messages asks for: the header, the start of the body, size, flags and
    INTERNALDATE."""
    return ["BODY.PEEK[HEADER]", f"BODY.PEEK[TEXT]<0.{max_body_bytes}>", "RFC822.SIZE", "FLAGS",
            "INTERNALDATE"]
