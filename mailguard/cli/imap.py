"""IMAP commands on the command line: init, check, run, apply-history. ``register(app)`` adds them
to mailguard's typer app.

Like cli.py, these load the config, call the core (imap_session, sync, daemon) and print; every
failure is a MailguardError that main() turns into one line and an exit code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .. import __version__
from ..config import CONFIG_NAME, Config, load_config
from ..errors import ConfigError, ImapError, MailguardError, SecretError
from .output import stamp, write_line
from ..scan import load_model
from ..store import Store, data_dir, ensure_private_dir

if TYPE_CHECKING:  # the IMAP package is imported by these commands only, not by scan or evaluate
    from ..imap.daemon import Daemon
    from ..imap.session import AccountConfig
    from ..imap.sync import PassReport

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]
AccountsOpt = Annotated[Optional[list[str]], typer.Option("--account", help="Only this account (its name or user name; repeatable).")]

CONFIG_TEMPLATE = """\
# mailguard configuration (TOML), written by `mailguard init`. Mode 0600: keep it private.
# No secret goes in this file: say where the password comes from (one of the password lines).

[imap]
host = "{host}"
port = 993
username = "{username}"
tls = "ssl"                                # "ssl" (993), "starttls" (143), "none" (localhost only)
password_env = "MAILGUARD_PASSWORD"        # the password is in this environment variable...
# password_command = "pass show mail/imap" # ...or the first line a command prints (run without a shell)
# keyring = true                           # ...or the system keyring (pip install keyring; service "mailguard")
# oauth2_token_command = "oama access {username}"  # ...or an OAuth2 token for XOAUTH2 (Gmail, Microsoft 365)
# ca_file = "/path/to/ca.pem"              # trust this CA instead of the system store
# idle = true                              # wait for new mail with IDLE when the server has it
# poll_seconds = 60                        # without IDLE, poll this often; with IDLE, a full pass this often

[mailbox]
me = [{me}]                                # your own addresses: whom you write to becomes a contact
watch = "INBOX"                            # the folder mailguard acts on
# sent = "Sent"                            # default: the folder the server flags \\Sent
quarantine = "Contact-Promo"               # contact-then-promotion mail goes here (created if missing)

[rules]
window_days = 180                          # how long a contact counts as recent
# promo_threshold = 0.5                    # default: the model's own threshold

# Several accounts in one daemon: one [[accounts]] table each; [imap] and [mailbox] above then
# hold the defaults they share.
# [[accounts]]
# name = "work"
# host = "imap.work.example"
# username = "you@work.example"
# password_command = "pass show work/imap"
# me = ["you@work.example"]
"""


def _echo(line: str) -> None:
    """One line on stdout, cleaned (folder names and subjects come from the server and the mail)."""
    write_line(line)


def _config_target(config: Path | None) -> Path:
    if config is not None:
        return config
    env = os.environ.get("MAILGUARD_CONFIG")
    if env:
        return Path(env)
    return data_dir() / CONFIG_NAME


PLACEHOLDER_HOST = "imap.example.org"
PLACEHOLDER_USER = "you@example.org"


def init_cmd(
    host: Annotated[Optional[str], typer.Option("--host", help="IMAP server name.", show_default=False)] = None,
    username: Annotated[Optional[str], typer.Option("--username", help="IMAP user name (usually your address).", show_default=False)] = None,
    me: Annotated[Optional[list[str]], typer.Option("--me", help="Your own address (repeatable; default: the user name).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write a commented starting config.toml (mode 0600) into $MAILGUARD_HOME; never overwrites.

    Example: mailguard init --host imap.fastmail.com --username sam@rivera.dev
    """
    target = _config_target(config)
    todo = [what for what, given in (("host", host), ("username", username)) if given is None]
    host = host if host is not None else PLACEHOLDER_HOST
    username = username if username is not None else PLACEHOLDER_USER
    addresses = me or ([username] if "@" in username and "username" not in todo else [])
    for value, what in ((host, "--host"), (username, "--username"), *((a, "--me") for a in addresses)):
        if not value or any(c in value for c in '"\\\n\r'):
            raise ConfigError(f"{what} {value!r} cannot go into the config as it is")
    text = CONFIG_TEMPLATE.format(host=host, username=username,
                                  me=", ".join(f'"{a}"' for a in addresses))
    if config is None:
        ensure_private_dir(target.parent)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{target} exists; not overwritten (edit it, or remove it first)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(target, 0o600)
    todo.append("where the password comes from (password_env, password_command, keyring or "
                "oauth2_token_command)")
    if not addresses:
        todo.append("me (your own addresses)")
    _echo(f"wrote {target} (mode 0600); set {', '.join(todo[:-1]) + ' and ' if len(todo) > 1 else ''}"
          f"{todo[-1]} in it, then run `mailguard check`")


# -- check -------------------------------------------------------------------------------------


def diagnose(exc: BaseException) -> str:
    """One line saying what is wrong."""
    from ..imap.client import ImapConnectionLost

    text = str(exc)
    low = text.lower()
    if isinstance(exc, SecretError):
        return f"cannot get the password: {text}"
    if isinstance(exc, ConfigError):
        return f"config: {text}"
    if "authentication failed" in low or ("login failed" in low and not isinstance(exc, ImapConnectionLost)):
        return f"bad password (or user name): {text}"
    if "tls" in low or "certificate" in low or "ssl" in low:
        return f"TLS failure: {text}"
    if low.startswith("no such folder"):
        return text
    if isinstance(exc, ImapConnectionLost):
        return f"cannot reach the server: {text}"
    return text


def check_account(acct: AccountConfig) -> list[str]:
    """Log in and describe the account; raises MailguardError on the first problem."""
    from ..imap.session import make_account

    lines = []
    s = acct.settings
    with make_account(acct) as account:
        lines.append(f"{acct.name}: logged in to {s.address} as {s.username} "
                     f"(tls={s.tls}; {acct.secret.describe()})")
        lines.append("  capabilities: " + " ".join(sorted(account.capabilities)))
        folders = account.list_folders()
        lines.append(f"  folders ({len(folders)}):")
        for f in folders:
            flags = " ".join(x.decode("ascii", "replace") for x in f.flags
                             if x.lower() not in (b"\\haschildren", b"\\hasnochildren"))
            lines.append(f"    {f.name}" + (f"  {flags}" if flags else ""))
        names = {f.name for f in folders}
        watch = account.folder_name(acct.watch)
        st = account.select(watch, readonly=True)
        lines.append(f"  watch: {watch} ({st.exists} messages)")
        if acct.sent:
            sent: str | None = account.folder_name(acct.sent)
            assert sent is not None
            account.select(sent, readonly=True)
            lines.append(f"  sent: {sent}")
        else:
            sent = account.special_folder(b"\\Sent")
            lines.append(f"  sent: {sent} (\\Sent folder)" if sent else
                         "  sent: none found (set [mailbox] sent; contacts are learned from replies in it)")
        quarantine = account.folder_name(acct.quarantine)
        lines.append(f"  quarantine: {quarantine}" + ("" if quarantine in names else
                                                      " (missing: created on the first run)"))
        if account.has("IDLE") and acct.idle:
            lines.append("  waits with IDLE")
        else:
            lines.append(f"  polls every {acct.poll_seconds:g}s (no IDLE)")
        if account.has("MOVE"):
            lines.append("  moves with UID MOVE")
        elif account.has("UIDPLUS"):
            lines.append("  moves with UID COPY + UID EXPUNGE (no MOVE)")
        else:
            raise ImapError(f"{s.address} offers neither MOVE nor UIDPLUS: mailguard cannot move "
                            "messages safely there (run --dry-run still works)")
    lines.append(f"{acct.name}: ok")
    return lines


def check_cmd(account: AccountsOpt = None, config: ConfigOpt = None) -> None:
    """Log in to each account, list folders and capabilities, and say what is wrong in one line.

    Example: mailguard check
    """
    from ..imap.session import select_accounts

    cfg = load_config(config)
    failures: list[tuple[str, MailguardError]] = []
    for acct in select_accounts(cfg, account):
        try:
            for line in check_account(acct):
                _echo(line)
        except MailguardError as exc:
            failures.append((acct.name, exc))
    if failures:
        error = ImapError("; ".join(f"{name}: {diagnose(exc)}" for name, exc in failures))
        error.exit_code = failures[0][1].exit_code
        raise error


# -- run ---------------------------------------------------------------------------------------


def print_report(report: PassReport, *, always: bool = False, stamped: bool = False) -> None:
    """Each move (or would-be move) and the pass's summary, one cleaned line each; ``stamped``:
    with the time and level in front, as the daemon's log lines have them."""
    prefix = stamp() if stamped else ""
    verb = "would move" if report.dry_run else "moved"
    for m in report.moved:
        d = m.decision
        why = f"{d.link_kind} -> {d.linked_contact}" if d.linked_contact else (d.reasons[0] if d.reasons else "")
        _echo(f"{prefix}{report.account}: {verb} {d.sender or '?'} \"{d.subject}\" from {m.folder} to {m.dest} ({why})")
    if always or report.busy:
        _echo(prefix + report.summary())


def start_lines(cfg: Config, accounts: list[AccountConfig], daemon: Daemon, *, once: bool,
                dry_run: bool) -> list[str]:
    """What `mailguard run` says once, at start: what it watches, where it moves, with what."""
    model = f"model {cfg.model}" if cfg.model else "the default model"
    how = "one pass" if once else "watching"
    lines = [f"mailguard {__version__}: {how}, {len(accounts)} account(s); {model} (threshold "
             f"{daemon.model.threshold:.2f}); state in {daemon.db_path}"
             + ("; dry run: nothing is moved" if dry_run else "")]
    for a in accounts:
        s = a.settings
        sent = f"{a.sent}" if a.sent else "the \\Sent folder"
        wait = "" if once else ("; waits with IDLE if offered, else polls every "
                                f"{a.poll_seconds:g}s" if a.idle else f"; polls every {a.poll_seconds:g}s")
        user = f", as {s.username}" if s.username != a.name else ""
        lines.append(f"{a.name}: watches {a.watch} on {s.host}:{s.port} (tls {s.tls}{user}) and moves "
                     f"contact-then-promotion mail to {a.quarantine}; learns contacts from "
                     f"{a.watch} and {sent}{wait}")
    return lines


def run_cmd(
    once: Annotated[bool, typer.Option("--once", help="One pass over every account (what arrived since the last run), then exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Shadow mode: decide and report, move nothing.")] = False,
    account: AccountsOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Watch the IMAP accounts: learn contacts, move contact-then-promotion mail to the quarantine.

    The first run on an account learns from the last window_days of the watched folder and Sent
    and moves none of it; afterwards only new mail is acted on. Without --once this runs until
    SIGTERM/SIGINT (IDLE when the server has it), which finish the current batch and exit.

    Example: mailguard run --once --dry-run
    """
    from ..imap.daemon import Daemon
    from ..imap.session import select_accounts

    cfg = load_config(config)
    accounts = select_accounts(cfg, account)
    daemon = Daemon(cfg, accounts, dry_run=dry_run, once=once,
                    on_report=lambda r: print_report(r, always=once, stamped=True))
    for line in start_lines(cfg, accounts, daemon, once=once, dry_run=dry_run):
        _echo(stamp() + line)
    try:
        daemon.run()
    except MailguardError as exc:
        failed = next(w.name for w in daemon.workers if w.error is exc)
        error = ImapError(f"{failed}: {diagnose(exc)}")
        error.exit_code = exc.exit_code
        raise error from None


def apply_history_cmd(
    account: Annotated[Optional[str], typer.Option("--account", help="The account (default: the first).")] = None,
    folder: Annotated[Optional[str], typer.Option("--folder", help="Folder to act on (default: the watched one).")] = None,
    days: Annotated[Optional[int], typer.Option("--days", min=1, help="How far back (default: window_days).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and report, move nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Act on existing mail: decide the last --days of a folder (merged with Sent by date) and move
    the offenders, which `run` never does for mail older than its first run.

    Messages mailguard moved before and that were put back are left alone.

    Example: mailguard apply-history --days 90 --dry-run
    """
    from ..imap.session import find_account, make_account
    from ..imap.sync import AccountSync, make_pipeline

    cfg = load_config(config)
    acct = find_account(cfg, account)
    model = load_model(cfg)
    with Store.open_default() as store, make_account(acct) as imap:
        pipeline = make_pipeline(cfg, acct, store, model,
                                 run_kind="imap-history-dry-run" if dry_run else "imap-history")
        try:
            sync = AccountSync(acct, imap, store, pipeline, window_days=cfg.rules.window_days,
                               dry_run=dry_run)
            report = sync.apply_history(folder, days)
        finally:
            pipeline.finish()
    print_report(report, always=True)


def register(app: typer.Typer) -> None:
    """Add the IMAP commands to mailguard's app."""
    app.command("init")(init_cmd)
    app.command("check")(check_cmd)
    app.command("run")(run_cmd)
    app.command("apply-history")(apply_history_cmd)
