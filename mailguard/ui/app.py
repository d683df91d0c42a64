"""The web page as a Starlette application: read-only views over the store, and POST forms for
allow, block, undo and revert that call review/actions.py exactly as the command line does.

Every request must carry the server's random token (``?token=``) and name the server by the host
it is bound to (127.0.0.1:PORT or localhost:PORT, which defeats DNS rebinding); anything else gets
403. A POST also needs the page's CSRF token in its form, and a cross-site Origin or Sec-Fetch-Site
is refused. Responses carry a strict content security policy (no script at all, styles and images
from the page itself), a referrer only to the page itself, and no caching.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Config
from ..errors import MailguardError, ReviewError
from ..review.actions import (
    ALLOWED,
    BLOCKED,
    FLAGGED,
    UNDONE,
    UndoPlan,
    UndoResult,
    apply_undo,
    filter_date,
    messages_of,
    moved_messages,
    normalise_entry,
    plan_revert,
    plan_undo,
    review_actions,
    set_rule,
)
from ..core.rules import KEEP, MOVE
from ..store import Store
from . import charts
from .data import flagged_page, log_rows, score_bins, weekly_moves

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: a POST body larger than this is refused (the forms send a few hundred bytes)
MAX_FORM_BYTES = 16 * 1024
LOG_PAGE = 100
#: results of actions kept for the page that shows them after the redirect
MAX_RESULTS = 64

SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # "no-referrer" makes chromium send "Origin: null"
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}

Connector = Callable[[Config, ExitStack], Any]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.decode("latin-1").lower() not in SECURITY_HEADERS]
            headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            message = {**message, "headers": headers}
        await send(message)
    return wrapped


class Guard:
    """ASGI middleware: the host and the token on every request, security headers on every
    response, and for a POST no cross-site Origin or Sec-Fetch-Site."""

    def __init__(self, app: ASGIApp, *, token: str, hosts: Callable[[], frozenset[str]]) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        why = None
        if host not in self.hosts():
            why = "this page is served for 127.0.0.1 only"
        else:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if not _same(given, self.token):
                why = "this page needs the address `mailguard ui` printed, with its token"
            elif scope["method"] not in ("GET", "HEAD"):
                origin = headers.get("origin")
                site = headers.get("sec-fetch-site")
                if origin is not None and origin != f"http://{host}":
                    why = "a form from another site"
                elif site is not None and site not in ("same-origin", "none"):
                    why = "a request from another site"
        if why is not None:
            log.info("refused %s %s: %s", scope["method"], scope.get("path"), why)
            await PlainTextResponse(f"403 Forbidden: {why}\n", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class UiState:
    """What the endpoints share: where the store is, the config (for IMAP undo), the tokens."""

    db_path: Path
    config: Config
    token: str
    csrf: str
    connector: Connector | None = None
    results: OrderedDict[str, tuple[str, list[str]]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = Store(self.db_path)
        try:
            yield store
        finally:
            store.close()

    def url(self, path: str, **params: object) -> str:
        """path?token=...&params (None and "" left out)."""
        query = {"token": self.token}
        query.update({k: str(v) for k, v in params.items() if v not in (None, "")})
        return f"{path}?{urlencode(query)}"

    def keep_result(self, kind: str, lines: list[str]) -> str:
        key = secrets.token_hex(8)
        with self.lock:
            self.results[key] = (kind, lines)
            while len(self.results) > MAX_RESULTS:
                self.results.popitem(last=False)
        return key


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["day"] = lambda d: f"{d.day} {d:%b %Y}" if d else ""
    env.filters["iso"] = lambda d: d.isoformat() if d else ""
    env.filters["score"] = lambda s: "" if s is None else f"{s:.2f}"
    env.filters["svg"] = Markup  # charts.py escapes every text it puts in
    return env


# -- request helpers ---------------------------------------------------------------------------


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _date(value: str | None) -> datetime | None:
    return filter_date(value, ReviewError(f"{value!r} is not a date like 2026-03-12"))


def _local_path(value: str | None) -> str:
    """A page of this site to go back to: a path and query of our own, else the flagged page."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path not in ("/", "/log", "/actions"):
        return "/"
    return value


async def _form(request: Request, state: UiState) -> dict[str, str]:
    """The POSTed form, after the CSRF check; ReviewError with a 403 meaning otherwise."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _Refused("the form is too large")
    try:
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), strict_parsing=False).items()}
    except UnicodeDecodeError:
        raise _Refused("the form is not UTF-8") from None
    if not _same(fields.get("csrf", ""), state.csrf):
        raise _Refused("the form has no valid CSRF token (reload the page)")
    return fields


class _Refused(Exception):
    pass


# -- actions (review/actions.py does the work) ---------------------------------------------------


def _rule(state: UiState, entry: str, status: str) -> list[str]:
    """What `mailguard allow|block ENTRY` does and says."""
    with state.store() as store:
        change = set_rule(store, entry, status, note="ui")
        n = len(messages_of(change.entry, moved_messages(store)))
    was = f" (was {change.before})" if change.before and change.before != status else ""
    if status == ALLOWED:
        lines = [f"Allowed {change.entry}{was}: its mail is never moved again."]
        if n:
            lines.append(f"{n} message(s) from it were already moved; Undo puts them back.")
        return lines
    return [f"Blocked {change.entry}{was}: its mail is always moved from now on"
            + (f" ({n} message(s) from it moved so far)." if n else ".")]


def _apply(state: UiState, plan: UndoPlan, store: Store) -> tuple[str, list[str]]:
    """Apply an undo or revert plan as `mailguard undo` does; (kind, lines) to show."""
    with ExitStack() as stack:
        connect = None
        if plan.moves and state.connector is not None:
            connect = state.connector(state.config, stack)
        result: UndoResult = apply_undo(store, plan, connect)
    lines = []
    for step, _row, uid in result.moved:
        lines.append(f"Moved back {step.describe()}" + (f", now UID {uid}" if uid else ""))
    failures = [f"Could not move back {step.describe()}: {why}" for step, why in result.failed]
    lines += failures
    if result.decisions:
        verb = "kept (undone)" if plan.decisions_to == UNDONE else "moved (flagged again)"
        lines.append(f"Marked {result.decisions} decision(s) {verb}.")
    if plan.rule:
        if plan.rule.after == ALLOWED:
            lines.append(f"Allowed {plan.rule.entry} so that it is not flagged again.")
        elif plan.rule.after is None:
            lines.append(f"Removed the {plan.rule.before} rule for {plan.rule.entry}.")
        else:
            lines.append(f"{plan.rule.entry} is {plan.rule.after} again.")
    lines += [f"Note: {n}" for n in plan.notes]
    lines.append(f"Logged as #{result.entry_id}: “Your actions” can revert it.")
    if failures:
        lines.append(f"{len(failures)} message(s) could not be moved back; their decisions are "
                     "unchanged, so the undo can be tried again.")
    return ("error" if failures else "ok"), lines


def _undo(state: UiState, sender: str) -> tuple[str, list[str]]:
    with state.store() as store:
        plan = plan_undo(store, sender=sender, allow=True)
        return _apply(state, plan, store)


def _revert(state: UiState, entry_id: int) -> tuple[str, list[str]]:
    with state.store() as store:
        plan = plan_revert(store, entry_id)
        return _apply(state, plan, store)


# -- the application --------------------------------------------------------------------------


def make_app(*, db_path: Path, config: Config, token: str, hosts: Callable[[], frozenset[str]],
             csrf: str | None = None, connector: Connector | None = None) -> ASGIApp:
    """The ASGI application. ``hosts``: the Host header values accepted (known once the server
    is bound); ``connector(config, stack)`` gives review.apply_undo's IMAP connect function."""
    state = UiState(db_path=db_path, config=config, token=token, csrf=csrf or new_token(),
                    connector=connector)
    env = _environment()

    def render(name: str, request: Request, **context: Any) -> HTMLResponse:
        result = None
        key = request.query_params.get("result")
        if key:
            with state.lock:
                result = state.results.get(key)
        page = env.get_template(name).render(url=state.url, csrf=state.csrf, token=state.token,
                                             result=result,
                                             path=request.url.path, **context)
        return HTMLResponse(page)

    def index(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()[:200]
        status = request.query_params.get("status") or None
        if status not in (None, FLAGGED, ALLOWED, BLOCKED):
            status = None
        with state.store() as store:
            page = flagged_page(store, q=q, status=status, page=_int(request.query_params.get("page"), 1))
            latest = store.latest_decisions()
        weeks = weekly_moves(latest)
        bins = score_bins(latest)
        opened = request.query_params.get("open", "")
        back = "/?" + urlencode({k: v for k, v in
                                 (("q", q), ("status", status), ("page", page.page)) if v})
        return render("index.html", request, page=page, q=q, status=status, opened=opened,
                      weeks=weeks, bins=bins, weeks_svg=charts.weeks_chart(weeks),
                      scores_svg=charts.scores_chart(bins), strip=charts.strip,
                      back=back,
                      decisions=len(latest))

    def log_page(request: Request) -> Response:
        p = request.query_params
        error = None
        filters = {k: p.get(k, "").strip()[:200] for k in
                   ("q", "sender", "action", "undone", "from", "to", "category")}
        rows, total = [], 0
        with state.store() as store:
            has_category = "category" in store.decision_columns()
            try:
                entry = normalise_entry(filters["sender"]) if filters["sender"] else None
                date_to = _date(filters["to"])
                rows, total = store.decision_page(
                    text=filters["q"],
                    sender=entry if entry and "@" in entry else None,
                    domain=entry if entry and "@" not in entry else None,
                    action=filters["action"] if filters["action"] in (MOVE, KEEP) else None,
                    undone={"yes": True, "no": False}.get(filters["undone"]),
                    date_from=_date(filters["from"]),
                    date_to=date_to + timedelta(days=1) if date_to else None,
                    category=filters["category"] or None,
                    before_id=_int(p.get("before"), 0) or None, limit=LOG_PAGE)
            except ReviewError as exc:
                error = str(exc)
        shown = log_rows(rows)
        older = state.url("/log", **filters, before=shown[-1].decision_id) \
            if len(shown) == LOG_PAGE else None
        first = state.url("/log", **filters) if p.get("before") else None
        return render("log.html", request, rows=shown, total=total, filters=filters, error=error,
                      older=older, first=first, has_category=has_category,
                      back="/log?" + urlencode({k: v for k, v in filters.items() if v}))

    def actions_page(request: Request) -> Response:
        with state.store() as store:
            rows = review_actions(store, limit=200)
        return render("actions.html", request, rows=rows)

    async def act(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            fields = await _form(request, state)
        except _Refused as exc:
            return PlainTextResponse(f"403 Forbidden: {exc}\n", status_code=403)
        back = _local_path(fields.get("back"))
        target = fields.get("sender", "")
        try:
            if action in ("allow", "block"):
                entry = normalise_entry(target)
                lines = await run_in_threadpool(_rule, state, entry,
                                                ALLOWED if action == "allow" else BLOCKED)
                kind = "ok"
            elif action == "undo":
                entry = normalise_entry(target)
                kind, lines = await run_in_threadpool(_undo, state, entry)
            elif action == "revert":
                kind, lines = await run_in_threadpool(_revert, state, _int(fields.get("entry"), 0))
            else:
                return PlainTextResponse("404 Not Found\n", status_code=404)
        except MailguardError as exc:
            kind, lines = "error", [str(exc)]
        log.info("ui: %s %s: %s", action, target or fields.get("entry", ""), kind)
        key = state.keep_result(kind, lines)
        parts = urlsplit(back)
        query = {k: v[0] for k, v in parse_qs(parts.query).items() if k not in ("token", "result")}
        query["result"] = key
        if target and parts.path == "/":
            query["open"] = target
        return RedirectResponse(state.url(parts.path, **query), status_code=303)

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/log", log_page, methods=["GET", "HEAD"]),
        Route("/actions", actions_page, methods=["GET", "HEAD"]),
        Route("/do/{action}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.ui = state
    return Guard(app, token=token, hosts=hosts)


__all__ = ["Guard", "UiState", "make_app", "new_token"]
