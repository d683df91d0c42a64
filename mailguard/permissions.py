"""Who may have written what mailguard loads: the state directory, the config, a model.

Whoever can write one of these decides what mailguard does: the config names commands that are
run (``password_command``), a model decides what is moved. So each is used only when it belongs to
the user running mailguard (or to root) and no one else can write it, and the check comes before
anything is read from it. A refusal is one line that says what to run.

The model shipped inside the installed package is not checked: whoever can write it can write
mailguard's code beside it, so a check there would only get in the way of a group-writable
install (umask 002).
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import MailguardError

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
T = TypeVar("T")


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _refuse_owner_or_mode(path: Path, st: os.stat_result, subject: str, error: type[MailguardError],
                          *, sticky_ok: bool) -> None:
    me = os.getuid()
    if st.st_uid not in (me, 0):
        raise error(f"{subject} belongs to {_owner_name(st.st_uid)}, not to you ({_owner_name(me)}) or root: "
                    f"refusing to use it; if you trust it, take it over: `chown {_owner_name(me)} {path}`")
    if st.st_mode & _OTHERS_WRITE and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        raise error(f"{subject} can be written by other users (mode {stat.S_IMODE(st.st_mode):o}): "
                    f"refusing to use it; check it, then run `chmod go-w {path}`")


def _stat(path: Path, what: str, error: type[MailguardError], read: Callable[[], T]) -> T | None:
    """``read()`` (stat calls on ``path``), or None when there is no such file; another OSError is
    one line naming ``what``."""
    try:
        return read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot check {what} {path}: {exc.strerror}") from None


def check_dir(path: Path, what: str, error: type[MailguardError]) -> None:
    """Refuse a directory mailguard keeps or reads its state in if someone else owns it or others
    can write it (a sticky bit does not help: others could still add files). A missing one is
    fine: mailguard creates it, mode 0700."""
    st = _stat(path, what, error, path.stat)
    if st is not None:
        _refuse_owner_or_mode(path, st, f"{what} {path}", error, sticky_ok=False)


def check_file(path: Path, what: str, error: type[MailguardError]) -> None:
    """Refuse a file, or the directory holding it, that someone else owns or others can write. The
    directory may be shared if it is sticky, like /tmp: others cannot replace the file there. A
    missing file is left to the caller."""
    def file_and_parent() -> tuple[os.stat_result, Path, os.stat_result]:
        st = path.stat()
        parent = path.resolve().parent
        return st, parent, parent.stat()

    got = _stat(path, what, error, file_and_parent)
    if got is None:
        return
    st, parent, pst = got
    _refuse_owner_or_mode(path, st, f"{what} {path}", error, sticky_ok=False)
    _refuse_owner_or_mode(parent, pst, f"directory {parent}, which holds {what} {path.name},", error,
                          sticky_ok=True)
