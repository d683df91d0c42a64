"""IMAP accounts from the config: [imap] + [mailbox] for one account, or [[accounts]] for several.

    [imap]                                  # one account; also the defaults for [[accounts]]
    host = "imap.example.org"
    port = 993                              # default 993 for tls="ssl", else 143
    username = "sam@rivera.dev"
    password_env = "MAILGUARD_PASSWORD"     # or password_command / keyring / oauth2_token_command
    tls = "ssl"                             # "ssl", "starttls", or "none" (loopback only)
    # ca_file = "/path/to/ca.pem"           # trust this CA instead of the system store
    # idle = true                           # use IDLE when the server offers it
    # poll_seconds = 60                     # without IDLE: poll this often; with it: a full pass
    [mailbox]
    me = ["sam@rivera.dev"]
    watch = "INBOX"
    sent = "Sent"                           # default: the \\Sent SPECIAL-USE folder
    quarantine = "Contact-Promo"            # created if missing

    [[accounts]]                            # several accounts, side by side in one daemon
    name = "work"
    host = "imap.work.example"
    username = "sam@work.example"
    password_command = "pass show work/imap"
    quarantine = "Contact-Promo"            # mailbox keys may sit in the entry...
    [accounts.mailbox]                      # ...or in its own table
    me = ["sam@work.example"]

Parsing is pure (:func:`load_accounts` raises ConfigError with the offending table named);
:func:`open_account` connects. Folder names are written with "/" between levels and without the
server's namespace prefix; the adapter maps them to the server's names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import ConfigError
from .account import ImapAccount
from .client import MAX_IDLE_SECONDS, ImapSettings
from .secrets import SecretSpec, credentials, secret_spec

log = logging.getLogger(__name__)

DEFAULT_QUARANTINE = "Contact-Promo"

_SECRET_KEYS = ("password_env", "password_command", "keyring", "oauth2_token_command")
_IMAP_KEYS = frozenset({
    "name", "host", "port", "username", "tls", "timeout", "ca_file", *_SECRET_KEYS, "oauth2_mech",
    "secret_timeout", "idle", "poll_seconds", "idle_slice_seconds", "batch_size", "max_body_bytes",
})
_MAILBOX_KEYS = frozenset({"me", "watch", "sent", "quarantine"})


@dataclass(frozen=True)
class AccountConfig:
    """One IMAP account as mailguard watches it.

    name: how logs, the state database and ``--account`` call it (default: the user name).
    watch / sent / quarantine: folder names with "/" between levels; sent None means the folder
    with the \\Sent SPECIAL-USE flag (or a usual name for it), if any.
    idle_slice_seconds: one IDLE lasts at most this long before it is re-issued, so that a stop
    request is noticed within that time (always far below the servers' 29-minute limit).
    """

    name: str
    settings: ImapSettings
    secret: SecretSpec = field(repr=False)
    me: tuple[str, ...] = ()
    watch: str = "INBOX"
    sent: str | None = None
    quarantine: str = DEFAULT_QUARANTINE
    idle: bool = True
    poll_seconds: float = 60.0
    idle_slice_seconds: float = 5.0
    batch_size: int = 200
    max_body_bytes: int = 65536


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def _number(table: Mapping[str, Any], key: str, default: float, where: str, *,
            integer: bool = False, minimum: float = 0.0) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= minimum:
        raise ConfigError(f"{where} {key} must be a number above {minimum:g}, not {value!r}")
    if integer:
        if int(value) != value:
            raise ConfigError(f"{where} {key} must be a whole number, not {value!r}")
        return int(value)
    return float(value)


def _folder(table: Mapping[str, Any], key: str, default: str | None, where: str) -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip().strip("/"):
        raise ConfigError(f"{where} {key} must be a folder name")
    return value.strip()


def _me(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and "@" in v for v in value):
        raise ConfigError(f"{where} me must be a list of addresses")
    return tuple(v.strip().lower() for v in value)


def parse_account(imap: Mapping[str, Any], mailbox: Mapping[str, Any], *, where: str,
                  default_me: tuple[str, ...] = ()) -> AccountConfig:
    """One account from its imap-side and mailbox-side tables (already merged with defaults)."""
    unknown = sorted(set(imap) - _IMAP_KEYS - _MAILBOX_KEYS - {"mailbox"})
    unknown += sorted(set(mailbox) - _MAILBOX_KEYS)
    if unknown:
        log.warning("%s: ignoring unknown key(s): %s", where, ", ".join(unknown))
    host = imap.get("host")
    username = imap.get("username")
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"{where} needs host = \"imap.example.org\"")
    if not isinstance(username, str) or not username.strip():
        raise ConfigError(f"{where} needs username = \"you@example.org\"")
    tls = imap.get("tls", "ssl")
    if tls not in ("ssl", "starttls", "none"):
        raise ConfigError(f"{where} tls must be \"ssl\", \"starttls\" or \"none\", not {tls!r}")
    port = imap.get("port", 993 if tls == "ssl" else 143)
    if isinstance(port, bool) or not isinstance(port, int):
        raise ConfigError(f"{where} port must be a number, not {port!r}")
    ca_file = imap.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise ConfigError(f"{where} ca_file must be a path")
    settings = ImapSettings(
        host=host.strip(), port=port, username=username.strip(), tls=tls,
        timeout=_number(imap, "timeout", 60.0, where), ca_file=ca_file,
    )
    name = imap.get("name", username.strip())
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} name must be a non-empty string")
    me = _me(mailbox.get("me"), where) or default_me
    if not me and "@" in username:
        me = (username.strip().lower(),)
    idle = imap.get("idle", True)
    if not isinstance(idle, bool):
        raise ConfigError(f"{where} idle must be true or false")
    acct = AccountConfig(
        name=name.strip(),
        settings=settings,
        secret=secret_spec(imap, username=username.strip(), where=where),
        me=me,
        watch=_folder(mailbox, "watch", "INBOX", where) or "INBOX",
        sent=_folder(mailbox, "sent", None, where),
        quarantine=_folder(mailbox, "quarantine", DEFAULT_QUARANTINE, where) or DEFAULT_QUARANTINE,
        idle=idle,
        poll_seconds=_number(imap, "poll_seconds", 60.0, where),
        idle_slice_seconds=min(_number(imap, "idle_slice_seconds", 5.0, where), MAX_IDLE_SECONDS),
        batch_size=_number(imap, "batch_size", 200, where, integer=True),
        max_body_bytes=_number(imap, "max_body_bytes", 65536, where, integer=True, minimum=1023),
    )
    if acct.quarantine.strip("/").upper() == acct.watch.strip("/").upper():
        raise ConfigError(f"{where} quarantine and watch are the same folder ({acct.watch})")
    return acct


def load_accounts(config: Config) -> list[AccountConfig]:
    """Every account of the config, in order. Raises ConfigError when there is none."""
    raw = config.raw
    imap = dict(_table(raw.get("imap"), "[imap]"))
    mailbox = dict(_table(raw.get("mailbox"), "[mailbox]"))
    entries = raw.get("accounts")
    default_me = tuple(config.me)
    if entries is None:
        if not imap:
            raise ConfigError(
                "no IMAP account configured: add an [imap] table to "
                f"{config.path or config.home / 'config.toml'} (`mailguard init` writes a starting one)"
            )
        return [parse_account(imap, mailbox, where="[imap]", default_me=default_me)]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("[[accounts]] must be a list of tables")
    out: list[AccountConfig] = []
    for i, raw_entry in enumerate(entries):
        where = f"[[accounts]] #{i + 1}"
        entry = dict(_table(raw_entry, where))
        merged_imap = dict(imap)
        if any(k in entry for k in _SECRET_KEYS):
            for k in _SECRET_KEYS:
                merged_imap.pop(k, None)
        merged_imap.pop("name", None)
        merged_imap.update({k: v for k, v in entry.items() if k != "mailbox" and k not in _MAILBOX_KEYS})
        merged_mailbox = dict(mailbox)
        merged_mailbox.update({k: v for k, v in entry.items() if k in _MAILBOX_KEYS})
        merged_mailbox.update(_table(entry.get("mailbox"), f"{where} mailbox"))
        name = entry.get("name")
        if isinstance(name, str):
            where = f"[[accounts]] {name!r}"
        out.append(parse_account(merged_imap, merged_mailbox, where=where, default_me=default_me))
    names = [a.name for a in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"[[accounts]] names must differ; repeated: {', '.join(dupes)}")
    return out


def select_accounts(config: Config, names: list[str] | None = None) -> list[AccountConfig]:
    """The accounts named (by name or user name), or all of them."""
    accounts = load_accounts(config)
    if not names:
        return accounts
    out: list[AccountConfig] = []
    for wanted in names:
        found = [a for a in accounts if wanted in (a.name, a.settings.username)]
        if not found:
            known = ", ".join(a.name for a in accounts)
            raise ConfigError(f"no account named {wanted!r} in the config (accounts: {known})")
        out.extend(a for a in found if a not in out)
    return out


def find_account(config: Config, account_name: str | None = None) -> AccountConfig:
    """The account called account_name (its name or user name); None gives the first account."""
    accounts = load_accounts(config)
    if account_name is None:
        return accounts[0]
    return select_accounts(config, [account_name])[0]


def make_account(acct: AccountConfig, env: Mapping[str, str] | None = None) -> ImapAccount:
    """An ImapAccount for acct, not yet connected."""
    return ImapAccount(acct.settings, credentials(acct.secret, env))


def open_account(config: Config, account_name: str | None = None,
                 env: Mapping[str, str] | None = None) -> ImapAccount:
    """A connected, logged-in ImapAccount for the named account (default: the first). The caller
    closes it (it is also a context manager)."""
    account = make_account(find_account(config, account_name), env)
    account.connect()
    return account
