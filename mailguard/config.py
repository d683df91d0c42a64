"""Configuration: one function reads the TOML file and the environment into a frozen Config,
checked against one typed schema (:data:`SCHEMA`) for the whole file.

Nothing happens at import time. Secrets are never stored here: the [imap] section names where the
password comes from (an environment variable, a command, the keyring), not the password.

The schema is a table of sections, each a table of keys with their type, so that a typo or a wrong
type is one line naming the section, the key and the nearest valid key ("[rules] window_day is
not a key of [rules]; did you mean window_days?"), never a silently ignored setting or a
traceback. Tables users extend ([[accounts]], [[social.networks]], [[sales_tools]], [links]) are
checked against their own item schema.

Adding a key: one line in its section below, e.g. in ``RULES``::

    "window_days": Key(Int(minimum=1, maximum=36500), "how long a contact counts as recent"),

then read it where it is used: ``config.raw["rules"].get("window_days")`` (already checked), or
give it a typed field on :class:`Config` and fill it in :func:`load_config`. A new section is a
new entry in ``SCHEMA``.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .permissions import check_dir, check_file
from .store import data_dir

log = logging.getLogger(__name__)

CONFIG_NAME = "config.toml"


@dataclass(frozen=True)
class RulesConfig:
    window_days: int = 180
    promo_threshold: float | None = None  # None: the model card's threshold
    strong_threshold: float = 0.97
    personal_threshold: float = 0.5


@dataclass(frozen=True)
class SalesTool:
    """A sales-engagement tool from [[sales_tools]]: headers it adds, domains it sends from."""

    name: str
    headers: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """Everything mailguard reads from config.toml and the environment."""

    path: Path | None
    home: Path
    me: tuple[str, ...] = ()
    model: Path | None = None
    rules: RulesConfig = field(default_factory=RulesConfig)
    #: the whole file as TOML read it, checked against SCHEMA; [imap]/[mailbox]/[[accounts]] are
    #: interpreted by the IMAP side (imap.session), [[social.networks]] by social
    raw: Mapping[str, Any] = field(default_factory=dict)
    #: [mailbox] organisations: the user's own organisation domains
    organisations: tuple[str, ...] = ()
    #: [links]: link rules switched on (true) or off (false) by name
    links: Mapping[str, bool] = field(default_factory=dict)
    #: [[sales_tools]]: sales-engagement tools beyond the built-in ones
    sales_tools: tuple[SalesTool, ...] = ()
    #: [sieve] folder: where the exported Sieve script files mail (None: sieve's default)
    sieve_folder: str | None = None


def _check_permissions(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("config %s is readable by others (mode %o): run chmod 600 %s",
                    path, stat.S_IMODE(mode), path)


# -- the schema ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML, short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:39] + "…"
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return "inf" if value == math.inf else "-inf" if value == -math.inf else \
            "nan" if math.isnan(value) else repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        inner = ", ".join(_show(v) for v in value[:3]) + (", ..." if len(value) > 3 else "")
        return f"[{inner}]"
    if isinstance(value, (datetime, date, time)):
        return f"{value.isoformat()} (a date/time)"
    return repr(value)


class Type:
    """A value's type in the schema: ``check`` returns the value or raises ConfigError."""

    #: how the type is said in an error ("must be <what>")
    what = "a value"

    def check(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, where: str) -> ConfigError:
        return ConfigError(f"{where} must be {self.what}, not {_show(value)}")


class Str(Type):
    def __init__(self, what: str = "a string", *, choices: Collection[str] | None = None,
                 nonempty: bool = True, fold: bool = False) -> None:
        self.choices = tuple(choices) if choices else None
        self.nonempty = nonempty
        self.fold = fold  # choices compared case-insensitively
        quoted = [f'"{c}"' for c in self.choices or ()]
        self.what = (", ".join(quoted[:-1]) + " or " + quoted[-1]) if len(quoted) > 1 else \
            (quoted[0] if quoted else what)

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            raise self.fail(value, where)
        if self.choices is not None:
            wanted = value.upper() if self.fold else value
            if wanted not in self.choices:
                raise self.fail(value, where)
        return value


class Int(Type):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = None,
                 unit: str = "") -> None:
        self.minimum, self.maximum = minimum, maximum
        bounds = _bounds(minimum, maximum)
        self.what = f"a whole number{' of ' + unit if unit else ''}{bounds}"

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(value, where)
        if (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum):
            raise self.fail(value, where)
        return value


class Float(Type):
    def __init__(self, *, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, unit: str = "") -> None:
        self.minimum, self.maximum, self.above = minimum, maximum, above
        bounds = f" above {above:g}" if above is not None else _bounds(minimum, maximum)
        self.what = f"a number{' of ' + unit if unit else ''}{bounds}"

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise self.fail(value, where)
        if (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum) or \
                (self.above is not None and value <= self.above):
            raise self.fail(value, where)
        return value


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" of at least {minimum:g}"
    if maximum is not None:
        return f" of at most {maximum:g}"
    return ""


class Bool(Type):
    what = "true or false"

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, bool):
            raise self.fail(value, where)
        return value


class Strs(Type):
    """A list of strings (a single string is taken as a list of one when ``single``)."""

    def __init__(self, what: str = "a list of strings", *, single: bool = True,
                 item: Callable[[str], bool] | None = None) -> None:
        self.what, self.single, self.item = what, single, item

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, str) and self.single:
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(value, where)
        bad = next((v for v in value if self.item is not None and not self.item(v)), None)
        if bad is not None:
            raise ConfigError(f"{where} must be {self.what}; {_show(bad)} is not one")
        return value


class AnyOf(Type):
    def __init__(self, *types: Type) -> None:
        self.types = types
        self.what = " or ".join(t.what for t in types)

    def check(self, value: Any, where: str) -> Any:
        for t in self.types:
            try:
                return t.check(value, where)
            except ConfigError:
                continue
        raise self.fail(value, where)


@dataclass(frozen=True)
class Key:
    """One key of a table: its type and what it is for (shown in no error; for readers)."""

    type: Type
    doc: str = ""
    required: bool = False


class Table(Type):
    """A TOML table with known keys; an unknown key is an error with the nearest valid one."""

    what = "a table"

    def __init__(self, keys: Mapping[str, Key | Type], doc: str = "") -> None:
        self.keys: dict[str, Key] = {k: v if isinstance(v, Key) else Key(v) for k, v in keys.items()}
        self.doc = doc

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(value, where)
        for k, v in value.items():
            spec = self.keys.get(k)
            if spec is None:
                raise ConfigError(_unknown(k, self.keys, where))
            spec.type.check(v, _child(where, k, spec.type))
        for k, spec in self.keys.items():
            if spec.required and k not in value:
                raise ConfigError(f"{where} needs {k} ({spec.type.what})")
        return value


class Tables(Type):
    """An array of tables ([[accounts]]), each checked against ``item``; ``label`` names an entry
    in errors by one of its keys (e.g. its name)."""

    def __init__(self, item: Table, *, label: str = "name") -> None:
        self.item, self.label = item, label
        self.what = "an array of tables"

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, list):
            raise self.fail(value, where)
        for i, entry in enumerate(value):
            at = f"{where} #{i + 1}"
            if isinstance(entry, dict) and isinstance(entry.get(self.label), str):
                at += f" ({entry[self.label]!r})"
            self.item.check(entry, at)
        return value


class MapOf(Type):
    """A table whose keys the user names ([links] name = true): each value of ``value`` type,
    each name accepted by ``names()`` (a collection, or None for ``pattern``)."""

    def __init__(self, value: Type, *, names: Callable[[], Collection[str] | None],
                 pattern: str = r"[a-z0-9][a-z0-9-]*", what_name: str = "name") -> None:
        self.value, self.names, self.pattern, self.what_name = value, names, pattern, what_name
        self.what = f"a table of {what_name} = {value.what}"

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(value, where)
        known = self.names()
        for k, v in value.items():
            if known is not None:
                if k not in known:  # a name the linker does not have
                    raise ConfigError(_unknown(k, known, where, noun=self.what_name))
            elif not re.fullmatch(self.pattern, k):
                raise ConfigError(f"{where} {_show(k)} is not a {self.what_name} (lower-case letters, "
                                  "digits and '-')")
            self.value.check(v, f"{where} {k}")
        return value


def _child(where: str, key: str, t: Type) -> str:
    """How a key's place is said: "[rules] window_days"; a section "[rules]", "[[accounts]]"; a
    sub-table "[social.networks]"; inside an array entry "[[accounts]] #2 ('work') mailbox"."""
    if not isinstance(t, (Table, Tables, MapOf)):
        return f"{where} {key}"
    if where == "":
        inner = key
    elif where.startswith("[") and " " not in where:
        inner = f"{where.strip('[]')}.{key}"
    else:
        return f"{where} {key}"
    return f"[[{inner}]]" if isinstance(t, Tables) else f"[{inner}]"


def _unknown(key: str, known: Collection[str], where: str, *, noun: str = "key") -> str:
    """'unknown key window_day in [rules]; did you mean window_days?'"""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if where == "":
        if key in _SECTION_OF:
            return (f"{key} is not a section: it is a key of [{_SECTION_OF[key]}] "
                    f"(write it below a [{_SECTION_OF[key]}] line)")
        hint = f"; did you mean [{close[0]}]?" if close else \
            f" (the sections are {', '.join(f'[{k}]' for k in sorted(known))})"
        return f"unknown section [{key}]{hint}"
    if close:
        hint = f"; did you mean {close[0]}?"
    elif key in _SECTION_OF and f"[{_SECTION_OF[key]}]" != where:
        hint = f"; it belongs in [{_SECTION_OF[key]}]"
    else:
        hint = f" (valid: {', '.join(sorted(known))})" if known else ""
    return f"unknown {noun} {key} in {where}{hint}"


# The user's own extension point for link rules: the names [links] may switch. None accepts any
# name of lower-case letters, digits and '-'; the linker returns its rule names here once they
# are named.
def known_link_rules() -> Collection[str] | None:
    from .core.linker import RULE_NAMES  # the linker's registry; imported late (it imports config's users)

    return RULE_NAMES


_SECONDS = Float(above=0.0, unit="seconds")

IMAP = Table({
    "name": Key(Str(), "what logs and --account call the account (default: the user name)"),
    "host": Key(Str("a host name"), "the IMAP server"),
    "port": Key(Int(minimum=1, maximum=65535), "default 993 for tls = \"ssl\", else 143"),
    "username": Key(Str(), "the IMAP user name"),
    "tls": Key(Str(choices=("ssl", "starttls", "none")), "\"none\" only for a loopback host"),
    "timeout": Key(_SECONDS, "network time-out"),
    "ca_file": Key(Str("a path"), "trust this CA instead of the system store"),
    "password_env": Key(Str("the name of an environment variable")),
    "password_command": Key(AnyOf(Str("a command"), Strs(single=False))),
    "keyring": Key(AnyOf(Bool(), Str("a keyring service name"))),
    "oauth2_token_command": Key(AnyOf(Str("a command"), Strs(single=False))),
    "oauth2_mech": Key(Str(choices=("XOAUTH2", "OAUTHBEARER"), fold=True)),
    "secret_timeout": Key(_SECONDS, "how long a password command may take"),
    "idle": Key(Bool(), "wait with IDLE when the server offers it"),
    "poll_seconds": Key(_SECONDS),
    "idle_slice_seconds": Key(_SECONDS),
    "batch_size": Key(Int(minimum=1), "messages per FETCH / decision batch"),
    "max_body_bytes": Key(Int(minimum=1024), "bytes of each body fetched"),
})

_ADDRESSES = Strs("a list of addresses", item=lambda s: "@" in s)
_FOLDER = Str("a folder name")

#: the mailbox keys an account may have (in [mailbox], an [[accounts]] entry, [accounts.mailbox])
ACCOUNT_MAILBOX = {
    "me": Key(_ADDRESSES, "your own addresses"),
    "watch": Key(_FOLDER, "the folder mailguard acts on"),
    "sent": Key(_FOLDER, "default: the folder with the \\Sent flag"),
    "quarantine": Key(_FOLDER, "where contact-then-promotion mail goes"),
}

MAILBOX = Table({
    **ACCOUNT_MAILBOX,
    "organisations": Key(Strs("a list of domains", item=lambda s: "." in s and "@" not in s),
                         "your own organisation domains"),
})

ACCOUNT = Table({**IMAP.keys, **ACCOUNT_MAILBOX, "mailbox": Key(Table(ACCOUNT_MAILBOX))})

_SCORE = Float(minimum=0.0, maximum=1.0)

RULES = Table({
    "window_days": Key(Int(minimum=1, maximum=36500, unit="days"), "how long a contact counts as recent"),
    "promo_threshold": Key(_SCORE, "default: the model card's threshold"),
    "strong_threshold": Key(_SCORE, "a linked message without bulk headers is moved only above this"),
    "personal_threshold": Key(_SCORE, "mail a sales tool tracked is a sequence from this score"),
})

MODEL = Table({"path": Key(Str("a path"), "the promo model; its .card.json sits beside it")})

SIEVE = Table({"folder": Key(_FOLDER, "where the exported script files mail")})

LINKS = MapOf(Bool(), names=lambda: known_link_rules(), what_name="link rule")

SALES_TOOL = Table({
    "name": Key(Str(), required=True),
    "headers": Key(Strs(single=False), "header names the tool adds"),
    "domains": Key(Strs("a list of domains", single=False), "domains it sends or tracks from"),
    "sequencer": Key(Bool(), "false when reps also track their one-to-one mail with it"),
})

SOCIAL_EVENT = Table({"kind": Str(), "subject": Str("a regular expression"),
                      "body": Str("a regular expression"), "noun": Str()})

SOCIAL_NETWORK = Table({
    "name": Str(), "key": Str(), "senders": Strs(), "not_senders": Strs(),
    "events": Tables(SOCIAL_EVENT, label="kind"), "fields": Strs(), "profile": Str(),
    "not_handles": Strs(), "ignore_subjects": Strs(), "hosts": Strs(), "handle_is_domain": Bool(),
    "fediverse": Bool(), "max_profiles": Int(minimum=1), "enabled": Bool(),
})

SOCIAL = Table({"networks": Key(Tables(SOCIAL_NETWORK), "see docs/social.md")})

DIGEST = Table({
    "enabled": Key(Bool(), "append a digest of what was moved to the inbox (default false)"),
    "days": Key(Int(minimum=1, maximum=365), "how often, and the period it covers (default 7)"),
    "skip_empty": Key(Bool(), "no digest when nothing was moved (default true)"),
    "folder": Key(Str("a folder name"), "where it is appended (default: the watched folder)"),
})

PERFORMANCE = Table({
    "workers": Key(Int(minimum=1, maximum=64), "processes that parse and score large batches "
                   "(default: every core)"),
})

#: the whole config.toml: section -> its schema
SCHEMA = Table({
    "imap": IMAP,
    "mailbox": MAILBOX,
    "accounts": Tables(ACCOUNT),
    "rules": RULES,
    "model": MODEL,
    "sieve": SIEVE,
    "links": LINKS,
    "sales_tools": Tables(SALES_TOOL),
    "social": SOCIAL,
    "digest": DIGEST,
    "performance": PERFORMANCE,
})

#: key -> the section it belongs to, for "it belongs in [mailbox]" (keys found in one section only)
_SECTION_OF: dict[str, str] = {}
for _name, _spec in SCHEMA.keys.items():
    if isinstance(_spec.type, Table):
        for _k in _spec.type.keys:
            _SECTION_OF[_k] = "mailbox" if _k in ACCOUNT_MAILBOX else _SECTION_OF.get(_k, _name)


def configured_workers(config: Config, override: int | None = None) -> int:
    """Worker processes: ``override`` (--workers), else ``[performance] workers``, else every
    core (see :func:`mailguard.parallel.default_workers`)."""
    if override is not None:
        return max(1, override)
    value = (config.raw.get("performance") or {}).get("workers")
    if isinstance(value, int) and value >= 1:
        return value
    from .parallel import default_workers

    return default_workers()


def check_config(data: Mapping[str, Any]) -> None:
    """Raise ConfigError (one line) when ``data`` does not fit :data:`SCHEMA`."""
    SCHEMA.check(dict(data), "")


# -- loading ------------------------------------------------------------------------------------


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (default $MAILGUARD_CONFIG, else $MAILGUARD_HOME/config.toml; a missing
    default file is fine) and check it against the schema; ConfigError says what is wrong."""
    env = os.environ if env is None else env
    home = data_dir(dict(env))
    explicit = path is not None
    cfg_path = Path(path) if path else Path(env.get("MAILGUARD_CONFIG", home / CONFIG_NAME))
    data: dict[str, Any] = {}
    check_dir(home, "state directory", ConfigError)  # before anything is read from it
    if cfg_path.is_file():
        check_file(cfg_path, "config", ConfigError)
        _check_permissions(cfg_path)
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {cfg_path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {cfg_path} is not valid TOML: {exc}") from None
        try:
            check_config(data)
        except ConfigError as exc:
            raise ConfigError(f"config {cfg_path}: {exc}") from None
    elif explicit:
        raise ConfigError(f"no such config file: {cfg_path}")
    else:
        cfg_path = None  # type: ignore[assignment]

    mailbox = data.get("mailbox", {})
    me = mailbox.get("me", [])
    if isinstance(me, str):
        me = [me]
    rules = data.get("rules", {})
    rc = RulesConfig(
        window_days=rules.get("window_days", RulesConfig.window_days),
        promo_threshold=(float(rules["promo_threshold"]) if "promo_threshold" in rules else None),
        strong_threshold=float(rules.get("strong_threshold", RulesConfig.strong_threshold)),
        personal_threshold=float(rules.get("personal_threshold", RulesConfig.personal_threshold)),
    )
    model = data.get("model", {}).get("path") or env.get("MAILGUARD_MODEL")
    orgs = mailbox.get("organisations", [])
    return Config(
        path=cfg_path,
        home=home,
        me=tuple(m.strip().lower() for m in me),
        model=Path(model).expanduser() if model else None,
        rules=rc,
        raw=data,
        organisations=tuple(o.strip().lower() for o in ([orgs] if isinstance(orgs, str) else orgs)),
        links=dict(data.get("links", {})),
        sales_tools=tuple(SalesTool(name=t["name"].strip(), headers=tuple(t.get("headers", ())),
                                    domains=tuple(d.lower() for d in t.get("domains", ())))
                          for t in data.get("sales_tools", [])),
        sieve_folder=data.get("sieve", {}).get("folder"),
    )
