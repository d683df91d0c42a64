#!/usr/bin/env python3
"""mailguard's throughput beside bogofilter's and SpamAssassin's, on the same message files.

Every figure is a whole process, timed the way a user runs it, start-up included:

- bogofilter: ``bogofilter -d DB -T -B FILE...`` with a database trained (untimed) on the same
  files;
- mailguard: ``mailguard evaluate --promo DIR --personal DIR --format json --workers N`` (parse,
  features, score, metrics) and ``mailguard scan DIR --format jsonl --workers N`` (the same plus the
  date-ordered decisions), with 1 and with 2 workers;
- SpamAssassin, on a subset (it is two orders of magnitude slower): ``spamc -c`` per file against a
  ``spamd -L`` started beforehand (its start-up is not counted), two clients at a time.

Each is run ``--repeat`` times (default 3), interleaved (one run of each, then the next round),
and the best run is reported, with the peak RSS: of the largest single process, and of the whole
process tree (sampled every 10 ms, workers included). The files are the SpamAssassin public
corpus (spam + spam_2 as promo, the hams as personal), replicated under new names up to
``--messages``. The load average is printed: the machine is shared.

    python bench/bench_speed.py [--messages 8000] [--repeat 3] [--sa-messages 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMO = ("spam", "spam_2")
PERSONAL = ("easy_ham", "easy_ham_2", "hard_ham")


@dataclass
class Result:
    name: str
    messages: int
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process tree
    rss_kib: int = 0  # largest single process
    tree_kib: int = 0  # whole process tree, sampled
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")

    @property
    def rate(self) -> float:
        return self.messages / self.best if self.seconds else float("nan")


# -- the files ----------------------------------------------------------------------------------


def build_files(corpus: Path, dest: Path, total: int) -> tuple[Path, Path, int]:
    """dest/promo and dest/personal: the corpus files (hard links where possible), then copies under
    new names until there are ``total``."""
    out = {"promo": dest / "promo", "personal": dest / "personal"}
    for d in out.values():
        d.mkdir(parents=True)
    files: list[tuple[Path, Path]] = []
    for kind, folders in (("promo", PROMO), ("personal", PERSONAL)):
        for folder in folders:
            for p in sorted((corpus / folder).iterdir()):
                if p.is_file() and not p.name.startswith(".") and p.name != "cmds":
                    files.append((p, out[kind] / f"{folder}.{p.name}"))
    if total < len(files):  # a sample of every folder
        files = [files[i * len(files) // total] for i in range(total)]
    n = 0
    round_ = 0
    while n < total:
        for src, dst in files:
            if n >= total:
                break
            target = dst if round_ == 0 else dst.with_name(f"copy{round_}.{dst.name}")
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)
            n += 1
        round_ += 1
    return out["promo"], out["personal"], n


# -- timing a process tree ----------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int, int, float]:
    """(seconds, exit code, peak RSS of the largest process KiB, peak RSS of the tree KiB, CPU
    seconds of the tree: user + system of the process and the children it waited for)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, sum(_rss(p) for p in _tree(proc.pid)))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (took, proc.returncode, usage.ru_maxrss, max(peak_tree, usage.ru_maxrss),
            usage.ru_utime + usage.ru_stime)


def run(res: Result, cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> None:
    took, rc, rss, tree, cpu = timed(cmd, env)
    if rc not in ok:
        res.note = f"exit code {rc}: {' '.join(cmd[:4])}..."
        return
    res.seconds.append(took)
    res.cpu.append(cpu)
    res.rss_kib = max(res.rss_kib, rss)
    res.tree_kib = max(res.tree_kib, tree)


# -- SpamAssassin -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spamd(tmp: Path) -> tuple[subprocess.Popen | None, int, str]:
    missing = [t for t in ("spamd", "spamc") if shutil.which(t) is None]
    if missing:
        return None, 0, f"not installed ({', '.join(missing)})"
    port = _free_port()
    home = tmp / "sa"
    home.mkdir(mode=0o755)
    home.chmod(0o777)  # spamd started as root runs its children as nobody
    proc = subprocess.Popen(["spamd", "-L", "-x", "-i", f"127.0.0.1:{port}", "-m", "2",
                             "--min-children", "2", "--max-conn-per-child", "100000", "-H", str(home),
                             "-s", "stderr", "-r", str(tmp / "spamd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, 0, f"spamd exited ({proc.returncode})"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port, ""
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    return None, 0, "spamd did not start in 120 s"


def spamc_pass(files: list[Path], port: int) -> float:
    def one(p: Path) -> None:
        with open(p, "rb") as fh:
            subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c", "-t", "120"], stdin=fh,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - t0


# -- a large mbox -------------------------------------------------------------------------------


def build_mbox(corpus: Path, dest: Path, gigabytes: float) -> tuple[int, int]:
    """An mbox of ``gigabytes`` (Takeout-like: every message carries a ~64 KB base64 attachment),
    from the corpus messages repeated with distinct Message-IDs. (messages, bytes)"""
    import base64
    import random

    raws = []
    for folder in (*PROMO, *PERSONAL):
        for p in sorted((corpus / folder).iterdir()):
            if p.is_file() and not p.name.startswith(".") and p.name != "cmds":
                raws.append(p.read_bytes())
    blob = base64.encodebytes(random.Random(0).randbytes(48 * 1024))
    want = int(gigabytes * (1 << 30))
    n = size = 0
    with open(dest, "wb") as f:
        while size < want:
            raw = raws[n % len(raws)]
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1]
            head, sep, body = raw.partition(b"\n\n")
            msg = (b"From bench@mailguard.invalid Mon Jan  1 00:00:00 2024\n"
                   + f"X-Bench-Copy: {n}\n".encode() + head + sep
                   + body.replace(b"\nFrom ", b"\n>From ")
                   + b"\n" + blob + b"\n")
            f.write(msg)
            n += 1
            size += len(msg)
    return n, size


def big_mbox(args: argparse.Namespace, tmp: Path) -> None:
    path = tmp / "All mail Including Spam and Trash.mbox"
    t0 = time.perf_counter()
    n, size = build_mbox(args.corpus, path, args.big_mbox)
    print(f"\nlarge mbox: {n:,} messages, {size / (1 << 30):.2f} GiB (built in {time.perf_counter() - t0:.0f} s)")
    home = tmp / "home-big"
    home.mkdir()
    env = {**os.environ, "MAILGUARD_HOME": str(home)}
    for workers in (2,):
        took, rc, rss, tree, cpu = timed([args.mailguard, "scan", str(path), "--format", "jsonl",
                                          "--workers", str(workers)], env)
        print(f"  mailguard scan --format jsonl --workers {workers}: {took:.1f} s = {n / took:,.0f} "
              f"msgs/s ({size / took / (1 << 20):.0f} MiB/s, {cpu:.0f} CPU s), exit {rc}; peak RSS "
              f"{rss / 1024:.0f} MiB (largest process), {tree / 1024:.0f} MiB (all processes)")
    path.unlink()


# -- the benchmark ------------------------------------------------------------------------------


def table(rows: list[Result]) -> str:
    base = next((r for r in rows if r.name.startswith("bogofilter") and r.seconds), None)
    lines = ["| | messages | best of runs | messages/s | vs bogofilter | CPU s (least) | "
             "peak RSS, largest process | peak RSS, all processes |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if not r.seconds:
            lines.append(f"| {r.name} | {r.messages:,} | | | | | | {r.note} |")
            continue
        vs = f"{r.rate / base.rate:.2f}x" if base else ""
        cpu = f"{min(r.cpu):.2f}" if r.cpu else ""
        lines.append(f"| {r.name} | {r.messages:,} | {r.best:.2f} s ({len(r.seconds)}) | {r.rate:,.0f} | "
                     f"{vs} | {cpu} | {r.rss_kib / 1024:.0f} MiB | {r.tree_kib / 1024:.0f} MiB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=8000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sa-messages", type=int, default=300, help="SpamAssassin's subset (0: skip)")
    ap.add_argument("--corpus", type=Path, default=next(
        (p for p in (ROOT.parent / "shared" / "corpus" / "spamassassin",
                     ROOT.parent.parent / "shared" / "corpus" / "spamassassin") if p.is_dir()),
        ROOT.parent / "shared" / "corpus" / "spamassassin"))
    ap.add_argument("--mailguard", default=str(Path(sys.executable).with_name("mailguard")))
    ap.add_argument("--no-scan", action="store_true", help="only evaluate, not scan")
    ap.add_argument("--big-mbox", type=float, default=0.0, metavar="GB",
                    help="also scan an mbox of this size (Takeout-like) for time and peak RSS")
    ap.add_argument("--only-big-mbox", action="store_true", help="only the large mbox")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="mgspeed-", dir="/tmp"))
    tmp.chmod(0o755)
    spamd = None
    try:
        if args.only_big_mbox:
            big_mbox(args, tmp)
            return 0
        promo, personal, n = build_files(args.corpus, tmp / "files", args.messages)
        files = sorted(promo.iterdir()) + sorted(personal.iterdir())
        print(f"mailguard speed benchmark: {n:,} message files ({len(list(promo.iterdir())):,} promo, "
              f"{len(list(personal.iterdir())):,} personal) from {args.corpus}; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.1f} at the start")
        rows: list[Result] = []
        steps: list[tuple[Result, list[str], dict[str, str] | None, tuple[int, ...]]] = []

        bogo = Result("bogofilter -B (trained database)", n)
        rows.append(bogo)
        if shutil.which("bogofilter"):
            db = tmp / "bogo"
            db.mkdir()
            for flag, folder in (("-s", promo), ("-n", personal)):
                subprocess.run(["bogofilter", "-d", str(db), flag, "-b"],
                               input="\n".join(str(p) for p in sorted(folder.iterdir())).encode(),
                               capture_output=True, check=False)
            # exit codes: 0 spam, 1 ham, 2 unsure (of the last message)
            steps.append((bogo, ["bogofilter", "-d", str(db), "-T", "-B", *map(str, files)], None,
                          (0, 1, 2)))
        else:
            bogo.note = "not installed"

        home = tmp / "home"
        home.mkdir()
        env = {**os.environ, "MAILGUARD_HOME": str(home)}
        for workers in (1, 2):
            r = Result(f"mailguard evaluate, {workers} worker{'s' if workers > 1 else ''}", n)
            rows.append(r)
            steps.append((r, [args.mailguard, "evaluate", "--promo", str(promo), "--personal",
                              str(personal), "--format", "json", "--workers", str(workers)], env, (0,)))
        if not args.no_scan:
            for workers in (1, 2):
                r = Result(f"mailguard scan --format jsonl, {workers} worker{'s' if workers > 1 else ''}", n)
                rows.append(r)
                steps.append((r, [args.mailguard, "scan", str(tmp / "files"), "--format", "jsonl",
                                  "--workers", str(workers)], env, (0,)))

        loads = []
        for _ in range(args.repeat):
            for res, cmd, e, ok in steps:
                run(res, cmd, e, ok)
            loads.append(os.getloadavg()[0])

        if args.sa_messages:
            sa = Result(f"SpamAssassin spamc -> spamd -L (2 children), subset", min(args.sa_messages, n))
            rows.append(sa)
            spamd, port, why = _spamd(tmp)
            if spamd is None:
                sa.note = why
            else:
                subset = files[:: max(1, len(files) // sa.messages)][:sa.messages]
                spamc_pass(subset[:10], port)  # spamd children load their rules on first use
                for _ in range(args.repeat):
                    sa.seconds.append(spamc_pass(subset, port))
                sa.rss_kib = max(_rss(p) for p in _tree(spamd.pid))
                sa.tree_kib = sum(_rss(p) for p in _tree(spamd.pid))
        print()
        print(table(rows))
        if args.big_mbox:
            big_mbox(args, tmp)
        print(f"\nload average after each round: {', '.join(f'{x:.1f}' for x in loads)} "
              f"(2 CPUs shared with other work: best of {args.repeat} runs)")
        return 0
    finally:
        if spamd is not None:
            spamd.terminate()
            try:
                spamd.wait(10)
            except subprocess.TimeoutExpired:
                spamd.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
