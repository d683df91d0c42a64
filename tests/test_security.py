"""Security checks that need no IMAP server: private state, who may write the state directory,
config and model (checked before anything is read from them), the model's hash, and message
bodies kept out of logs."""

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

from mailguard import models_io
from mailguard.cli.main import main
from mailguard.config import load_config
from mailguard.errors import ConfigError, ModelError
from mailguard.pipeline import Pipeline, analyse_one
from mailguard.core.rules import KEEP, Policy
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
    from mailguard.core.contacts import make_contact

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
    """The shipped model and its card, copied."""
    src = models_io.DEFAULT_MODEL_PATH
    dst = tmp_path / "m" / "promo.npz"
    dst.parent.mkdir()
    shutil.copy(src, dst)
    shutil.copy(models_io.card_path(src), models_io.card_path(dst))
    return dst


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fails the test if anything is unpickled."""
    def refuse(*a, **k):
        raise AssertionError("something was unpickled")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def test_loading_a_model_unpickles_nothing(model_copy, no_unpickling):
    assert models_io.load(model_copy).threshold > 0


def test_intact_copy_loads(model_copy):
    model = models_io.load(model_copy)
    assert model.meta["sha256"] == models_io.sha256_file(model_copy)


def test_one_tampered_byte_is_refused(model_copy, no_unpickling):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        models_io.load(model_copy)


def test_missing_card_is_refused(model_copy, no_unpickling):
    models_io.card_path(model_copy).unlink()
    with pytest.raises(ModelError, match="has no card"):
        models_io.load(model_copy)


@pytest.mark.parametrize("sha", ["0" * 64, "", None, 12])
def test_card_with_a_wrong_or_no_hash_is_refused(model_copy, no_unpickling, sha):
    card_file = models_io.card_path(model_copy)
    card = json.loads(card_file.read_text())
    if sha is None:
        del card["sha256"]
    else:
        card["sha256"] = sha
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match its card"):
        models_io.load(model_copy)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_unreadable_card_is_refused(model_copy, no_unpickling, text):
    models_io.card_path(model_copy).write_text(text)
    with pytest.raises(ModelError):
        models_io.load(model_copy)


class _Evil:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_pickle_that_runs_code_is_not_loaded(model_copy, tmp_path):
    """A pickle runs code when loaded: swapping the model file must run nothing (with a card that
    matches too: tests/test_modelfile.py)."""
    ran = tmp_path / "code-ran"
    model_copy.write_bytes(pickle.dumps(_Evil(ran)))
    with pytest.raises(ModelError, match="old joblib format"):
        models_io.load(model_copy)
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
    models_io.card_path(model_copy).unlink()
    p = tmp_path / "in.mbox"
    p.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    assert main(["scan", str(p), "--model", str(model_copy)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no card" in err


# -- who may write the state directory, the config and a model -----------------------------------
# The suite runs as root; "another user" is a uid that is neither root nor us (os.chown to it).

OTHER_UID = 4242


def _one_line_error(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mailguard: error: ") and "Traceback" not in err, err
    return code, err


def _scan_argv(tmp_path: Path, *extra: str) -> list[str]:
    box = tmp_path / "in.mbox"
    box.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    return ["scan", str(box), "--me", ME, *extra]


def _planted_home(home: Path) -> None:
    """A state directory whose config and user model would fail if anything read them."""
    home.mkdir(parents=True)
    (home / "config.toml").write_text("this is [not toml")
    (home / "promo.npz").write_bytes(pickle.dumps({"planted": True}))
    os.chmod(home / "config.toml", 0o600)


@pytest.mark.parametrize("perm", [0o770, 0o707, 0o1777, 0o730], ids=oct)
def test_state_dir_writable_by_others_is_refused_before_anything_is_read(home, tmp_path, capsys, perm):
    _planted_home(home)
    os.chmod(home, perm)
    code, err = _one_line_error(_scan_argv(tmp_path), capsys)
    assert code == 2
    assert f"state directory {home} can be written by other users (mode {perm:o})" in err
    assert f"chmod go-w {home}" in err
    assert "toml" not in err.lower() and "joblib" not in err  # neither file was read
    assert mode(home) == perm  # and nothing re-moded it


def test_state_dir_of_another_user_is_refused(home, tmp_path, capsys):
    _planted_home(home)
    os.chmod(home, 0o700)
    os.chown(home, OTHER_UID, -1)
    code, err = _one_line_error(_scan_argv(tmp_path), capsys)
    assert code == 2 and f"state directory {home} belongs to uid {OTHER_UID}" in err and "chown" in err


def test_opening_the_store_refuses_a_shared_state_dir(home):
    home.mkdir(parents=True)
    os.chmod(home, 0o777)
    with pytest.raises(ConfigError, match="can be written by other users"):
        Store.open_default()
    assert not (home / DB_NAME).exists()


@pytest.mark.parametrize("perm", [0o620, 0o602, 0o666], ids=oct)
def test_config_writable_by_others_is_refused_unread(tmp_path, perm):
    cfg = tmp_path / "c" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text("this is [not toml")  # the permission error comes first: it was not read
    os.chmod(cfg, perm)
    with pytest.raises(ConfigError, match=r"config .*config.toml can be written by other users.*chmod go-w"):
        load_config(cfg, env={"MAILGUARD_HOME": str(tmp_path / "home")})


def test_config_of_another_user_is_refused(tmp_path):
    cfg = tmp_path / "c" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text(f'[mailbox]\nme = ["{ME}"]\n')
    os.chmod(cfg, 0o600)
    os.chown(cfg, OTHER_UID, -1)
    with pytest.raises(ConfigError, match=f"belongs to uid {OTHER_UID}"):
        load_config(cfg, env={"MAILGUARD_HOME": str(tmp_path / "home")})


def test_config_in_a_directory_others_can_write_is_refused_unless_sticky(tmp_path):
    d = tmp_path / "shared"
    d.mkdir()
    cfg = d / "config.toml"
    cfg.write_text(f'[mailbox]\nme = ["{ME}"]\n')
    os.chmod(cfg, 0o600)
    os.chmod(d, 0o777)  # anyone could replace config.toml
    with pytest.raises(ConfigError, match=f"directory {d}, which holds config config.toml, can be written"):
        load_config(cfg, env={"MAILGUARD_HOME": str(tmp_path / "home")})
    os.chmod(d, 0o1777)  # like /tmp: others cannot replace our file
    assert load_config(cfg, env={"MAILGUARD_HOME": str(tmp_path / "home")}).me == (ME,)


@pytest.mark.parametrize("target, perm", [("model", 0o664), ("model", 0o646), ("card", 0o666), ("dir", 0o777)])
def test_model_writable_by_others_is_refused_before_it_is_read(model_copy, no_unpickling, target, perm):
    path = {"model": model_copy, "card": models_io.card_path(model_copy), "dir": model_copy.parent}[target]
    model_copy.write_bytes(pickle.dumps({"planted": True}))  # never read: the permissions come first
    os.chmod(path, perm)
    with pytest.raises(ModelError, match="can be written by other users") as exc:
        models_io.load(model_copy)
    assert f"chmod go-w {path}" in str(exc.value) and "joblib" not in str(exc.value)


@pytest.mark.parametrize("target", ["model", "card", "dir"])
def test_model_of_another_user_is_refused(model_copy, target):
    path = {"model": model_copy, "card": models_io.card_path(model_copy), "dir": model_copy.parent}[target]
    os.chown(path, OTHER_UID, -1)
    with pytest.raises(ModelError, match=f"belongs to uid {OTHER_UID}"):
        models_io.load(model_copy)


def test_model_in_a_sticky_shared_directory_loads(model_copy):
    os.chmod(model_copy.parent, 0o1777)
    assert models_io.load(model_copy).threshold > 0


def test_cli_refuses_a_model_others_can_write(model_copy, home, tmp_path, capsys):
    os.chmod(model_copy, 0o666)
    code, err = _one_line_error(_scan_argv(tmp_path, "--model", str(model_copy), "--no-save"), capsys)
    assert code != 0 and f"model {model_copy} can be written by other users (mode 666)" in err


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
        run = subprocess.run([sys.executable, "-m", "mailguard.cli.main", "-vv", "scan", str(p), "--me", ME,
                              "--format", fmt, "--save"], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "DEBUG" in run.stderr  # debug logging was on
        assert MARKER not in run.stdout and MARKER not in run.stderr
        assert "6 messages" in (run.stdout + run.stderr)


def test_parse_features_and_pipeline_never_log_bodies(caplog, monkeypatch):
    model = models_io.load()
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
    import mailguard.core.features as features
    import mailguard.core.parse as parse

    for module in (parse, features):
        source = Path(module.__file__).read_text()
        assert "getLogger" not in source and "logging." not in source and "print(" not in source
