"""The command line: typer commands over the core library. Logging is configured only here, and
every MailguardError becomes one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.text import Text

from .. import __version__
from ..config import configured_workers, load_config
from ..errors import ConfigError, MailguardError
from .output import LogFormatter, clean, console, plain, write_json, write_jsonl, write_line
from ..core.rules import MOVE, Decision
from ..scan import ScanStats, load_model, make_policy, open_store, scan, scan_pipeline
from ..core.social import load_networks
from ..sources import open_source

if TYPE_CHECKING:  # rich's tables: only for --format table
    from rich.console import Console
    from rich.progress import Progress

    from .scan_report import ContactCase

app = typer.Typer(
    name="mailguard",
    help="Keep people you networked with from turning into promotion blasts in your inbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

log = logging.getLogger("mailguard")


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]


def setup_logging(verbose: int, quiet: bool) -> None:
    """Levels are set only here; every log line has one format (see output.LogFormatter)."""
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_mailguard", False)]:
        root.removeHandler(old)
    if root.handlers:  # like logging.basicConfig: an embedding program (or pytest) logs its way
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(names=verbose >= 2))
    handler._mailguard = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More log output (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    setup_logging(verbose, quiet)


@app.command("version")
def version_cmd() -> None:
    """Print mailguard's version (also: mailguard --version)."""
    typer.echo(__version__)


NO_ME_WARNING = ("no --me address given: your own messages are not recognised and nothing you "
                 "sent makes a contact, so fewer messages are tied to contacts (give --me ADDRESS, "
                 "or set [mailbox] me in config.toml)")


@app.command("rules")
def rules_cmd(
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    config: ConfigOpt = None,
) -> None:
    """List the link rules: how a sender is tied to a networking contact, and how strongly.

    A message is moved only on strong or medium evidence; a weak link (a display name alone)
    never moves anything. Switch a rule off in config.toml with [links] rule-name = false.
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from ..core.linker import rules_table
    from ..scan import disabled_link_rules

    cfg = load_config(config)
    rows = rules_table(disabled_link_rules(cfg.raw))
    if fmt != Format.table:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    table = Table(title="link rules", expand=False)
    for col in ("rule", "strength", "enabled", "evidence"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(Text(r[c]) for c in ("rule", "strength", "enabled", "evidence")))
    Console(highlight=False).print(table)


@app.command("scan")
def scan_cmd(
    path: Annotated[Path, typer.Argument(help="An mbox file, a Maildir, or a folder of message files.", show_default=False)],
    me: Annotated[Optional[list[str]], typer.Option("--me", help="Your own address (repeatable; also [mailbox] me in config).")] = None,
    window_days: Annotated[Optional[int], typer.Option("--window-days", min=1, help="How long a contact counts as recent (default 180).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0, help="Promo score from which a linked bulk message is moved (default: the model's).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Promo model file (its .card.json must sit beside it).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json (one list) or jsonl (one object per line).")] = Format.table,
    show_all: Annotated[bool, typer.Option("--all", help="Also list every message, in date order, with what would be done and why.")] = False,
    moves_only: Annotated[bool, typer.Option("--moves-only", help="Only the messages that would be moved (json, jsonl, --all).")] = False,
    save: Annotated[bool, typer.Option("--save", help="Keep the contacts learned and the decisions in the state database, for flagged, review and the daemon.")] = False,
    no_save: Annotated[bool, typer.Option("--no-save", hidden=True, help="The default: write nothing.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Processes that parse and score (default: [performance] workers, else every core); the decisions are the same with any number.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Decide every message of a mailbox export, in date order, and explain each decision.

    Shows the offenders first: for each networking contact, the message that made them one and
    then the promotion that followed, which mailguard would move. --all also lists every message.

    Nothing is moved, and nothing is saved unless you ask: with --save the contacts learned and the
    decisions go into the state database ($MAILGUARD_HOME), where `mailguard flagged`, `review`
    and the daemon see them (as "would move": nothing was moved on a server).

    Example: mailguard scan sample_mbox/inbox.mbox --me sam@rivera.dev
    """
    if save and no_save:
        raise ConfigError("--save and --no-save contradict each other")
    cfg = load_config(config)
    source = open_source(path)
    promo_model = load_model(cfg, model)
    policy = make_policy(cfg, promo_model, me=tuple(me or ()), window_days=window_days,
                         threshold=threshold)
    if not policy.me:
        log.warning(NO_ME_WARNING)
    store = open_store(not save)
    err = console(stderr=True)
    stats = ScanStats()
    decisions: list[Decision] = []
    try:
        pipe = scan_pipeline(promo_model, policy, store, source=str(path),
                             social=load_networks(cfg.raw), workers=configured_workers(cfg, workers))
        show_progress = err.is_terminal and fmt == Format.table
        progress = _scan_progress(err) if show_progress else None
        with progress or nullcontext(), source:
            task = progress.add_task("scan", total=None) if progress else None

            def advance(n: int) -> None:
                if fmt == Format.jsonl:
                    sys.stdout.flush()  # a batch's lines at a time
                if progress is not None and task is not None:
                    progress.update(task, advance=n, total=stats.total)

            for d in scan(source, pipe, stats=stats, progress=advance):
                if fmt == Format.jsonl:
                    if not moves_only or d.action == MOVE:
                        write_jsonl(d.as_dict(), flush=False)
                else:
                    decisions.append(d)
        counts = pipe.finish()
    finally:
        if store is not None:
            store.close()

    summary = (f"{counts['messages']} messages, {counts['contacts']} contacts "
               f"({counts['new_contacts']} new), {counts['moves']} to move, "
               f"{counts['unreadable']} not understood (kept)")
    if pipe.unreadable_reasons:
        summary += ": " + "; ".join(f"{n}× {why}" for why, n in pipe.unreadable_reasons.items())
    if fmt == Format.json:
        write_json([d.as_dict() for d in decisions if not moves_only or d.action == MOVE])
    if fmt != Format.table:
        write_line(summary, stream=sys.stderr)
        if not policy.me:
            log.warning(NO_ME_WARNING)
        return
    from .scan_report import full_listing, offender_groups, offenders

    out = console()
    cases = offender_groups(decisions, pipe.ledger.get)
    out.print(_scan_header(path, decisions, cases, saved=store is not None, show_all=show_all))
    if cases:
        out.print(offenders(cases))
    if show_all:
        out.print(full_listing(decisions, moves_only=moves_only))
    out.print(plain(summary, "bold"))
    if not policy.me:
        out.print(Text("warning: " + NO_ME_WARNING, style="yellow"))


def _scan_progress(err: Console) -> Progress:
    """The progress bar of a scan on a terminal (rich's progress imports its tables: only here)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True)


def _scan_header(path: Path, decisions: list[Decision], cases: list[ContactCase], *,
                 saved: bool, show_all: bool) -> Text:
    """What the scan found, in three lines, before the offenders."""
    dates = [d.date for d in decisions if d.date]
    span = f" from {min(dates):%Y-%m-%d} to {max(dates):%Y-%m-%d}" if dates else ""
    moves = sum(len(c.moves) for c in cases)
    head = Text.assemble(plain(str(path), "bold"), f": {len(decisions)} messages{span}\n")
    if moves:
        senders = len({s for c in cases for s in c.senders})
        contacts = sum(1 for c in cases if c.contact)
        head.append(f"{moves} to move: promotion from {senders} sender{'s' if senders != 1 else ''} "
                    f"tied to {contacts} networking contact{'s' if contacts != 1 else ''}\n",
                    style="bold red")
    else:
        head.append("Nothing to move: no promotion from a sender tied to a recent networking "
                    "contact\n", style="bold green")
    note = ("nothing moved; contacts and decisions saved (--save)" if saved else
            "nothing moved or saved (--save keeps the results")
    note += "; --all lists every message" if not show_all else ""
    note += ")" if not saved else ""
    head.append(note + "\n", style="dim")
    return head


from .review import register as _register_review  # noqa: E402

_register_review(app)

from .imap import register as _register_imap  # noqa: E402

_register_imap(app)

from .train import register as _register_train  # noqa: E402

_register_train(app)

from .ui import register as _register_ui  # noqa: E402

_register_ui(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point; callable from tests. Returns the exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except MailguardError as exc:
        _flush_logging()
        sys.stderr.write(f"mailguard: error: {clean(exc)}\n")  # may quote a folder or a subject
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
    finally:
        _flush_logging(remove=True)
    return 0


def _flush_logging(*, remove: bool = False) -> None:
    """Flush mailguard's log handler (so a warning comes before the error line); on the way out,
    remove it (main() may be called again, as tests do, with other streams)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_mailguard", False)]:
        h.flush()
        if remove:
            root.removeHandler(h)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
