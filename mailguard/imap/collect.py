"""Garbage collection during a pass: less often.

A first sync allocates millions of short-lived objects (fetched messages, parsed results from the
workers, decisions) beside a large long-lived memory (the model, the ledger, what the pipeline
remembers). With CPython's default thresholds a full collection walks that memory again every
few batches: about 5% of the deciding process's time on a 10,000-message first sync. Nearly
everything a pass allocates is freed by reference counting anyway, so the collector is run ten
times less often during a pass, and put back as it was after it. Worker processes started during
a pass keep the setting (they allocate the same way)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: allocations (minus deallocations) between two collections of the youngest generation during a
#: pass (CPython's default is 700)
PASS_THRESHOLD = 10_000


_LOCK = threading.Lock()
#: blocks running now (the daemon runs one pass per account, each in its own thread), and the
#: thresholds the first of them found
_ACTIVE = 0
_SAVED: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the youngest generation collected every PASS_THRESHOLD allocations
    (never more often than it was); when the last block running in any thread ends, the
    thresholds are put back as the first one found them, whatever happens."""
    global _ACTIVE, _SAVED
    with _LOCK:
        if _ACTIVE == 0:
            _SAVED = gc.get_threshold()
            if _SAVED[0] and _SAVED[0] < PASS_THRESHOLD:
                gc.set_threshold(PASS_THRESHOLD, *_SAVED[1:])
        _ACTIVE += 1
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE -= 1
            if _ACTIVE == 0:
                gc.set_threshold(*_SAVED)
