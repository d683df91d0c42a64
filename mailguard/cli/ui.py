"""`mailguard ui`: the command that serves the review page. The web stack is imported only when it
runs; without the ``ui`` extra it says what to install, in one line."""

from __future__ import annotations

import sys
import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import load_config
from ..errors import ConfigError
from ..store import DB_NAME, Store, ensure_private_dir

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]


def ui_cmd(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (default: any free port).")] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open the browser; just print the address.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Review in your browser: the flagged senders with their timelines, allow, block and undo,
    charts of moves per week and of promo scores, and the decision log.

    Served on 127.0.0.1 only. The first line printed is the page's address with a random token;
    requests without it are refused. Nothing is loaded from other hosts. Ctrl-C stops it.

    Example: mailguard ui --no-open
    """
    try:
        from ..ui.server import UiServer
    except ImportError as exc:
        raise ConfigError(f"the web page needs the ui extra ({exc.name} is missing): "
                          "pip install 'mailguard[ui]'") from None
    cfg = load_config(config)
    db_path = ensure_private_dir(cfg.home) / DB_NAME
    Store(db_path).close()  # created and migrated once, before the first request
    server = UiServer(db_path, cfg, port=port)
    sys.stdout.write(server.url + "\n")
    sys.stdout.write(f"serving the review page on 127.0.0.1:{server.port} only; Ctrl-C stops it\n")
    sys.stdout.flush()
    if not no_open:  # the socket already listens: the browser's request waits for the server
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    server.serve_forever()


def register(app: typer.Typer) -> None:
    """Add `mailguard ui` to mailguard's app."""
    app.command("ui")(ui_cmd)
