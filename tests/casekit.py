"""The case catalogue (tests/cases/): load a case, run mailguard's pipeline over it, compare.

Shared by ``tests/test_cases.py`` (every case passes) and ``scripts/eval_cases.py`` (precision and
recall of ``move`` per folder). A case runs exactly as ``mailguard scan --no-save`` would: the default
model, the case's ``me`` and config, nothing saved anywhere.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"
GROUPS = ("blind", "written")


@dataclass(frozen=True)
class Expect:
    file: str
    action: str
    why: str


@dataclass(frozen=True)
class Case:
    path: Path
    group: str
    title: str
    cls: str
    me: tuple[str, ...]
    window_days: int | None
    config: dict
    expects: tuple[Expect, ...]
    references: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.group}/{self.path.name}"


@dataclass(frozen=True)
class Outcome:
    expect: Expect
    action: str
    reasons: tuple[str, ...]
    category: str | None = None

    @property
    def ok(self) -> bool:
        return self.action == self.expect.action


def load_case(path: Path, group: str) -> Case:
    spec = tomllib.loads((path / "case.toml").read_text(encoding="utf-8"))
    expects = tuple(Expect(e["file"], e["action"], e["why"]) for e in spec["expect"])
    files = sorted(p.name for p in path.glob("*.eml"))
    named = sorted(e.file for e in expects)
    if files != named:
        raise ValueError(f"{path}: .eml files {files} != [[expect]] files {named}")
    me = spec["me"]
    return Case(path=path, group=group, title=spec["title"], cls=spec["class"],
                me=tuple([me] if isinstance(me, str) else me),
                window_days=spec.get("window_days"), config=spec.get("config", {}),
                expects=expects, references=tuple(spec.get("references", ())))


def all_cases(groups: tuple[str, ...] = GROUPS) -> Iterator[Case]:
    for group in groups:
        root = CASES / group
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir()):
            if (d / "case.toml").is_file():
                yield load_case(d, group)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml(tables: dict, prefix: str = "") -> str:
    """A minimal TOML writer for a case's [config] (tables of scalars/lists, arrays of tables)."""
    out = []
    scalars = {k: v for k, v in tables.items() if not isinstance(v, dict)
               and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
    if prefix and scalars:
        out.append(f"[{prefix}]")
    for k, v in scalars.items():
        out.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.append(_toml(v, name))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                out.append(f"[[{name}]]")
                out.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
    return "\n".join(out) + "\n"


_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        from mailguard import models_io
        _MODEL = models_io.load()
    return _MODEL


def run_case(case: Case) -> list[Outcome]:
    """Decide the case's messages in Date order, as `scan --no-save` does."""
    from mailguard.config import load_config
    from mailguard.pipeline import Pipeline
    from mailguard.scan import make_policy
    from mailguard.core.social import load_networks
    from mailguard.sources import Item, date_of_head, in_date_order

    model = _model()
    with tempfile.TemporaryDirectory() as home:
        os.chmod(home, 0o700)
        cfg_file = Path(home) / "config.toml"
        cfg_file.write_text(_toml(case.config))
        cfg_file.chmod(0o600)
        cfg = load_config(cfg_file, env={"MAILGUARD_HOME": home})
        policy = make_policy(cfg, model, me=case.me, window_days=case.window_days)
        pipe = Pipeline(model, policy, None, source=str(case.path), social=load_networks(cfg.raw))
        files = sorted(case.path.glob("*.eml"))
        items = [Item(f.name, str(f), i, date_of_head(f.read_bytes()[:16384]))
                 for i, f in enumerate(files)]
        ordered = in_date_order(items)
        decisions = pipe.process([Path(it.key).read_bytes() for it in ordered],
                                 [it.ref for it in ordered])
    by_file = {d.ref: d for d in decisions}
    out = []
    for e in case.expects:
        d = by_file[e.file]
        out.append(Outcome(e, d.action, tuple(d.reasons), getattr(d, "category", None)))
    return out


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, o: Outcome) -> None:
        want, got = o.expect.action == "move", o.action == "move"
        if want and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif want:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
