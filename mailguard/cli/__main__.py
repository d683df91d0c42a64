"""``python -m mailguard.cli``: the ``mailguard`` command (as before the cli package)."""

from .main import entry

if __name__ == "__main__":  # importing it (a test walking the package) runs nothing
    entry()
