"""Export the blocked and flagged senders as a Sieve script (RFC 5228) that files their mail into
a folder on the server, so that the filtering holds while mailguard is not running.

Pure: :func:`render_sieve` turns lists of addresses and domains into the script text;
:func:`sieve_targets` reads them from the store. Strings are RFC 5228 quoted strings (backslash and
double quote escaped); a ``:matches`` key also escapes its wildcards; comments hold printable text
only (a control character, a NUL decoded from an encoded address, would break the script).

Sieve knows no promo score and no contact window, so the script comes as close as it can, as one
``if``/``elsif`` chain (the first test that holds decides):

1. allowed senders (addresses and domains): left alone, even inside a blocked domain, as
   mailguard's own rules say (allow wins);
2. blocked addresses and domains: filed, whatever the message;
3. flagged senders: filed only when the message carries one of the bulk headers that made
   mailguard move that sender's mail (``exists "List-Unsubscribe"``, ``header :is "Precedence"
   "bulk"``, the sending platform's headers), so a personal reply from the same address stays.
   A sender moved for its content alone (no bulk header, e.g. a one-to-one sales sequence) cannot
   be told from a personal note by Sieve: it is left out of the script, and the script says so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..core.identity import ESP_DOMAINS, ESP_HEADERS
from .actions import ALLOWED, BLOCKED, FLAGGED, flagged_senders, moved_messages
from ..store import Store

DEFAULT_FOLDER = "Contact-Promo"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check(s: str, what: str) -> str:
    if _CONTROL.search(s):
        raise ValueError(f"{what} {s!r} has a control character")
    return s


def _printable(s: str) -> bool:
    return s.isprintable() and not _CONTROL.search(s)


def quote(s: str) -> str:
    """A Sieve quoted string: ``a"b\\c`` -> ``"a\\"b\\\\c"`` (RFC 5228 2.4.2)."""
    _check(s, "string")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matches_key(s: str) -> str:
    """A literal for ``:matches``: its wildcards ``*`` and ``?`` (and ``\\``) escaped, unquoted."""
    return s.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def comment(text: str, limit: int = 200) -> str:
    """Text for a ``#`` comment: one line of printable characters (others become "?")."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def string_list(items: Iterable[str], indent: str = "") -> str:
    """``["a", "b"]``; one string a line (indented under ``indent``) when long."""
    quoted = [quote(i) for i in items]
    one_line = "[" + ", ".join(quoted) + "]"
    if len(one_line) <= 60:
        return one_line
    return "[\n" + ",\n".join(indent + "    " + q for q in quoted) + "\n" + indent + "]"


# -- which bulk headers made mailguard move a sender's mail ---------------------------------------


def _signal_tests(signal: str) -> list[str]:
    """The Sieve tests for one bulk signal as features.py names it in a decision's reasons
    ("List-Unsubscribe with One-Click", "Precedence: bulk", "sent through SendGrid", ...); []
    for signals of the body (a tracking pixel, an unsubscribe footer), which Sieve cannot see."""
    if signal.startswith("List-Unsubscribe"):
        return ['exists "List-Unsubscribe"']
    if signal.startswith("Precedence: "):
        value = signal.removeprefix("Precedence: ").strip().lower()
        return [f'header :is "Precedence" {quote(value)}'] if value in ("bulk", "junk", "list") else []
    if signal == "Feedback-ID":
        return ['exists "Feedback-ID"']
    if signal == "List-Id":
        return ['exists "List-Id"']
    if signal.startswith("sent through "):
        esp = signal.removeprefix("sent through ")
        tests = [f"exists {quote(h)}" for h in sorted(h for h, n in ESP_HEADERS.items() if n == esp)]
        domains = sorted(d for d, n in ESP_DOMAINS.items() if n == esp)
        if domains:
            tests.append('header :contains ["Return-Path", "DKIM-Signature"] '
                         + string_list(domains, " " * 8))  # its place in render_sieve's allof
        return tests
    return []


def bulk_tests(reasons: Iterable[str]) -> tuple[str, ...]:
    """Pure: the Sieve tests (any one must hold) for the bulk headers named in the first reasons
    of a sender's moved messages ("promotional: promo score 1.00 >= 0.65 (List-Unsubscribe, ...)").
    Empty when none was moved for a header Sieve can test."""
    tests: list[str] = []
    for reason in reasons:
        if not (reason.startswith("promotional: ") and reason.endswith(")") and " (" in reason):
            continue
        for signal in reason[reason.index(" (") + 2:-1].split(", "):
            tests += _signal_tests(signal.strip())
    return tuple(dict.fromkeys(tests))


# -- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SieveTargets:
    """What the script holds. ``addresses`` are filed: blocked ones always, flagged ones (the keys
    of ``bulk``) only with one of their bulk-header tests; ``domains`` (blocked) always, with their
    subdomains; ``allowed`` (addresses and domains) never, and before anything else. ``why`` maps
    entries to a comment."""

    addresses: tuple[str, ...]
    domains: tuple[str, ...]
    why: dict[str, str]
    #: senders and rules that cannot be written as a Sieve string (control characters)
    left_out: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    #: flagged address -> the Sieve tests (any one) its mail must pass to be filed
    bulk: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: flagged senders moved for their content alone: no Sieve rule can tell them from a person
    content_only: tuple[str, ...] = ()


def sieve_targets(store: Store) -> SieveTargets:
    """Allowed entries, blocked entries (addresses and domains) and flagged senders, each flagged
    one with the bulk headers its moved mail carried; never an allowed sender among the filed."""
    addresses: dict[str, str] = {}
    domains: dict[str, str] = {}
    allowed: dict[str, str] = {}
    bad: list[str] = []
    for entry, status in sorted(store.sender_rules().items()):
        if not _printable(entry):
            bad.append(entry)
        elif status == BLOCKED:
            (addresses if "@" in entry else domains)[entry] = "blocked"
        elif status == ALLOWED:
            allowed[entry] = "allowed: never filed"
    moved = moved_messages(store)
    reasons: dict[str, list[str]] = defaultdict(list)
    for m in moved:
        if m.reasons:
            reasons[m.sender].append(m.reasons[0])
    bulk: dict[str, tuple[str, ...]] = {}
    content_only: list[str] = []
    for f in flagged_senders(store, moved):
        if f.status != FLAGGED or not f.sender or f.sender in addresses:
            continue
        if not _printable(f.sender):
            bad.append(f.sender)
            continue
        tests = bulk_tests(reasons[f.sender])
        if not tests:
            content_only.append(f.sender)
            continue
        how = f" ({f.link} -> {f.linked_contact})" if f.linked_contact else ""
        addresses[f.sender] = f"flagged{how}"
        bulk[f.sender] = tests
    return SieveTargets(tuple(sorted(addresses)), tuple(sorted(domains)),
                        {**allowed, **addresses, **domains}, tuple(sorted(bad)),
                        tuple(sorted(allowed)), bulk, tuple(sorted(content_only)))


# -- the script -----------------------------------------------------------------------------------


def _from_tests(addresses: Sequence[str], domains: Sequence[str], pad: str) -> list[str]:
    """Tests that the From is one of the addresses, or in one of the domains or a subdomain."""
    tests = []
    if addresses:
        tests.append(f'address :all :is "from" {string_list(addresses, pad)}')
    if domains:
        tests.append(f'address :domain :is "from" {string_list(domains, pad)}')
        tests.append('address :domain :matches "from" '
                     + string_list(["*." + matches_key(d) for d in domains], pad))
    return tests


def _any(tests: Sequence[str], pad: str) -> str:
    if len(tests) == 1:
        return tests[0]
    return "anyof (\n" + ",\n".join(pad + "    " + t for t in tests) + "\n" + pad + ")"


def render_sieve(addresses: Sequence[str], domains: Sequence[str] = (), *,
                 folder: str = DEFAULT_FOLDER, generated: datetime | None = None,
                 why: dict[str, str] | None = None, allowed: Sequence[str] = (),
                 bulk: Mapping[str, Sequence[str]] | None = None,
                 content_only: Sequence[str] = ()) -> str:
    """The script. A domain also covers its subdomains (as mailguard's rules do). addresses in
    ``bulk`` are filed only when one of their tests holds; the others, and the domains, always.
    ``allowed`` addresses and domains are tested first and never filed."""
    _check(folder, "folder")
    if not folder.strip():
        raise ValueError("folder name is empty")
    why = why or {}
    bulk = bulk or {}
    for a in (*addresses, *domains, *allowed):
        _check(a, "address or domain")
    lines = [
        "# mailguard: flagged and blocked senders (a networking contact, then promotion).",
        f"# {len(addresses)} address(es), {len(domains)} domain(s)"
        + (f"; generated {generated:%Y-%m-%d %H:%M %Z}".rstrip() if generated else "") + ".",
        "# Install it with your mail server's Sieve (ManageSieve) settings.",
        'require ["fileinto"];',
        "",
    ]
    if content_only:
        lines.append("# not in this script (moved for their content, which Sieve cannot judge): "
                     + comment(", ".join(content_only), 1000))
    always = [a for a in addresses if a not in bulk]
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for a in addresses:
        if a in bulk:
            groups[tuple(bulk[a])].append(a)
    if not (always or domains or groups):
        lines.append("# nothing blocked or flagged yet")
        return "\n".join(lines) + "\n"
    for entry in (*allowed, *addresses, *domains):
        if why.get(entry):
            lines.append(comment(f"#   {entry}: {why[entry]}"))
    pad = "    "
    fileinto = [f"    fileinto {quote(folder)};"]
    chain: list[tuple[str, list[str]]] = []
    if allowed:
        chain.append((_any(_from_tests([a for a in allowed if "@" in a],
                                       [d for d in allowed if "@" not in d], pad), ""),
                      ["    # allowed: left where it is"]))
    if always or domains:
        tests = _from_tests(always, domains, pad)
        chain.append((_any(tests, "") if len(tests) > 1 or chain else tests[0], fileinto))
    for tests, senders in groups.items():
        who = f'address :all :is "from" {string_list(senders, pad)}'
        chain.append((f"allof (\n{pad}{who},\n{pad}{_any(tests, pad)}\n)", fileinto))
    for i, (test, body) in enumerate(chain):
        opener = "if" if i == 0 else "} elsif"
        lines.append(f"{opener} {test} {{")
        lines += body
    lines.append("}")
    return "\n".join(lines) + "\n"
