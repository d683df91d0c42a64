"""Fast paths of deciding a message (rules.decide) give what the plain code gave: allow and block
entries, kept here as the oracle. (tool_of's header check and link_hosts are checked against
theirs in tests/test_fast_paths.py.)"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailguard.core.rules import matches


def plain_matches(address: str, entries: frozenset[str]) -> str | None:
    """rules.matches as it was: every entry form looked up, even in an empty list."""
    address = address.lower()
    if address in entries:
        return address
    domain = address.rpartition("@")[2]
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        d = ".".join(labels[i:])
        if d in entries or "@" + d in entries:
            return d
    return None


LABEL = st.sampled_from(["a", "B", "news", "acme", "io", "co", "uk", "", "É", "x-y"])
ADDRESS = st.builds(lambda user, labels: f"{user}@{'.'.join(labels)}",
                    st.sampled_from(["jane", "Jane", "", "n.e"]), st.lists(LABEL, max_size=4))
ENTRY = st.one_of(ADDRESS.map(str.lower), st.lists(LABEL, min_size=1, max_size=3).map(".".join),
                  st.lists(LABEL, min_size=1, max_size=3).map(lambda ls: "@" + ".".join(ls)))


@settings(max_examples=500, deadline=None)
@given(address=st.one_of(ADDRESS, st.text(max_size=12)), entries=st.frozensets(ENTRY, max_size=4))
@example(address="Jane@News.Acme.io", entries=frozenset())
@example(address="jane@news.acme.io", entries=frozenset({"acme.io"}))
def test_matches_is_the_plain_lookup(address, entries):
    assert matches(address, entries) == plain_matches(address, entries)
