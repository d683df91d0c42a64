"""Mailbox exports on disk: an mbox file, a Maildir, or a folder of one-message-per-file.

A source is read in two passes so that memory stays flat on a large export: first only the Date of
each message (from its first bytes) to put them in date order, then each message's bytes as the
pipeline gets to it.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from .errors import SourceError
from .parse import parse_date

HEAD_BYTES = 16 * 1024
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?")


@dataclass(frozen=True, slots=True)
class Item:
    """One message in a source: where it is, its Date (or None) and its position in file order."""

    ref: str
    key: str
    position: int
    date: datetime | None


def date_of_head(head: bytes) -> datetime | None:
    if head.startswith(b"From "):
        head = head.split(b"\n", 1)[-1]
    end = head.find(b"\n\n")
    end2 = head.find(b"\r\n\r\n")
    cut = min(x for x in (end, end2, len(head)) if x >= 0)
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

    def items(self) -> list[Item]:
        raise NotImplementedError

    def read(self, item: Item) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MboxSource(Source):
    kind = "mbox"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.box = mailbox.mbox(str(path), create=False)
        except (OSError, mailbox.Error) as exc:
            raise SourceError(f"cannot open mbox {path}: {exc}") from None

    def items(self) -> list[Item]:
        out = []
        for pos, key in enumerate(self.box.iterkeys()):
            with self.box.get_file(key) as f:
                head = f.read(HEAD_BYTES)
            out.append(Item(f"{self.path.name}#{pos + 1}", str(key), pos, date_of_head(head)))
        return out

    def read(self, item: Item) -> bytes:
        return self.box.get_bytes(int(item.key))

    def close(self) -> None:
        self.box.close()


class MaildirSource(Source):
    kind = "maildir"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.box = mailbox.Maildir(str(path), factory=None, create=False)

    def items(self) -> list[Item]:
        out = []
        keys = sorted(self.box.iterkeys())
        for pos, key in enumerate(keys):
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
        self.files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.name not in ("cmds",)
            and p.suffix.lower() not in (".md", ".txt", ".json", ".jsonl", ".py", ".csv")
        )

    def items(self) -> list[Item]:
        out = []
        for pos, p in enumerate(self.files):
            try:
                with open(p, "rb") as f:
                    head = f.read(HEAD_BYTES)
            except OSError:
                head = b""
            out.append(Item(str(p.relative_to(self.path)), str(p), pos, date_of_head(head)))
        return out

    def read(self, item: Item) -> bytes:
        return Path(item.key).read_bytes()


def _looks_like_message(head: bytes) -> bool:
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    return bool(_HEADER_LINE.match(first))


def open_source(path: Path | str) -> Source:
    """Open PATH as an mbox, a Maildir or a folder of messages; SourceError with one line if not."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"no such file or directory: {p}")
    if p.is_dir():
        if all((p / sub).is_dir() for sub in ("cur", "new")):
            return MaildirSource(p)
        src = FolderSource(p)
        if not src.files:
            raise SourceError(f"{p} is a folder with no message files (and not a Maildir)")
        return src
    if not os.access(p, os.R_OK):
        raise SourceError(f"cannot read {p}: permission denied")
    with open(p, "rb") as f:
        head = f.read(4096)
    if not head.strip():
        raise SourceError(f"{p} is empty, not a mailbox")
    if head.lstrip(b"\r\n").startswith(b"From "):
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

    def items(self) -> list[Item]:
        return [Item(self.path.name, str(self.path), 0,
                     date_of_head(self.path.read_bytes()[:HEAD_BYTES]))]


def iter_messages(src: Source, *, ordered: bool = True) -> Iterator[tuple[Item, bytes]]:
    items = src.items()
    for it in in_date_order(items) if ordered else items:
        try:
            yield it, src.read(it)
        except (OSError, KeyError) as exc:
            raise SourceError(f"cannot read {it.ref}: {exc}") from None
