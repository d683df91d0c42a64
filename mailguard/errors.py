"""The one exception hierarchy of mailguard. The CLI catches MailguardError once."""


class MailguardError(Exception):
    """Base of every error mailguard raises on purpose; its message is one clear line."""

    exit_code = 1


class ConfigError(MailguardError):
    """The configuration file or a command-line option is missing, malformed or unsafe."""

    exit_code = 2


class SourceError(MailguardError):
    """A mailbox path does not exist or is not an mbox, Maildir or folder of messages."""

    exit_code = 2


class ModelError(MailguardError):
    """The promo model cannot be loaded: missing, hash mismatch with its card, or incompatible."""


class StoreError(MailguardError):
    """The state database cannot be opened or written (permissions, disk full, corruption)."""


class ImapError(MailguardError):
    """An IMAP operation failed: connection, TLS, login, a missing folder, or the server refused."""


class SecretError(MailguardError):
    """A password or token could not be obtained from its command, environment variable or keyring."""


class ReviewError(MailguardError):
    """A review command cannot do what was asked: an address or domain that is not one, no moved
    message to undo, an unknown log entry, or an IMAP undo without an [imap] config."""


class ContactImportError(MailguardError):
    """A contacts file cannot be imported: unreadable, or neither a LinkedIn Connections.csv nor a
    vCard (.vcf) file."""

    exit_code = 2
