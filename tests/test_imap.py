"""mailguard.imap.client: pure helpers on literals, the adapter against a real Dovecot (no mocks)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovecot import DovecotServer, free_port
from mailguard.errors import ConfigError, ImapError, MailguardError
from mailguard.imap import account as imap_account
from mailguard.imap.account import ImapAccount
from mailguard.imap.client import (
    Credentials,
    FetchedMessage,
    ImapConnectionLost,
    ImapSettings,
    is_loopback_host,
    message_id_of,
    parse_appenduid,
    parse_copyuid,
    parse_uid_set,
    server_folder_name,
    uid_set,
)

PASSWORD = "secret"  # Dovecot's static passdb (tests/dovecot/dovecot-test.conf)
QUARANTINE = "Contact-Promo"


def make_message(subject: str, message_id: str | None, body: bytes = b"Hello there.\r\n") -> bytes:
    lines = [
        b"From: Pat Promo <pat@shop.example>",
        b"To: sam@example.test",
        f"Subject: {subject}".encode(),
        b"Date: Mon, 02 Jun 2025 10:00:00 +0000",
    ]
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def settings_for(server: DovecotServer, user: str, **overrides: object) -> ImapSettings:
    options: dict[str, object] = {"tls": "none", "timeout": 10.0}
    options.update(overrides)
    return ImapSettings(server.host, server.port, user, **options)  # type: ignore[arg-type]


@pytest.fixture
def account(dovecot: DovecotServer, imap_user: str) -> Iterator[ImapAccount]:
    with ImapAccount(settings_for(dovecot, imap_user), lambda: PASSWORD) as acct:
        yield acct


# --------------------------------------------------------------------------- pure: settings


@pytest.mark.parametrize("host", ["imap.example.com", "192.168.1.10", "10.0.0.1", "::2", "localhost.example.com",
                                  "LOCALHOST."])
def test_tls_none_refused_for_non_loopback_host(host: str) -> None:
    with pytest.raises(ConfigError, match=r"refusing tls='none' for .*clear text"):
        ImapSettings(host, 143, "sam@example.com", tls="none")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.3.4.5", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_tls_none_allowed_for_loopback(host: str) -> None:
    assert is_loopback_host(host)
    assert ImapSettings(host, 143, "sam", tls="none").tls == "none"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 0}, "port must be"),
        ({"port": 70000}, "port must be"),
        ({"tls": "yes"}, "tls must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"username": ""}, "username"),
        ({"host": " "}, "host is empty"),
    ],
)
def test_settings_are_validated(options: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"host": "imap.example.com", "port": 993, "username": "sam"}
    values.update(options)
    with pytest.raises(ConfigError, match=message):
        ImapSettings(**values)  # type: ignore[arg-type]


def test_settings_default_to_verified_tls() -> None:
    settings = ImapSettings("imap.example.com", 993, "sam")
    assert settings.tls == "ssl"
    assert settings.ssl_context is None and settings.ca_file is None
    assert settings.address == "imap.example.com:993"
    assert ImapSettings("::1", 143, "sam", tls="none").address == "[::1]:143"


def test_credentials_need_exactly_one_secret() -> None:
    with pytest.raises(ConfigError):
        Credentials()
    with pytest.raises(ConfigError):
        Credentials(password=lambda: "a", oauth2_token=lambda: "b")
    assert "hunter2" not in repr(Credentials(password=lambda: "hunter2"))


def test_imap_errors_are_mailguard_errors() -> None:
    assert issubclass(ImapConnectionLost, ImapError)
    assert issubclass(ImapError, MailguardError)


# --------------------------------------------------------------------------- pure: parsing


def test_uid_set_compacts_ranges() -> None:
    assert uid_set([3, 1, 2, 7, 9, 10, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"
    with pytest.raises(ValueError):
        uid_set([])
    with pytest.raises(ValueError):
        uid_set([0, 1])


@given(st.sets(st.integers(min_value=1, max_value=5000), min_size=1))
def test_uid_set_round_trips(uids: set[int]) -> None:
    assert parse_uid_set(uid_set(uids)) == sorted(uids)


def test_parse_copyuid_pairs_sets_in_order() -> None:
    assert parse_copyuid(b"38505 304,319:320 3956:3958") == (38505, {304: 3956, 319: 3957, 320: 3958})
    assert parse_copyuid("7 4,1 10:11") == (7, {4: 10, 1: 11})
    with pytest.raises(ValueError):
        parse_copyuid(b"7 1:3 10")


def test_parse_appenduid() -> None:
    assert parse_appenduid(b"[APPENDUID 1795708650 17] Append completed (0.002 + 0.001 secs).") == (1795708650, 17)
    assert parse_appenduid(b"Append completed.") is None
    assert parse_appenduid(None) is None


def test_message_id_of_header() -> None:
    assert message_id_of(b"Subject: x\r\nMessage-ID:\r\n <a.b@example.org>\r\n\r\n") == "<a.b@example.org>"
    assert message_id_of(b"Message-Id: <x@y>\r\n") == "<x@y>"
    assert message_id_of(b"Subject: none\r\n\r\n") is None
    assert message_id_of(b"Message-ID: \r\n\r\n") is None


@pytest.mark.parametrize(
    ("name", "prefix", "delimiter", "expected"),
    [
        ("Contact-Promo", "", "/", "Contact-Promo"),
        ("Übersicht/Werbung", "", "/", "Übersicht/Werbung"),
        ("Übersicht/Werbung", "INBOX.", ".", "INBOX.Übersicht.Werbung"),
        ("INBOX.Quarantine", "INBOX.", ".", "INBOX.Quarantine"),
        ("INBOX/Quarantine", "INBOX.", ".", "INBOX.Quarantine"),
        ("inbox", "INBOX.", ".", "INBOX"),
        ("/Archive/", "", "/", "Archive"),
        ("a/b", "", None, "a/b"),
    ],
)
def test_server_folder_name(name: str, prefix: str, delimiter: str | None, expected: str) -> None:
    assert server_folder_name(name, prefix, delimiter) == expected


def test_fetched_message_knows_when_truncated() -> None:
    whole = FetchedMessage(1, (), None, b"H: v\r\n\r\nbody", 12, None)
    cut = FetchedMessage(1, (), None, b"H: v\r\n\r\nbo", 12, None)
    assert not whole.truncated and cut.truncated


# --------------------------------------------------------------------------- login and TLS


@pytest.mark.dovecot
def test_login_and_capabilities(account: ImapAccount) -> None:
    assert account.connected
    assert {"IMAP4REV1", "IDLE", "MOVE", "UIDPLUS"} <= account.capabilities
    assert account.has("move") and not account.has("X-NOPE")


@pytest.mark.dovecot
@pytest.mark.parametrize("wrong", ["wrong-pw", "wröng-pw"], ids=["login", "sasl-plain"])
def test_bad_password_message(dovecot: DovecotServer, imap_user: str, wrong: str) -> None:
    acct = ImapAccount(settings_for(dovecot, imap_user), lambda: wrong)
    with pytest.raises(ImapError) as caught:
        acct.connect()
    assert str(caught.value) == (
        f"login failed for {imap_user} on 127.0.0.1:{dovecot.port}: authentication failed"
    )
    assert not isinstance(caught.value, ImapConnectionLost)
    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not acct.connected


@pytest.mark.dovecot
def test_password_never_logged(
    dovecot: DovecotServer, imap_user: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ImapAccount(settings_for(dovecot, imap_user), lambda: PASSWORD) as acct:
        acct.select("INBOX")
    with pytest.raises(ImapError):
        ImapAccount(settings_for(dovecot, imap_user), lambda: PASSWORD + "-typo").connect()
    with ImapAccount(settings_for(dovecot, imap_user), Credentials(oauth2_token=lambda: PASSWORD)):
        pass
    # The protocol log was captured (so the check below means something), with LOGIN redacted.
    assert "LOGIN **REDACTED**" in caplog.text
    assert "AUTHENTICATE" in caplog.text
    assert f"login as {imap_user} to 127.0.0.1:{dovecot.port}" in caplog.text
    for record in caplog.records:
        assert PASSWORD not in record.getMessage(), record.getMessage()
        assert PASSWORD not in repr(record.args)


@pytest.mark.dovecot
def test_oauth2_login(dovecot: DovecotServer, imap_user: str) -> None:
    # Without an oauth2 passdb, Dovecot checks an XOAUTH2 token like a password.
    settings = settings_for(dovecot, imap_user)
    with ImapAccount(settings, Credentials(oauth2_token=lambda: PASSWORD)) as acct:
        assert acct.select("INBOX").exists == 0
    with pytest.raises(ImapError, match="authentication failed"):
        ImapAccount(settings, Credentials(oauth2_token=lambda: "expired")).connect()


@pytest.mark.dovecot
@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_with_trusted_certificate(dovecot: DovecotServer, imap_user: str, tls: str) -> None:
    port = dovecot.tls_port if tls == "ssl" else dovecot.port
    for host in ("127.0.0.1", "localhost"):  # the certificate names both; hostnames are checked
        settings = ImapSettings(host, port, imap_user, tls=tls, ca_file=str(dovecot.ca_file), timeout=10)  # type: ignore[arg-type]
        with ImapAccount(settings, lambda: PASSWORD) as acct:
            assert "MOVE" in acct.capabilities


@pytest.mark.dovecot
@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_untrusted_certificate(dovecot: DovecotServer, imap_user: str, tls: str) -> None:
    port = dovecot.tls_port if tls == "ssl" else dovecot.port
    acct = ImapAccount(ImapSettings("127.0.0.1", port, imap_user, tls=tls, timeout=10), lambda: PASSWORD)  # type: ignore[arg-type]
    with pytest.raises(ImapError) as caught:
        acct.connect()
    assert str(caught.value) == (
        f"TLS handshake with 127.0.0.1:{port} failed: certificate verify failed: self-signed certificate"
    )
    assert not isinstance(caught.value, ImapConnectionLost)


@pytest.mark.dovecot
def test_tls_on_plain_port(dovecot: DovecotServer, imap_user: str) -> None:
    acct = ImapAccount(ImapSettings("127.0.0.1", dovecot.port, imap_user, timeout=10), lambda: PASSWORD)
    with pytest.raises(ImapError, match=rf"^TLS handshake with 127.0.0.1:{dovecot.port} failed: wrong version number"):
        acct.connect()


@pytest.mark.dovecot
def test_starttls_not_offered(dovecot_nomove: DovecotServer, imap_user: str) -> None:
    settings = settings_for(dovecot_nomove, imap_user, tls="starttls")
    with pytest.raises(ImapError, match="does not offer STARTTLS"):
        ImapAccount(settings, lambda: PASSWORD).connect()


def test_connection_refused() -> None:
    port = free_port()  # nothing listens there
    acct = ImapAccount(ImapSettings("127.0.0.1", port, "sam", tls="none", timeout=5), lambda: PASSWORD)
    with pytest.raises(ImapConnectionLost) as caught:
        acct.connect()
    assert str(caught.value) == f"cannot connect to 127.0.0.1:{port}: connection refused"


def test_commands_need_a_connection() -> None:
    acct = ImapAccount(ImapSettings("127.0.0.1", 143, "sam", tls="none"), lambda: PASSWORD)
    with pytest.raises(ImapError, match="not connected"):
        acct.list_folders()


# --------------------------------------------------------------------------- folders


@pytest.mark.dovecot
def test_ensure_folder_nested_and_non_ascii(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    assert account.ensure_folder(QUARANTINE) == QUARANTINE
    assert account.ensure_folder("Übersicht/Werbung") == "Übersicht/Werbung"
    assert account.ensure_folder("Übersicht/Werbung") == "Übersicht/Werbung"  # idempotent
    assert account.ensure_folder("INBOX") == "INBOX"
    assert account.ensure_folder("Übersicht") == "Übersicht"  # was only an implicit \Noselect parent
    assert account.select("Übersicht").exists == 0
    names = {info.name: info for info in account.list_folders()}
    assert {"INBOX", QUARANTINE, "Übersicht", "Übersicht/Werbung", "Sent", "Junk"} <= set(names)
    assert names["Übersicht/Werbung"].delimiter == "/"
    assert names["Übersicht/Werbung"].selectable
    assert account.select("Übersicht/Werbung").exists == 0
    assert account.append("Übersicht/Werbung", make_message("Rabatt", "<r@x>")) == 1
    with dovecot.client(imap_user) as client:  # subscribed, so mail clients show them
        subscribed = {name for _, _, name in client.list_sub_folders()}
    assert {QUARANTINE, "Übersicht/Werbung"} <= subscribed


@pytest.mark.dovecot
def test_ensure_folder_respects_namespace_prefix(dovecot_legacy: DovecotServer, imap_user: str) -> None:
    with ImapAccount(settings_for(dovecot_legacy, imap_user), lambda: PASSWORD) as acct:
        assert acct.ensure_folder("Übersicht/Werbung") == "INBOX.Übersicht.Werbung"
        assert acct.ensure_folder(QUARANTINE) == "INBOX.Contact-Promo"
        assert acct.ensure_folder("INBOX.Contact-Promo") == "INBOX.Contact-Promo"
        names = {info.name for info in acct.list_folders()}
        assert {"INBOX.Übersicht.Werbung", "INBOX.Contact-Promo"} <= names
        assert acct.special_folder(b"\\Sent") == "INBOX.Sent"


@pytest.mark.dovecot
def test_special_folder(account: ImapAccount) -> None:
    assert account.special_folder(b"\\Sent") == "Sent"
    assert account.special_folder("\\Junk") == "Junk"
    assert account.special_folder(b"\\Archive") is None


@pytest.mark.dovecot
def test_no_such_folder(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    with pytest.raises(ImapError) as caught:
        account.select("Nope")
    assert str(caught.value) == "no such folder: Nope"
    assert account.selected is None
    uid = dovecot.append(imap_user, make_message("a", "<a@x>"))
    account.select("INBOX")
    with pytest.raises(ImapError, match="^no such folder: Missing/Folder$"):
        account.move([uid], "Missing/Folder")
    with pytest.raises(ImapError, match="^no such folder: Gone$"):
        account.append("Gone", make_message("b", "<b@x>"))
    assert account.connected  # an error answer does not drop the connection
    assert account.uids_after(0) == [uid]


# --------------------------------------------------------------------------- search and fetch


@pytest.mark.dovecot
def test_uids_after(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    assert account.select("INBOX").exists == 0
    assert account.uids_after(0) == []
    for n in range(3):
        dovecot.append(imap_user, make_message(f"m{n}", f"<m{n}@x>"))
    state = account.select("INBOX")
    assert (state.exists, state.uidnext) == (3, 4)
    assert account.uids_after(0) == [1, 2, 3]
    assert account.uids_after(2) == [3]
    assert account.uids_after(3) == []  # "UID 4:*" matches UID 3 on the server: filtered
    assert account.uids_after(10) == []
    with pytest.raises(ValueError):
        account.uids_after(-1)


@pytest.mark.dovecot
def test_uids_since(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    old = dovecot.append(imap_user, make_message("old", "<old@x>"), date=datetime(2020, 5, 1, 12, tzinfo=timezone.utc))
    new = dovecot.append(imap_user, make_message("new", "<new@x>"))
    account.select("INBOX", readonly=True)
    assert account.uids_since(date(2021, 1, 1)) == [new]
    assert account.uids_since(datetime(2020, 1, 1, 15, 30)) == [old, new]


@pytest.mark.dovecot
def test_uids_since_among_some_uids_and_uids_upto(account: ImapAccount, dovecot: DovecotServer,
                                                 imap_user: str) -> None:
    """The span-wise search of a first run: among given UIDs, the same answer as the whole
    folder's search gives for them."""
    cutoff = date(2021, 1, 1)
    uids = [dovecot.append(imap_user, make_message(f"m{n}", f"<m{n}@x>"),
                           date=datetime(2020 if n % 3 == 0 else 2024, 5, 1, 12, tzinfo=timezone.utc))
            for n in range(10)]
    account.select("INBOX", readonly=True)
    whole = account.uids_since(cutoff)
    assert whole == [u for n, u in enumerate(uids) if n % 3]
    assert account.uids_upto(uids[-1]) == uids
    assert account.uids_upto(uids[6]) == uids[:7]
    assert account.uids_upto(0) == []
    for part in (uids[:1], uids[:4], uids[3:7], uids[9:], [uids[1], uids[5], uids[8]]):
        assert account.uids_since(cutoff, among=part) == [u for u in whole if u in part]
    assert account.uids_since(cutoff, among=[]) == []


@pytest.mark.dovecot
def test_fetch_raw_without_setting_seen(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    raw = make_message("Lunch next week?", "<lunch-1@shop.example>", b"Hi Sam,\r\nlunch?\r\n")
    when = datetime(2025, 6, 2, 10, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    plain = dovecot.append(imap_user, raw, date=when)
    flagged = dovecot.append(imap_user, make_message("x", "<x@y>"), flags=[b"\\Flagged", b"$Promo"])
    account.select("INBOX")
    messages = list(account.fetch([flagged, plain, 999]))
    assert [m.uid for m in messages] == [plain, flagged]  # ascending; missing UIDs skipped
    first = messages[0]
    assert first.raw == raw
    assert first.size == len(raw) and not first.truncated
    assert first.message_id == "<lunch-1@shop.example>"
    # The same instant, timezone-aware (Dovecot's Maildir keeps no offset: it answers in UTC).
    assert first.internaldate is not None and first.internaldate.utcoffset() is not None
    assert first.internaldate == when
    assert b"\\Seen" not in first.flags
    assert {b"\\Flagged", b"$Promo"} <= set(messages[1].flags)
    after = dovecot.flags(imap_user)
    assert after == {plain: (), flagged: (b"\\Flagged", b"$Promo")}  # nothing got \Seen


@pytest.mark.dovecot
def test_fetch_truncates_large_body(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    body = (b"x" * 998 + b"\r\n") * 5000  # 5 MB
    raw = make_message("big", "<big@x>", body)
    uid = dovecot.append(imap_user, raw)
    account.select("INBOX")
    (message,) = account.fetch([uid], max_body_bytes=4096)
    header_length = raw.index(b"\r\n\r\n") + 4
    assert message.raw == raw[: header_length + 4096]
    assert message.size == len(raw) and message.truncated
    assert message.message_id == "<big@x>"
    assert dovecot.flags(imap_user) == {uid: ()}


@pytest.mark.dovecot
def test_fetch_in_batches(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    uids = [dovecot.append(imap_user, make_message(f"m{n}", f"<b{n}@x>")) for n in range(5)]
    account.select("INBOX")
    assert [m.message_id for m in account.fetch(uids, batch=2)] == [f"<b{n}@x>" for n in range(5)]


@pytest.mark.dovecot
def test_fetch_skips_messages_expunged_meanwhile(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    uids = [dovecot.append(imap_user, make_message(f"m{n}", f"<e{n}@x>")) for n in range(3)]
    account.select("INBOX")
    with dovecot.client(imap_user) as other:  # e.g. the user's phone deletes a message
        other.select_folder("INBOX")
        other.delete_messages([uids[1]])
        other.expunge()
    # Dovecot still lists the message in this session's view and answers BODY[HEADER] NIL.
    assert [m.uid for m in account.fetch(uids)] == [uids[0], uids[2]]


# --------------------------------------------------------------------------- move and copy


def _move_scenario(server: DovecotServer, user: str) -> None:
    """INBOX: 1 promo (flagged, keyword), 2 personal, 3 promo (seen), 4 deleted by the user."""
    server.append(user, make_message("Offer 1", "<o1@shop>"), flags=[b"\\Flagged", b"$Promo"])
    server.append(user, make_message("Personal", "<p@friend>"))
    server.append(user, make_message("Offer 2", "<o2@shop>"), flags=[b"\\Seen"])
    server.append(user, make_message("Trash me", "<t@x>"), flags=[b"\\Deleted", b"\\Seen"])


@pytest.mark.dovecot
@pytest.mark.parametrize("server_name", ["dovecot", "dovecot_nomove"])
def test_move_exactly_the_selected_messages(
    request: pytest.FixtureRequest, imap_user: str, server_name: str
) -> None:
    server: DovecotServer = request.getfixturevalue(server_name)
    _move_scenario(server, imap_user)
    with ImapAccount(settings_for(server, imap_user), lambda: PASSWORD) as acct:
        assert acct.has("MOVE") == (server_name == "dovecot")
        dest = acct.ensure_folder(QUARANTINE)
        acct.select("INBOX")
        moved = acct.move([3, 1], dest)
        assert acct.uids_after(0) == [2, 4]
    assert moved == {1: 1, 3: 2}
    assert server.flags(imap_user) == {2: (), 4: (b"\\Deleted", b"\\Seen")}  # no bare EXPUNGE
    assert server.flags(imap_user, QUARANTINE) == {1: (b"\\Flagged", b"$Promo"), 2: (b"\\Seen",)}


@pytest.mark.dovecot
def test_move_without_move_or_uidplus_is_refused(dovecot_legacy: DovecotServer, imap_user: str) -> None:
    _move_scenario(dovecot_legacy, imap_user)
    with ImapAccount(settings_for(dovecot_legacy, imap_user), lambda: PASSWORD) as acct:
        dest = acct.ensure_folder(QUARANTINE)
        acct.select("INBOX")
        with pytest.raises(ImapError, match="neither MOVE nor UIDPLUS"):
            acct.move([1], dest)
    assert list(dovecot_legacy.flags(imap_user)) == [1, 2, 3, 4]
    assert dovecot_legacy.flags(imap_user, dest) == {}


@pytest.mark.dovecot
def test_move_and_copy_edge_cases(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    _move_scenario(dovecot, imap_user)
    dest = account.ensure_folder(QUARANTINE)
    with pytest.raises(ImapError, match="no folder is selected"):
        account.move([1], dest)
    account.select("INBOX")
    assert account.move([], dest) == {}
    assert account.copy([2], dest) == {2: 1}
    assert account.move([1, 77], dest) == {1: 2, 77: None}  # 77 never existed
    assert list(dovecot.flags(imap_user)) == [2, 3, 4]


@pytest.mark.dovecot
def test_find_by_message_id(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    dovecot.append(imap_user, make_message("target", "<a1@shop>"), folder=QUARANTINE)
    dovecot.append(imap_user, make_message("decoy", "<a1@shop> (resent)"), folder=QUARANTINE)
    dovecot.append(imap_user, make_message("other", "<a11@shop>"), folder=QUARANTINE)
    dovecot.append(imap_user, make_message("target again", "<a1@shop>"), folder=QUARANTINE)
    inbox_uid = dovecot.append(imap_user, make_message("inbox", "<a1@shop>"))
    account.select("INBOX")
    assert account.find_by_message_id(QUARANTINE, "<a1@shop>") == [1, 4]
    assert account.find_by_message_id(QUARANTINE, "<nope@shop>") == []
    assert account.selected == "INBOX"  # the previous selection is restored
    assert account.uids_after(0) == [inbox_uid]
    assert account.find_by_message_id("INBOX", " <a1@shop> ") == [inbox_uid]
    with pytest.raises(ImapError, match="no such folder: Nope"):
        account.find_by_message_id("Nope", "<a1@shop>")
    assert account.selected == "INBOX"


@pytest.mark.dovecot
def test_append_returns_uid(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    dest = account.ensure_folder(QUARANTINE)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert account.append(dest, make_message("a", "<a@x>"), flags=[b"\\Seen"], date=when) == 1
    assert account.append(dest, make_message("b", "<b@x>")) == 2
    account.select(dest, readonly=True)
    assert [m.internaldate for m in account.fetch([1])] == [when]
    assert dovecot.flags(imap_user, dest) == {1: (b"\\Seen",), 2: ()}


# --------------------------------------------------------------------------- faults and waiting


@pytest.mark.dovecot
def test_kick_during_fetch_raises_connection_lost(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    uids = [dovecot.append(imap_user, make_message(f"m{n}", f"<k{n}@x>")) for n in range(3)]
    account.select("INBOX")
    messages = account.fetch(uids, batch=1)
    assert next(messages).uid == uids[0]
    dovecot.kick(imap_user)
    with pytest.raises(ImapConnectionLost, match=rf"connection to 127.0.0.1:{dovecot.port} lost during UID FETCH"):
        next(messages)
    assert not account.connected
    with pytest.raises(ImapConnectionLost, match="connect\\(\\) again"):
        account.noop()
    account.connect()  # the reconnect a daemon would do
    account.select("INBOX")
    assert [m.uid for m in account.fetch(uids[1:])] == uids[1:]


@pytest.mark.dovecot
def test_server_restart_raises_connection_lost(dovecot_nomove: DovecotServer, imap_user: str) -> None:
    with ImapAccount(settings_for(dovecot_nomove, imap_user), lambda: PASSWORD) as acct:
        acct.select("INBOX")
        dovecot_nomove.restart()
        with pytest.raises(ImapConnectionLost):
            acct.noop()
        acct.connect()
        assert acct.select("INBOX").exists == 0


@pytest.mark.dovecot
def test_uidvalidity_change(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    dovecot.append(imap_user, make_message("a", "<a@x>"))
    before = account.select("INBOX").uidvalidity
    assert before == dovecot.uidvalidity(imap_user)
    after = dovecot.change_uidvalidity(imap_user)
    assert after == before + 1
    with pytest.raises(ImapConnectionLost):  # Dovecot drops sessions that have the folder selected
        account.noop()
    account.connect()
    assert account.select("INBOX").uidvalidity == after


def when_idling(account: ImapAccount, action: Callable[..., object], *args: object) -> threading.Thread:
    """Call action(*args) in a thread as soon as the account is in IDLE (the server accepted it)."""
    def run() -> None:
        if account.idling.wait(10):
            action(*args)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.dovecot
def test_idle_wait_wakes_on_new_mail(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    account.select("INBOX")
    started = time.monotonic()
    assert account.idle_wait(0.3) is False
    assert time.monotonic() - started >= 0.3
    assert not account.idling.is_set()
    sender = when_idling(account, dovecot.append, imap_user, make_message("ping", "<ping@x>"))
    started = time.monotonic()
    try:
        assert account.idle_wait(10) is True
    finally:
        sender.join()
    assert not account.idling.is_set()
    assert time.monotonic() - started < 5
    assert account.uids_after(0) == [1]
    # Mail that arrives between SELECT and IDLE is reported as soon as IDLE starts.
    dovecot.append(imap_user, make_message("pong", "<pong@x>"))
    assert account.idle_wait(5) is True
    assert account.uids_after(1) == [2]
    assert account.noop() is False


@pytest.mark.dovecot
def test_kick_during_idle_raises_connection_lost(account: ImapAccount, dovecot: DovecotServer, imap_user: str) -> None:
    account.select("INBOX")
    kicker = when_idling(account, dovecot.kick, imap_user)
    try:
        with pytest.raises(ImapConnectionLost, match="lost during IDLE"):
            account.idle_wait(10)
    finally:
        kicker.join()
    assert not account.connected


@pytest.mark.dovecot
def test_bye_in_answer_to_idle_is_a_lost_connection(
    account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server shutting down may answer IDLE with BYE instead of "+ idling" (seen in the soak
    during Dovecot restarts); imapclient raises a plain error for it, which must count as a
    dropped connection (reconnect, warning), not as a refused command."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    account.select("INBOX")

    def idle(self: IMAPClient) -> None:
        raise IMAPClientError("Unexpected IDLE response: b'* BYE Server shutting down.'")

    monkeypatch.setattr(IMAPClient, "idle", idle)
    with pytest.raises(ImapConnectionLost, match="lost during IDLE: the server said BYE Server shutting down.$"):
        account.idle_wait(1)
    assert not account.connected


@pytest.mark.dovecot
def test_idle_wait_without_idle_polls(
    dovecot_legacy: DovecotServer, imap_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap_account, "NOOP_POLL_SECONDS", 0.2)
    with ImapAccount(settings_for(dovecot_legacy, imap_user), lambda: PASSWORD) as acct:
        assert not acct.has("IDLE")
        acct.select("INBOX")
        assert acct.idle_wait(0.3) is False
        dovecot_legacy.append(imap_user, make_message("ping", "<ping@x>"))
        assert acct.idle_wait(5) is True


def test_idle_wait_validates_timeout() -> None:
    acct = ImapAccount(ImapSettings("127.0.0.1", 143, "sam", tls="none"), lambda: PASSWORD)
    with pytest.raises(ValueError):
        acct.idle_wait(0)
    with pytest.raises(ValueError, match="re-issued"):
        acct.idle_wait(30 * 60)
