"""Helpers for the web page tests: Debian's chromium driven by Playwright (never a downloaded
browser), the page's server on 127.0.0.1, a page that records every request it makes, and axe-core
(vendored under tests/vendor) to check accessibility.

Without /usr/bin/chromium the browser fixtures FAIL (never skip): CI installs Debian's chromium.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mailguard.config import Config, load_config
from mailguard.store import DB_NAME
from mailguard.ui.server import UiServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_mbox" / "inbox.mbox"
SAMPLE_ME = ("sam@rivera.dev", "sam.rivera@gmail.com")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

CHROMIUM = os.environ.get("MAILGUARD_TEST_CHROMIUM", "/usr/bin/chromium")
#: a system chromium that must not reach Google's hosts (the network here is closed)
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite runs as root
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-gpu", "--disable-quic", "--disable-default-apps",
    "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check",
]


def launch(playwright: Any) -> Any:
    """Debian's chromium through Playwright, with a fresh profile (Playwright makes one)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
                    "the browser tests never skip", pytrace=False)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium for one test module (import this fixture into it). Not for the session:
    Playwright's sync API keeps an event loop running in the main thread while it is open, and
    only one may be open at a time."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def open_sender(page: Any, sender: str) -> Any:
    """Open a flagged sender's entry (a click on its summary); the entry, its timeline shown."""
    entry = page.locator("details.sender").filter(has=page.locator(".who", has_text=re.compile(
        "^" + re.escape(sender) + "$")))
    entry.locator("summary").click()
    entry.locator(".timeline").wait_for(state="visible")
    return entry


def config_for(home: Path) -> Config:
    return load_config(env={"MAILGUARD_HOME": str(home)})


@contextmanager
def serving(home: Path, config: Config | None = None) -> Iterator[UiServer]:
    """The page for home's state database, on a free port of 127.0.0.1."""
    server = UiServer(home / DB_NAME, config or config_for(home))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def copy_state(src: Path, dst: Path) -> Path:
    """A copy of a state folder (its database holds no WAL once closed)."""
    shutil.copytree(src, dst)
    return dst


@dataclass
class Recorder:
    """Every request a browser context made (URL), to check none went to another host."""

    urls: list[str] = field(default_factory=list)

    def foreign(self, base: str) -> list[str]:
        origin = urlsplit(base)
        return [u for u in self.urls
                if urlsplit(u).scheme != origin.scheme or urlsplit(u).netloc != origin.netloc]


def recorded_page(browser: Any, **context_options: Any) -> tuple[Any, Any, Recorder]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_options)
    rec = Recorder()
    context.on("request", lambda req: rec.urls.append(req.url))
    page = context.new_page()
    return context, page, rec


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (the context needs bypass_csp: the page's
    policy allows no script at all)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")


def http_request(server: UiServer, method: str, target: str, *, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with the standard library (no browser): (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def scan_sample(home: Path) -> None:
    """`mailguard scan` of the shipped sample into home (a fresh state folder)."""
    from mailguard.cli.main import main

    old = os.environ.get("MAILGUARD_HOME")
    os.environ["MAILGUARD_HOME"] = str(home)
    try:
        args = ["scan", str(SAMPLE), "--format", "json", "--save"]
        for me in SAMPLE_ME:
            args += ["--me", me]
        with open(os.devnull, "w") as devnull, _stdout_to(devnull):
            assert main(args) == 0
    finally:
        if old is None:
            os.environ.pop("MAILGUARD_HOME", None)
        else:
            os.environ["MAILGUARD_HOME"] = old


@contextmanager
def _stdout_to(f: Any) -> Iterator[None]:
    import contextlib

    with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
