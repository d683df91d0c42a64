#!/usr/bin/env python3
"""Benchmark mailguard's IMAP side against a local Dovecot that this script starts itself.

    python bench/bench_imap.py                     # full run: 10,000 + 1,000 messages, 20 latencies
    python bench/bench_imap.py --messages 2000 --new 500 --latency-runs 5 --rss-messages 2000

Prints, with a peer measured in the same run on the same messages:

1. first sync: messages/s for learning from a 10,000-message INBOX (plus Sent) on a fresh account
   (peer: a plain imapclient FETCH of the same messages with the same items, and the core pipeline
   alone on the same bytes, without IMAP);
2. processing: messages/s for 1,000 new messages, offenders moved (peer: imapclient FETCH of the
   same 1,000 messages);
3. APPEND to MOVE under IDLE: seconds from the start of an APPEND until the message is in the
   quarantine, `mailguard run` running as a separate process (median and worst of 20); peer: one
   `doveadm move` of a single message;
4. the daemon's resident memory (VmRSS) after its first pass and after every 1,000 of 10,000 new
   messages, to show it stays flat.

Messages: the SpamAssassin corpus (../shared/corpus/spamassassin, or --corpus) with unique
Message-IDs, or tests/mailfactory.py mail when the corpus is missing; plus contacts made by
personal mail and Sent replies, and newsletters from those contacts' companies (the offenders).
Bulk mail is written straight into the Maildir (as a delivery agent would), the latency messages
with IMAP APPEND. Needs root and Debian's dovecot-imapd, like the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import pwd
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


dovecot = _load("dovecot", ROOT / "tests" / "dovecot.py")
mailfactory = _load("mailfactory", ROOT / "tests" / "mailfactory.py")

from imapclient import IMAPClient  # noqa: E402  (the peer, not mailguard)

from mailguard import models_io  # noqa: E402
from mailguard.config import load_config  # noqa: E402
from mailguard.imap.session import load_accounts, make_account  # noqa: E402
from mailguard.pipeline import Pipeline  # noqa: E402
from mailguard.scan import make_policy  # noqa: E402
from mailguard.store import DB_NAME, Store  # noqa: E402
from mailguard.imap.sync import AccountSync, make_pipeline  # noqa: E402

ME = mailfactory.ME
PASSWORD_ENV = "MAILGUARD_BENCH_PASSWORD"
QUARANTINE = "Contact-Promo"
FETCH_ITEMS = ["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]<0.65536>", "RFC822.SIZE", "FLAGS", "INTERNALDATE"]
_MID = re.compile(rb"^message-id:[^\n]*\n(?:[ \t][^\n]*\n)*", re.IGNORECASE | re.MULTILINE)


# -- messages -----------------------------------------------------------------------------------


def corpus_messages(corpus: Path) -> list[bytes]:
    files = sorted(p for p in corpus.glob("*/*") if p.is_file() and p.name[0].isdigit())
    return [p.read_bytes() for p in files]


def with_id(raw: bytes, mid: str) -> bytes:
    """raw with its Message-ID replaced (or added) by mid: every copy is a distinct message."""
    line = f"Message-ID: {mid}\n".encode()
    if _MID.search(raw):
        return _MID.sub(lambda _m: line, raw, count=1)
    return line + raw


class Mail:
    """Generates the benchmark mail: filler (corpus or factory), contacts, offenders."""

    def __init__(self, corpus: Path | None) -> None:
        self.filler = corpus_messages(corpus) if corpus and corpus.is_dir() else []
        random.Random(0).shuffle(self.filler)  # every slice mixes ham, newsletters and spam
        self.source = f"SpamAssassin corpus ({len(self.filler)} files)" if self.filler else "tests/mailfactory.py"
        self.n = 0

    def _mid(self, tag: str) -> str:
        self.n += 1
        return f"<bench-{tag}-{self.n}@bench.invalid>"

    def filler_mail(self, count: int) -> list[bytes]:
        out = []
        for _ in range(count):
            if self.filler:
                out.append(with_id(self.filler[self.n % len(self.filler)], self._mid("f")))
            else:
                i = self.n
                maker = mailfactory.newsletter if i % 3 else mailfactory.personal
                out.append(maker(f"Sender {i} <s{i}@org{i % 400}.example>", msgid=self._mid("f"),
                                 when=mailfactory.day(i % 150)))
        return out

    def contacts(self, people: int) -> tuple[list[bytes], list[bytes]]:
        """(inbox, sent): person i of company i writes personally; the user replies."""
        inbox, sent = [], []
        for i in range(people):
            addr = f"Person {i} <person{i}@company{i}.example>"
            inbox.append(mailfactory.personal(addr, when=mailfactory.day(1), msgid=self._mid("p")))
            sent.append(mailfactory.personal(f"Sam Rivera <{ME}>", to=addr, when=mailfactory.day(2),
                                             subject="Re: Great meeting you", in_reply_to="<x@y>",
                                             body="Likewise! Tuesday works.\n\nSam\n", msgid=self._mid("s")))
        return inbox, sent

    def offenders(self, count: int, people: int) -> list[bytes]:
        return [mailfactory.newsletter(f"Company {i % people} <news@company{i % people}.example>",
                                       when=mailfactory.day(30), msgid=self._mid("o"))
                for i in range(count)]


def deliver(server, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
    """Write messages into the user's Maildir new/ directory, as a delivery agent does."""
    mail = pwd.getpwnam("mail")
    base = server.root / "mail" / user
    box = base if folder == "INBOX" else base / f".{folder}"
    made = []
    for d in (base, box, box / "cur", box / "new", box / "tmp"):
        if not d.exists():
            d.mkdir(parents=True)
            made.append(d)
    for d in made:
        os.chown(d, mail.pw_uid, mail.pw_gid)
    stamp = int(time.time())
    for i, raw in enumerate(messages):
        name = f"{stamp}.M{time.monotonic_ns()}P{os.getpid()}Q{i}.bench"
        tmp = box / "tmp" / name
        tmp.write_bytes(raw.replace(b"\r\n", b"\n"))
        os.chown(tmp, mail.pw_uid, mail.pw_gid)
        tmp.rename(box / "new" / name)


# -- helpers ------------------------------------------------------------------------------------


def write_home(base: Path, server, user: str, extra: str = "") -> Path:
    home = base / user.split("@")[0]
    home.mkdir(parents=True, mode=0o700)
    cfg = home / "config.toml"
    cfg.write_text(f"""[imap]
host = "{server.host}"
port = {server.port}
username = "{user}"
tls = "none"
password_env = "{PASSWORD_ENV}"
idle_slice_seconds = 5
poll_seconds = 600
{extra}
[mailbox]
me = ["{ME}"]
quarantine = "{QUARANTINE}"
""")
    cfg.chmod(0o600)
    return home


#: --profile: the file the first sync's cProfile statistics (the deciding process) are written to
PROFILE: dict[str, object] = {}


def one_pass(home: Path, model) -> tuple[float, object]:
    cfg = load_config(home / "config.toml", env={"MAILGUARD_HOME": str(home)})
    acct = load_accounts(cfg)[0]
    with Store(home / DB_NAME) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        sync = AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days)
        profiler = None
        if PROFILE.get("path") and not PROFILE.get("done"):
            import cProfile

            profiler = cProfile.Profile()
        cpu0 = time.process_time(), workers_cpu()
        sched0 = schedstat(os.getpid()), workers_sched()
        server0 = server_cpu()
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = sync.run_pass()
        took = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(PROFILE["path"])
            PROFILE["done"] = True
        one_pass.cpu = (time.process_time() - cpu0[0], workers_cpu() - cpu0[1])  # type: ignore[attr-defined]
        main_s, pool_s = schedstat(os.getpid()), workers_sched()
        one_pass.server_cpu = server_cpu() - server0  # type: ignore[attr-defined]
        one_pass.sched = (took, [b - a for a, b in zip(sched0[0], main_s)],  # type: ignore[attr-defined]
                          {pid: [b - a for a, b in zip(sched0[1].get(pid, (0.0, 0.0)), v)]
                           for pid, v in pool_s.items()})
        pipeline.finish()
    return took, report


def workers_cpu() -> float:
    """CPU seconds (user + system) used so far by the worker processes of mailguard.parallel."""
    from mailguard import parallel

    pool = parallel._POOL[2] if parallel._POOL is not None else None
    total = 0.0
    for pid in list(getattr(pool, "_processes", None) or ()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


#: the Dovecot of the benchmark (its master process's descendants: imap, imap-login, auth...)
SERVER: dict[str, object] = {}


def server_cpu() -> float:
    """CPU seconds (user + system) used so far by the live processes of the benchmark's Dovecot."""
    process = getattr(SERVER.get("server"), "_process", None)
    if process is None:
        return 0.0
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    ours = {process.pid}
    for _ in range(4):  # master -> imap, imap-login, auth... (a few levels at most)
        ours |= {pid for pid, ppid in parents.items() if ppid in ours}
    return sum(ticks.get(pid, 0) for pid in ours) / os.sysconf("SC_CLK_TCK")


def schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process's main thread so far
    (/proc/PID/schedstat); the rest of the wall-clock time it was blocked (socket, pipe, lock)."""
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
    except OSError:
        return 0.0, 0.0
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9


def workers_sched() -> dict[int, tuple[float, float]]:
    """:func:`schedstat` of each worker process of mailguard.parallel."""
    from mailguard import parallel

    pool = parallel._POOL[2] if parallel._POOL is not None else None
    return {pid: schedstat(pid) for pid in list(getattr(pool, "_processes", None) or ())}


def idle_line(took: float, main: list[float], workers: dict[int, list[float]]) -> str:
    """Where the wall-clock time of a pass went: each process on a CPU, waiting for a CPU (a
    loaded machine), blocked (waiting for the server, the workers or the deciding process)."""
    def part(name: str, on: float, queued: float) -> str:
        return f"{name} {on:.2f}/{queued:.2f}/{max(took - on - queued, 0.0):.2f}"
    parts = [part("deciding", *main)] + [part(f"worker{i}", *v) for i, v in
                                         enumerate(workers.values(), 1)]
    return "   seconds on a CPU / waiting for a CPU / blocked: " + ", ".join(parts)


def raw_fetch(server, user: str, uids: list[int] | None = None) -> tuple[float, int, list[bytes]]:
    """The peer: plain imapclient, same FETCH items, batches of 200. (seconds, count, raws)."""
    with server.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        wanted = uids if uids is not None else client.search()
        t0 = time.perf_counter()
        raws = []
        for i in range(0, len(wanted), 200):
            data = client.fetch(wanted[i:i + 200], FETCH_ITEMS)
            for item in data.values():
                raws.append(item[b"BODY[HEADER]"] + (item.get(b"BODY[TEXT]<0>") or b""))
        return time.perf_counter() - t0, len(wanted), raws


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def last_uid(home: Path) -> int:
    try:
        with Store(home / DB_NAME) as store:
            row = store.execute("SELECT last_uid FROM folder_state WHERE folder = 'INBOX'").fetchone()
        return int(row[0]) if row else -1
    except Exception:  # noqa: BLE001 - not created yet
        return -1


def quarantine_count(client: IMAPClient) -> int:
    return int(client.folder_status(QUARANTINE, [b"MESSAGES"])[b"MESSAGES"])


def wait(check, timeout: float, what: str, step: float = 0.002) -> float:
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)
    return time.perf_counter() - t0


# -- the benchmark ------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000, help="first-sync INBOX size")
    ap.add_argument("--new", type=int, default=1_000, help="new messages to process")
    ap.add_argument("--latency-runs", type=int, default=20)
    ap.add_argument("--rss-messages", type=int, default=10_000, help="new messages fed to the daemon")
    ap.add_argument("--rss-step", type=int, default=1_000)
    ap.add_argument("--people", type=int, default=50, help="contacts made in the history")
    ap.add_argument("--corpus", type=Path, default=next(
        (p for p in (ROOT.parent / "shared" / "corpus" / "spamassassin",
                     ROOT.parent.parent / "shared" / "corpus" / "spamassassin") if p.is_dir()),
        ROOT.parent / "shared" / "corpus" / "spamassassin"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--skip-daemon", action="store_true", help="only the first sync and processing")
    ap.add_argument("--profile", type=Path, help="write cProfile statistics of the first sync's deciding "
                    "process to this file (its timings then include the profiler's overhead)")
    args = ap.parse_args()
    if args.profile:
        PROFILE["path"] = str(args.profile)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (Dovecot, daemon) on kill
    logging.basicConfig(level=logging.ERROR)  # not the per-message "not understood" warnings
    os.environ[PASSWORD_ENV] = dovecot.PASSWORD
    model = models_io.load(os.environ.get("MAILGUARD_MODEL") or None)
    mail = Mail(args.corpus)
    scratch = Path(tempfile.mkdtemp(prefix="mgbench-", dir="/tmp"))
    scratch.chmod(0o755)  # Dovecot's mail user must reach the server directory inside
    server = dovecot.DovecotServer(scratch / "dovecot")
    server.start()
    SERVER["server"] = server
    print(f"mailguard IMAP benchmark: Dovecot on {server.host}:{server.port}, mail from {mail.source}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
    try:
        _first_sync_and_processing(args, server, mail, model, scratch)
        if not args.skip_daemon:
            _daemon(args, server, mail, scratch)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _first_sync_and_processing(args, server, mail: Mail, model, scratch: Path) -> None:
    user = "bulk@bench.test"
    inbox, sent = mail.contacts(args.people)
    deliver(server, user, inbox + mail.filler_mail(args.messages - len(inbox)))
    deliver(server, user, sent + mail.filler_mail(0), folder="Sent")
    home = write_home(scratch, server, user)

    took, report = one_pass(home, model)
    n = report.learned
    print(f"\n1. first sync, learn only: {n} messages ({args.messages} INBOX + {len(sent)} Sent) "
          f"in {took:.2f} s = {n / took:,.0f} msgs/s; {report.new_contacts} contacts, moved {len(report.moved)}")
    main_cpu, pool_cpu = one_pass.cpu  # type: ignore[attr-defined]
    print(f"   CPU per message: {main_cpu / n * 1e6:,.0f} us in the deciding process (fetch, link, learn, "
          f"record), {pool_cpu / n * 1e6:,.0f} us in the worker processes (parse, features, score)")
    print(f"   and {one_pass.server_cpu / n * 1e6:,.0f} us in Dovecot (on the same cores)")  # type: ignore[attr-defined]
    print(idle_line(*one_pass.sched))  # type: ignore[attr-defined]
    peer_t, peer_n, raws = raw_fetch(server, user)
    print(f"   peer, imapclient FETCH of the same {peer_n} INBOX messages (same items, no processing): "
          f"{peer_t:.2f} s = {peer_n / peer_t:,.0f} msgs/s")
    policy = make_policy(load_config(home / "config.toml", env={"MAILGUARD_HOME": str(home)}), model)
    peer_store = Store(scratch / "pipeline-only" / DB_NAME)
    pipe = Pipeline(model, policy, peer_store)
    t0 = time.perf_counter()
    for i in range(0, len(raws), 200):
        pipe.process(raws[i:i + 200], learn_only=True)
    pt = time.perf_counter() - t0
    print(f"   peer, the core pipeline alone on the same bytes (no IMAP): {pt:.2f} s = "
          f"{len(raws) / pt:,.0f} msgs/s")

    offenders = max(args.new // 10, 1)
    new = mail.filler_mail(args.new - offenders) + mail.offenders(offenders, args.people)
    new = [new[i] for i in sorted(range(len(new)), key=lambda i: (i * 7919) % len(new))]  # mixed
    with server.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        before = set(client.search())
    deliver(server, user, new)
    with server.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        new_uids = sorted(set(client.search()) - before)
    peer_t, peer_n, raws = raw_fetch(server, user, new_uids)
    took, report = one_pass(home, model)
    print(f"\n2. processing {report.decided} new messages: {took:.2f} s = {report.decided / took:,.0f} msgs/s, "
          f"moved {len(report.moved)} (of {offenders} offenders) to {QUARANTINE}")
    print(f"   peer, imapclient FETCH of the same {peer_n} messages: {peer_t:.2f} s = "
          f"{peer_n / peer_t:,.0f} msgs/s")
    t0 = time.perf_counter()
    for i in range(0, len(raws), 200):
        pipe.process(raws[i:i + 200])
    pt = time.perf_counter() - t0
    pipe.finish()
    peer_store.close()
    print(f"   peer, the core pipeline alone on the same bytes (no IMAP): {pt:.2f} s = "
          f"{len(raws) / pt:,.0f} msgs/s")


def _daemon(args, server, mail: Mail, scratch: Path) -> None:
    user = "daemon@bench.test"
    inbox, sent = mail.contacts(args.people)
    deliver(server, user, inbox + mail.filler_mail(200))
    deliver(server, user, sent, folder="Sent")
    home = write_home(scratch, server, user)
    env = dict(os.environ, MAILGUARD_HOME=str(home))
    log = (scratch / "daemon.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "mailguard.cli.main", "run"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait(lambda: last_uid(home) > 0 or proc.poll() is not None, 120, "the daemon's first pass", 0.05)
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited: {(scratch / 'daemon.log').read_text()[-2000:]}")
        time.sleep(0.5)
        first_rss = rss_kib(proc.pid)

        latencies = []
        with server.client(user) as client:
            wait(lambda: QUARANTINE in {str(n) for _, _, n in client.list_folders()}, 30, "the quarantine")
            for _ in range(args.latency_runs):
                raw = mail.offenders(1, args.people)[0]
                count = quarantine_count(client)
                t0 = time.perf_counter()
                client.append("INBOX", raw)
                wait(lambda count=count: quarantine_count(client) > count, 30, "the move")
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.2)
        print(f"\n3. APPEND -> MOVE under IDLE ({len(latencies)} runs, `mailguard run` in its own process): "
              f"median {statistics.median(latencies):.3f} s, worst {max(latencies):.3f} s, "
              f"best {min(latencies):.3f} s")
        notify = []
        server.append(user, mail.filler_mail(1)[0], folder="Archive")
        with server.client(user) as watcher, server.client(user) as writer:
            watcher.select_folder("Archive")
            for _ in range(5):
                watcher.idle()
                t0 = time.perf_counter()
                writer.append("Archive", mail.filler_mail(1)[0])
                while not any(r[1:2] == (b"EXISTS",) for r in watcher.idle_check(timeout=10)):
                    pass
                notify.append(time.perf_counter() - t0)
                watcher.idle_done()
        print(f"   peer, Dovecot's own IDLE notice of an APPEND to a plain imapclient: median "
              f"{statistics.median(notify):.3f} s, worst {max(notify):.3f} s")
        peer = []
        for _ in range(5):
            server.append(user, mail.filler_mail(1)[0], folder="Archive")
            t0 = time.perf_counter()
            server.doveadm("move", "-u", user, "Junk", "mailbox", "Archive", "all")
            peer.append(time.perf_counter() - t0)
        print(f"   peer, one `doveadm move` of a message (process start included): median "
              f"{statistics.median(peer):.3f} s")

        print(f"\n4. daemon memory while it processes {args.rss_messages} new messages "
              f"(VmRSS; first pass done: {first_rss[0] / 1024:.1f} MiB)")
        print("   messages   VmRSS MiB   peak MiB   msgs/s")
        done = 0
        samples = []
        while done < args.rss_messages:
            step = min(args.rss_step, args.rss_messages - done)
            target = last_uid(home) + step
            chunk = mail.filler_mail(step - step // 10) + mail.offenders(step // 10, args.people)
            t0 = time.perf_counter()
            deliver(server, user, chunk)
            wait(lambda target=target: last_uid(home) >= target, 300, f"{step} messages to be processed", 0.01)
            took = time.perf_counter() - t0
            done += step
            rss, hwm = rss_kib(proc.pid)
            samples.append(rss)
            print(f"   {done:8d}   {rss / 1024:9.1f}   {hwm / 1024:8.1f}   {step / took:6,.0f}")
        half = samples[len(samples) // 2:]
        print(f"   growth over the second half: {(max(half) - min(half)) / 1024:+.1f} MiB; "
              f"first pass -> end: {(samples[-1] - first_rss[0]) / 1024:+.1f} MiB")
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        print(f"\n   daemon stopped by SIGTERM, exit status {code}")


if __name__ == "__main__":
    sys.exit(main())
