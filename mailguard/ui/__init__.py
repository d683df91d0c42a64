"""The local web page for review (``mailguard ui``): the flagged senders with their timelines,
allow/block/undo, charts and the decision log, served on 127.0.0.1 only.

Needs the ``ui`` extra (Starlette, Jinja2, uvicorn): ``pip install 'mailguard[ui]'``. Only
:mod:`mailguard.cli.ui` is imported by the command line, and it imports the web stack only
when the command runs, so the daemon never loads it.
"""
