"""The labels tooling's index copies: files read from $MAILGUARD_INDEX_COPIES instead of a mirror
(data/labels/tools/external.py INDEX_SOURCES, data/labels/extra/copy_external.py)."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

LABELS = Path(__file__).resolve().parents[1] / "data" / "labels"


class _ToolsOnPath:
    """data/labels/tools on sys.path for the imports inside, and sys.path and sys.modules as they were
    afterwards (the tools are scripts with generic module names: common, templates, filters...)."""

    def __enter__(self):
        self.path, self.modules = list(sys.path), set(sys.modules)
        sys.path.insert(0, str(LABELS / "tools"))

    def __exit__(self, *exc):
        sys.path[:] = self.path
        for name in set(sys.modules) - self.modules:
            del sys.modules[name]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    with _ToolsOnPath():
        spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def external():
    return _load("labels_external", LABELS / "tools" / "external.py")


@pytest.fixture(scope="module")
def copy_external():
    return _load("labels_copy_external", LABELS / "extra" / "copy_external.py")


def _place(root: Path, repo: str, commit: str, path: str, data: bytes) -> Path:
    p = root / repo.replace("/", "+") / commit / path
    p.parent.mkdir(parents=True)
    p.write_bytes(data)
    return p


def test_every_index_source_has_a_recorded_sha256_a_label_and_a_row(external):
    with _ToolsOnPath():
        from build_labels import HELDOUT_SENDER_FAMILIES
        from ext_labels import INDEX_LABELS
    with open(LABELS / "labels.tsv", newline="", encoding="utf-8") as f:
        rows = {r["source"]: r for r in csv.DictReader(f, delimiter="\t")}
    assert external.INDEX_SOURCES
    for repo, _lic, commit, path, fam in external.INDEX_SOURCES:
        key = f"{repo}:{path}"
        row = rows[f"github:{repo}@{commit}:{path}"]
        assert row["sha256"] == external.INDEX_SHA256[key]
        assert (row["label"], row["subkind"], row["note"]) == INDEX_LABELS[key]
        assert row["split"] == ("heldout" if fam in HELDOUT_SENDER_FAMILIES else "train")


def test_read_index_copy_checks_the_recorded_sha256(external, tmp_path, monkeypatch):
    repo, _lic, commit, path, _fam = external.INDEX_SOURCES[0]
    monkeypatch.setattr(external, "INDEX_COPIES", str(tmp_path))
    with pytest.raises(SystemExit, match=r"index copy missing: .*raw\.githubusercontent\.com"):
        external.read_index_copy(repo, commit, path)
    _place(tmp_path, repo, commit, path, b"Subject: not the file\n\nx\n")
    with pytest.raises(SystemExit, match="differs from its recorded sha256"):
        external.read_index_copy(repo, commit, path)


def test_read_index_copy_returns_the_bytes_whose_sha256_is_recorded(external, tmp_path, monkeypatch):
    data = b"Subject: parcel\n\nready\n"
    repo, commit, path = "someone/repo", "a" * 40, "tests/x.eml"
    _place(tmp_path, repo, commit, path, data)
    monkeypatch.setattr(external, "INDEX_COPIES", str(tmp_path))
    monkeypatch.setitem(external.INDEX_SHA256, f"{repo}:{path}", hashlib.sha256(data).hexdigest())
    assert external.read_index_copy(repo, commit, path) == data


def test_copy_external_reads_a_source_from_the_index_copies_when_no_mirror_holds_it(copy_external, tmp_path):
    data = b"Subject: parcel\r\n\r\nready\r\n"
    _place(tmp_path / "idx", "someone/repo", "b" * 40, "tests/x.eml", data)
    src = f"github:someone/repo@{'b' * 40}:tests/x.eml"
    assert copy_external.read_source(str(tmp_path / "mirror"), src, str(tmp_path / "idx")) == data
    with pytest.raises(subprocess.CalledProcessError):
        copy_external.read_source(str(tmp_path / "mirror"), src, str(tmp_path / "elsewhere"))
