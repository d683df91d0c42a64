"""Configuration: one function reads the TOML file and the environment into a frozen Config.

Nothing happens at import time. Secrets are never stored here: the [imap] section names where the
password comes from (an environment variable, a command, the keyring), not the password.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
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
class Config:
    """Everything mailguard reads from config.toml and the environment."""

    path: Path | None
    home: Path
    me: tuple[str, ...] = ()
    model: Path | None = None
    rules: RulesConfig = field(default_factory=RulesConfig)
    #: the raw [imap]/[mailbox]/[[accounts]] tables, interpreted by the IMAP side
    raw: Mapping[str, Any] = field(default_factory=dict)


def _check_permissions(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("config %s is readable by others (mode %o): run chmod 600 %s",
                    path, stat.S_IMODE(mode), path)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (default $MAILGUARD_HOME/config.toml; a missing default file is fine)."""
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
    elif explicit:
        raise ConfigError(f"no such config file: {cfg_path}")
    else:
        cfg_path = None  # type: ignore[assignment]

    mailbox = data.get("mailbox", {})
    me = mailbox.get("me", [])
    if isinstance(me, str):
        me = [me]
    if not isinstance(me, list) or not all(isinstance(m, str) for m in me):
        raise ConfigError("[mailbox] me must be a list of addresses")
    rules = data.get("rules", {})
    try:
        rc = RulesConfig(
            window_days=int(rules.get("window_days", 180)),
            promo_threshold=(float(rules["promo_threshold"]) if "promo_threshold" in rules else None),
            strong_threshold=float(rules.get("strong_threshold", 0.97)),
            personal_threshold=float(rules.get("personal_threshold", 0.5)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[rules] has a bad value: {exc}") from None
    if rc.window_days <= 0:
        raise ConfigError("[rules] window_days must be positive")
    model = data.get("model", {}).get("path") or env.get("MAILGUARD_MODEL")
    return Config(
        path=cfg_path,
        home=home,
        me=tuple(m.lower() for m in me),
        model=Path(model).expanduser() if model else None,
        rules=rc,
        raw=data,
    )
