"""The pure stages (parse, features, score) of a batch in worker processes.

:func:`mailguard.pipeline.analyse` is per-message except for scoring, which is batched; both run
unchanged here, a chunk of messages per task, so a message's result does not depend on how many
workers there are. Deciding stays in the calling process, in order.

One warm pool serves the whole process (scan, evaluate, train, the IMAP passes): workers start at
the first batch of at least :data:`MIN_PARALLEL` messages and keep the model, so the daemon's
usual one or two new messages never pay for a pool, and a later large pass does not start one
again. A process that has threads (the daemon) starts workers from a fork server, not by forking
itself.
"""

from __future__ import annotations

import atexit
import gc
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from .pipeline import SCORE_BLOCK, Analysed, analyse, analyse_one

if TYPE_CHECKING:
    from .core.classify import PromoModel
    from .core.features import Features
    from .sources import Item, Source, Span

log = logging.getLogger(__name__)

#: Below this many messages a batch is analysed in-process (no pool, no start-up cost).
MIN_PARALLEL = 64
#: Messages per worker task: whole scoring blocks from the start of the batch, whatever the
#: number of workers, so that scores (and decisions) are the same with one worker or many.
CHUNK = SCORE_BLOCK
#: Most workers by default (each holds the model and parses; more than the cores only costs memory).
MAX_DEFAULT_WORKERS = 8
#: Added to the workers' nice value: the process that hands them work and decides in order (the
#: IMAP connection, the state database) comes first when they compete for the cores, so that it
#: never holds them up; the workers take whatever is left (and yield to the user's programs).
#: MAILGUARD_WORKER_NICE sets another (0: the same priority as the deciding process).
WORKER_NICE = 10
#: Bytes each pipe between this process and the workers holds, where the system lets a process
#: say (Linux: F_SETPIPE_SZ, up to /proc/sys/fs/pipe-max-size, 1 MiB by default). A chunk's
#: results (a few hundred KiB) then go into the pipe in one write: with the default 64 KiB the
#: worker waited, a part at a time, for this process's result thread, which waits for the
#: deciding thread to let go of the interpreter (up to sys.getswitchinterval() a part).
PIPE_BYTES = 1 << 20


def worker_nice(env: Mapping[str, str] | None = None) -> int:
    """WORKER_NICE, or MAILGUARD_WORKER_NICE when it is a whole number from 0 to 19."""
    value = (os.environ if env is None else env).get("MAILGUARD_WORKER_NICE", "").strip()
    if value.isdigit() and int(value) <= 19:
        return int(value)
    if value:
        log.warning("MAILGUARD_WORKER_NICE=%r is not a whole number from 0 to 19: using %d",
                    value[:20], WORKER_NICE)
    return WORKER_NICE


def default_workers() -> int:
    """Every core this process may use (at most :data:`MAX_DEFAULT_WORKERS`)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, MAX_DEFAULT_WORKERS))


def resolve_workers(workers: int | None) -> int:
    return default_workers() if workers is None else max(1, int(workers))


# -- in the worker -------------------------------------------------------------------------

_MODEL: PromoModel | None = None


def _init_worker(model: PromoModel | None, nice: int = 0) -> None:
    """A pool worker's start: a lower priority (``nice`` more: :func:`worker_nice` of the process
    that starts the pool, whose environment a fork server's workers do not see), then :func:`_hold`."""
    if nice:
        try:
            os.nice(nice)
        except (AttributeError, OSError) as exc:  # no nice() here, or not allowed: run as is
            log.debug("worker %d keeps its priority: %s", os.getpid(), exc)
    _hold(model)


def _hold(model: PromoModel | None) -> None:
    """Keep the model for the chunk functions (in a worker, or in-process) and load what they need."""
    global _MODEL
    _MODEL = model
    from .core.identity import registrable_domain

    registrable_domain("warm.example.co.uk")  # loads the public suffix list once, now


def _analyse_chunk(raws: list[bytes]) -> list[Analysed]:
    assert _MODEL is not None
    return analyse(raws, _MODEL)


def _analyse_spans_chunk(spans: list[Span]) -> tuple[list[Analysed], list[tuple[int, str]]]:
    """Read (:func:`mailguard.sources.read_spans`) and analyse a chunk: the bytes of a message
    never pass through the deciding process."""
    from .sources import read_spans

    assert _MODEL is not None
    raws, errors = read_spans(spans)
    return analyse(raws, _MODEL), errors


def _features_chunk(raws: list[bytes]) -> list[tuple[Features | None, float]]:
    """(features or None, Date as POSIX seconds or 0) of each message: what training needs."""
    out: list[tuple[Features | None, float]] = []
    for raw in raws:
        # with header tokens: a model of the user's own mail learns them (others ignore them)
        msg, feats = analyse_one(raw, header_tokens=True)
        out.append((feats, msg.date.timestamp() if msg.date else 0.0))
    return out


def _probs_chunk(raws: list[bytes]) -> Any:
    """Calibrated probabilities (n, 3) of a chunk, scored as one block (CHUNK is SCORE_BLOCK) with
    the header tokens only a model that uses them needs; a NaN row for a message that has no
    features (not understood). What evaluating a model needs, without sending features back."""
    import numpy as np

    assert _MODEL is not None
    feats = [analyse_one(raw, header_tokens=_MODEL.uses_header_tokens)[1] for raw in raws]
    out = np.full((len(raws), 3), np.nan)
    where = [i for i, f in enumerate(feats) if f is not None]
    if where:
        out[where] = _MODEL.predict([feats[i] for i in where])
    return out


def _probs_spans_chunk(spans: list[Span]) -> tuple[Any, list[tuple[int, str]]]:
    """:func:`_probs_chunk` of the messages at ``spans``, read here, and (index, error) of those
    that could not be read (NaN rows)."""
    from .sources import read_spans

    raws, errors = read_spans(spans)
    return _probs_chunk(raws), errors


def _ready(_: int = 0) -> int:
    return os.getpid()


# -- the shared pool -----------------------------------------------------------------------

_LOCK = threading.Lock()
#: (workers, the model it holds, the pool)
_POOL: tuple[int, Any, ProcessPoolExecutor] | None = None


def _context() -> Any:
    """fork when this process has one thread (fast: the workers inherit the imports), else a
    fork server (forking a threaded process can copy a lock another thread holds)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver"
                                       if "forkserver" in multiprocessing.get_all_start_methods()
                                       else "spawn")


def pool_for(model: PromoModel | None, workers: int) -> ProcessPoolExecutor:
    """The process-wide pool of ``workers`` processes holding ``model`` (started on first use)."""
    global _POOL
    with _LOCK:
        if _POOL is not None and _POOL[0] == workers and _POOL[1] is model:
            return _POOL[2]
        if _POOL is not None:  # another model (reloaded): the old pool finishes what it has
            _POOL[2].shutdown(wait=False)
        context = _context()
        if context.get_start_method() == "fork":
            # forked workers inherit the public suffix list loaded once here (each would load
            # its own), and gc.freeze() keeps what exists now out of their collections (and their
            # pages shared), as the gc documentation advises before fork()
            from .core.identity import registrable_domain

            registrable_domain("warm.example.co.uk")
            gc.freeze()
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(model, worker_nice()))
        _widen_pipes(pool)
        _POOL = (workers, model, pool)
        return pool


def _widen_pipes(pool: ProcessPoolExecutor, size: int = PIPE_BYTES) -> list[int]:
    """Make the pool's task and result pipes hold ``size`` bytes where the system allows it
    (see PIPE_BYTES); their sizes after, those that could be set (none elsewhere than Linux, or
    if a later Python names the executor's queues otherwise: they keep the system's default)."""
    try:
        import fcntl

        setsize, getsize = fcntl.F_SETPIPE_SZ, fcntl.F_GETPIPE_SZ  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return []
    try:  # an administrator may have lowered the limit: ask for what is allowed
        size = min(size, int(open("/proc/sys/fs/pipe-max-size", encoding="ascii").read()))
    except (OSError, ValueError):
        pass
    sizes = []
    for queue in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        reader = getattr(queue, "_reader", None)
        try:
            fd = reader.fileno()  # type: ignore[union-attr]
            if fcntl.fcntl(fd, getsize) < size:
                fcntl.fcntl(fd, setsize, size)
            sizes.append(fcntl.fcntl(fd, getsize))
        except (AttributeError, OSError, ValueError) as exc:  # e.g. over the user's pipe quota
            log.debug("worker pipe kept at the system's size: %s", exc)
    return sizes


def shutdown() -> None:
    """Stop the shared pool (it starts again when needed)."""
    global _POOL
    with _LOCK:
        if _POOL is not None:
            _POOL[2].shutdown(wait=True, cancel_futures=True)
            _POOL = None


atexit.register(shutdown)


def warm(model: PromoModel | None, workers: int, *, wait: bool = True) -> None:
    """Start the pool now (every worker), e.g. while the caller lists a source or waits for its
    server; ``wait=False`` returns at once, the workers starting meanwhile."""
    if workers > 1:
        pool = pool_for(model, workers)
        started = [pool.submit(_ready) for _ in range(workers)]
        if wait:
            for f in started:
                f.result()


# -- batches -------------------------------------------------------------------------------


def _split(items: Sequence[Any]) -> list[list[Any]]:
    """Chunks of CHUNK messages or spans (the last one shorter), the same for any number of workers."""
    return [list(items[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]


def submit(raws: Sequence[bytes], model: PromoModel, workers: int | None = None
           ) -> Callable[[], list[Analysed]]:
    """Start analysing a batch; returns a function that waits for the result (in order).
    Small batches, or one worker, are analysed in-process right away."""
    n = resolve_workers(workers)
    if n <= 1 or len(raws) < MIN_PARALLEL:
        done = analyse(raws, model)
        return lambda: done
    pool = pool_for(model, n)
    futures: list[Future] = [pool.submit(_analyse_chunk, c) for c in _split(raws)]

    def result() -> list[Analysed]:
        out: list[Analysed] = []
        for f in futures:
            out.extend(f.result())
        return out

    return result


#: messages whose Date one worker task reads
DATE_CHUNK = 512


def dated_items(source: Source, model: PromoModel | None, workers: int | None = None) -> list[Item]:
    """``source.items()`` (file order, with dates), the dates read in the shared pool when the
    source says where its messages are and there are many: the first pass of a scan is then
    spread over the cores too."""
    from .sources import Item, dates_of_spans

    n = resolve_workers(workers)
    if n <= 1:
        return source.items()
    items = source.items(dates=False)
    spans = source.spans(items)
    if spans is None or len(spans) < MIN_PARALLEL:
        return source.items()
    pool = pool_for(model, n)
    parts = pool.map(dates_of_spans, [spans[i:i + DATE_CHUNK] for i in range(0, len(spans), DATE_CHUNK)])
    dates = [d for part in parts for d in part]
    return [Item(it.ref, it.key, it.position, d) for it, d in zip(items, dates)]


def submit_spans(spans: Sequence[Span], model: PromoModel, workers: int | None = None
                 ) -> Callable[[], tuple[list[Analysed], list[tuple[int, str]]]]:
    """:func:`submit` of the messages at ``spans`` (see :meth:`mailguard.sources.Source.spans`),
    read where they are analysed; the result also has (index, error) of the messages that could
    not be read (analysed as empty)."""
    from .sources import read_spans

    n = resolve_workers(workers)
    if n <= 1 or len(spans) < MIN_PARALLEL:
        raws, errors = read_spans(list(spans))
        done = analyse(raws, model)
        return lambda: (done, errors)
    pool = pool_for(model, n)
    futures: list[Future] = [pool.submit(_analyse_spans_chunk, c) for c in _split(spans)]

    def result() -> tuple[list[Analysed], list[tuple[int, str]]]:
        out: list[Analysed] = []
        errors: list[tuple[int, str]] = []
        for f in futures:
            done, errs = f.result()
            errors.extend((len(out) + i, why) for i, why in errs)
            out.extend(done)
        return out, errors

    return result


def analyse_batch(raws: Sequence[bytes], model: PromoModel, workers: int | None = None
                  ) -> list[Analysed]:
    """:func:`mailguard.pipeline.analyse` of a batch, in ``workers`` processes when it is large."""
    return submit(raws, model, workers)()


def stream(batches: Iterable[Sequence[bytes]], model: PromoModel, workers: int | None = None,
           ahead: int = 2) -> Iterator[list[Analysed]]:
    """Analysed batches in order, the next ``ahead`` batches being analysed while the caller
    decides the current one (memory: at most ``ahead + 1`` batches)."""
    yield from _ahead(submit, batches, model, workers, ahead)


def stream_spans(batches: Iterable[Sequence[Span]], model: PromoModel, workers: int | None = None,
                 ahead: int = 2) -> Iterator[tuple[list[Analysed], list[tuple[int, str]]]]:
    """:func:`stream` of batches of spans (:func:`submit_spans`): the workers read the messages."""
    yield from _ahead(submit_spans, batches, model, workers, ahead)


def _ahead(start: Callable[..., Callable[[], Any]], batches: Iterable[Any], model: PromoModel,
           workers: int | None, ahead: int) -> Iterator[Any]:
    pending: deque[Callable[[], Any]] = deque()
    for batch in batches:
        pending.append(start(batch, model, workers))
        if len(pending) > ahead:
            yield pending.popleft()()
    while pending:
        yield pending.popleft()()


def map_chunks(fn: Callable[[list[bytes]], list[Any]], raws: Iterable[bytes],
               model: PromoModel | None, workers: int | None = None, *,
               total: int | None = None) -> Iterator[list[Any]]:
    """``fn`` (a module-level function of this module, e.g. :func:`_features_chunk`) over CHUNK
    messages at a time, results in order; in the shared pool when there are ``workers`` > 1 and
    at least MIN_PARALLEL messages (``total``, when known), with at most 2 chunks per worker in
    flight so that memory stays flat on a large mailbox."""
    n = resolve_workers(workers)
    chunks = _chunks(raws)
    if n <= 1 or (total is not None and total < MIN_PARALLEL):
        if fn is not _features_chunk:
            _hold(model)
        yield from map(fn, chunks)
        return
    pool = pool_for(model, n)
    pending: deque[Future] = deque()
    for chunk in chunks:
        pending.append(pool.submit(fn, chunk))
        if len(pending) >= 2 * n:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def submit_chunks(fn: Callable[[list[Any]], Any], items: Sequence[Any], model: PromoModel | None,
                  workers: int | None = None) -> Iterator[Any]:
    """``fn`` over CHUNK ``items`` at a time (the chunks of :func:`map_chunks`), every chunk handed
    to the shared pool now, results in order as they are asked for. For items that are small
    whatever the messages' size (spans: the workers read the bytes), so nothing holds memory while
    the caller lists its next source. Below MIN_PARALLEL items, or with one worker, the chunks are
    run in-process when their results are asked for."""
    n = resolve_workers(workers)
    chunks = _split(items)
    if n <= 1 or len(items) < MIN_PARALLEL:
        def in_process() -> Iterator[Any]:
            _hold(model)
            yield from map(fn, chunks)
        return in_process()
    pool = pool_for(model, n)
    futures = [pool.submit(fn, c) for c in chunks]
    return (f.result() for f in futures)


def _chunks(raws: Iterable[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in raws:
        chunk.append(raw)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
