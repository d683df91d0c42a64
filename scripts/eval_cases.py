#!/usr/bin/env python3
"""Precision and recall of `move` over the case catalogue (tests/cases/), per folder and per class.

    python scripts/eval_cases.py [--group blind|written] [--verbose]

Every message of every case is decided as `mailguard scan --no-save` would decide it; a wrong
decision is listed with the case, the file, what was expected and why, and mailguard's reasons.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from casekit import GROUPS, Tally, all_cases, run_case  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", choices=GROUPS, action="append")
    ap.add_argument("--verbose", "-v", action="store_true", help="show the reasons of wrong decisions")
    args = ap.parse_args(argv)
    groups = tuple(args.group or GROUPS)
    per_group: dict[str, Tally] = defaultdict(Tally)
    per_class: dict[str, Tally] = defaultdict(Tally)
    n_cases: dict[str, int] = defaultdict(int)
    cases_ok: dict[str, int] = defaultdict(int)
    wrong = []
    for case in all_cases(groups):
        n_cases[case.group] += 1
        outcomes = run_case(case)
        if all(o.ok for o in outcomes):
            cases_ok[case.group] += 1
        for o in outcomes:
            per_group[case.group].add(o)
            per_group["all"].add(o)
            per_class[case.cls].add(o)
            if not o.ok:
                wrong.append((case, o))
    print(f"{'folder':<10} {'cases':>5} {'passed':>6} {'msgs':>5} {'tp':>4} {'fp':>4} {'fn':>4} "
          f"{'tn':>4} {'precision':>9} {'recall':>6}")
    for g in (*groups, "all"):
        t = per_group[g]
        nc = sum(n_cases.values()) if g == "all" else n_cases[g]
        ok = sum(cases_ok.values()) if g == "all" else cases_ok[g]
        print(f"{g:<10} {nc:>5} {ok:>6} {t.tp + t.fp + t.fn + t.tn:>5} {t.tp:>4} {t.fp:>4} {t.fn:>4} "
              f"{t.tn:>4} {t.precision:>9.3f} {t.recall:>6.3f}")
    print()
    print(f"{'class':<24} {'msgs':>5} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}")
    for cls in sorted(per_class):
        t = per_class[cls]
        print(f"{cls:<24} {t.tp + t.fp + t.fn + t.tn:>5} {t.tp:>4} {t.fp:>4} {t.fn:>4} {t.tn:>4}")
    if wrong:
        print(f"\n{len(wrong)} wrong decisions:")
        for case, o in wrong:
            print(f"- {case.name}/{o.expect.file}: expected {o.expect.action}, got {o.action} "
                  f"({o.expect.why})")
            if args.verbose:
                for r in o.reasons:
                    print(f"    {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
