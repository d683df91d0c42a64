"""Review what mailguard moved: actions (allow, block, undo, log), Sieve export, importers, digest."""
