"""The layout's rule, read from the source with ast: the core (mailguard/core/) is pure. It imports
nothing of mailguard but the core and errors (never the store, config, IMAP, review or CLI), no
database, network or process module, and calls no file IO; models and config are read at the edge
and passed in (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "mailguard" / "core"

#: what the core may import of mailguard
ALLOWED_OWN = ("mailguard.core", "mailguard.errors")
#: modules that mean IO (a database, the network, processes, files): never imported by the core
FORBIDDEN_MODULES = ("sqlite3", "socket", "ssl", "imapclient", "smtplib", "http", "urllib.request",
                     "subprocess", "shutil", "tempfile", "os", "io", "pickle", "joblib",
                     "importlib.resources", "platformdirs", "uvicorn", "starlette")
#: file IO through a path or a library
FORBIDDEN_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink",
                               "touch", "iterdir", "rglob", "is_file", "is_dir", "exists", "rmdir"})
FORBIDDEN_CALLS = frozenset({"open", "np.load", "np.save", "np.savez", "np.savez_compressed", "numpy.load",
                             "json.load", "json.dump"})
#: (file, what): the one read the core does, with the reason. orgs.platform_operators reads the
#: Public Suffix List that the publicsuffixlist package bundles (static reference data of a
#: dependency, as PublicSuffixList() itself reads it): no user file, nothing written.
ALLOWED = {("orgs.py", "read_text"), ("orgs.py", "is_file")}


def _absolute(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def violations(source: str, name: str, package: str = "mailguard.core") -> list[str]:
    """What in one core module breaks the rule, as "name:line what" lines."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            # "from . import x" / "from .. import store": each name may be a module
            targets = [f"{base}.{a.name}" for a in node.names] if not node.module else [base]
        for t in targets:
            if t.startswith("mailguard") and not t.startswith(ALLOWED_OWN) and t != "mailguard.__version__":
                found.append(f"{name}:{node.lineno} imports {t}")
            if any(t == m or t.startswith(m + ".") for m in FORBIDDEN_MODULES):
                found.append(f"{name}:{node.lineno} imports {t}")
        if isinstance(node, ast.Call):
            f = node.func
            called = (f.id if isinstance(f, ast.Name)
                      else f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                      else "")
            method = f.attr if isinstance(f, ast.Attribute) else ""
            if called in FORBIDDEN_CALLS and (name, called) not in ALLOWED:
                found.append(f"{name}:{node.lineno} calls {called}()")
            elif method in FORBIDDEN_METHODS and (name, method) not in ALLOWED:
                found.append(f"{name}:{node.lineno} calls .{method}()")
    return found


def test_the_core_imports_no_store_no_io_module_and_does_no_file_io():
    modules = sorted(CORE.glob("*.py"))
    assert {"parse.py", "features.py", "classify.py", "linker.py", "rules.py"} <= {m.name for m in modules}
    found = [v for m in modules for v in violations(m.read_text(encoding="utf-8"), m.name)]
    assert not found, "the core must stay pure (docs/architecture.md):\n" + "\n".join(found)


def test_the_check_catches_a_store_import_a_socket_and_a_file_read():
    bad = ("from ..store import Store\nfrom .. import config\nimport socket\nfrom sqlite3 import connect\n"
           "from pathlib import Path\nfrom .parse import parse_message\nfrom ..errors import ModelError\n"
           "def f(p):\n    return open(p).read() + Path(p).read_text() + str(json.load(p))\n")
    assert sorted(violations(bad, "x.py")) == sorted([
        "x.py:1 imports mailguard.store", "x.py:2 imports mailguard.config", "x.py:3 imports socket",
        "x.py:4 imports sqlite3", "x.py:9 calls open()", "x.py:9 calls .read_text()", "x.py:9 calls json.load()"])
    # the one allowed read is allowed in orgs.py only
    assert violations("def g(p):\n    return p.read_text()\n", "orgs.py") == []


def test_the_command_runs_as_before_the_cli_package(tmp_path):
    """`python -m mailguard.cli` (the module path of the flat layout) and the console script
    `mailguard` (entry point mailguard.cli.main:entry) are the same command."""
    import os
    import subprocess
    import sys
    import tomllib

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"] == {
        "mailguard": "mailguard.cli.main:entry"}
    env = {**os.environ, "MAILGUARD_HOME": str(tmp_path / "home")}
    runs = [subprocess.run([sys.executable, "-m", module, "version"], env=env, capture_output=True,
                           text=True, timeout=120) for module in ("mailguard.cli", "mailguard.cli.main")]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()
