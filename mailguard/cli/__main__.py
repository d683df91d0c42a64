"""``python -m mailguard.cli``: the ``mailguard`` command (as before the cli package)."""

from .main import entry

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages does) runs nothing
    entry()
