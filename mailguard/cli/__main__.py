"""``python -m mailguard.cli``: the ``mailguard`` command (as before the cli package)."""

from .main import entry

entry()
