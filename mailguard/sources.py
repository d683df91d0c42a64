"""Mailbox exports on disk: an mbox file, a Maildir, or a folder of one-message-per-file.

A source is read in two passes so that memory stays flat on a large export: first only the Date of
each message (from its first bytes) to put them in date order, then each message's bytes as the
pipeline gets to it.
"""

from __future__ import annotations

import logging
import mailbox
import os
import re
import shlex
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from operator import attrgetter
from pathlib import Path
from typing import BinaryIO

from .errors import SourceError
from .core.parse import MAX_PARSE_BYTES, Head, parse_date

log = logging.getLogger(__name__)

HEAD_BYTES = 16 * 1024
#: bytes of each file read to tell a message from anything else
SNIFF_BYTES = 2048
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?")
#: headers of which a message file has at least one among its first lines
_MAIL_HEADER = re.compile(
    rb"^(?:from|to|date|subject|message-id|received|return-path|delivered-to|mime-version|"
    rb"x-gm-thrid|reply-to|sender|cc|in-reply-to|references|dkim-signature):", re.I | re.M)
#: files in a folder export that are never messages (skipped without a word)
_NOT_MAIL_SUFFIXES = frozenset({".md", ".txt", ".json", ".jsonl", ".py", ".csv", ".msf", ".dat",
                                 ".db", ".sqlite", ".sqlite3", ".toml", ".ini", ".html", ".pdf"})


@dataclass(frozen=True, slots=True)
class Item:
    """One message in a source: where it is, its Date (or None) and its position in file order."""

    ref: str
    key: str
    position: int
    date: datetime | None


#: header lines (fields and continuations, LF or CRLF) before the Date field, as the feed parser
#: reads them; then the Date field itself, with its continuation lines
_FIELDS_THEN_DATE = re.compile(
    rb"(?:[!-9;-~]+:[^\r\n]*\r?\n|[ \t][^\r\n]*\r?\n)*?"
    rb"[Dd][Aa][Tt][Ee]:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)\r?(?:\n|\Z)")


def date_of_head(head: bytes) -> datetime | None:
    """The Date of a message from its first bytes (None when it has none or it is hopeless)."""
    if head.startswith(b"From "):
        head = head.split(b"\n", 1)[-1]
    end = head.find(b"\n\n")
    end2 = head.find(b"\r\n\r\n")
    cut = min(x for x in (end, end2, len(head)) if x >= 0)
    # the common case without the stdlib parser: plain header lines up to an ASCII Date field (the
    # first one, as Message.get finds it); anything else goes the slow way below
    m = _FIELDS_THEN_DATE.match(head, 0, cut + 1 if cut < len(head) else cut)
    if m is not None and m.group(1).isascii():
        value = m.group(1).decode("ascii").rstrip("\r\n")
        return parse_date(value) if value else None
    try:
        hdrs = BytesHeaderParser(policy=compat32).parsebytes(head[:cut])
        value = hdrs.get("Date")
    except Exception:  # noqa: BLE001
        return None
    return parse_date(str(value)) if value else None


def in_date_order(items: list[Item]) -> list[Item]:
    """Sort by Date; an undated message keeps its place right after its file-order predecessor
    (or before the first dated one)."""
    by_pos = sorted(items, key=lambda i: i.position)
    last = next((i.date for i in by_pos if i.date is not None), None)
    if last is None:
        return by_pos
    keyed = []
    for it in by_pos:
        if it.date is not None:
            last = it.date
        keyed.append((it.date or last, it.position, it))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]


class Source:
    """Base: ``items()`` in file order, ``read(item)`` -> raw bytes."""

    kind = "source"

    def __init__(self, path: Path) -> None:
        self.path = path

    def items(self, *, dates: bool = True) -> list[Item]:
        """Every message in file order; ``dates=False`` leaves Item.date None (no header read)."""
        raise NotImplementedError

    def read(self, item: Item) -> bytes:
        raise NotImplementedError

    def spans(self, items: list[Item]) -> list[Span] | None:
        """Where each item is, for reading it elsewhere (in worker processes: :func:`read_span`,
        :func:`dates_of_spans`); None when the source cannot say."""
        return None

    def read_message(self, item: Item) -> bytes:
        """The message's bytes, but no more than the pipeline parses: READ_BYTES of a larger one
        (a :class:`~mailguard.core.parse.Head` that knows the whole size), so that a 25 MB attachment
        is never read or held."""
        spans = self.spans([item])
        return self.read(item) if spans is None else read_span(spans[0])

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MboxSource(Source):
    """An mbox file, read through an index of where each message starts and ends (the messages
    are never held in memory together: a 10 GB Takeout export scans in bounded memory).

    Messages are split where :class:`mailbox.mbox` splits them: at every line that starts with
    ``From `` (the blank line before one belongs to no message), and read as it reads them."""

    kind = "mbox"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._file = open(path, "rb")
        except OSError as exc:
            raise SourceError(f"cannot open mbox {path}: {exc}") from None
        self._index: tuple[array, array] | None = None

    def _offsets(self) -> tuple[array, array]:
        """(starts, stops) of every message, in file order (built once, 16 bytes a message)."""
        if self._index is None:
            self._index = mbox_offsets(self._file)
        return self._index

    def items(self, *, dates: bool = True) -> list[Item]:
        starts, stops = self._offsets()
        fd = self._file.fileno()
        out = []
        for pos in range(len(starts)):
            date = None
            if dates:
                head = os.pread(fd, min(HEAD_BYTES, stops[pos] - starts[pos]), starts[pos])
                date = date_of_head(head)
            out.append(Item(f"{self.path.name}#{pos + 1}", str(pos), pos, date))
        return out

    def spans(self, items: list[Item]) -> list[Span] | None:
        starts, stops = self._offsets()
        path = str(self.path)
        return [(path, starts[p], stops[p] - starts[p]) for p in (int(it.key) for it in items)]

    def read(self, item: Item) -> bytes:
        starts, stops = self._offsets()
        pos = int(item.key)
        data = os.pread(self._file.fileno(), stops[pos] - starts[pos], starts[pos])
        return data[data.find(b"\n") + 1:] if b"\n" in data else b""  # without the From line

    def close(self) -> None:
        self._file.close()


#: bytes of an mbox read at a time while indexing it
_INDEX_BLOCK = 8 << 20


def mbox_offsets(f: BinaryIO) -> tuple[array, array]:
    """Where each message of an mbox starts (its ``From `` line) and stops, as
    :meth:`mailbox.mbox._generate_toc` finds them: a message starts at every line that begins with
    ``From ``, and a blank line just before one is not part of the message before. The file is
    read in blocks: memory is one block and 16 bytes a message."""
    starts, stops = array("q"), array("q")
    f.seek(0)
    pos = 0  # file offset of data[0]
    prev2 = b""  # the (up to) two bytes before data[0]
    data = b""
    first = True
    while True:
        block = f.read(_INDEX_BLOCK)
        data += block
        if first and len(data) >= 5 or first and not block:
            first = False
            if data.startswith(b"From "):
                starts.append(0)
        # line starts below `cut` have their 5 bytes in data; later ones are looked at next time
        cut = len(data) - 5 if block else len(data)
        combined = prev2 + data
        p = len(prev2)
        # a line start in prev2 was handled the time before
        k = combined.find(b"\nFrom ", max(0, p - 1))
        while k >= 0 and k + 1 - p < cut:
            at = pos + k + 1 - p
            if at > 0:
                if len(stops) < len(starts):
                    blank = k >= 1 and combined[k - 1:k] == b"\n"
                    stops.append(at - 1 if blank else at)
                starts.append(at)
            k = combined.find(b"\nFrom ", k + 1)
        if not block:
            break
        if cut > 0:
            prev2 = (prev2 + data[:cut])[-2:]
            pos += cut
            data = data[cut:]
    if len(stops) < len(starts):
        end = pos + len(data)
        last2 = (prev2 + data)[-2:]
        stops.append(end - 1 if last2 == b"\n\n" else end)
    return starts, stops


class MaildirSource(Source):
    kind = "maildir"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.box = mailbox.Maildir(str(path), factory=None, create=False)

    def items(self, *, dates: bool = True) -> list[Item]:
        out = []
        keys = sorted(self.box.iterkeys())
        for pos, key in enumerate(keys):
            if not dates:
                out.append(Item(f"{self.path.name}/{key}", key, pos, None))
                continue
            try:
                with self.box.get_file(key) as f:
                    head = f.read(HEAD_BYTES)
            except OSError:  # a broken symlink, a file gone or unreadable: read() says so later
                head = b""
            out.append(Item(f"{self.path.name}/{key}", key, pos, date_of_head(head)))
        return out

    def read(self, item: Item) -> bytes:
        return self.box.get_bytes(item.key)


class FolderSource(Source):
    """A folder (searched recursively) of files holding one message each (.eml or bare)."""

    kind = "folder"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        files = list(_visible_files(path))
        # in Path order (by parts), without Path.__lt__ for every comparison
        self.files = sorted((f for f in files if not _never_mail(f)), key=attrgetter("parts"))
        #: visible files that are never mail (.md, .py...): not read, but counted by check_folder
        self.other_files = len(files) - len(self.files)

    def items(self, *, dates: bool = True) -> list[Item]:
        out = []
        for pos, p in enumerate(self.files):
            if not dates:
                out.append(Item(self._relative(p), str(p), pos, None))
                continue
            try:
                head = _read_head(p, HEAD_BYTES)
            except OSError:
                head = b""
            out.append(Item(self._relative(p), str(p), pos, date_of_head(head)))
        return out

    def _relative(self, p: Path) -> str:
        """``str(p.relative_to(self.path))``, cut from the string when it starts with the folder's."""
        s, top = str(p), str(self.path)
        prefix = top if top.endswith("/") else top + "/"
        return s[len(prefix):] if s.startswith(prefix) and len(s) > len(prefix) else str(p.relative_to(self.path))

    def spans(self, items: list[Item]) -> list[Span] | None:
        return [(it.key, 0, -1) for it in items]

    def read(self, item: Item) -> bytes:
        return Path(item.key).read_bytes()


#: Where a message is: (file, offset, length). length -1: the whole file is the message; else the
#: message of an mbox at that offset, its ``From `` envelope line included (read_span drops it).
Span = tuple[str, int, int]
#: bytes of a message the pipeline reads: what parse_message parses, and room for an envelope line
READ_BYTES = MAX_PARSE_BYTES + 1024
#: an mbox envelope line longer than this is read the slow way (the whole message)
_ENVELOPE_ROOM = 4096


def read_span(span: Span, files: dict[str, int] | None = None) -> bytes:
    """The message at ``span`` as the source's read() gives it, but at most READ_BYTES of it: a
    larger message is a :class:`~mailguard.core.parse.Head` (its first bytes, and its size). OSError
    when the file cannot be read. ``files``: mbox file descriptors kept open between calls (the
    caller closes them: :func:`close_files`)."""
    path, offset, length = span
    if length < 0:
        data, size = _read_file(path, READ_BYTES)
        if size <= READ_BYTES:
            return data
        # a file that shrank since: what was read is all there is to go on
        return Head(data, size) if len(data) == READ_BYTES else data
    fd = files.get(path) if files is not None else None
    if fd is None:
        fd = os.open(path, os.O_RDONLY)
        if files is not None:
            files[path] = fd
    try:
        want = min(length, READ_BYTES + _ENVELOPE_ROOM)
        data = os.pread(fd, want, offset)
        if len(data) < length:  # a part of the message: enough, unless it is not that large
            nl = data.find(b"\n")
            if len(data) == want and 0 <= nl < _ENVELOPE_ROOM and length - (nl + 1) > READ_BYTES:
                return Head(data[nl + 1:nl + 1 + READ_BYTES], length - (nl + 1))
            data = os.pread(fd, length, offset)
        return data[data.find(b"\n") + 1:] if b"\n" in data else b""  # as MboxSource.read
    finally:
        if files is None:
            os.close(fd)


def _read_head(path: str | Path, n: int) -> bytes:
    """``open(path, "rb").read(n)`` without a buffered file object (thousands of small files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.read(fd, n)
        while 0 < len(head) < n and (chunk := os.read(fd, n - len(head))):
            head += chunk
        return head
    finally:
        os.close(fd)


def _read_file(path: str, limit: int) -> tuple[bytes, int]:
    """(the file's bytes, or its first ``limit`` when it is larger, and its size): what
    ``open(path, "rb")`` with ``read()`` or ``read(limit)`` gives, without a buffered file object
    (thousands of small files). OSError names the file, as open() does."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size <= limit:
            data = os.read(fd, size + 1)  # all of it: a file read short has ended
            if len(data) > size:  # it grew since: to the end, as read() reads
                data += b"".join(iter(lambda: os.read(fd, 1 << 16), b""))
            return data, size
        parts: list[bytes] = []
        got = 0
        while got < limit and (chunk := os.read(fd, limit - got)):
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts), size
    except OSError as exc:
        if exc.filename is None:  # os.read's errors (a folder) do not say which file
            raise OSError(exc.errno, exc.strerror, path) from None
        raise
    finally:
        os.close(fd)


def close_files(files: dict[str, int]) -> None:
    for fd in files.values():
        os.close(fd)
    files.clear()


def read_spans(spans: list[Span]) -> tuple[list[bytes], list[tuple[int, str]]]:
    """:func:`read_span` of each span, and (index, error) of those that could not be read
    (their bytes are empty)."""
    raws: list[bytes] = []
    errors: list[tuple[int, str]] = []
    files: dict[str, int] = {}
    try:
        for i, span in enumerate(spans):
            try:
                raws.append(read_span(span, files))
            except OSError as exc:
                errors.append((i, str(exc)))
                raws.append(b"")
    finally:
        close_files(files)
    return raws, errors


def dates_of_spans(spans: list[Span]) -> list[datetime | None]:
    """The Date of each message at its span, as items() reads it (an unreadable file: none)."""
    out: list[datetime | None] = []
    fds: dict[str, int] = {}
    try:
        for path, offset, length in spans:
            try:
                if length < 0:
                    head = _read_head(path, HEAD_BYTES)
                else:
                    fd = fds.get(path)
                    if fd is None:
                        fd = fds[path] = os.open(path, os.O_RDONLY)
                    head = os.pread(fd, min(HEAD_BYTES, length), offset)
            except OSError:
                head = b""
            out.append(date_of_head(head))
    finally:
        close_files(fds)
    return out


def _visible_files(root: Path) -> Iterator[Path]:
    """Files under root, but hidden ones and those in hidden folders (.git, .venv): what os.walk
    (symbolic links to folders not followed, unreadable folders skipped) and Path.is_file find,
    in another order. A plain file is known to be one from its directory entry, without a stat."""
    todo = [os.fspath(root)]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    todo.append(entry.path)
                continue
            try:
                plain = not entry.is_symlink() and entry.is_file(follow_symlinks=False)
            except OSError:
                plain = False
            p = Path(entry.path)
            if plain or p.is_file():
                yield p


def _never_mail(p: Path) -> bool:
    """A known non-mail kind of file (.md, .json, .py, a Thunderbird .msf index...)."""
    return p.name == "cmds" or p.suffix.lower() in _NOT_MAIL_SUFFIXES


def _looks_like_message(head: bytes) -> bool:
    """A message file: header lines first, among them one every message has (From, Date...)."""
    head = head.lstrip(b"\r\n")
    first = head.split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first):
        return False
    # the first such header, if no blank line ends the header lines before it: the blank lines
    # are looked for only up to there, not through the whole head
    m = _MAIL_HEADER.search(head)
    return (m is not None and head.find(b"\n\n", 0, m.end() + 1) < 0
            and head.find(b"\r\n\r\n", 0, m.end() + 3) < 0)


def _looks_like_mbox(head: bytes) -> bool:
    """An mbox: a 'From ' separator line followed by a message's header lines."""
    head = head.lstrip(b"\r\n")
    if not head.startswith(b"From "):
        return False
    rest = head.split(b"\n", 1)
    return len(rest) == 2 and _looks_like_message(rest[1])


#: names of mbox files (a Takeout "All mail Including Spam and Trash.mbox", mutt's "mbox")
_MBOX_NAME = re.compile(r"(?i)(?:\.mbox|\.mbx|^mbox)$")


def _sniff(path: Path) -> str:
    """'message', 'mbox', or 'other' (also for a file that cannot be read). In a folder, a file
    that starts with a 'From ' line is one message with its envelope line (as the SpamAssassin
    corpus and many .eml writers have it), unless its name says mbox."""
    try:
        head = _read_head(path, SNIFF_BYTES)
    except OSError:
        return "other"
    if _looks_like_mbox(head):
        return "mbox" if _MBOX_NAME.search(path.name) else "message"
    return "message" if _looks_like_message(head) else "other"


def _example(paths: list[Path], root: Path, n: int = 3) -> str:
    names = [str(p.relative_to(root)) for p in paths[:n]]
    return ", ".join(names) + (", ..." if len(paths) > n else "")


def check_folder(src: FolderSource) -> None:
    """A folder of message files is one where most files are messages; anything else is a
    SourceError saying what the folder holds. Files that are not messages in a folder that is
    mostly messages stay in the scan and are reported as not understood."""
    p = src.path
    if not src.files:
        raise SourceError(f"{p} is a folder with no message files (and not a Maildir)")
    kinds: dict[str, list[Path]] = {"message": [], "mbox": [], "other": []}
    for f in src.files:
        kinds[_sniff(f)].append(f)
    total, messages, mboxes = len(src.files) + src.other_files, len(kinds["message"]), kinds["mbox"]
    if mboxes and len(mboxes) >= messages:
        first = mboxes[0]
        raise SourceError(f"{p} is a folder of {len(mboxes)} mbox file(s) ({_example(mboxes, p)}), "
                          f"not a mailbox: scan each one, e.g. mailguard scan {shlex.quote(str(first))}")
    if messages * 2 <= total:
        raise SourceError(f"{p} is not a mailbox: {total - messages:,} of its {total:,} files are not "
                          "mail messages (expected an mbox file, a Maildir, or a folder of message "
                          f"files such as .eml; e.g. {_example(kinds['other'], p)})")
    if mboxes:  # a few mbox files among many messages: each would be one unreadable message
        src.files = [f for f in src.files if f not in set(mboxes)]
        log.warning("%s: skipped %d mbox file(s) among the message files (%s); scan them apart",
                    p, len(mboxes), _example(mboxes, p))


def open_source(path: Path | str) -> Source:
    """Open PATH as an mbox, a Maildir or a folder of messages; SourceError with one line if not."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"no such file or directory: {p}")
    if p.is_dir():
        if all((p / sub).is_dir() for sub in ("cur", "new")):
            return MaildirSource(p)
        if not os.access(p, os.R_OK | os.X_OK):
            raise SourceError(f"cannot read {p}: permission denied")
        src = FolderSource(p)
        check_folder(src)
        return src
    if not os.access(p, os.R_OK):
        raise SourceError(f"cannot read {p}: permission denied")
    with open(p, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise SourceError(f"{p} is empty, not a mailbox")
    if _looks_like_mbox(head):
        return MboxSource(p)
    if _looks_like_message(head):
        return SingleFileSource(p)
    raise SourceError(f"{p} is not a mailbox: expected an mbox ('From ' lines), a Maildir, "
                      "a message file or a folder of them")


class SingleFileSource(FolderSource):
    """One message in one file (an .eml)."""

    def __init__(self, path: Path) -> None:
        Source.__init__(self, path)
        self.files = [path]

    def items(self, *, dates: bool = True) -> list[Item]:
        return [Item(self.path.name, str(self.path), 0,
                     date_of_head(self.path.read_bytes()[:HEAD_BYTES]) if dates else None)]


def iter_messages(src: Source, *, ordered: bool = True) -> Iterator[tuple[Item, bytes]]:
    items = src.items()
    for it in in_date_order(items) if ordered else items:
        try:
            yield it, src.read(it)
        except (OSError, KeyError) as exc:
            raise SourceError(f"cannot read {it.ref}: {exc}") from None
