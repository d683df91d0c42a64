"""`mailguard train` and `mailguard evaluate` end to end, on generated mail in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailguard import models_io
from mailguard.cli.main import main
from mailfactory import mbox, newsletter, personal, transactional
from reviewkit import ACME, open_store, scan, write_inbox

SUBJECTS = ["Coffee next week?", "Notes from today", "Re: the draft", "Dinner on Friday", "Quick question",
            "Thanks for the intro", "Photos from the trip", "Re: budget", "Call tomorrow?", "Lunch?"]
OFFERS = ["Spring launch: 30% off this week", "Last chance: free shipping", "Your weekly deals",
          "Upgrade now and save", "New arrivals are here", "Webinar: grow your pipeline",
          "Flash sale ends tonight", "Don't miss our biggest offer", "Exclusive deal for you",
          "Limited time: 2 months free"]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    monkeypatch.delenv("MAILGUARD_MODEL", raising=False)
    monkeypatch.delenv("MAILGUARD_CONFIG", raising=False)
    return h


def write_sources(tmp_path: Path, n: int = 30) -> tuple[Path, Path]:
    """A folder of newsletters (promo) and an mbox of personal notes."""
    promo = tmp_path / "Newsletters"
    promo.mkdir()
    for i in range(n):
        raw = newsletter(f"Brand {i} <news@brand{i % 9}.example>", subject=OFFERS[i % len(OFFERS)],
                         esp=("sendgrid", "mailchimp", "ses", "none")[i % 4])
        (promo / f"{i:03d}.eml").write_bytes(raw)
    personal_box = tmp_path / "inbox.mbox"
    personal_box.write_bytes(mbox([
        personal(f"Person {i} <p{i}@friend{i % 7}.example>", subject=SUBJECTS[i % len(SUBJECTS)])
        for i in range(n)
    ]))
    return promo, personal_box


def test_train_writes_model_and_card(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox = write_sources(tmp_path)
    out = tmp_path / "models" / "mine.npz"
    code = main(["train", "--promo", str(promo), "--personal", str(inbox), "--out", str(out),
                 "--no-include-review", "--workers", "1"])
    assert code == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["sha256"] == models_io.sha256_file(out)
    assert card["data"]["n_promo"] == 30 and card["data"]["n_personal"] == 30
    assert card["created"] and card["versions"]["scikit-learn"]
    cv = card["metrics"]["cross_validation"]
    for key in ("auc", "precision", "recall", "f1", "false_positive_rate", "threshold"):
        assert key in cv
    assert cv["auc"] > 0.9
    model = models_io.load(out)
    assert model.threshold == card["threshold"]
    assert "wrote" in capsys.readouterr().out


def test_train_default_out_is_where_load_looks(home: Path, tmp_path: Path) -> None:
    promo, inbox = write_sources(tmp_path)
    assert main(["train", "--promo", str(promo), "--personal", str(inbox), "--workers", "1"]) == 0
    assert (home / "promo.npz").is_file()
    assert models_io.load().meta["data"]["n_promo"] == 30  # the user's model, not the shipped one


def test_train_refuses_too_few_examples(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox = write_sources(tmp_path, n=4)
    code = main(["train", "--promo", str(promo), "--personal", str(inbox), "--out", str(tmp_path / "m.npz"),
                 "--no-include-review"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1
    assert "too few examples to train: 4 personal, 4 promotional, 0 transactional" in err
    assert not (tmp_path / "m.npz").exists()


def test_train_imap_source_without_config(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, inbox = write_sources(tmp_path, n=2)
    code = main(["train", "--promo", "imap:Promotions", "--personal", str(inbox), "--no-include-review"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.splitlines() == [err] and "imap: sources need an [imap] config" in err


def test_train_missing_source(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--promo", str(tmp_path / "nope"), "--personal", str(tmp_path / "nada")])
    assert code != 0
    assert "no such file or directory" in capsys.readouterr().err


def test_train_adds_review_labels(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan(write_inbox(tmp_path))  # a real scan of the review fixture mailbox into $MAILGUARD_HOME
    assert main(["block", ACME]) == 0
    store = open_store(home)
    store.close()
    promo, inbox = write_sources(tmp_path, n=20)
    out = tmp_path / "m.npz"
    assert main(["train", "--promo", str(promo), "--personal", str(inbox), "--out", str(out),
                 "--workers", "1"]) == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["data"]["from_review"]["promo"] >= 1  # the blocked sender's messages
    assert card["data"]["n_promo"] == 20 + card["data"]["from_review"]["promo"]
    out2 = tmp_path / "m2.npz"
    assert main(["train", "--promo", str(promo), "--personal", str(inbox), "--out", str(out2),
                 "--no-include-review", "--workers", "1"]) == 0
    assert json.loads(out2.with_suffix(".card.json").read_text())["data"]["from_review"]["promo"] == 0


def write_transactional(tmp_path: Path, n: int = 20) -> Path:
    """An mbox of receipts and password resets."""
    box = tmp_path / "Receipts.mbox"
    box.write_bytes(mbox([transactional(f"Shop {i} <no-reply@shop{i % 6}.example>", order=f"A-{500 + 7 * i}",
                                        kind=("receipt", "reset")[i % 2]) for i in range(n)]))
    return box


def test_train_with_transactional_mail_learns_three_categories_and_header_tokens(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox = write_sources(tmp_path)
    receipts = write_transactional(tmp_path)
    out = tmp_path / "three.npz"
    code = main(["train", "--promo", str(promo), "--transactional", str(receipts), "--personal", str(inbox),
                 "--out", str(out), "--no-include-review", "--workers", "1"])
    assert code == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["data"]["n_transactional"] == 20 and card["data"]["transactional_sources"] == [str(receipts)]
    assert card["classes"] == ["personal", "promotional", "transactional"]
    assert card["header_tokens"] is True and "header tokens" in card["features"]
    assert "--transactional" in card["command"]
    cv = card["metrics"]["cross_validation"]
    assert cv["categories"]["recall"]["transactional"] > 0.8
    assert "20 transactional" in " ".join(capsys.readouterr().out.split())
    model = models_io.load(out)
    assert model.uses_header_tokens and list(model.classes) == [0, 1, 2]
    # evaluate shows the categories against the labels
    code = main(["evaluate", "--promo", str(promo), "--transactional", str(receipts), "--personal", str(inbox),
                 "--model", str(out), "--format", "json", "--workers", "1"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_transactional"] == 20
    assert data["categories"]["confusion"]["transactional"]["transactional"] >= 18
    # a handful of transactional messages is refused with one line
    (tmp_path / "few").mkdir()
    few = write_transactional(tmp_path / "few", n=3)
    code = main(["train", "--promo", str(promo), "--transactional", str(few), "--personal", str(inbox),
                 "--out", str(tmp_path / "x.npz"), "--no-include-review", "--workers", "1"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "3 transactional" in err


@pytest.fixture()
def trained(home: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    promo, inbox = write_sources(tmp_path)
    out = tmp_path / "m.npz"
    assert main(["train", "--promo", str(promo), "--personal", str(inbox), "--out", str(out),
                 "--no-include-review", "--workers", "1"]) == 0
    return promo, inbox, out


def test_evaluate_json(trained: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox, model = trained
    capsys.readouterr()
    code = main(["evaluate", "--promo", str(promo), "--personal", str(inbox), "--model", str(model),
                 "--format", "json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("auc", "precision", "recall", "f1", "false_positive_rate", "threshold", "n_promo", "n_personal"):
        assert key in result
    assert result["n_promo"] == 30 and result["n_personal"] == 30
    assert result["table"] and {"threshold", "precision", "recall"} <= set(result["table"][0])


def test_evaluate_table_and_threshold(trained: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox, model = trained
    capsys.readouterr()
    assert main(["evaluate", "--promo", str(promo), "--personal", str(inbox), "--model", str(model),
                 "--threshold", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "ROC AUC" in out and "precision / recall by threshold" in out and "0.300" in out


def test_evaluate_refuses_a_tampered_model(trained: tuple[Path, Path, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    promo, inbox, model = trained
    model.write_bytes(model.read_bytes() + b"x")
    assert main(["evaluate", "--promo", str(promo), "--personal", str(inbox), "--model", str(model)]) != 0
    assert "does not match its card" in capsys.readouterr().err


def test_commands_have_help() -> None:
    for cmd in ("train", "evaluate"):
        assert main([cmd, "--help"]) == 0


@pytest.mark.dovecot
def test_train_and_evaluate_from_imap_folders(dovecot, imap_user, home: Path, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """imap:FOLDER sources read from a real Dovecot on 127.0.0.1, without marking anything \\Seen."""
    from imapkit import PASSWORD_ENV, write_config

    monkeypatch.setenv(PASSWORD_ENV, "secret")
    write_config(home, dovecot, imap_user)
    for i in range(12):
        dovecot.append(imap_user, newsletter(f"Brand {i} <news@brand{i % 5}.example>", subject=OFFERS[i % 10],
                                             esp=("sendgrid", "mailchimp", "ses", "none")[i % 4]),
                       folder="Promotions")
        dovecot.append(imap_user, personal(f"Person {i} <p{i}@friend{i % 4}.example>",
                                           subject=SUBJECTS[i % 10]))
    out = tmp_path / "imap.npz"
    assert main(["train", "--promo", "imap:Promotions", "--personal", "imap:INBOX", "--out", str(out),
                 "--no-include-review", "--workers", "1"]) == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["data"]["n_promo"] == 12 and card["data"]["n_personal"] == 12
    assert card["data"]["promo_sources"] == ["imap:Promotions"]
    capsys.readouterr()
    assert main(["evaluate", "--promo", "imap:Promotions", "--personal", "imap:INBOX", "--model", str(out),
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_promo"] == 12
    assert all(b"\\Seen" not in flags for flags in dovecot.flags(imap_user, "Promotions").values())
    assert main(["train", "--promo", "imap:NoSuchFolder", "--personal", "imap:INBOX", "--out", str(out),
                 "--no-include-review"]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
