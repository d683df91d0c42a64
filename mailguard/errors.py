"""The one exception hierarchy of mailguard. The CLI catches MailguardError once."""


class MailguardError(Exception):
    """Base of every error mailguard raises on purpose; its message is one clear line.

    retryable: the cause may go away by itself (a dropped connection, a full disk, a folder that
    is read-only for now), so the daemon retries with back-off instead of stopping the account.
    """

    exit_code = 1
    retryable = False


class ConfigError(MailguardError):
    """The configuration file or a command-line option is missing, malformed or unsafe."""

    exit_code = 2


class SourceError(MailguardError):
    """A mailbox path does not exist or is not an mbox, Maildir or folder of messages."""

    exit_code = 2


class ModelError(MailguardError):
    """The promo model cannot be loaded: missing, hash mismatch with its card, or incompatible."""


class StoreError(MailguardError):
    """The state database cannot be opened or written (permissions, disk full, corruption).

    retryable is set for a full disk, a read-only or failing file system and a locked database:
    the daemon waits and tries again; nothing is moved while the database cannot be written.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


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
