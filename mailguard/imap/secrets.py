"""Where an IMAP password or OAuth2 token comes from: an environment variable, a command, or the
system keyring. The config names the source, never the secret.

    password_env = "MAILGUARD_PASSWORD"          # the variable's value
    password_command = "pass show mail/sam"      # the first line the command prints
    keyring = true                               # keyring service "mailguard", user = username
    keyring = "my-service"                       # ... or a service name of your choice
    oauth2_token_command = "oama access sam@x"   # XOAUTH2 / OAUTHBEARER access token

A :class:`SecretSpec` is parsed once from the config (:func:`secret_spec`); :func:`credentials`
turns it into :class:`mailguard.imap.client.Credentials` whose callables fetch the secret again at each
connect, so a rotated password or refreshed token is picked up and nothing is cached here.

Secrets never appear in log lines or exception messages: a failing command is reported by its
program name and exit status only; what it printed (stdout or stderr) is never shown, because a
confused password manager may print the secret there.

A process that holds a secret never dumps core (its memory would land on disk, in a core file or
systemd-coredump's store): :func:`forbid_core_dumps` sets RLIMIT_CORE to 0 before any secret is
fetched, and the daemon calls it at start.
"""

from __future__ import annotations

import logging
import os
import resource
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError, SecretError
from .client import Credentials

log = logging.getLogger(__name__)

#: seconds a password or token command may run
COMMAND_TIMEOUT = 30.0
#: keyring service name used by ``keyring = true``
KEYRING_SERVICE = "mailguard"

SecretKind = Literal["env", "command", "keyring", "oauth2_command"]
_KEYS: dict[str, SecretKind] = {
    "password_env": "env",
    "password_command": "command",
    "keyring": "keyring",
    "oauth2_token_command": "oauth2_command",
}


@dataclass(frozen=True)
class SecretSpec:
    """Where one account's secret comes from (never the secret itself).

    kind "env": ``value`` is a variable name; "command" and "oauth2_command": ``argv`` is the
    command (shlex-split, run without a shell); "keyring": ``value`` is the service name.
    """

    kind: SecretKind
    value: str = ""
    argv: tuple[str, ...] = ()
    username: str = ""
    timeout: float = COMMAND_TIMEOUT
    oauth2_mech: Literal["XOAUTH2", "OAUTHBEARER"] = "XOAUTH2"
    where: str = "[imap]"

    def describe(self) -> str:
        """For logs and `mailguard check`: which source, without any secret."""
        if self.kind == "env":
            return f"password from ${self.value}"
        if self.kind == "keyring":
            return f"password from the keyring (service {self.value!r}, user {self.username!r})"
        what = "password" if self.kind == "command" else f"{self.oauth2_mech} token"
        return f"{what} from command {self.argv[0]!r}"


def secret_spec(table: Mapping[str, Any], *, username: str, where: str = "[imap]") -> SecretSpec:
    """Read the secret source from an [imap] (or [[accounts]]) table; exactly one must be given."""
    given = [k for k in _KEYS if table.get(k) not in (None, False, "")]
    if len(given) != 1:
        names = ", ".join(_KEYS)
        if not given:
            raise ConfigError(f"{where} needs one of {names} (where the password comes from)")
        raise ConfigError(f"{where} has {' and '.join(given)}: give only one of {names}")
    key = given[0]
    kind = _KEYS[key]
    raw = table[key]
    timeout = table.get("secret_timeout", COMMAND_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"{where} secret_timeout must be a positive number of seconds")
    mech = str(table.get("oauth2_mech", "XOAUTH2")).upper()
    if mech not in ("XOAUTH2", "OAUTHBEARER"):
        raise ConfigError(f"{where} oauth2_mech must be 'XOAUTH2' or 'OAUTHBEARER', not {mech!r}")
    common: dict[str, Any] = {"username": username, "timeout": float(timeout), "oauth2_mech": mech,
                              "where": where}
    if kind == "env":
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{where} password_env must name an environment variable")
        return SecretSpec(kind, value=raw.strip(), **common)
    if kind == "keyring":
        if raw is True:
            service = KEYRING_SERVICE
        elif isinstance(raw, str) and raw.strip():
            service = raw.strip()
        else:
            raise ConfigError(f"{where} keyring must be true or a keyring service name")
        return SecretSpec(kind, value=service, **common)
    argv = _argv(raw, key, where)
    return SecretSpec(kind, argv=argv, **common)


def _argv(raw: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(raw, list) and raw and all(isinstance(a, str) for a in raw):
        return tuple(raw)
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise ConfigError(f"{where} {key} cannot be split into words: {exc}") from None
        if argv:
            return tuple(argv)
    raise ConfigError(f"{where} {key} must be a command (a string, or a list of words)")


# -- fetching ---------------------------------------------------------------------------------


def forbid_core_dumps() -> None:
    """No core dump of this process (nor, unless they raise it, of the commands it starts), from
    now on: the soft RLIMIT_CORE, the one the kernel applies, is set to 0. The hard limit is left
    as it is (lowering it cannot be undone without privileges); the systemd unit sets both."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ValueError, OSError) as exc:  # cannot happen when lowering; never stop over it
        log.warning("cannot turn off core dumps: %s", exc)


def from_env(name: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = env.get(name)
    if value is None:
        raise SecretError(f"environment variable {name} is not set (password_env)")
    value = value.rstrip("\r\n")
    if not value:
        raise SecretError(f"environment variable {name} is empty (password_env)")
    return value


def from_command(argv: tuple[str, ...] | list[str], *, timeout: float = COMMAND_TIMEOUT,
                 what: str = "password_command") -> str:
    """Run argv without a shell; the secret is the first line of its output. Its stderr is
    discarded, never logged; a failure names the program and its exit status only."""
    program = argv[0] if argv else "?"
    log.debug("running %s %r", what, program)
    try:
        result = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=timeout, check=False)
    except FileNotFoundError:
        raise SecretError(f"{what}: program {program!r} not found") from None
    except PermissionError:
        raise SecretError(f"{what}: program {program!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"{what} {program!r} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise SecretError(f"{what} {program!r} could not run: {exc.strerror or type(exc).__name__}") from None
    if result.returncode != 0:
        raise SecretError(f"{what} {program!r} failed with exit status {result.returncode}")
    try:
        text = result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{what} {program!r} printed something that is not UTF-8") from None
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise SecretError(f"{what} {program!r} printed nothing on its first line")
    return first.rstrip("\r\n")


def from_keyring(service: str, username: str) -> str:
    try:
        import keyring  # optional dependency
        from keyring.errors import KeyringError
    except ImportError:
        raise SecretError(
            "keyring is set but the Python package 'keyring' is not installed: "
            "pip install keyring (or use password_env / password_command)"
        ) from None
    try:
        value = keyring.get_password(service, username)
    except KeyringError as exc:
        raise SecretError(f"keyring lookup for {username!r} in service {service!r} failed: "
                          f"{type(exc).__name__}") from None
    if not value:
        raise SecretError(f"no password for {username!r} in keyring service {service!r} "
                          f"(store one with: keyring set {service} {username})")
    return value


def fetcher(spec: SecretSpec, env: Mapping[str, str] | None = None) -> Callable[[], str]:
    """A callable that fetches the secret anew each time it is called, core dumps turned off
    first (see forbid_core_dumps)."""
    what = "password_command" if spec.kind == "command" else "oauth2_token_command"

    def fetch() -> str:
        forbid_core_dumps()
        if spec.kind == "env":
            return from_env(spec.value, env)
        if spec.kind == "keyring":
            return from_keyring(spec.value, spec.username)
        return from_command(spec.argv, timeout=spec.timeout, what=what)

    return fetch


def credentials(spec: SecretSpec, env: Mapping[str, str] | None = None) -> Credentials:
    """imap.Credentials asking the source at each connect."""
    get = fetcher(spec, env)
    if spec.kind == "oauth2_command":
        return Credentials(oauth2_token=get, oauth2_mech=spec.oauth2_mech)
    return Credentials(password=get)

