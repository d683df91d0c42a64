"""Model files are data (issue 13): npz arrays + a JSON header, checked on load, never unpickled."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mailguard import models_io

from mailguard.core import classify
from mailguard import modelfile
from mailguard.cli.main import main
from mailguard.errors import ModelError
from mailguard.core.features import extract
from mailguard.core.parse import parse_message
from mailguard.sources import iter_messages, open_source
from mailfactory import ME, mbox, personal

REPO = Path(__file__).resolve().parents[1]


class _Evil:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def with_card(path: Path) -> Path:
    """A card beside ``path`` whose sha256 matches it, as anyone who can write the model can write."""
    models_io.card_path(path).write_text(json.dumps({"model": path.name, "sha256": models_io.sha256_file(path)}))
    return path


def shipped_contents() -> tuple[dict, dict[str, bytes]]:
    """The header and the member bytes of the shipped model file."""
    with zipfile.ZipFile(models_io.DEFAULT_MODEL_PATH) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    return json.loads(members["header.json"]), members


def write_zip(path: Path, header: dict | str, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", header if isinstance(header, str) else json.dumps(header))
        for name, data in members.items():
            if name != "header.json":
                z.writestr(name, data)
    return with_card(path)


def npy(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


# -- the shipped model --------------------------------------------------------------------------


def test_converted_shipped_model_scores_exactly_as_the_joblib_model_did():
    """The shipped model's scores on the sample inbox, as recorded (first with the joblib model before
    the conversion; again whenever the default model is retrained)."""
    recorded = json.loads((Path(__file__).parent / "data" / "shipped_model_scores.json").read_text())["scores"]
    feats, ids = [], []
    for _, raw in iter_messages(open_source(REPO / "sample_mbox" / "inbox.mbox"), ordered=False):
        msg = parse_message(raw)
        if not msg.unreadable:
            feats.append(extract(msg))
            ids.append(msg.message_id)
    assert ids == [mid for mid, _ in recorded] and len(ids) > 300
    scores = models_io.load(models_io.DEFAULT_MODEL_PATH).score_many(feats)
    np.testing.assert_allclose(scores, [s for _, s in recorded], rtol=0, atol=1e-12)


def test_shipped_model_is_an_npz_with_a_header_and_no_pickle():
    header, members = shipped_contents()
    assert header["format"] == "mailguard-model" and header["format_version"] == 1
    assert header["kind"] == "promo"
    assert set(members) == {"header.json"} | {f"{n}.npy" for n in header["arrays"]}
    assert set(header["arrays"]) == {"idf", "word_coef", "num_mean", "num_scale", "num_coef", "intercept",
                                     "classes", "cal_coef", "cal_intercept", "prior", "header_idf",
                                     "header_coef"}
    assert header["params"]["feature_version"] == classify.FEATURE_VERSION
    with np.load(models_io.DEFAULT_MODEL_PATH, allow_pickle=False) as npz:
        assert all(npz[n].dtype != object for n in header["arrays"])


def test_shipped_model_is_package_data():
    """Inside the package, declared for the wheel and sdist (.ci/run builds both and installs)."""
    import importlib.resources
    import tomllib

    import mailguard

    inside = Path(str(importlib.resources.files(mailguard) / "models" / "promo.npz"))
    assert models_io.DEFAULT_MODEL_PATH == inside and inside.is_file()
    assert Path(mailguard.__file__).parent in inside.parents
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"models/promo.npz", "models/promo.card.json"} <= set(declared["mailguard"])


# -- the generic format ---------------------------------------------------------------------------


def test_write_read_round_trip_of_any_arrays_and_params(tmp_path: Path):
    """The format knows nothing about promo models: the next model kind stores what it needs."""
    arrays = {"coef": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.array([0.5, -1.0, 2.0]),
              "classes": np.array([0, 1, 2], dtype=np.int64), "mask": np.array([True, False])}
    params = {"classes": ["personal", "transactional", "promotional"], "calibration": [[1.0, 0.0]] * 3}
    path = tmp_path / "three.npz"
    modelfile.write(path, "three-way", arrays, params)
    data = modelfile.read(path, "three-way")
    assert data.kind == "three-way" and data.params == params
    assert data.arrays.keys() == arrays.keys()
    for name, a in arrays.items():
        assert np.array_equal(data.arrays[name], a) and data.arrays[name].dtype == a.dtype
    with pytest.raises(ModelError, match="is a 'three-way' model, not a 'promo' model"):
        modelfile.read(path, "promo")


def test_the_same_model_gives_the_same_bytes(tmp_path: Path):
    arrays = {"w": np.linspace(0, 1, 1000)}
    modelfile.write(tmp_path / "a.npz", "k", arrays, {"x": 1})
    modelfile.write(tmp_path / "b.npz", "k", arrays, {"x": 1})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_write_refuses_objects_and_non_finite_params(tmp_path: Path):
    with pytest.raises(ModelError, match="cannot store array"):
        modelfile.write(tmp_path / "m.npz", "k", {"o": np.array([object()])}, {})
    with pytest.raises(ModelError, match="finite JSON"):
        modelfile.write(tmp_path / "m.npz", "k", {}, {"t": float("nan")})
    with pytest.raises(ModelError, match=r"\.npz files now"):
        models_io.check_name(tmp_path / "m.joblib")


def test_an_object_array_is_never_unpickled(tmp_path: Path):
    """A member holding a pickled object array, under a header that claims floats."""
    ran = tmp_path / "code-ran"
    header, members = shipped_contents()
    members["num_mean.npy"] = npy(np.array([_Evil(ran)], dtype=object), allow_pickle=True)
    path = write_zip(tmp_path / "m" / "promo.npz", header, members)
    with pytest.raises(ModelError) as exc:
        models_io.load(path)
    assert "\n" not in str(exc.value)
    assert not ran.exists()


# -- what load refuses (each with a card that matches: the hash is no defence) ----------------------


def _edited(tmp_path: Path, edit) -> Path:
    header, members = shipped_contents()
    edit(header, members)
    return write_zip(tmp_path / "m" / "promo.npz", header, members)


N = len(classify.NUMERIC_NAMES)


def _set(d: dict, key: str, value) -> None:
    d[key] = value


@pytest.mark.parametrize("edit, message", [
    (lambda h, m: _set(h, "format", "something-else"), "not a mailguard model file"),
    (lambda h, m: _set(h, "format_version", 2), "made by a newer mailguard"),
    (lambda h, m: _set(h, "format_version", "1"), "no valid format_version"),
    (lambda h, m: _set(h, "kind", "spam"), "not a 'promo' model"),
    (lambda h, m: _set(h["arrays"]["idf"], "dtype", "|O"), "bad array entry 'idf'"),
    (lambda h, m: _set(h["arrays"]["idf"], "shape", [10]), "larger than its header says"),
    (lambda h, m: _set(m, "extra.npy", npy(np.zeros(3))), "exactly the arrays its header lists"),
    (lambda h, m: m.pop("num_coef.npy"), "exactly the arrays its header lists"),
    (lambda h, m: (h["arrays"].pop("num_coef"), m.pop("num_coef.npy")), "arrays of a promo model"),
    (lambda h, m: _set(m, "num_mean.npy", npy(np.zeros(N, dtype=np.float32))), "not the <f8"),
    (lambda h, m: _set(m, "num_mean.npy", npy(np.full(N, np.nan))), "not finite"),
    (lambda h, m: _set(m, "num_scale.npy", npy(np.zeros(N))), "num_scale must be positive"),
    (lambda h, m: _set(m, "classes.npy", npy(np.array([0, 0, 1]))), "distinct category numbers"),
    (lambda h, m: _set(m, "cal_coef.npy", npy(np.eye(2))), "cal_coef is"),
    (lambda h, m: _set(h["params"], "feature_version", 1), "retrain it with `mailguard train`"),
    (lambda h, m: _set(h["params"], "numeric_names", ["x"] * N), "retrain it with `mailguard train`"),
    (lambda h, m: _set(h["params"], "classes", ["a", "b", "c"]), "retrain it with `mailguard train`"),
    (lambda h, m: _set(h["params"], "threshold", 1.5), "numbers in \\[0, 1\\]"),
    (lambda h, m: _set(h["params"], "transactional_threshold", "0"), "numbers in \\[0, 1\\]"),
])
def test_load_checks_everything_in_the_file(tmp_path: Path, edit, message):
    path = _edited(tmp_path, edit)
    with pytest.raises(ModelError, match=message) as exc:
        models_io.load(path)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("header", ["{not json", "[1]", '{"format": "mailguard-model", "x": NaN}'])
def test_a_bad_header_is_one_line(tmp_path: Path, header: str):
    _, members = shipped_contents()
    path = write_zip(tmp_path / "m" / "promo.npz", header, members)
    with pytest.raises(ModelError) as exc:
        models_io.load(path)
    assert "\n" not in str(exc.value)


def test_a_zip_bomb_is_refused_before_it_is_read(tmp_path: Path):
    """A member far larger than its header's dtype and shape say: refused from the zip directory."""
    header, members = shipped_contents()
    members["num_mean.npy"] = b"\0" * (50 * 1024 * 1024)  # deflates to about 50 KB
    path = write_zip(tmp_path / "m" / "promo.npz", header, members)
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(ModelError, match="larger than its header says"):
        models_io.load(path)


def test_not_a_zip_is_not_a_model(tmp_path: Path):
    path = tmp_path / "promo.npz"
    path.write_text("hello")
    with_card(path)
    with pytest.raises(ModelError, match="not a mailguard model file"):
        models_io.load(path)


# -- the old joblib format -----------------------------------------------------------------------


def test_a_planted_pickle_with_a_matching_card_runs_nothing(tmp_path: Path):
    """The attack of issue 13: a pickle and a card carrying its own sha256."""
    ran = tmp_path / "code-ran"
    for name in ("promo.npz", "promo.joblib"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Evil(ran)))
        with_card(path)
        with pytest.raises(ModelError, match="old joblib format.*retrain it with `mailguard train`"):
            models_io.load(path)
    assert not ran.exists()


def test_an_old_model_in_the_data_directory_is_refused_not_skipped(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    ran = tmp_path / "code-ran"
    (home / "promo.joblib").write_bytes(pickle.dumps(_Evil(ran)))
    with pytest.raises(ModelError) as exc:
        models_io.load()
    assert "old joblib format" in str(exc.value) and "delete it to use the shipped model" in str(exc.value)
    assert not ran.exists()
    (home / "promo.joblib").unlink()
    assert models_io.load().meta["sha256"] == models_io.sha256_file(models_io.DEFAULT_MODEL_PATH)


def test_cli_refuses_an_old_model_in_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MAILGUARD_HOME", str(tmp_path / "home"))
    old = tmp_path / "promo.joblib"
    old.write_bytes(pickle.dumps({"not": "a model"}))
    with_card(old)
    box = tmp_path / "in.mbox"
    box.write_bytes(mbox([personal("Jane <jane@acme.io>")]))
    assert main(["scan", str(box), "--me", ME, "--model", str(old), "--no-save"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "old joblib format" in err and "mailguard train" in err
