"""Review commands on the command line: flagged, review, allow, block, undo, log, contacts
(import, list, forget) and export sieve. ``register(app)`` adds them to mailguard's typer app.

Like cli.py, these only open the store, call the core (review.py, importers.py, sieve.py) and
print; every failure is a MailguardError that main() turns into one line and an exit code.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional


import typer
from rich.console import Console, Group, RenderableType
from rich.text import Text

from ..config import Config, load_config
from ..errors import ConfigError, ReviewError
from ..review.importers import import_contacts, read_contacts_file
from .output import console, plain, write_csv, write_json, write_line, write_lines
from ..review.actions import (ALLOWED, BLOCKED, FLAGGED, FlaggedSender, Mover, UndoPlan, apply_undo,
                              decision_log, filter_date, flagged_senders, messages_of, moved_messages,
                              normalise_entry, plan_revert, plan_undo, review_actions, set_rule)
from ..review.sieve import DEFAULT_FOLDER, render_sieve, sieve_targets
from ..store import Store

if TYPE_CHECKING:  # rich's tables: imported by the commands that draw one
    from rich.table import Table


class OutFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Status(str, Enum):
    flagged = FLAGGED
    allowed = ALLOWED
    blocked = BLOCKED


class ContactKind(str, Enum):
    linkedin = "linkedin"
    vcard = "vcard"


class ContactSource(str, Enum):
    mail = "mail"
    imported = "import"
    social = "social"


FormatOpt = Annotated[OutFormat, typer.Option("--format", help="table, json (one list) or csv.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]

contacts_app = typer.Typer(
    help="Networking contacts: import a LinkedIn or vCard export, list them, forget one.",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Export mailguard's decisions for other tools.", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[Store]:
    store = Store.open_default()
    try:
        yield store
    finally:
        store.close()


def _out() -> Console:
    return console()


def _write(text: str) -> None:
    """A plain line on stdout (never rich markup), cleaned (output.clean); a line break in it
    starts a new, also cleaned, line."""
    write_lines(text.rstrip("\n").split("\n"))


def _add(t: Table, *cells: str, style: str = "") -> None:
    """A table row whose cells are plain, cleaned text: a subject like "[/bold]" is not rich
    markup, an ESC in it never reaches the terminal. A newline inside a cell is kept (the
    tables put several facts in one cell, one a line)."""
    t.add_row(*(plain(c, multiline=True) for c in cells), style=style)


def _day(d: datetime | str | None) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    return d.strftime("%Y-%m-%d")


def _short(s: str, n: int) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _emit(rows: list[dict[str, Any]], fmt: OutFormat,
          table: Callable[[], RenderableType] | None = None) -> None:
    """rows as JSON (one list, straight to stdout), CSV (header = the first row's keys; cells
    cleaned, formulas quoted) or the given rich table."""
    if fmt == OutFormat.json:
        write_json(rows)
    elif fmt == OutFormat.csv:
        write_csv(rows)
    elif table is not None:
        _out().print(table())


def _parse_since(text: str | None) -> datetime | None:
    return filter_date(text, ConfigError(f"--since {text!r}: expected a date like 2026-03-12 "
                                         "(or 2026-03-12T09:00)"))


# -- flagged ------------------------------------------------------------------------------------


def moved_words(total: int, on_server: int) -> str:
    """'3 moved' (on a server), '3 would move' (decisions only: a scan or a dry run), or both."""
    would = total - on_server
    if not would:
        return f"{total} moved"
    if not on_server:
        return f"{would} would move"
    return f"{on_server} moved, {would} would move"


def _flagged_table(rows: Sequence[FlaggedSender]) -> RenderableType:
    """One block per sender, wrapped to the terminal (an address is never cut): the sender, its
    status and messages; the contact it was tied to, how and since when; the last subject."""
    blocks: list[RenderableType] = [
        Text("flagged senders: networking contact, then promotion (newest first)", style="bold"), ""]
    for f in rows:
        style = {"allowed": "green", "blocked": "red"}.get(f.status, "bold")
        head = Text.assemble(plain(f.sender, "bold"), ": ", (f.status, style),
                             f", {moved_words(f.messages, f.moved_on_server)}")
        if f.max_score is not None:
            head.append(f", promo score up to {f.max_score:.2f}")
        from rich.table import Table
        t = Table.grid(padding=(0, 1), pad_edge=False)
        t.add_column(width=1)
        t.add_column(width=7, no_wrap=True)
        t.add_column(ratio=1, overflow="fold")
        if f.linked_contact:
            who = f"{f.contact_name} <{f.linked_contact}>" if f.contact_name else f.linked_contact
            contact = f"{who} ({f.link})"
            if f.contact_since:
                contact += f", since {_day(f.contact_since)}"
            made = f.contact_how + (f': "{f.contact_subject}"' if f.contact_subject else "")
            contact += f": {made}" if made else ""
        else:
            contact = f"none: moved by the {f.status} rule {f.rule}" if f.rule else "none"
        t.add_row("", Text("contact", style="green"), plain(contact))
        last = f'{_day(f.last_date)} "{f.last_subject}"' if f.last_date else f'"{f.last_subject}"'
        t.add_row("", Text("last", style="dim"), plain(last))
        blocks += [head, t, ""]
    return Group(*blocks)


def flagged_cmd(
    fmt: FormatOpt = OutFormat.table,
    status: Annotated[Optional[Status], typer.Option("--status", help="Only senders in this status.")] = None,
) -> None:
    """List the flagged senders: one row per sender whose mail was moved (or a saved scan would
    move), newest first.

    Each row says which networking contact the sender was tied to and how (same address, same
    organisation, name, reply-to...), when and by which message that contact was made, how many
    messages were moved, the last subject, the highest promo score, and the status: flagged,
    allowed or blocked. A message scanned twice counts once. Messages mailguard moved on a server
    say "moved"; decisions only (a scan saved with --save, a dry run) say "would move".

    Example: mailguard flagged --format json
    """
    with _store() as store:
        rows = flagged_senders(store)
    if status is not None:
        rows = [f for f in rows if f.status == status.value]
    if fmt == OutFormat.table and not rows:
        _write("no flagged senders" + (f" with status {status.value}" if status else "")
               + ": nothing was moved by `mailguard run`, and no scan was saved "
               "(`mailguard scan PATH --save`)")
        return
    _emit([f.as_dict() for f in rows], fmt, lambda: _flagged_table(rows))


# -- allow / block ------------------------------------------------------------------------------


def _rule_cmd(entry: str, status: str, remove: bool, note: str) -> None:
    entry = normalise_entry(entry)
    with _store() as store:
        current = store.sender_rules().get(entry)
        if remove:
            if current != status:
                raise ReviewError(f"{entry} is not {status} (its rule: {current or 'none'})")
            set_rule(store, entry, None, note=note)
            _write(f"removed the {status[:-2]} rule for {entry}")
            return
        change = set_rule(store, entry, status, note=note)
        n = len(messages_of(entry, moved_messages(store)))
    was = f" (was {change.before})" if change.before and change.before != status else ""
    if status == ALLOWED:
        _write(f"allowed {entry}{was}: its mail is never moved again.")
        if n:
            _write(f"{n} message(s) from it were already moved or flagged; "
                   f"`mailguard undo {entry}` puts them back.")
    else:
        _write(f"blocked {entry}{was}: its mail is always moved from now on"
               + (f" ({n} message(s) from it moved so far)." if n else "."))


EntryArg = Annotated[str, typer.Argument(metavar="SENDER|DOMAIN", help="An address (news@acme.io) or a domain (acme.io: also its subdomains).")]
RemoveOpt = Annotated[bool, typer.Option("--remove", help="Take the rule away instead.")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why, kept with the rule.")]


def allow_cmd(entry: EntryArg, remove: RemoveOpt = False, note: NoteOpt = "") -> None:
    """Allow a sender or domain: never move its mail again.

    Allowed senders are personal-mail labels (0) for training (see review.labelled_examples).
    Allowing does not move mail back: `mailguard undo SENDER` does.

    Example: mailguard allow jane@acme.io
    """
    _rule_cmd(entry, ALLOWED, remove, note)


def block_cmd(entry: EntryArg, remove: RemoveOpt = False, note: NoteOpt = "") -> None:
    """Block a sender or domain: always move its mail, linked to a contact or not.

    Blocked senders are promotion labels (1) for training (see review.labelled_examples).

    Example: mailguard block news@acme.io
    """
    _rule_cmd(entry, BLOCKED, remove, note)


# -- undo ---------------------------------------------------------------------------------------


def imap_connector(cfg: Config, stack: ExitStack) -> Callable[[str], Mover] | None:
    """``account name -> logged-in account`` through mailguard.imap.session.open_account, or None
    when there is no [imap] config or no imap_session module. Accounts are closed with ``stack``."""
    if not (cfg.raw.get("imap") or cfg.raw.get("accounts")):
        return None
    if importlib.util.find_spec("mailguard.imap.session") is None:
        return None
    from ..imap import session as imap_session  # type: ignore[attr-defined]

    opened: dict[str, Mover] = {}

    def connect(account: str) -> Mover:
        if account not in opened:
            acct = imap_session.open_account(cfg, account_name=account or None)
            if hasattr(acct, "__enter__"):
                acct = stack.enter_context(acct)
            elif hasattr(acct, "close"):
                stack.callback(acct.close)
            opened[account] = acct
        return opened[account]

    return connect


def _apply_and_report(store: Store, plan: UndoPlan, cfg: Config) -> list[str]:
    """Apply an undo plan and print what it did; returns the failure lines."""
    with ExitStack() as stack:
        connect = imap_connector(cfg, stack) if plan.moves else None
        result = apply_undo(store, plan, connect)
    for step, _row, uid in result.moved:
        _write(f"moved back {step.describe()}" + (f", now UID {uid}" if uid else ""))
    failures = [f"could not move back {step.describe()}: {why}" for step, why in result.failed]
    for line in failures:
        _write(line)
    if result.decisions:
        verb = "kept (undone)" if plan.decisions_to == "undone" else "moved (flagged again)"
        _write(f"marked {result.decisions} decision(s) {verb}")
    if plan.rule:
        if plan.rule.after == ALLOWED:
            _write(f"allowed {plan.rule.entry} so that it is not flagged again "
                   f"(`mailguard allow --remove {plan.rule.entry}` takes that back)")
        elif plan.rule.after is None:
            _write(f"removed the {plan.rule.before} rule for {plan.rule.entry}")
        else:
            _write(f"{plan.rule.entry} is {plan.rule.after} again")
    for n in plan.notes:
        _write(f"note: {n}")
    _write(f"logged as #{result.entry_id}; `mailguard undo --last` undoes it")
    return failures


def _last_intro(plan: UndoPlan) -> list[str]:
    """What `undo --last` picked and what it will do, in words, before the plan's details."""
    if plan.reverts:
        lines = [f"undo --last: the newest thing to undo is log entry {plan.target}; "
                 "undoing it puts back what that changed:"]
    else:
        what = plan.messages[0] if plan.messages else plan.target
        lines = [f"undo --last: the newest thing to undo is mailguard's move of {what}:"]
    into: dict[str, int] = {}
    for step in plan.moves:
        into[step.to_folder] = into.get(step.to_folder, 0) + 1
    for folder, n in into.items():
        lines.append(f"  {n} message(s) will be moved into {folder}")
    return lines


def _terminal_key(eof: str) -> str | None:
    """One key from the terminal (``eof`` at end of input), or None when input is not a terminal."""
    if sys.stdin is None or not sys.stdin.isatty():
        return None
    try:
        return typer.getchar()
    except EOFError:
        return eof


def _confirmed(prompt: str) -> bool:
    """y/N on the terminal; without one, a line of input (end of input: no)."""
    typer.echo(prompt, nl=False)
    answer = _terminal_key("n")
    if answer is not None:
        typer.echo(answer if answer.isprintable() else "")
    else:
        try:
            answer = sys.stdin.readline() if sys.stdin is not None else ""
        except OSError:
            answer = ""
        typer.echo(answer.strip()[:1] or "(no answer)")
    return answer.strip().lower().startswith("y")


def undo_cmd(
    sender: Annotated[Optional[str], typer.Argument(metavar="[SENDER|DOMAIN]", help="Undo every move of this sender or domain.", show_default=False)] = None,
    message_id: Annotated[Optional[str], typer.Option("--message-id", help="Undo the move of this one message.")] = None,
    last: Annotated[bool, typer.Option("--last", help="Undo the newest thing: the latest move, or the latest undo if that came after (says which, and asks).")] = False,
    revert: Annotated[Optional[int], typer.Option("--revert", metavar="N", help="Revert entry N of `mailguard log --actions` (an undo, allow or block).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    no_allow: Annotated[bool, typer.Option("--no-allow", help="Do not allow the sender (a later scan may flag it again).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --last: do it without asking.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Put back what mailguard moved: a sender's (or domain's) messages, one message, or the last.

    With IMAP moves in the move log, the messages are moved back on the account to the folder they
    came from (needs an [imap] config); each step is logged. Decisions from a saved scan (nothing
    moved on a server) are marked kept. Either way the sender is allowed so it is not flagged again
    (--no-allow: not). An undo is itself logged and can be undone: `mailguard undo --last`, which
    first says what it picked and what that will do, and asks (--yes: does not ask).

    Example: mailguard undo news@acme.io --dry-run
    """
    if sum((sender is not None, message_id is not None, last, revert is not None)) != 1:
        raise ReviewError("name exactly one of: SENDER|DOMAIN, --message-id ID, --last, --revert N")
    cfg = load_config(config)
    with _store() as store:
        if revert is not None:
            plan = plan_revert(store, revert)
        else:
            plan = plan_undo(store, sender=sender, message_id=message_id, last=last,
                             allow=not no_allow)
        if last:
            for line in _last_intro(plan):
                _write(line)
        if dry_run:
            for line in plan.lines():
                _write(line)
            _write("dry run: nothing was changed")
            return
        if last and not yes:
            for line in plan.lines():
                _write(line)
            if not _confirmed("Go ahead? [y/N] "):
                raise ReviewError("not confirmed: nothing was changed (answer y, or add --yes)")
        failures = _apply_and_report(store, plan, cfg)
    if failures:
        raise ReviewError(f"{len(failures)} message(s) could not be moved back (see above); "
                          "their decisions are unchanged, so the undo can be run again")


# -- review (interactive) -----------------------------------------------------------------------

KEYS = {"a": "allow", "b": "block", "s": "skip", "u": "undo", "q": "quit"}


def read_key(prompt: str) -> str:
    """One key: typer.getchar() on a terminal; a line of input otherwise (its first letter, echoed
    so that a transcript reads like the session). End of input (or Ctrl-D) quits."""
    typer.echo(prompt, nl=False)
    ch = _terminal_key("q")
    if ch is not None:
        typer.echo(ch if ch.isprintable() else repr(ch))
        return ch.lower()
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        typer.echo("q (end of input)")
        return "q"
    key = (line.strip()[:1] or " ").lower()
    typer.echo(key)
    return key


def evidence_table(f: FlaggedSender, width: int = 38) -> Table:
    """The contact and the promotion side by side, as short excerpts (subjects, reasons, links)."""
    from rich.table import Table
    t = Table(show_header=True, expand=True, show_lines=False)
    t.add_column("the contact", ratio=1, overflow="fold")
    t.add_column("the promotion", ratio=1, overflow="fold")
    contact = [f"{f.contact_name} <{f.linked_contact}>" if f.contact_name else (f.linked_contact or "(no contact: moved by a rule)")]
    if f.contact_since:
        contact.append(f"since {_day(f.contact_since)}")
    if f.contact_how:
        contact.append(f.contact_how)
    if f.contact_subject:
        contact.append(f'"{_short(f.contact_subject, width)}"')
    if f.contact_source == "import":
        contact.append("(imported contact)")
    promo = [f.sender, f"{moved_words(f.messages, f.moved_on_server)}, last {_day(f.last_date)}",
             f'"{_short(f.last_subject, width)}"']
    if f.max_score is not None:
        promo.append(f"promo score up to {f.max_score:.2f}")
    if f.link:
        promo.append(f"linked by {f.link}")
    promo += [f"- {_short(r, width * 3)}" for r in f.reasons[:4]]
    _add(t, "\n".join(contact), "\n".join(promo))
    return t


def review_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Also senders already allowed or blocked.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Go through the flagged senders one by one: see the evidence, then allow, block, skip or undo.

    For each sender the contact's first message (subject, date, how) and the promotion (subject,
    score, reasons) are shown side by side. Keys: a = allow, b = block, s = skip, u = undo (move
    back and allow), q = quit. Nothing changes until a key is pressed. Without a terminal, one key
    per input line.

    Example: mailguard review
    """
    cfg = load_config(config)
    out = _out()
    with _store() as store:
        todo = [f for f in flagged_senders(store) if all_ or f.status == FLAGGED]
        if not todo:
            _write("no flagged senders to review")
            return
        done: dict[str, int] = {v: 0 for v in KEYS.values()}
        for i, f in enumerate(todo, 1):
            _write(f"\n[{i}/{len(todo)}] {f.sender}: {f.status}, "
                   f"{moved_words(f.messages, f.moved_on_server)}")
            out.print(evidence_table(f))
            while True:
                key = read_key("[a]llow [b]lock [s]kip [u]ndo [q]uit? ")
                if key in KEYS:
                    break
                _write(f"unknown key {key!r}")
            action = KEYS[key]
            if action == "quit":
                break
            done[action] += 1
            if action == "allow":
                set_rule(store, f.sender, ALLOWED, note="review")
                _write(f"allowed {f.sender}")
            elif action == "block":
                set_rule(store, f.sender, BLOCKED, note="review")
                _write(f"blocked {f.sender}")
            elif action == "undo":
                try:
                    plan = plan_undo(store, sender=f.sender)
                    _apply_and_report(store, plan, cfg)
                except ReviewError as exc:
                    done["undo"] -= 1
                    _write(f"not undone: {exc}")
            else:
                _write("skipped")
        _write(f"\nreviewed: {done['allow']} allowed, {done['block']} blocked, "
               f"{done['undo']} undone, {done['skip']} skipped")


# -- log ----------------------------------------------------------------------------------------


def log_cmd(
    since: Annotated[Optional[str], typer.Option("--since", help="Only decisions made on or after this date (2026-03-12).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many rows (0: all).")] = 50,
    fmt: FormatOpt = OutFormat.table,
    sender: Annotated[Optional[str], typer.Option("--sender", help="Only this address or domain.")] = None,
    moves_only: Annotated[bool, typer.Option("--moves-only", help="Only decisions to move.")] = False,
    actions: Annotated[bool, typer.Option("--actions", help="Show what you did instead (allow, block, undo, revert).")] = False,
) -> None:
    """The decision log, newest first, with the reasons for each decision.

    Example: mailguard log --since 2026-03-01 --moves-only
    """
    with _store() as store:
        if actions:
            rows = review_actions(store, limit=limit or None)
            _emit(rows, fmt, lambda: _actions_table(rows))
            return
        rows = decision_log(store, since=_parse_since(since), limit=limit or None, sender=sender,
                            moves_only=moves_only)
    if fmt == OutFormat.table and not rows:
        _write("no decisions logged" + (" since " + since if since else ""))
        return

    def table() -> RenderableType:
        """One entry per decision, wrapped to the terminal: number, date, action and score, then
        sender, subject and the first reasons (an address is never cut)."""
        from rich.table import Table
        t = Table.grid(padding=(0, 1), pad_edge=False)
        t.add_column(justify="right", no_wrap=True)
        t.add_column(width=10, no_wrap=True)
        t.add_column(no_wrap=True)
        t.add_column(ratio=1, overflow="fold")
        for r in rows:
            action = str(r["action"])
            if action == "move":
                action = "MOVE" if r["moved_on_server"] else "would move"
            if r["status"] == "undone":
                action += " (undone)"
            score = r["promo_score"]
            style = "bold red" if r["action"] == "move" and r["status"] != "undone" else ""
            text = Text.assemble(plain(str(r["sender"] or "(no sender)"), "bold"), " ",
                                 plain(f'"{r["subject"] or ""}"'), " ",
                                 plain("- " + "; ".join(r["reasons"][:2]), "dim"))  # type: ignore[index]
            t.add_row(f"#{r['id']}", _day(str(r["date"] or "")),
                      Text(action + ("" if score is None else f" {score:.2f}"), style=style), text)
        return Group(Text("decision log (newest first)", style="bold"), t)

    _emit(rows, fmt, table)


def _actions_table(rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table
    t = Table(title="review actions (newest first)", expand=True)
    for col in ("#", "at", "action", "target", "changed", "reverted by"):
        t.add_column(col, overflow="fold")  # an address is wrapped, never cut
    for r in rows:
        d = r["detail"]
        bits = []
        if d.get("decisions"):
            bits.append(f"{len(d['decisions'])} decision(s) -> {d.get('decisions_to')}")
        if d.get("moves_done"):
            bits.append(f"{len(d['moves_done'])} moved back")
        if d.get("moves_failed"):
            bits.append(f"{len(d['moves_failed'])} failed")
        if d.get("rule"):
            rule = d["rule"]
            bits.append(f"rule {rule['entry']}: {rule['before'] or '-'} -> {rule['after'] or '-'}")
        _add(t, str(r["id"]), str(r["at"])[:16].replace("T", " "), r["action"], r["target"],
                  "; ".join(bits),
                  f"#{r['reverted_by']}" if r["reverted_by"] else "")
    return t


# -- contacts -----------------------------------------------------------------------------------


@contacts_app.command("import")
def contacts_import_cmd(
    file: Annotated[Path, typer.Argument(help="LinkedIn's Connections.csv, or a vCard (.vcf) file.")],
    kind: Annotated[Optional[ContactKind], typer.Option("--kind", help="linkedin or vcard (default: from the file).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Date for contacts the file gives none (vCards without REV); default today.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and report; store nothing.")] = False,
) -> None:
    """Import networking contacts made outside the mailbox: LinkedIn connections or vCards.

    Imported contacts carry their "connected on" date and organisation and link to mail like the
    contacts learned from it. A LinkedIn row without an email address is kept too, keyed
    linkedin:PROFILE; it links by name and by company name. Run it before `mailguard scan`.

    Example: mailguard contacts import ~/Downloads/Connections.csv
    """
    parsed = read_contacts_file(file, kind=kind.value if kind else None,
                                default_since=_parse_since(since))
    no_email = sum(1 for c in parsed.contacts if "@" not in c.email)
    label = "LinkedIn" if parsed.kind == "linkedin" else "vCard"
    if dry_run:
        _write(f"would import {len(parsed.contacts)} contact(s) from {file.name} ({label})")
    else:
        with _store() as store:
            counts = import_contacts(store, parsed.contacts)
        _write(f"imported {len(parsed.contacts)} contact(s) from {file.name} ({label}): "
               f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged")
    if no_email:
        _write(f"{no_email} without an email address: linked by name and company only")
    if parsed.undated:
        _write(f"{parsed.undated} without a date: dated "
               f"{_day(parsed.contacts[0].since) if since else 'today'} (set it with --since)")
    for why in parsed.skipped:
        _write(f"skipped {why}")


@contacts_app.command("list")
def contacts_list_cmd(
    fmt: FormatOpt = OutFormat.table,
    source: Annotated[Optional[ContactSource], typer.Option("--source", help="Only contacts from mail, import or social.")] = None,
) -> None:
    """List the networking contacts, oldest first: address (or import key), name, since, how,
    organisation, source, and for imported and social ones the network and handle.

    Example: mailguard contacts list --source import
    """
    with _store() as store:
        contacts = store.load_contacts()
    if source is not None:
        contacts = [c for c in contacts if c.source == source.value]
    rows: list[dict[str, str]] = [{
        "email": c.email, "name": c.name, "since": c.since.isoformat(), "how": c.how,
        "subject": c.subject, "org_domain": c.org_domain or "", "org_name": c.org_name,
        "source": c.source, "network": c.network, "handle": c.handle,
    } for c in contacts]
    if fmt == OutFormat.table and not rows:
        _write("no contacts yet: `mailguard run` learns them, or `mailguard scan PATH --save`, or "
               "`mailguard contacts import FILE`")
        return

    def table() -> Table:
        from rich.table import Table
        t = Table(title=f"{len(rows)} networking contact(s)", expand=True)
        t.add_column("contact", overflow="fold", max_width=30,
                     min_width=min(max((len(str(r["email"])) for r in rows), default=7), 30))
        t.add_column("name", ratio=2)
        t.add_column("since", no_wrap=True)
        t.add_column("organisation", ratio=2, overflow="fold")
        t.add_column("source", no_wrap=True)
        t.add_column("how / handle", ratio=3, overflow="fold")
        for r in rows:
            source = r["source"] + (f"/{r['network']}" if r["network"] else "")
            how = r["how"] + (f"\n{r['handle']}" if r["handle"] else "")
            _add(t, r["email"], r["name"], _day(r["since"]), r["org_domain"] or r["org_name"],
                      source, how)
        return t

    _emit(rows, fmt, table)


@contacts_app.command("forget")
def contacts_forget_cmd(
    address: Annotated[str, typer.Argument(help="The contact's address (or its key, e.g. linkedin:jane-doe).")],
) -> None:
    """Forget a contact: mail from it or its organisation is no longer linked to it.

    A later scan learns it again if new personal mail makes it a contact again.

    Example: mailguard contacts forget jane@acme.io
    """
    with _store() as store:
        if not store.forget_contact(address.strip()):
            raise ReviewError(f"no contact {address.strip()!r} (see: mailguard contacts list)")
    _write(f"forgot {address.strip().lower()}")


# -- export -------------------------------------------------------------------------------------


@export_app.command("sieve")
def export_sieve_cmd(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the script here (default: standard output).")] = None,
    folder: Annotated[Optional[str], typer.Option("--folder", help=f"Folder to file into (default: [sieve] folder in config, else {DEFAULT_FOLDER}).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Export the blocked and flagged senders as a Sieve script (RFC 5228, fileinto).

    Install it on your mail server (ManageSieve or its web settings) so that their mail is filed
    away even while mailguard is not running. Allowed senders are never in it.

    Example: mailguard export sieve --out mailguard.sieve
    """
    cfg = load_config(config)
    name = folder or cfg.sieve_folder or DEFAULT_FOLDER
    with _store() as store:
        targets = sieve_targets(store)
    try:
        script = render_sieve(targets.addresses, targets.domains, folder=name,
                              generated=datetime.now(timezone.utc), why=targets.why,
                              allowed=targets.allowed, bulk=targets.bulk,
                              content_only=targets.content_only)
    except ValueError as exc:
        raise ConfigError(f"cannot write the Sieve script: {exc}") from None
    if targets.left_out:
        write_line(f"left out {len(targets.left_out)} sender(s) with control characters in the "
                   "address", stream=sys.stderr)
    if targets.content_only:
        write_line(f"left out {len(targets.content_only)} flagged sender(s) moved for their content "
                   "alone (no bulk header a Sieve rule could test)", stream=sys.stderr)
    if out is None:
        sys.stdout.write(script)
        return
    try:
        out.write_text(script, encoding="utf-8")
    except OSError as exc:
        raise ReviewError(f"cannot write {out}: {exc.strerror or exc}") from None
    _write(f"wrote {len(targets.addresses)} address(es) and {len(targets.domains)} domain(s) "
           f"filed into {name!r} to {out}")


def register(app: typer.Typer) -> None:
    """Add the review commands to mailguard's app."""
    app.command("flagged")(flagged_cmd)
    app.command("review")(review_cmd)
    app.command("allow")(allow_cmd)
    app.command("block")(block_cmd)
    app.command("undo")(undo_cmd)
    app.command("log")(log_cmd)
    app.add_typer(contacts_app, name="contacts")
    app.add_typer(export_app, name="export")
