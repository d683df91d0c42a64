"""Security checks that need no IMAP server: private state, config permissions, the model's hash
check before unpickling, and message bodies kept out of logs."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mailguard import classify
from mailguard.cli import main
from mailguard.config import load_config
from mailguard.errors import ModelError
from mailguard.pipeline import Pipeline, analyse_one
from mailguard.rules import KEEP, Policy
from mailguard.store import DB_NAME, Store
from mailfactory import ME, day, mbox, newsletter, personal

MARKER = "zq7-BODY-MARKER-5f3e1c"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "state" / "mailguard"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    return h


# -- state directory and database ----------------------------------------------------------------


def test_state_dir_is_0700_and_database_0600_whatever_the_umask(home):
    old = os.umask(0)  # the most permissive umask: modes must not come from it
    try:
        with Store.open_default() as store:
            with store.transaction():
                store.save_contact(classify_free_contact())
    finally:
        os.umask(old)
    assert mode(home) == 0o700
    assert mode(home / DB_NAME) == 0o600
    for extra in home.glob(DB_NAME + "-*"):  # -wal, -shm hold recent writes too
        assert mode(extra) & 0o077 == 0, extra


def test_existing_state_dir_is_made_private(home):
    home.mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    Store.open_default().close()
    assert mode(home) == 0o700


def test_cli_creates_private_state(home, tmp_path, capsys):
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    assert main(["scan", str(p), "--me", ME, "--format", "json", "--save"]) == 0
    assert mode(home) == 0o700 and mode(home / DB_NAME) == 0o600


def test_init_writes_config_0600(home, capsys):
    assert main(["init", "--host", "imap.example.org", "--username", ME]) == 0
    assert mode(home) == 0o700
    assert mode(home / "config.toml") == 0o600


def classify_free_contact():
    from mailguard.contacts import make_contact

    return make_contact(email="jane@acme.io", name="Jane", since=day(0), how="test")


# -- config permissions --------------------------------------------------------------------------


@pytest.mark.parametrize("perm, warns", [(0o644, True), (0o640, True), (0o604, True), (0o600, False),
                                         (0o400, False)], ids=["0644", "0640", "0604", "0600", "0400"])
def test_warns_when_config_is_readable_by_others(tmp_path, caplog, perm, warns):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[mailbox]\nme = ["{ME}"]\n')
    os.chmod(cfg, perm)
    with caplog.at_level(logging.WARNING, logger="mailguard"):
        config = load_config(cfg, env={"MAILGUARD_HOME": str(tmp_path / "home")})
    assert config.me == (ME,)
    found = [r for r in caplog.records if r.name == "mailguard.config" and r.levelno == logging.WARNING
             and "readable by others" in r.getMessage()]
    assert bool(found) == warns
    if warns:
        assert "chmod 600" in found[0].getMessage()


# -- the model's hash --------------------------------------------------------------------------


@pytest.fixture
def model_copy(tmp_path) -> Path:
    """models/promo.joblib and its card, copied."""
    src = classify.DEFAULT_MODEL_PATH
    dst = tmp_path / "m" / "promo.joblib"
    dst.parent.mkdir()
    shutil.copy(src, dst)
    shutil.copy(classify.card_path(src), classify.card_path(dst))
    return dst


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fails the test if joblib is asked to load anything."""
    def refuse(*a, **k):
        raise AssertionError("joblib.load was called on an unverified file")
    monkeypatch.setattr(classify.joblib, "load", refuse)


def test_intact_copy_loads(model_copy):
    model = classify.load(model_copy)
    assert model.meta["sha256"] == classify.sha256_file(model_copy)


def test_one_tampered_byte_is_refused(model_copy, no_unpickling):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        classify.load(model_copy)


def test_missing_card_is_refused(model_copy, no_unpickling):
    classify.card_path(model_copy).unlink()
    with pytest.raises(ModelError, match="has no card"):
        classify.load(model_copy)


@pytest.mark.parametrize("sha", ["0" * 64, "", None, 12])
def test_card_with_a_wrong_or_no_hash_is_refused(model_copy, no_unpickling, sha):
    card_file = classify.card_path(model_copy)
    card = json.loads(card_file.read_text())
    if sha is None:
        del card["sha256"]
    else:
        card["sha256"] = sha
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match its card"):
        classify.load(model_copy)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_unreadable_card_is_refused(model_copy, no_unpickling, text):
    classify.card_path(model_copy).write_text(text)
    with pytest.raises(ModelError):
        classify.load(model_copy)


class _Evil:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_pickle_that_runs_code_is_not_loaded(model_copy, tmp_path):
    """joblib loads pickles and a pickle runs code: swapping the model file must run nothing."""
    ran = tmp_path / "code-ran"
    model_copy.write_bytes(pickle.dumps(_Evil(ran)))
    with pytest.raises(ModelError, match="does not match its card"):
        classify.load(model_copy)
    assert not ran.exists()


def test_cli_turns_a_tampered_model_into_one_line_and_nonzero_exit(model_copy, home, tmp_path, capsys):
    data = bytearray(model_copy.read_bytes())
    data[100] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    code = main(["scan", str(p), "--me", ME, "--model", str(model_copy)])
    out, err = capsys.readouterr()
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailguard: error: ")
    assert "does not match its card" in lines[0] and "Traceback" not in err
    assert out == ""


def test_cli_missing_card_exit(model_copy, home, tmp_path, capsys):
    classify.card_path(model_copy).unlink()
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    assert main(["scan", str(p), "--model", str(model_copy)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no card" in err


# -- bodies stay out of logs ---------------------------------------------------------------------


def marked_mailbox() -> list[bytes]:
    """Messages carrying MARKER in their bodies only (plain, HTML, base64, an unreadable one)."""
    body = f"Hi Sam,\n\nthe secret is {MARKER}, keep it.\n\nJane\n"
    return [
        personal("Jane Doe <jane@acme.io>", when=day(0), body=body),
        personal(f"Sam <{ME}>", to="jane@acme.io", when=day(1), subject="Re: hi", body=body,
                 in_reply_to="<x@y>"),
        newsletter("Jane Doe <jane@acme.io>", when=day(5)).replace(b"Our spring launch", MARKER.encode()),
        (b"From: b@x.example\nSubject: base64\nContent-Transfer-Encoding: base64\n\n"
         + __import__("base64").encodebytes(body.encode())),
        ("Subject: no sender\n\n" + body).encode(),  # not understood
        ("From: c@x.example\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n\n" + body * 50).encode(),
    ]


def test_scan_vv_never_prints_a_body(tmp_path):
    """-vv (debug) output of a real `mailguard scan` process: subjects appear, bodies never."""
    p = tmp_path / "marked.mbox"
    p.write_bytes(mbox(marked_mailbox()))
    for fmt in ("table", "jsonl"):
        env = dict(os.environ, MAILGUARD_HOME=str(tmp_path / fmt))  # fresh: migrations log at DEBUG
        run = subprocess.run([sys.executable, "-m", "mailguard.cli", "-vv", "scan", str(p), "--me", ME,
                              "--format", fmt, "--save"], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "DEBUG" in run.stderr  # debug logging was on
        assert MARKER not in run.stdout and MARKER not in run.stderr
        assert "6 messages" in (run.stdout + run.stderr)


def test_parse_features_and_pipeline_never_log_bodies(caplog, monkeypatch):
    model = classify.load()
    pipe = Pipeline(model, Policy(me=frozenset([ME]), promo_threshold=model.threshold))
    with caplog.at_level(logging.DEBUG):
        for raw in marked_mailbox():
            analyse_one(raw)
        pipe.process(marked_mailbox())
        # a features bug whose exception carries the body: logged by type, the message kept
        import mailguard.pipeline as pipeline_module

        def broken(msg):
            raise ValueError(f"cannot handle {msg.text}")
        monkeypatch.setattr(pipeline_module, "extract", broken)
        ds = pipe.process(marked_mailbox()[:1])
    assert ds[0].action == KEEP and "features failed: ValueError" in ds[0].reasons[0]
    assert any("features failed" in r.getMessage() for r in caplog.records)
    assert MARKER not in caplog.text
    for r in caplog.records:
        assert MARKER not in r.getMessage() and MARKER not in str(r.args)


def test_parse_and_features_modules_do_not_log():
    """parse.py and features.py are pure: they hold no logger that could leak a body."""
    import mailguard.features as features
    import mailguard.parse as parse

    for module in (parse, features):
        source = Path(module.__file__).read_text()
        assert "getLogger" not in source and "logging." not in source and "print(" not in source
