"""The IMAP side: client, session, sync, daemon, secrets."""
