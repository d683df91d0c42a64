"""The command line: typer commands over the core library. Logging is configured only here, and
every MailguardError becomes one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .config import load_config
from .errors import MailguardError
from .pipeline import Pipeline
from .rules import MOVE, Decision
from .scan import ScanStats, load_model, make_policy, open_store, scan
from .social import load_networks
from .sources import open_source

app = typer.Typer(
    name="mailguard",
    help="Keep people you networked with from turning into promotion blasts in your inbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

log = logging.getLogger("mailguard")


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More log output (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
) -> None:
    setup_logging(verbose, quiet)


@app.command("version")
def version_cmd() -> None:
    """Print mailguard's version."""
    typer.echo(__version__)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(s: str) -> Text:
    """Text from a message for a table cell: never read as rich markup ("[/bold]" in a subject
    raised MarkupError) and without terminal control sequences (ESC in a subject reached the tty)."""
    return Text(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", s))


def _short(s: str, n: int) -> str:
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "…"


def _reason_summary(d: Decision) -> str:
    if d.action == MOVE:
        return f"{d.link_kind} → {d.linked_contact}"
    first = d.reasons[0] if d.reasons else ""
    if d.learned:
        return d.learned[0]
    return first


@app.command("scan")
def scan_cmd(
    path: Annotated[Path, typer.Argument(help="An mbox file, a Maildir, or a folder of message files.")],
    me: Annotated[Optional[list[str]], typer.Option("--me", help="Your own address (repeatable; also [mailbox] me in config).")] = None,
    window_days: Annotated[Optional[int], typer.Option("--window-days", min=1, help="How long a contact counts as recent (default 180).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0, help="Promo score from which a linked bulk message is moved (default: the model's).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Promo model file (its .card.json must sit beside it).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json (one list) or jsonl (one object per line).")] = Format.table,
    moves_only: Annotated[bool, typer.Option("--moves-only", help="Show only the messages that would be moved.")] = False,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write nothing to the state database.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Decide every message of a mailbox export, in date order, and explain each decision.

    Nothing is moved: scan reports what mailguard would do. Decisions are saved to the state
    database (for `mailguard flagged` and friends) unless --no-save.

    Example: mailguard scan sample_mbox/inbox.mbox --me sam@rivera.dev
    """
    cfg = load_config(config)
    promo_model = load_model(cfg, model)
    policy = make_policy(cfg, promo_model, me=tuple(me or ()), window_days=window_days,
                         threshold=threshold)
    if not policy.me:
        log.warning("no --me address given: your own messages cannot be recognised, and no contact "
                    "is learned from what you sent")
    source = open_source(path)
    store = open_store(no_save)
    out = Console(highlight=False, soft_wrap=fmt != Format.table)
    err = Console(stderr=True)
    stats = ScanStats()
    decisions: list[Decision] = []
    try:
        pipe = Pipeline(promo_model, policy, store, source=str(path),
                        social=load_networks(cfg.raw))
        show_progress = err.is_terminal and fmt == Format.table
        progress = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, transient=True,
                            disable=not show_progress)
        with progress, source:
            task = progress.add_task("scan", total=None)
            for d in scan(source, pipe, stats=stats,
                          progress=lambda n: progress.update(task, advance=n, total=stats.total)):
                if moves_only and d.action != MOVE:
                    continue
                if fmt == Format.jsonl:
                    out.print(json.dumps(d.as_dict(), ensure_ascii=False), markup=False)
                else:
                    decisions.append(d)
        counts = pipe.finish()
    finally:
        if store is not None:
            store.close()

    if fmt == Format.json:
        shown = [d.as_dict() for d in decisions if not moves_only or d.action == MOVE]
        out.print(json.dumps(shown, ensure_ascii=False, indent=1), markup=False)
    elif fmt == Format.table:
        _print_table(out, decisions, moves_only)
    summary = (f"{counts['messages']} messages, {counts['contacts']} contacts "
               f"({counts['new_contacts']} new), {counts['moves']} to move, "
               f"{counts['unreadable']} not understood (kept)")
    if pipe.unreadable_reasons:
        summary += ": " + "; ".join(f"{n}× {why}" for why, n in pipe.unreadable_reasons.items())
    if fmt == Format.table:
        out.print(f"\n[bold]{summary}[/bold]")
    else:
        err.print(summary, markup=False, highlight=False)


def _print_table(out: Console, decisions: list[Decision], moves_only: bool) -> None:
    table = Table(title="mailguard scan", show_lines=False, expand=True)
    table.add_column("date", no_wrap=True, min_width=10)
    table.add_column("action", no_wrap=True, min_width=4)
    table.add_column("promo", justify="right", no_wrap=True, min_width=5)
    table.add_column("from", min_width=12, max_width=30, overflow="ellipsis", no_wrap=True, ratio=2)
    table.add_column("subject", min_width=12, overflow="ellipsis", no_wrap=True, ratio=3)
    table.add_column("why", min_width=16, overflow="ellipsis", no_wrap=True, ratio=4)
    for d in decisions:
        if moves_only and d.action != MOVE:
            continue
        style = "bold red" if d.action == MOVE else ("green" if d.learned else "")
        table.add_row(
            d.date.strftime("%Y-%m-%d") if d.date else "?",
            d.action.upper() if d.action == MOVE else d.action,
            "" if d.promo_score is None else f"{d.promo_score:.2f}",
            _cell(d.sender or "?"),
            _cell(d.subject),
            _cell(_reason_summary(d)),
            style=style,
        )
    out.print(table)
    moved = [d for d in decisions if d.action == MOVE]
    if not moved:
        return
    by_sender: dict[str, list[Decision]] = {}
    for d in moved:
        by_sender.setdefault(d.sender, []).append(d)
    flagged = Table(title="flagged senders: networking contact, then promotion")
    flagged.add_column("sender")
    flagged.add_column("linked contact")
    flagged.add_column("how linked", max_width=70)
    flagged.add_column("moved", justify="right")
    for sender, ds in by_sender.items():
        kinds = Counter(d.link_kind for d in ds)
        detail = next((r for r in ds[-1].reasons if r.startswith("contact since")), "")
        flagged.add_row(_cell(sender), _cell(ds[-1].linked_contact or ""),
                        _cell(f"{kinds.most_common(1)[0][0]}; {detail}"), str(len(ds)))
    out.print(flagged)


from .cli_review import register as _register_review  # noqa: E402

_register_review(app)

from .cli_imap import register as _register_imap  # noqa: E402

_register_imap(app)

from .cli_train import register as _register_train  # noqa: E402

_register_train(app)

from .ui.command import register as _register_ui  # noqa: E402

_register_ui(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point; callable from tests. Returns the exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except MailguardError as exc:
        sys.stderr.write(f"mailguard: error: {exc}\n")
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("mailguard: aborted\n")
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click's usage errors (typer vendors click: match by shape)
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        raise
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
