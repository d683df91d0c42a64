"""The case catalogue (tests/cases/): every realistic scenario decides as expected.

The catalogue, not the sample generator, is the evaluation of the detector; the blind folder was
written by people who had not read the rules. ``python scripts/eval_cases.py`` prints precision and
recall of ``move`` per folder.
"""

from __future__ import annotations

import tomllib

import pytest

from casekit import CASES, all_cases, run_case

CASE_LIST = list(all_cases())
NEEDS_REFERENCES = {"big-organisation", "bank", "sales-sequence", "sales-tracking-personal"}


def test_the_catalogue_is_big_enough_and_partly_blind():
    assert len(CASE_LIST) >= 40, f"only {len(CASE_LIST)} cases in {CASES}"
    assert sum(c.group == "blind" for c in CASE_LIST) >= 15
    classes = {c.cls for c in CASE_LIST}
    for needed in ("big-organisation", "university", "own-organisation", "role-address", "name-only",
                   "link-domains", "forward", "sales-tracking-personal", "sales-sequence",
                   "prior-relationship", "transactional", "social", "contact-then-promo"):
        assert needed in classes, f"no case of class {needed}"
    # both kinds of outcome are represented, or precision/recall would mean nothing
    actions = [e.action for c in CASE_LIST for e in c.expects]
    assert actions.count("move") >= 20 and actions.count("keep") >= 100


@pytest.mark.parametrize("case", [c for c in CASE_LIST if c.cls in NEEDS_REFERENCES],
                         ids=lambda c: c.name)
def test_cases_of_real_services_cite_their_headers(case):
    assert case.references, f"{case.name} must cite the real headers it was built from"


KNOWN = {m["case"]: set(m["files"])
         for m in tomllib.loads((CASES / "known-misses.toml").read_text()).get("miss", [])}


def test_known_misses_are_misses_of_real_cases():
    names = {c.name: c for c in CASE_LIST}
    for case, files in KNOWN.items():
        assert case in names, f"known-misses.toml names no case {case}"
        expected = {e.file: e.action for e in names[case].expects}
        for f in files:
            assert expected.get(f) == "move", f"{case}/{f}: only missed moves may be listed"


@pytest.mark.parametrize("case", CASE_LIST, ids=lambda c: c.name)
def test_case(case):
    wrong = [o for o in run_case(case) if not o.ok]
    unexpected = [o for o in wrong if o.expect.file not in KNOWN.get(case.name, set())]
    assert not unexpected, "\n".join(
        f"{o.expect.file}: expected {o.expect.action} ({o.expect.why}), got {o.action}:\n    "
        + "\n    ".join(o.reasons) for o in unexpected)
    fixed = KNOWN.get(case.name, set()) - {o.expect.file for o in wrong}
    assert not fixed, f"now right, remove from known-misses.toml: {sorted(fixed)}"
