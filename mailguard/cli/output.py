"""Everything mailguard writes for a person or another program: one cleaning function for text
that came from mail (or anywhere else outside mailguard), and the writers that use it.

Message text is hostile: a Subject can carry ESC sequences (an OSC 8 hyperlink, a screen clear, a
title change), NUL, DEL, C1 controls (a bare CSI), bidi overrides that make "moc.evil" read as
"live.com", or rich markup ("[link=...]", "[/bold]"). Every line meant for a terminal goes
through :func:`clean`; rich renders it only as :class:`rich.text.Text`, never as markup; JSON
and CSV are written straight to stdout, never through rich (whose emoji codes would turn
":warning:" into a picture).
"""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from rich.console import Console
from rich.text import Text

#: what stands in for a character that must not reach a terminal
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"

#: C0 controls (tab and newline are handled apart), DEL, C1 controls; the bidi embeddings,
#: overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C);
#: line and paragraph separators (U+2028, U+2029), which some programs treat as line breaks
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
_UNSAFE_OR_NL_RE = re.compile(f"[{_UNSAFE}\n]")
#: the same characters as JSON escapes (json.dumps leaves C1 and bidi characters raw)
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: a spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean(text: object, *, multiline: bool = False) -> str:
    """``text`` as a string that cannot drive a terminal: every control character, bidi control
    and line separator becomes U+FFFD, a tab a space. A newline is kept only when ``multiline``
    (a line break in a Subject must not start a forged log line or table row)."""
    s = "" if text is None else str(text)
    s = s.replace("\t", " ")
    return (_UNSAFE_RE if multiline else _UNSAFE_OR_NL_RE).sub(REPLACEMENT, s)


def plain(text: object, style: str = "", *, multiline: bool = False) -> Text:
    """Cleaned text for rich: never read as markup ("[/bold]" or "[link=...]" print as they are)."""
    return Text(clean(text, multiline=multiline), style=style)


def console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A rich console for mailguard's own output: no markup, emoji codes or highlighting applied
    to what it prints; the terminal's real width (COLUMNS when set, 80 when not a terminal)."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=width)


def write_line(text: object = "", *, stream: IO[str] | None = None) -> None:
    """One plain line (cleaned; a newline inside becomes U+FFFD)."""
    out = stream or sys.stdout
    out.write(clean(text) + "\n")
    out.flush()  # a daemon's line must reach the journal now, in order with the log lines


def write_lines(lines: Iterable[object], *, stream: IO[str] | None = None) -> None:
    for line in lines:
        write_line(line, stream=stream)


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON that is safe on a terminal too: C0 controls are escaped by json.dumps, and here also
    DEL, C1 and bidi controls (``\\u009b``); the data read back is the same."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json(value: Any, *, indent: int | None = 1, stream: IO[str] | None = None) -> None:
    """``value`` as JSON on stdout, straight (never through rich: no emoji codes, no wrapping)."""
    (stream or sys.stdout).write(json_text(value, indent=indent) + "\n")


def write_jsonl(value: Any, *, stream: IO[str] | None = None, flush: bool = True) -> None:
    """One JSON object on one line (``flush=False``: the caller flushes, e.g. once a batch)."""
    out = stream or sys.stdout
    out.write(json_text(value) + "\n")
    if flush:
        out.flush()


def csv_cell(value: object) -> str:
    """A CSV cell: lists joined with " | ", dicts as JSON, None empty; controls replaced (a newline
    too: one record a line); a cell a spreadsheet would run as a formula gets a leading "'"."""
    if value is None:
        s = ""
    elif isinstance(value, (list, tuple)):
        s = " | ".join(str(v) for v in value)
    elif isinstance(value, dict):
        s = json.dumps(value, ensure_ascii=False)
    else:
        s = str(value)
    s = clean(s)
    if s.startswith(_FORMULA_START):
        s = "'" + s
    return s


def write_csv(rows: Sequence[Mapping[str, object]], keys: Sequence[str] | None = None, *,
              stream: IO[str] | None = None) -> None:
    """Rows as CSV with a header (``keys``, default the first row's keys), each cell through
    :func:`csv_cell`, every cell quoted."""
    out = stream or sys.stdout
    keys = list(keys if keys is not None else (rows[0].keys() if rows else ()))
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow([csv_cell(k) for k in keys])
    for r in rows:
        w.writerow([csv_cell(r.get(k)) for k in keys])


class LogFormatter(logging.Formatter):
    """``2026-05-01 12:00:00 WARNING text`` for every log line mailguard prints, the message and
    any traceback cleaned (a Subject in a log line cannot forge another line or drive the
    terminal). ``names``: also the logger's name (for -vv)."""

    def __init__(self, *, names: bool = False) -> None:
        fmt = "%(asctime)s %(levelname)s " + ("%(name)s: " if names else "") + "%(message)s"
        super().__init__(fmt, datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)  # a copy: other handlers see the original
        record.msg, record.args = clean(record.getMessage()), None
        return super().format(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return clean(super().formatException(ei), multiline=True)


def stamp(level: str = "INFO") -> str:
    """The prefix of a log line written outside logging (`mailguard run`'s reports), so that what
    the daemon prints has one format."""
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level} "
