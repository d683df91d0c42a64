"""mailguard: keep networking contacts from turning into promotion blasts in your inbox."""

__version__ = "0.1.0"
