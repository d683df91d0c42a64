"""Export the blocked and flagged senders as a Sieve script (RFC 5228) that files their mail into
a folder on the server, so that the filtering holds while mailguard is not running.

Pure: :func:`render_sieve` turns lists of addresses and domains into the script text;
:func:`sieve_targets` reads them from the store. Strings are RFC 5228 quoted strings (backslash and
double quote escaped); a ``:matches`` key also escapes its wildcards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .review import BLOCKED, FLAGGED, flagged_senders
from .store import Store

DEFAULT_FOLDER = "Contact-Promo"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check(s: str, what: str) -> str:
    if _CONTROL.search(s):
        raise ValueError(f"{what} {s!r} has a control character")
    return s


def quote(s: str) -> str:
    """A Sieve quoted string: ``a"b\\c`` -> ``"a\\"b\\\\c"`` (RFC 5228 2.4.2)."""
    _check(s, "string")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matches_key(s: str) -> str:
    """A literal for ``:matches``: its wildcards ``*`` and ``?`` (and ``\\``) escaped, unquoted."""
    return s.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def string_list(items: Iterable[str], indent: str = "") -> str:
    """``["a", "b"]``; one string a line (indented under ``indent``) when long."""
    quoted = [quote(i) for i in items]
    one_line = "[" + ", ".join(quoted) + "]"
    if len(one_line) <= 60:
        return one_line
    return "[\n" + ",\n".join(indent + "    " + q for q in quoted) + "\n" + indent + "]"


@dataclass(frozen=True)
class SieveTargets:
    """Addresses and domains to file away; ``why`` maps each one to a comment."""

    addresses: tuple[str, ...]
    domains: tuple[str, ...]
    why: dict[str, str]
    #: senders that cannot be written as a Sieve string (control characters)
    left_out: tuple[str, ...] = ()


def sieve_targets(store: Store) -> SieveTargets:
    """Blocked entries (addresses and domains) and flagged senders, never an allowed one."""
    addresses: dict[str, str] = {}
    domains: dict[str, str] = {}
    for entry, status in sorted(store.sender_rules().items()):
        if status == BLOCKED:
            (addresses if "@" in entry else domains)[entry] = "blocked"
    for f in flagged_senders(store):
        if f.status == FLAGGED and f.sender:
            how = f" ({f.link} -> {f.linked_contact})" if f.linked_contact else ""
            addresses.setdefault(f.sender, f"flagged{how}")
    bad = tuple(sorted(a for a in addresses if _CONTROL.search(a)))
    for a in bad:
        del addresses[a]
    return SieveTargets(tuple(sorted(addresses)), tuple(sorted(domains)), {**addresses, **domains},
                        bad)


def render_sieve(addresses: Sequence[str], domains: Sequence[str] = (), *,
                 folder: str = DEFAULT_FOLDER, generated: datetime | None = None,
                 why: dict[str, str] | None = None) -> str:
    """The script. A domain also covers its subdomains (as mailguard's block rules do)."""
    _check(folder, "folder")
    if not folder.strip():
        raise ValueError("folder name is empty")
    why = why or {}
    lines = [
        "# mailguard: flagged and blocked senders (a networking contact, then promotion).",
        f"# {len(addresses)} address(es), {len(domains)} domain(s)"
        + (f"; generated {generated:%Y-%m-%d %H:%M %Z}".rstrip() if generated else "") + ".",
        "# Install it with your mail server's Sieve (ManageSieve) settings.",
        'require ["fileinto"];',
        "",
    ]
    for a in addresses:
        _check(a, "address")
    many = bool(addresses) + 2 * bool(domains) > 1
    pad = "    " if many else ""
    tests = []
    if addresses:
        tests.append(f'address :all :is "from" {string_list(addresses, pad)}')
    if domains:
        for d in domains:
            _check(d, "domain")
        tests.append(f'address :domain :is "from" {string_list(domains, pad)}')
        tests.append('address :domain :matches "from" '
                     + string_list(["*." + matches_key(d) for d in domains], pad))
    if not tests:
        lines.append("# nothing blocked or flagged yet")
        return "\n".join(lines) + "\n"
    for entry in (*addresses, *domains):
        if why.get(entry):
            lines.append(f"#   {entry}: {why[entry]}".replace("\n", " ")[:200])
    if many:
        lines.append("if anyof (\n" + ",\n".join(pad + t for t in tests) + "\n) {")
    else:
        lines.append(f"if {tests[0]} {{")
    lines += [f"    fileinto {quote(folder)};", "}"]
    return "\n".join(lines) + "\n"
