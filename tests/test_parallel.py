"""Parse, features and scoring in worker processes: the same decisions with one worker or many,
and no pool for the daemon's small batches."""

import json
from pathlib import Path

import pytest

from mailguard.core import classify
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
    model = classify.load()
    raws = [personal("Jane <jane@acme.io>", when=day(0)),
            newsletter("Shop <hi@shop.example>", to=ME, when=day(1))]
    got = parallel.analyse_batch(raws, model, workers=2)
    assert parallel._POOL is None
    assert [a.score for a in got] == [a.score for a in analyse(raws, model)]


def test_a_large_batch_in_workers_equals_in_process(home):
    model = classify.load()
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
