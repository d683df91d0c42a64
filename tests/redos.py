"""Scaling checks for the regular expressions of mailguard (catastrophic backtracking).

Every regular expression that can see message text must run in time linear in its input. This
module finds them all without a list to keep up to date:

- every compiled pattern a ``mailguard`` module holds at module level (also inside tuples, lists
  and dicts), whatever its name;
- every ``re.compile/search/match/findall/finditer/sub/subn/split/fullmatch`` call in the source
  whose pattern (and flags) can be evaluated in the module's namespace (literals, f-strings over
  module constants), wherever it is;
- the built-in social-network table (its patterns are compiled from strings at run time).

For each pattern it builds adversarial strings from what the pattern repeats on: every character
its literals and classes name, letter/digit + punctuation pairs ("a.", "0%"), the starts of short
strings it matches ("<br" of "<br>"), each repetition pumped after what leads to it ("--" then
blanks), its literal sequences ("www." + "0"), and generic ones (the issue's "www.0", "a.", "a%").
Each is repeated to two lengths ten times apart, as it is and followed by a character that ends a
run, and matched the way the code uses the pattern: ``findall`` over the whole string (the
costliest of search/findall/finditer/sub/split), or ``match`` for a pattern the code only ever
uses with match/fullmatch, or through its guarding function (:data:`GUARDED`). The time ratio is
compared with :data:`MAX_RATIO`: linear code gives about 10, quadratic about 100.

Noise (the machine is shared): times are this thread's CPU time, so time spent preempted by other
processes does not count (wall-clock ratios of a linear pattern reached 30-40 under load). Every
string is screened once at :data:`SCREEN` characters and ten times that; only one that looks bad
there is timed at :data:`SHORT` and ten times that, best of :data:`CONFIRM_RUNS` at each length,
interleaved, and fails if the ratio stays above the limit. Long-length times below
:data:`FLOOR_SECONDS` pass whatever the ratio (a quadratic pattern costs tens of ms there). A call
running longer than :data:`CALL_BUDGET_SECONDS` (exponential backtracking) is interrupted (``_sre``
checks for signals) and fails.

Run it alone with ``python tests/redos.py``; ``tests/test_regex_scaling.py`` runs it in the suite.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from re import _constants as C, _parser as P  # type: ignore[attr-defined]  # Python 3.11+
from types import ModuleType

import mailguard

#: Characters at the short length of the screening pass and of the confirmation; the long length
#: is FACTOR times each.
SCREEN = 300
SHORT = 1_000
FACTOR = 10
#: A time ratio above this between the two lengths fails (linear ~10, quadratic ~100).
MAX_RATIO = 30.0
#: Long-length times below these pass whatever the ratio (timer and scheduler noise); a quadratic
#: pattern costs tens of milliseconds at the long lengths.
SCREEN_FLOOR_SECONDS = 0.0005
FLOOR_SECONDS = 0.002
#: Best of this many runs at each length when the first ratio looks bad ...
CONFIRM_RUNS = 7
#: ... unless the long one took this much CPU time: no noise does that to a linear pattern.
CERTAIN_SECONDS = 1.0
#: One call running longer than this is catastrophic.
CALL_BUDGET_SECONDS = 20.0

#: Strings repeated whatever the pattern: the runs the issues found and their kin.
GENERIC_UNITS: tuple[str, ...] = (
    "a", "0", " ", "-", "=", ".", "@", "%", "<", ">", "\n", "\r\n", "\t", ":", "/", "_", '"', "'",
    "a.", "www.0", "a%", "a@", "<a", "<a ", "a ", "a-", "a=", "a:", "a,", "a\n", "0.", "a.b@", "@a.",
    "a@a.", "=?", "&#", "--", "-- ", "> ", "http://a", "https://a.", "<img ", "<a href=", "a/",
    "Aa ", "A ", "a|", "(a", "[a", "a;", "x=",
)
#: Literal sequences of a pattern tried as units, and as a prefix before a run of one character.
MAX_LITERALS = 24
MAX_PREFIXES = 6
#: Short matching strings of a pattern whose starts are tried as units, and how much of each.
MAX_SAMPLES = 16
MAX_PREFIX_CHARS = 8
#: Repetitions pumped after what leads to them, per pattern.
MAX_PUMPS = 48
#: The character that ends a run in the second variant of each string.
END = "\x01"
#: Characters tried for a negated class (one outside it is used).
_CANDIDATES = "a0 .-@%<>\n:/_=\"'x,;()[]|A\t&#?!+*"


#: Patterns that are quadratic on their own but whose only caller bounds what they see; the caller
#: is checked in their place, with the pattern's adversarial strings ("module:NAME" -> function).
GUARDED: dict[str, str] = {
    # "<" never closed by a ">": every "<" reads to the end. html_to_text searches only up to the
    # last ">", where each match ends at the next ">". (Keeping "<[^>]*>" keeps "<!--<![endif]-->"
    # one tag, as it is in real newsletters.)
    "core.features:_TAG": "html_to_text",
    "core.social:_BLOCK_TAG": "html_lines",  # the same guard
}


@dataclass(frozen=True)
class Case:
    """One pattern to check: where it comes from, and how the code calls it."""

    where: str
    pattern: re.Pattern
    mode: str  # "findall", "match", or "call": the guarding function is timed instead
    call: Callable[[str], object] | None = None


@dataclass(frozen=True)
class Slow:
    """A pattern that did not scale linearly on one string."""

    case: Case
    unit: str
    short_seconds: float
    long_seconds: float

    @property
    def ratio(self) -> float:
        return self.long_seconds / max(self.short_seconds, 1e-9)

    def __str__(self) -> str:
        return (f"{self.case.where} ({self.case.mode}) on {self.unit[:40]!r}: {self.short_seconds * 1e3:.1f} ms "
                f"at {SHORT:,} chars, {self.long_seconds * 1e3:.1f} ms at {SHORT * FACTOR:,} "
                f"(x{self.ratio:.0f}, limit x{MAX_RATIO:.0f})")


# -- finding the patterns ----------------------------------------------------------------------

def modules() -> list[ModuleType]:
    out = [mailguard]
    for info in pkgutil.walk_packages(mailguard.__path__, "mailguard."):
        out.append(importlib.import_module(info.name))
    return out


def _patterns_in(value: object, depth: int = 0) -> Iterator[tuple[str, re.Pattern]]:
    if isinstance(value, re.Pattern):
        yield "", value
    elif depth < 2 and isinstance(value, tuple | list | frozenset | set):
        for i, v in enumerate(value):
            for sub, p in _patterns_in(v, depth + 1):
                yield f"[{i}]{sub}", p
    elif depth < 2 and isinstance(value, dict):
        for k, v in value.items():
            for sub, p in _patterns_in(v, depth + 1):
                yield f"[{k!r}]{sub}", p


_MATCH_ONLY = {"match", "fullmatch"}
_RE_FUNCS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
#: where each re function takes its flags, positionally
_FLAGS_POS = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2, "finditer": 2,
              "sub": 4, "subn": 4, "split": 3}


@functools.cache
def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _uses(tree: ast.AST, name: str) -> set[str]:
    """How a module uses a global name: the methods called on it, or "?" for any other use."""
    parents = _parents(tree)
    uses: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            up = parents.get(node)
            if isinstance(up, ast.Attribute):  # rx.search(...), or an alias: match = rx.match
                uses.add(up.attr)
            else:
                uses.add("?")
    return uses


def _uses_outside(tree: ast.AST, name: str, function: str) -> list[int]:
    """Lines where a global name is read outside the named function."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            inside.update(id(n) for n in ast.walk(node))
    return sorted(n.lineno for n in ast.walk(tree)
                  if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) and id(n) not in inside)


def _imported_elsewhere(trees: dict[str, ast.AST], module: str, name: str) -> bool:
    return any(name in _names_used_from_elsewhere(other, tree) for other, tree in trees.items() if other != module)


@functools.cache
def _names_used_from_elsewhere(module: str, tree: ast.AST) -> frozenset[str]:
    """Names a module imports from others (``from x import NAME``) or reads as ``x.NAME``."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return frozenset(out)


def _evaluate(node: ast.expr, module: ModuleType) -> object:
    """A literal, or an expression over the module's constants (f-strings, flags)."""
    return eval(compile(ast.Expression(node), "<re>", "eval"), vars(module))  # noqa: S307


def _enclosing(tree: ast.AST, target: ast.AST) -> str:
    """The name of the function a node is in ("<module>" at module level)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(n is target for n in ast.walk(node)):
            return node.name
    return "<module>"


@functools.cache
def collect() -> tuple[list[Case], list[str]]:
    """Every pattern to check, and the re calls whose pattern could not be evaluated (dynamic)."""
    mods = modules()
    trees = {m.__name__: ast.parse(inspect.getsource(m)) for m in mods}
    seen: set[tuple[object, int]] = set()
    cases: list[Case] = []
    dynamic: list[str] = []

    def add(where: str, rx: re.Pattern, mode: str, call: Callable[[str], object] | None = None) -> None:
        key = (rx.pattern, rx.flags)
        if key in seen:
            return
        seen.add(key)
        cases.append(Case(where, rx, mode, call))

    for m in mods:
        tree = trees[m.__name__]
        short = m.__name__.removeprefix("mailguard.")
        for name, value in list(vars(m).items()):
            guard = GUARDED.get(f"{short}:{name}")
            if guard is not None:
                outside = _uses_outside(tree, name, guard)
                if outside or _imported_elsewhere(trees, m.__name__, name):
                    raise AssertionError(f"{short}:{name} is checked through {guard}() only, but is also used "
                                         f"at line(s) {outside or 'of another module'}: check it there too")
                add(f"{short}:{name}", value, "call", getattr(m, guard))
                continue
            for sub, rx in _patterns_in(value):
                uses = _uses(tree, name)
                match_only = bool(uses) and uses <= _MATCH_ONLY and not sub \
                    and not _imported_elsewhere(trees, m.__name__, name)
                add(f"{short}:{name}{sub}", rx, "match" if match_only else "findall")
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.func.attr in _RE_FUNCS and node.args):
                continue
            func = node.func.attr
            flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
            if flag_node is None and len(node.args) > _FLAGS_POS[func]:
                flag_node = node.args[_FLAGS_POS[func]]
            try:
                pattern = _evaluate(node.args[0], m)
                flags = _evaluate(flag_node, m) if flag_node else 0
            except Exception:  # noqa: BLE001 - a pattern built at run time
                pattern = None
            if not isinstance(pattern, str | bytes):
                dynamic.append(f"{short}:{_enclosing(tree, node)} re.{func}({ast.unparse(node.args[0])})")
                continue
            add(f"{short}:{node.lineno} re.{func}", re.compile(pattern, flags),
                "match" if func in _MATCH_ONLY else "findall")

    from mailguard.core import social  # the network table: strings compiled at run time
    for d in social.BUILTIN_TABLE:
        for i, ev in enumerate(d["events"]):
            for part in ("subject", "body"):
                if ev.get(part):
                    add(f"core.social:{d['name']} event {i + 1} {part}", social._compile(ev[part], "test"), "findall")
        for key in ("fields", "ignore_subjects"):
            for i, p in enumerate(d.get(key, ())):
                add(f"core.social:{d['name']} {key}[{i}]", social._compile(p, "test"), "findall")
        if d.get("profile"):
            add(f"core.social:{d['name']} profile", social._compile(d["profile"], "test"), "findall")
    for i, p in enumerate(social.GENERIC_FIELDS):
        add(f"core.social:GENERIC_FIELDS[{i}]", social._compile(p, "test"), "findall")
    return cases, dynamic


# -- adversarial strings -----------------------------------------------------------------------

def _class_reps(items: list, out: set[str]) -> None:
    negate = any(op is C.NEGATE for op, _ in items)
    members: list[tuple] = [(op, av) for op, av in items if op is not C.NEGATE]
    if negate:
        probe = re.compile(_set_source(members) or "(?!)")
        outside = [c for c in _CANDIDATES if not probe.fullmatch(c)]
        out.update(outside[:4])
        return
    for op, av in members:
        if op is C.LITERAL:
            out.add(chr(av))
        elif op is C.RANGE:
            lo, hi = av
            for c in ("a", "0", "A"):
                if lo <= ord(c) <= hi:
                    out.add(c)
                    break
            else:
                out.add(chr(lo))
        elif op is C.CATEGORY:
            out.update(_category_rep(av))


def _category_rep(cat: object) -> str:
    return {C.CATEGORY_DIGIT: "0", C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_SPACE: " ",
            C.CATEGORY_NOT_SPACE: "a.", C.CATEGORY_WORD: "a", C.CATEGORY_NOT_WORD: ". "}.get(cat, "a")


def _set_source(members: list[tuple]) -> str:
    parts = []
    for op, av in members:
        if op is C.LITERAL:
            parts.append(re.escape(chr(av)))
        elif op is C.RANGE:
            parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is C.CATEGORY:
            parts.append({C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
                          C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w",
                          C.CATEGORY_NOT_WORD: r"\W"}.get(av, ""))
    return f"[{''.join(parts)}]" if parts else ""


def _walk(seq: P.SubPattern | list, chars: set[str], literals: set[str]) -> None:
    run = ""
    for op, av in seq:
        if op is C.LITERAL:
            run += chr(av)
            chars.add(chr(av))
            continue
        if len(run) >= 2:
            literals.add(run)
        run = ""
        if op is C.IN:
            _class_reps(av, chars)
        elif op is C.NOT_LITERAL:
            chars.update(c for c in "a. " if c != chr(av))
        elif op is C.ANY:
            chars.add("a")
        elif op is C.BRANCH:
            for alt in av[1]:
                _walk(alt, chars, literals)
        elif op in _REPEATS:
            _walk(av[2], chars, literals)
        elif op is C.SUBPATTERN:
            _walk(av[-1], chars, literals)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            _walk(av[1], chars, literals)
        elif op is getattr(C, "ATOMIC_GROUP", None):
            _walk(av, chars, literals)
        elif op is C.GROUPREF_EXISTS:
            _walk(av[1], chars, literals)
            if av[2]:
                _walk(av[2], chars, literals)
    if len(run) >= 2:
        literals.add(run)


def _samples(seq: P.SubPattern | list, reps: int) -> list[str]:
    """Short strings the pattern matches (up to :data:`MAX_SAMPLES`): every alternative of its
    branches, each repetition taken ``max(min, reps)`` times (at most 3), assertions left out."""
    out = [""]
    for op, av in seq:
        if op is C.LITERAL:
            parts = [chr(av)]
        elif op is C.NOT_LITERAL:
            parts = [next(c for c in "a. " if c != chr(av))]
        elif op is C.IN:
            reps_of: set[str] = set()
            _class_reps(av, reps_of)
            parts = [sorted(reps_of)[0][:1]] if reps_of else [""]
        elif op is C.ANY:
            parts = ["a"]
        elif op is C.BRANCH:
            parts = [x for alt in av[1] for x in _samples(alt, reps)]
        elif op in _REPEATS:
            lo, hi, sub = av
            n = min(max(lo, reps), hi, 3)
            parts = [x * n for x in _samples(sub, reps)]
        elif op is C.SUBPATTERN:
            parts = _samples(av[-1], reps)
        elif op is getattr(C, "ATOMIC_GROUP", None):
            parts = _samples(av, reps)
        else:  # assertions, anchors, group references
            parts = [""]
        out = [a + b for a in out for b in parts][:MAX_SAMPLES]
    return out


_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None))


def _pumps(seq: P.SubPattern | list, before: str, out: list[tuple[str, str]]) -> None:
    """For each repetition in the pattern: (what leads to it, what it repeats), e.g. ("<", " ")
    for the first ``\\s*`` of ``<\\s*/?\\s*br``. Alternatives and groups are entered."""
    items = list(seq)
    for j, (op, av) in enumerate(items):
        lead = before + _samples(items[:j], 0)[0]
        if op in _REPEATS:
            for unit in _samples(av[2], 1)[:2]:
                if unit and len(out) < MAX_PUMPS:
                    out.append((lead, unit))
            _pumps(av[2], lead, out)
        elif op is C.BRANCH:
            for alt in av[1][:MAX_SAMPLES]:
                _pumps(alt, lead, out)
        elif op is C.SUBPATTERN:
            _pumps(av[-1], lead, out)
        elif op is getattr(C, "ATOMIC_GROUP", None):
            _pumps(av, lead, out)


def units(rx: re.Pattern) -> list[tuple[str, str]]:
    """(prefix, unit) pairs: the string is prefix + unit repeated."""
    source = rx.pattern.decode("latin-1") if isinstance(rx.pattern, bytes) else rx.pattern
    flags = rx.flags & ~re.UNICODE if isinstance(rx.pattern, bytes) else rx.flags
    tree = P.parse(source, flags)
    chars: set[str] = set()
    literals: set[str] = set()
    _walk(tree, chars, literals)
    singles = sorted({c for s in chars for c in s})
    out: list[tuple[str, str]] = [("", u) for u in GENERIC_UNITS]
    out += [("", c) for c in singles]
    puncts = [c for c in singles if not c.isalnum()]
    out += [("", x + p) for x in ("a", "0") for p in puncts]
    # almost-matches: the starts of short strings the pattern matches ("<br" of "<br>", "www.0")
    for sample in dict.fromkeys(_samples(tree, 0) + _samples(tree, 1)):
        for i in range(1, min(len(sample), MAX_PREFIX_CHARS) + 1):
            out.append(("", sample[:i]))
        if len(sample) > MAX_PREFIX_CHARS:
            out += [("", sample[:-1]), ("", sample)]
    # each repetition pumped after what leads to it ("--" + blanks, "<" + blanks)
    pumps: list[tuple[str, str]] = []
    _pumps(tree, "", pumps)
    out += pumps
    # the pattern's literal sequences, shortest first ("--", "www.", "<a", then the words)
    lits = sorted(literals, key=lambda s: (len(s), s))[:MAX_LITERALS]
    for lit in lits:
        out += [("", lit), ("", lit + "a"), ("", lit + "0"), ("", lit + " ")]
    runs = sorted({"a", "0", " ", "\n", *puncts})
    for lit in lits[:MAX_PREFIXES]:
        out += [(lit, c) for c in runs]
    if rx.flags & re.IGNORECASE:
        out += [("", u.upper()) for _, u in out[: len(GENERIC_UNITS)] if u.upper() != u]
    return list(dict.fromkeys(out))


def strings(rx: re.Pattern) -> list[tuple[str, str, str]]:
    """(prefix, unit, end): prefix + unit repeated + end. Each unit run is tried as it is (a run
    to the end of the text often lets ``$`` or ``\\Z`` match at once) and followed by a character
    that ends most matches there."""
    return [(p, u, e) for p, u in units(rx) for e in ("", END)]


def _string(prefix: str, unit: str, end: str, length: int, as_bytes: bool) -> str | bytes:
    s = prefix + unit * max(1, (length - len(prefix) - len(end)) // len(unit)) + end
    return s.encode("latin-1", "replace") if as_bytes else s


# -- timing ------------------------------------------------------------------------------------

class _Catastrophic(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Catastrophic


def _runner(case: Case) -> Callable[[str | bytes], object]:
    rx = case.pattern
    if case.call is not None:
        return case.call  # type: ignore[return-value]
    if case.mode == "match":
        return lambda s: (rx.match(s), rx.fullmatch(s))
    return rx.findall


def _time(run: Callable[[str | bytes], object], s: str | bytes) -> float:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CALL_BUDGET_SECONDS)
    try:
        t0 = time.thread_time()
        run(s)
        return time.thread_time() - t0
    except _Catastrophic:
        return float("inf")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _bad(short: float, long: float, floor: float) -> bool:
    return long == float("inf") or (long >= floor and long / max(short, 1e-9) > MAX_RATIO)


def check(case: Case) -> Slow | None:
    """The first adversarial string on which ``case`` does not scale linearly, or None.

    Every string is screened once at :data:`SCREEN` and ten times that; one that looks bad is timed
    again at :data:`SHORT` and ten times that, best of :data:`CONFIRM_RUNS` at each, interleaved."""
    as_bytes = isinstance(case.pattern.pattern, bytes)
    run = _runner(case)
    for prefix, unit, end in strings(case.pattern):
        def text(n: int) -> str | bytes:
            return _string(prefix, unit, end, n, as_bytes)

        if not _bad(_time(run, text(SCREEN)), _time(run, text(SCREEN * FACTOR)), SCREEN_FLOOR_SECONDS):
            continue
        short_s, long_s = text(SHORT), text(SHORT * FACTOR)
        short, long = _time(run, short_s), _time(run, long_s)
        runs = 1
        while runs < CONFIRM_RUNS and long < CERTAIN_SECONDS and _bad(short, long, FLOOR_SECONDS):
            short = min(short, _time(run, short_s))
            long = min(long, _time(run, long_s))
            runs += 1
        if _bad(short, long, FLOOR_SECONDS):
            return Slow(case, prefix + unit + end, short, long)
    return None


def main() -> int:
    cases, dynamic = collect()
    t0 = time.perf_counter()
    slow = [s for s in map(check, cases) if s]
    for s in slow:
        print("SLOW", s)
    print(f"{len(cases)} patterns, {len(slow)} slow, {time.perf_counter() - t0:.1f} s; "
          f"dynamic (not checked here): {len(dynamic)}")
    for d in dynamic:
        print("  dynamic", d)
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
