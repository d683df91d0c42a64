#!/usr/bin/env python3
"""How long the review page takes with a large state database, beside `mailguard flagged` on the
same data.

    python bench/bench_ui.py                    # 10,000 decisions, 10 HTTP and 5 browser runs
    python bench/bench_ui.py --decisions 50000 --runs 5

Generates a state database shaped like a year of a busy inbox: networking contacts made by
personal mail, their replies, promotion linked to them (moved by the daemon over IMAP, some put
back by an undo, some only found by a scan), and the rest ordinary mail and newsletters kept. Then
it serves the page on 127.0.0.1 and prints, median of the runs:

1. the flagged page (GET /: every flagged sender counted, the first 50 with their timelines, the
   two charts), the second page of senders, a search, and the decision log, over HTTP;
2. the flagged page in Debian's chromium through Playwright: navigation start to the load event;
3. the peer: `mailguard flagged --format json` on the same database, as a user runs it (a new
   process; `mailguard version` alone shows what starting it costs), and
   review.flagged_senders() in this process (the query both share).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mailguard.config import load_config  # noqa: E402
from mailguard.core.contacts import PERSONAL, REPLIED, WROTE, make_contact  # noqa: E402
from mailguard.review.actions import flagged_senders  # noqa: E402
from mailguard.core.rules import KEEP, MOVE, Decision  # noqa: E402
from mailguard.store import DB_NAME, Store, ensure_private_dir, now_iso  # noqa: E402

START = datetime(2025, 12, 1, 9, 0, tzinfo=timezone.utc)
SYNC_REASON = "sync: promotional"


def generate(home: Path, decisions: int, seed: int = 7) -> dict[str, int]:
    """A state database with about ``decisions`` decisions; counts of what it holds."""
    rng = random.Random(seed)
    ensure_private_dir(home)
    n_contacts = max(decisions // 25, 4)
    counts = {"contacts": n_contacts, "moves": 0, "imap_moves": 0, "undone": 0}
    with Store(home / DB_NAME) as store, store.transaction():
        run = store.start_run("imap", "imap:sam")
        contacts = []
        for i in range(n_contacts):
            since = START + timedelta(days=rng.uniform(0, 300), hours=rng.uniform(0, 10))
            domain = f"company{i}.example"
            how = rng.choice([PERSONAL, WROTE, REPLIED])
            c = make_contact(f"person{i}@{domain}", f"Person {i} Example", since, how,
                             message_id=f"<hello{i}@{domain}>", subject=f"Great meeting you at event {i}")
            store.save_contact(c)
            contacts.append(c)
            store.save_decision(run, Decision(c.message_id, since, c.email, c.subject, KEEP, 0.02,
                                              None, None, ("promo score 0.02 below 0.65: not promotional",)),
                                "imap:sam")
        made = n_contacts
        flagged = contacts[: int(n_contacts * 0.6)]
        while made < decisions:
            roll = rng.random()
            if roll < 0.18 and flagged:  # promotion linked to a contact
                c = rng.choice(flagged)
                when = c.since + timedelta(days=rng.uniform(5, 60))
                sender = rng.choice([c.email, f"news@news.{c.email.split('@')[1]}"])
                kind = "same address" if sender == c.email else "same organisation"
                mid = f"<promo{made}@{sender.split('@')[1]}>"
                did = store.save_decision(run, Decision(
                    mid, when, sender, f"Product update #{made}: 30% off this week", MOVE,
                    rng.uniform(0.9, 1.0), c.email, kind,
                    ("promotional: promo score 0.99 >= 0.65 (List-Unsubscribe with One-Click, "
                     "Precedence: bulk, sent through SendGrid)", f"linked to {c.email} by {kind}",
                     f"contact since {c.since.date()} ({c.how}: \"{c.subject}\")")), "imap:sam")
                counts["moves"] += 1
                if rng.random() < 0.8:  # moved by the daemon; some put back
                    state = "undone" if rng.random() < 0.05 else "done"
                    cur = store.execute(
                        """INSERT INTO moves (account, message_id, src_folder, src_uid,
                               src_uidvalidity, dst_folder, dst_uid, state, decision_id, reason, at,
                               done_at) VALUES ('sam', ?, 'INBOX', ?, 1, 'Contact-Promo', ?, ?, ?, ?, ?, ?)""",
                        (mid, made, made, state, did, SYNC_REASON, now_iso(), now_iso()))
                    counts["imap_moves"] += 1
                    if state == "undone":
                        counts["undone"] += 1
                        store.execute("UPDATE decisions SET status = 'undone' WHERE id = ?", (did,))
                        store.execute(
                            """INSERT INTO moves (account, message_id, src_folder, dst_folder, state,
                                   decision_id, reason, at, done_at)
                               VALUES ('sam', ?, 'Contact-Promo', 'INBOX', 'done', ?, ?, ?, ?)""",
                            (mid, did, f"undo of move #{cur.lastrowid}", now_iso(), now_iso()))
            elif roll < 0.30:  # a contact's personal reply
                c = rng.choice(contacts)
                when = c.since + timedelta(days=rng.uniform(1, 40))
                store.save_decision(run, Decision(
                    f"<re{made}@x>", when, c.email, f"Re: {c.subject}", KEEP, rng.uniform(0, 0.2),
                    c.email, "same address", ("promo score 0.05 below 0.65: not promotional",
                                              f"linked to {c.email} by same address")), "imap:sam")
            else:  # everything else: newsletters nobody contacted, receipts, colleagues
                when = START + timedelta(days=rng.uniform(0, 365))
                store.save_decision(run, Decision(
                    f"<m{made}@x>", when, f"sender{rng.randrange(2000)}@list{rng.randrange(300)}.example",
                    f"Newsletter {made}", KEEP, rng.random(), None, None,
                    ("no recent networking contact linked to this sender",)), "imap:sam")
            made += 1
        store.finish_run(run, {"messages": made})
    with Store(home / DB_NAME) as store:
        counts["decisions"] = store.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        counts["flagged"] = len(flagged_senders(store))
    return counts


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def http_get(port: int, target: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (resp.status, body[:200])
        return len(body)
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=10, help="HTTP runs (browser and CLI: half)")
    args = ap.parse_args()

    from mailguard.ui.server import UiServer
    from uikit import CHROMIUM, launch, recorded_page

    home = Path(tempfile.mkdtemp(prefix="mailguard-bench-ui-")) / "home"
    t0 = time.perf_counter()
    counts = generate(home, args.decisions)
    print(f"state database: {counts['decisions']:,} decisions, {counts['contacts']:,} contacts, "
          f"{counts['flagged']:,} flagged senders, {counts['moves']:,} promotion decisions "
          f"({counts['imap_moves']:,} moved over IMAP, {counts['undone']:,} put back); "
          f"generated in {time.perf_counter() - t0:.1f} s")

    cfg = load_config(env={"MAILGUARD_HOME": str(home)})
    with Store(home / DB_NAME) as store:
        t_core = median_time(lambda: flagged_senders(store), args.runs)
    env = {**os.environ, "MAILGUARD_HOME": str(home)}
    cli = [sys.executable, "-m", "mailguard.cli.main", "flagged", "--format", "json"]

    def run_cli() -> None:
        out = subprocess.run(cli, env=env, capture_output=True, text=True, check=True).stdout
        assert len(json.loads(out)) == counts["flagged"]

    t_cli = median_time(run_cli, max(args.runs // 2, 3))
    version = [sys.executable, "-m", "mailguard.cli.main", "version"]
    t_start = median_time(lambda: subprocess.run(version, env=env, capture_output=True, check=True),
                          max(args.runs // 2, 3))

    server = UiServer(home / DB_NAME, cfg)
    server.start()
    try:
        tok = server.token
        http_get(server.port, f"/?token={tok}")  # warm-up (templates compiled)
        size = http_get(server.port, f"/?token={tok}")
        pages = {
            "flagged page (GET /)": f"/?token={tok}",
            "second page of senders": f"/?token={tok}&page=2",
            "search (q=company1)": f"/?token={tok}&q=company1",
            "decision log, first 100": f"/log?token={tok}",
            "decision log, moved only": f"/log?token={tok}&action=move",
        }
        http_times = {name: median_time(lambda t=target: http_get(server.port, t), args.runs)
                      for name, target in pages.items()}
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = launch(p)
            context, page, rec = recorded_page(browser)
            page.goto(server.url)  # warm-up
            loads = []
            for _ in range(max(args.runs // 2, 3)):
                page.goto(server.url, wait_until="load")
                timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
                nav = json.loads(timing)
                loads.append(nav["loadEventEnd"] / 1000)
            assert rec.foreign(server.url) == []
            context.close()
            browser.close()
        t_browser = statistics.median(loads)
    finally:
        server.stop()

    print(f"\nmedian of {args.runs} runs (browser and CLI: {max(args.runs // 2, 3)}); "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {CHROMIUM}")
    print(f"{'':32} {'seconds':>8}")
    for name, t in http_times.items():
        print(f"{name:32} {t:8.3f}")
    print(f"{'flagged page in chromium (load)':32} {t_browser:8.3f}   ({size / 1024:.0f} KiB of HTML)")
    print(f"{'peer: mailguard flagged --format json':32} {t_cli:8.3f}   (a new process, as a user runs it)")
    print(f"{'  of which starting mailguard':32} {t_start:8.3f}   (`mailguard version`)")
    print(f"{'peer: review.flagged_senders()':32} {t_core:8.3f}   (the query both share, in process)")


if __name__ == "__main__":
    main()
