"""mailguard.imap.collect: a pass runs with the cyclic garbage collector less often, and leaves
the thresholds as it found them."""

from __future__ import annotations

import gc
import threading

import pytest
from imapkit import append_all, new_mail, one_pass, seed_history, write_config

from mailguard.imap.collect import PASS_THRESHOLD, fewer_collections


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize("start, during", [
    ((700, 10, 10), (PASS_THRESHOLD, 10, 10)),
    ((50, 3, 4), (PASS_THRESHOLD, 3, 4)),
    ((PASS_THRESHOLD * 3, 10, 10), (PASS_THRESHOLD * 3, 10, 10)),  # never more often than it was
    ((0, 10, 10), (0, 10, 10)),  # the collector switched off stays off
])
def test_thresholds_are_raised_during_the_block_and_put_back(thresholds, start, during):
    gc.set_threshold(*start)
    with fewer_collections():
        assert gc.get_threshold() == during
        with fewer_collections():
            assert gc.get_threshold() == during
        assert gc.get_threshold() == during
    assert gc.get_threshold() == start
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a pass failed")
    assert gc.get_threshold() == start


def test_passes_of_two_accounts_in_threads_put_the_thresholds_back_when_both_are_done(thresholds):
    """One pass starts, a second starts, the first ends, the second ends: the thresholds stay raised
    until both are done, and are then the ones from before either started."""
    gc.set_threshold(700, 10, 10)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with fewer_collections():
            second_in.set()
            first_out.wait(10)
            during.append(gc.get_threshold())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert during == [(PASS_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.dovecot
def test_a_pass_and_apply_history_run_with_fewer_collections(dovecot, imap_user, home, model, thresholds):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    gc.set_threshold(700, 10, 10)
    seen = []
    one_pass(home, model)
    append_all(dovecot, imap_user, new_mail())
    report = one_pass(home, model, checkpoint=lambda phase: seen.append(gc.get_threshold()[0]))
    assert report.decided and seen and set(seen) == {PASS_THRESHOLD}
    assert gc.get_threshold() == (700, 10, 10)
    seen.clear()
    one_pass(home, model, history=True, checkpoint=lambda phase: seen.append(gc.get_threshold()[0]))
    assert seen and set(seen) == {PASS_THRESHOLD}  # its moves of the history's offenders
    assert gc.get_threshold() == (700, 10, 10)
