#!/usr/bin/env python3
"""Screenshots of the review page for the README: the shipped sample scanned into a fresh state
folder, one sender allowed and one blocked (so that every status shows), then the flagged page,
one timeline and the decision log, taken in Debian's chromium.

    python scripts/ui_screenshots.py            # writes docs/ui-flagged.png, ui-timeline.png, ui-log.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from uikit import launch, open_sender, recorded_page, scan_sample, serving  # noqa: E402

from mailguard.review.actions import ALLOWED, BLOCKED, set_rule  # noqa: E402
from mailguard.store import DB_NAME, Store  # noqa: E402

DOCS = ROOT / "docs"


def main() -> None:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="mailguard-shots-")) / "home"
    scan_sample(home)
    with Store(home / DB_NAME) as store:
        set_rule(store, "tobias.nieminen@cedarmind.ai", ALLOWED, note="screenshot")
        set_rule(store, "substack.com", BLOCKED, note="screenshot")
    with serving(home) as ui, sync_playwright() as p:
        browser = launch(p)
        context, page, rec = recorded_page(browser)
        page.goto(ui.url)
        page.screenshot(path=str(DOCS / "ui-flagged.png"))
        entry = open_sender(page, "emma@emmavarga.dev")
        entry.screenshot(path=str(DOCS / "ui-timeline.png"))
        page.goto(ui.url.replace("/?", "/log?") + "&action=move")
        page.screenshot(path=str(DOCS / "ui-log.png"))
        assert rec.foreign(ui.url) == []
        context.close()
        browser.close()
    for name in ("ui-flagged.png", "ui-timeline.png", "ui-log.png"):
        print(f"wrote docs/{name} ({(DOCS / name).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
