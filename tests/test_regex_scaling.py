"""Every regular expression that can see message text runs in linear time (issue 13).

The first test finds every pattern of ``mailguard`` by itself (tests/redos.py says how), so a
pattern added later is checked without anyone remembering to. The checks compare the CPU time at
two lengths 10x apart: a scaling check, never an absolute time. The last tests run the issue's
three 60 KB messages through the real pipeline the same way.
"""

from __future__ import annotations

import re
import time

import pytest

import redos
from mailguard.core.identity import signature_domains
from mailguard.core.parse import parse_message
from mailguard.pipeline import Pipeline
from mailguard.core.rules import KEEP, Policy
from mailguard.scan import scan
from mailguard.sources import open_source
from mailfactory import ME, personal

#: re calls whose pattern is built at run time, and where their patterns are checked instead:
#: the network table (BUILTIN_TABLE, GENERIC_FIELDS) is compiled by these, and redos.collect()
#: compiles it the same way. A new dynamic call fails test_dynamic_patterns_are_all_known.
KNOWN_DYNAMIC = {
    "core.social:_compile re.compile(pattern.replace('{name}', 'x').replace('{handle}', 'x'))",
    "core.social:_cached re.compile(pattern)",  # _template: a field pattern with re.escape()d values
    "core.social:<module> re.compile(p)",  # DIGEST_SUBJECTS, a module-level tuple of patterns
    # MapOf's name pattern: a schema constant ([a-z0-9][a-z0-9-]*, linear) on a config key name
    "config:check re.fullmatch(self.pattern)",
}


def test_every_pattern_scales_linearly():
    cases, _ = redos.collect()
    assert len(cases) > 100  # the collection works: module constants, inline calls, the table
    slow = [s for s in map(redos.check, cases) if s is not None]
    assert not slow, "super-linear regular expressions:\n" + "\n".join(map(str, slow))


def test_dynamic_patterns_are_all_known():
    _, dynamic = redos.collect()
    unknown = set(dynamic) - KNOWN_DYNAMIC
    assert not unknown, (f"re calls with patterns built at run time: {sorted(unknown)}; make "
                         "redos.collect() check their patterns, then add them to KNOWN_DYNAMIC")


def test_the_collection_sees_constants_inline_calls_and_the_table():
    cases, _ = redos.collect()
    where = {c.where for c in cases}
    assert {"core.identity:_URL", "core.identity:_BARE_DOMAIN", "core.identity:_EMAIL_IN_TEXT", "core.features:_TAG",
            "core.parse:_ONE_NAMED", "core.social:DIGEST_SUBJECTS[0]", "core.social:GENERIC_FIELDS[0]",
            "core.social:LinkedIn profile"} <= where
    assert any(w.startswith("core.parse:") and "re.sub" in w for w in where)  # re.sub(r"\(...", ...) inline
    modes = {c.where: c.mode for c in cases}
    assert modes["core.parse:_ONE_NAMED"] == "match" and modes["core.identity:_URL"] == "findall"


def test_guarded_patterns_are_quadratic_alone_and_checked_through_their_guard():
    cases = {c.where: c for c in redos.collect()[0]}
    for where, guard in redos.GUARDED.items():
        case = cases[where]
        assert case.mode == "call" and case.call is not None and case.call.__name__ == guard
        # the guard is needed: the bare pattern is quadratic (so the check of the guard is real)
        assert redos.check(redos.Case(where, case.pattern, "findall")) is not None


@pytest.mark.parametrize("pattern, flags", [
    (r"\s*,", 0),  # every blank starts an attempt that reads the rest of the run
    # identity.py before issue 13: minutes on a 60 KB body
    (r"(?:https?://|www\.)([a-z0-9][a-z0-9.-]*\.[a-z]{2,})", re.I),
    (r"\b[a-z0-9._%+-]+@([a-z0-9.-]+\.[a-z]{2,})\b", re.I),
    (r"^(--\s*|__+|best,?|cheers,?)\s*$", re.I | re.M),
])
def test_the_check_fails_on_quadratic_patterns(pattern, flags):
    slow = redos.check(redos.Case("test", re.compile(pattern, flags), "findall"))
    assert slow is not None and slow.ratio > redos.MAX_RATIO


def test_the_check_interrupts_exponential_backtracking(monkeypatch):
    monkeypatch.setattr(redos, "CALL_BUDGET_SECONDS", 0.5)
    slow = redos.check(redos.Case("test", re.compile(r"(a|aa)+$"), "match"))
    assert slow is not None and slow.long_seconds == float("inf")


def test_the_check_passes_linear_patterns():
    for pattern in (r"\s+", r"(?<![a-z0-9.-])[a-z0-9.-]++@[a-z0-9.-]+", r"(?<!\s)\s*+,"):
        assert redos.check(redos.Case("test", re.compile(pattern), "findall")) is None


# -- the issue's messages through the pipeline ---------------------------------------------

#: the issue's signature blocks: 60 KB personal messages that took 48 s, 175 s and 21 s to scan
ISSUE_RUNS = {"www.0": 12_000, "a.": 31_000, "a%": 31_000}


def _message(unit: str, n: int) -> bytes:
    body = "Hi Sam,\n\nGreat meeting you at the meetup. Coffee next week?\n\n--\n" + unit * n + "\n"
    return personal("Jane Doe <jane@acme.io>", body=body)


def _cpu_seconds(fn, runs: int = 3) -> float:
    """Best CPU time of ``fn()`` over ``runs`` runs (one, if it took seconds: that is no noise)."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
        if best > redos.CERTAIN_SECONDS:
            break
    return best


def _check_ratio(what: str, small: float, issue: float) -> None:
    ratio = issue / max(small, 1e-9)
    assert ratio < redos.MAX_RATIO or issue < redos.FLOOR_SECONDS, (
        f"{what}: {small:.4f} s at a tenth of the size, {issue:.4f} s at the issue's size (x{ratio:.0f}, "
        f"limit x{redos.MAX_RATIO:.0f})")


@pytest.mark.parametrize("unit", list(ISSUE_RUNS))
def test_issue_messages_scan_in_linear_time(unit, tmp_path, model):
    n = ISSUE_RUNS[unit]
    assert 55_000 < len(_message(unit, n)) < 70_000
    seconds = {}
    for count in (n // 10, n):
        folder = tmp_path / str(count)
        folder.mkdir()
        (folder / "1.eml").write_bytes(_message(unit, count))
        decisions: list = []

        def run() -> None:
            pipeline = Pipeline(model, Policy(me=frozenset([ME]), promo_threshold=model.threshold))
            decisions[:] = scan(open_source(folder), pipeline)

        seconds[count] = _cpu_seconds(run)
        assert [d.action for d in decisions] == [KEEP]  # understood and kept, not dropped
        assert "jane@acme.io" in " ".join(decisions[0].learned)
    _check_ratio(f"scan of {unit!r} x {n}", seconds[n // 10], seconds[n])


@pytest.mark.parametrize("unit", list(ISSUE_RUNS))
def test_issue_signatures_in_linear_time(unit):
    n = ISSUE_RUNS[unit]
    seconds = {}
    for count in (n // 10, n):
        msg = parse_message(_message(unit, count))
        assert signature_domains(msg) == frozenset()  # nothing there is a domain
        seconds[count] = _cpu_seconds(lambda: signature_domains(msg))
    _check_ratio(f"signature_domains of {unit!r} x {n}", seconds[n // 10], seconds[n])


#: text where features._forward_mark has many "--" lines or one long line to look at
FORWARD_UNITS = ("--\n", "x--", "-- \n\n", " > --original messag\n", "--" + " " * 9 + "\n", "\n>")


@pytest.mark.parametrize("unit", FORWARD_UNITS)
def test_forward_mark_search_in_linear_time(unit):
    """_forward_mark tries _FWD_MARK at each line with a "--" (each line once) in the first
    FWD_CHARS characters: many such lines, or one long one, cost time in proportion."""
    from mailguard.core.features import FWD_CHARS, _FWD_MARK, _forward_mark

    n = FWD_CHARS // len(unit)
    seconds = {}
    for count in (n // 10, n):
        text = unit * count
        assert _forward_mark(text) == -1 and _FWD_MARK.search(text, 0, FWD_CHARS) is None
        seconds[count] = _cpu_seconds(lambda: [_forward_mark(text) for _ in range(20)])
    _check_ratio(f"_forward_mark of {unit!r} x {n}", seconds[n // 10], seconds[n])


@pytest.mark.parametrize("unit", ["view ", "view" + " " * 20, "trouble ", "web versio"])
def test_view_in_browser_in_linear_time(unit):
    """_view_in_browser tries _VIEW_BROWSER at each "view", "web version" and "trouble" once:
    many of them cost time in proportion."""
    from mailguard.core.features import _view_in_browser

    n = 20_000
    seconds = {}
    for count in (n // 10, n):
        text = unit * count
        assert not _view_in_browser(text)
        seconds[count] = _cpu_seconds(lambda: _view_in_browser(text))
    _check_ratio(f"_view_in_browser of {unit!r} x {n}", seconds[n // 10], seconds[n])
