"""Parse, features and scoring in worker processes: the same decisions with one worker or many,
and no pool for the daemon's small batches."""

import json
from pathlib import Path

import pytest

from mailguard import models_io
from mailguard import parallel
from mailguard.cli.main import main
from mailguard.pipeline import analyse
from mailfactory import ME, day, newsletter, personal

SAMPLE = Path(__file__).resolve().parent.parent / "sample_mbox" / "inbox.mbox"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    parallel.shutdown()
    yield tmp_path / "home"
    parallel.shutdown()


def _scan(capsys, workers: int) -> str:
    assert main(["scan", str(SAMPLE), "--me", "sam@rivera.dev", "--format", "jsonl", "--all",
                 "--workers", str(workers)]) == 0
    return capsys.readouterr().out


def test_decisions_are_the_same_byte_for_byte_with_one_or_two_workers(home, capsys):
    one = _scan(capsys, 1)
    assert parallel._POOL is None  # one worker: all in-process
    two = _scan(capsys, 2)
    assert parallel._POOL is not None and parallel._POOL[0] == 2  # the batches went to workers
    rows = [json.loads(line) for line in one.splitlines()]
    assert len(rows) > 256  # more than one batch: batches analysed ahead while one is decided
    assert any(r["action"] == "move" for r in rows) and any(r["action"] == "keep" for r in rows)
    assert two == one


def test_a_small_batch_starts_no_pool(home):
    model = models_io.load()
    raws = [personal("Jane <jane@acme.io>", when=day(0)),
            newsletter("Shop <hi@shop.example>", to=ME, when=day(1))]
    got = parallel.analyse_batch(raws, model, workers=2)
    assert parallel._POOL is None
    assert [a.score for a in got] == [a.score for a in analyse(raws, model)]


def test_a_large_batch_in_workers_equals_in_process(home):
    model = models_io.load()
    raws = [newsletter(f"Shop {i} <hi@shop{i}.example>", to=ME, when=day(i % 30)) if i % 3 else
            personal(f"P {i} <p{i}@acme{i}.io>", when=day(i % 30)) for i in range(150)]
    raws[7] = b"not\x00 a message"
    here = analyse(raws, model)
    there = parallel.analyse_batch(raws, model, workers=2)
    assert parallel._POOL is not None
    assert [(a.msg, a.feats, a.score) for a in there] == [(a.msg, a.feats, a.score) for a in here]
    assert there[7].feats is None and there[7].msg.unreadable


def test_dates_read_in_the_workers_are_the_ones_items_reads(home, tmp_path):
    from mailguard.sources import open_source

    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(80):
        raw = personal(f"P {i} <p{i}@acme.io>", when=day(i % 40)) if i % 7 else b"Subject: no date\r\n\r\nx\r\n"
        (folder / f"{i:03d}.eml").write_bytes(raw)
    (folder / "broken.eml").symlink_to(tmp_path / "gone")
    for path in (SAMPLE, folder):
        with open_source(path) as src:
            want = src.items()
            got = parallel.dated_items(src, None, workers=2)
        assert len(want) > parallel.MIN_PARALLEL and got == want
        assert any(it.date is None for it in want) or path == SAMPLE
    assert parallel._POOL is not None  # the dates were read in the pool


def test_decisions_do_not_depend_on_the_process_or_its_hash_seed(tmp_path):
    """The CLI run as a user runs it, in fresh processes with different string hash seeds (set
    iteration order) and 1 or 2 workers: the same jsonl, byte for byte. Four contacts whose
    signatures name one organisation make the linker go through a set of them."""
    import os
    import subprocess
    import sys

    from mailfactory import mbox

    msgs = []
    for i, n in enumerate(("xena", "yuri", "zoe", "walt")):
        mid = f"<sig{i}@gmail.example>"
        msgs.append(personal(f"{n.title()} <{n}@gmail.com>", when=day(i), msgid=mid,
                             body=f"Hi Sam,\n\nGreat meeting you.\n\n-- \n{n.title()} Smith\n"
                                  "Head of Growth, Acme\nhttps://www.acme.io\n"))
        msgs.append(personal(ME, to=f"{n.title()} <{n}@gmail.com>", subject="Re: Great meeting you",
                             when=day(i, 12), in_reply_to=mid))
    msgs += [personal(f"{n.title()} <{n}@acme.io>", subject="hello", when=day(6 + i))
             for i, n in enumerate(("jane", "bob", "ana"))]
    msgs += [newsletter("Acme News <news@acme.io>", to=ME, when=day(20 + i), esp="none") for i in range(3)]
    msgs += [personal(f"F {i} <f{i}@firm{i}.example>", when=day(30 + i % 20)) for i in range(70)]
    box = tmp_path / "inbox.mbox"
    box.write_bytes(mbox(msgs))
    outs = set()
    for seed, workers in (("1", 1), ("2", 2), ("3", 1), ("4", 2), ("5", 1), ("6", 1)):
        env = {**os.environ, "MAILGUARD_HOME": str(tmp_path / "home"), "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "mailguard.cli.main", "scan", str(box), "--me", ME,
                               "--format", "jsonl", "--all", "--workers", str(workers)],
                              capture_output=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.add(proc.stdout)
    assert len(outs) == 1
    rows = [json.loads(line) for line in outs.pop().splitlines()]
    assert len(rows) == len(msgs)
    news = [r for r in rows if r["sender"] == "news@acme.io"][-1]
    assert sum("gmail.com's signature" in why for why in news["reasons"]) == 4


def test_evaluate_hands_every_label_to_the_workers_first_and_scores_the_same(home, tmp_path, capsys):
    """evaluate lists all its sources and hands their chunks to the pool before reading a result
    (the workers score the promotional mail while the personal mail is listed); the scores, and
    so the metrics, are the same byte for byte with one worker or two."""
    from mailguard.training import score_sources, start_scoring

    model = models_io.load()
    promo, mine = tmp_path / "promo", tmp_path / "mine"
    promo.mkdir()
    mine.mkdir()
    for i in range(150):
        (promo / f"{i:03d}.eml").write_bytes(newsletter(f"Shop {i} <hi@shop{i}.example>", to=ME, when=day(i % 30)))
        (mine / f"{i:03d}.eml").write_bytes(personal(f"P {i} <p{i}@acme{i}.io>", when=day(i % 30)))
    (mine / "999.eml").write_bytes(b"not\x00 a message")
    collect_promo = start_scoring([promo], model, workers=2)
    collect_mine = start_scoring([mine], model, workers=2)
    assert parallel._POOL is not None  # the chunks went to the pool before any result was read
    got = [collect_promo(), collect_mine()]
    want = [score_sources([d], model, workers=1) for d in (promo, mine)]
    for (p2, bad2), (p1, bad1) in zip(got, want):
        assert p2.shape == p1.shape and p2.tobytes() == p1.tobytes() and bad2 == bad1
    assert got[0][0].shape[0] == 150 and got[1][0].shape[0] == 150
    outs = []
    for workers in (1, 2):
        assert main(["evaluate", "--promo", str(promo), "--personal", str(mine), "--format", "json",
                     "--workers", str(workers)]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and json.loads(outs[0])["n_promo"] == 150


def _nice(pid: int) -> int:
    """A process's nice value (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _worker_nices(expected_workers: int = 2) -> dict[int, int]:
    """{pid: nice} of each worker, as each reports it from a task (so after its start-up): a fork
    server starts workers one by one as tasks arrive, so tasks are sent until each has answered."""
    pool = parallel._POOL[2]
    seen: dict[int, int] = {}
    for _ in range(200):
        for pid in pool.map(parallel._ready, range(32)):
            seen[pid] = _nice(pid)
        if len(seen) == expected_workers:
            return seen
    raise AssertionError(f"only {len(seen)} of {expected_workers} workers answered")


def test_workers_run_at_a_lower_priority_than_the_deciding_process(home):
    import os

    model = models_io.load()
    parallel.warm(model, 2)
    mine = _nice(os.getpid())
    assert list(_worker_nices().values()) == [min(mine + parallel.WORKER_NICE, 19)] * 2
    # in-process chunks (one worker) never lower the caller's own priority
    list(parallel.map_chunks(parallel._features_chunk, [personal("Jane <jane@acme.io>")], model, workers=1))
    list(parallel.submit_chunks(parallel._probs_chunk, [personal("Jane <jane@acme.io>")], model, workers=1))
    assert _nice(os.getpid()) == mine


def test_worker_priority_from_the_environment():
    assert parallel.worker_nice({}) == parallel.WORKER_NICE == 10
    assert parallel.worker_nice({"MAILGUARD_WORKER_NICE": "0"}) == 0
    assert parallel.worker_nice({"MAILGUARD_WORKER_NICE": " 19 "}) == 19
    for bad in ("20", "-5", "ten", "1.5"):
        assert parallel.worker_nice({"MAILGUARD_WORKER_NICE": bad}) == parallel.WORKER_NICE


@pytest.fixture(params=["fork", "forkserver"])
def start_method(request, monkeypatch):
    """The pool started by fork (a process with one thread) or by a fork server (a daemon's, with
    threads: its workers do not see this process's environment)."""
    import multiprocessing

    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context(request.param))
    return request.param


def test_workers_keep_the_priority_asked_for(home, monkeypatch, start_method):
    import os

    mine = _nice(os.getpid())
    monkeypatch.setenv("MAILGUARD_WORKER_NICE", "0")
    parallel.warm(models_io.load(), 2)
    assert parallel._POOL[2]._mp_context.get_start_method() == start_method
    assert set(_worker_nices().values()) == {mine}
    parallel.shutdown()
    monkeypatch.setenv("MAILGUARD_WORKER_NICE", "3")
    parallel.warm(models_io.load(), 2)
    assert set(_worker_nices().values()) == {min(mine + 3, 19)}


def _pipe_size(conn) -> int:
    import fcntl

    return fcntl.fcntl(conn.fileno(), fcntl.F_GETPIPE_SZ)


def test_a_chunks_results_go_into_the_worker_pipe_in_one_write(home, start_method):
    """A worker writes a chunk's results whole, not a pipe's default 64 KiB at a time, each part
    waiting for this process to read (see PIPE_BYTES)."""
    import pickle

    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    assert limit >= parallel.PIPE_BYTES  # Linux's default; the assertions below need it
    parallel.warm(models_io.load(), 2)
    pool = parallel._POOL[2]
    for queue in (pool._call_queue, pool._result_queue):
        assert _pipe_size(queue._reader) == _pipe_size(queue._writer) >= parallel.PIPE_BYTES
    # what a chunk of newsletters gives back is over the default size, and within the pipe's
    chunk = [newsletter("Acme <news@acme-mail.com>", subject=f"News {i}", when=day(i % 28 + 1))
             for i in range(parallel.CHUNK)]
    size = len(pickle.dumps(parallel.submit(chunk, models_io.load(), 2)(), pickle.HIGHEST_PROTOCOL))
    assert 64 * 1024 < size < parallel.PIPE_BYTES


def test_a_pool_whose_queues_are_not_known_keeps_its_pipes():
    class Other:
        _call_queue = None

    assert parallel._widen_pipes(Other()) == []  # type: ignore[arg-type]


def test_pipes_ask_for_no_more_than_the_system_allows(home):
    """A limit lowered by the administrator: the pipes get that much, not an error."""
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    parallel.warm(models_io.load(), 2)
    pool = parallel._POOL[2]
    assert parallel._widen_pipes(pool, size=limit * 4) == [limit, limit]
