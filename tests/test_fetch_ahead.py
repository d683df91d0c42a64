"""ImapAccount.fetch_ahead against the real Dovecot: the next chunk's FETCH is sent before this
chunk is handed over, and the answers are what fetch() gives, chunk by chunk; stopping early
leaves the connection usable (the answer in flight is read and dropped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dovecot import DovecotServer
from mailguard.imap.account import ImapAccount
from mailguard.imap.client import ImapConnectionLost
from test_imap import make_message, settings_for
from dovecot import PASSWORD

pytestmark = pytest.mark.dovecot


@pytest.fixture
def account(dovecot: DovecotServer, imap_user: str) -> Iterator[ImapAccount]:
    with ImapAccount(settings_for(dovecot, imap_user), lambda: PASSWORD) as acct:
        yield acct


def _fill(dovecot: DovecotServer, user: str, n: int) -> list[int]:
    return [dovecot.append(user, make_message(f"m{i}", f"<a{i}@x>", b"body %d\r\n" % i))
            for i in range(n)]


def test_fetch_ahead_gives_what_fetch_gives_chunk_by_chunk(account, dovecot, imap_user):
    uids = _fill(dovecot, imap_user, 7)
    account.select("INBOX", readonly=True)
    chunks = [uids[3:0:-1], [], [uids[0], 999], uids[4:], [998]]  # unordered, empty, gone UIDs
    got = list(account.fetch_ahead(chunks, max_body_bytes=5))
    assert len(got) == len(chunks)
    for chunk, messages in zip(chunks, got):
        expected = list(account.fetch(chunk, max_body_bytes=5)) if chunk else []
        assert [(m.uid, m.raw, m.size, m.flags, m.internaldate) for m in messages] == \
            [(m.uid, m.raw, m.size, m.flags, m.internaldate) for m in expected]
    assert [m.uid for m in got[0]] == sorted(uids[1:4]) and got[1] == [] and got[4] == []
    assert all(m.truncated for part in got for m in part)  # "body n" cut after 5 bytes


def test_the_next_fetch_is_on_its_way_before_a_chunk_is_handed_over(account, dovecot, imap_user):
    uids = _fill(dovecot, imap_user, 4)
    account.select("INBOX", readonly=True)
    sent: list[list[int]] = []

    def chunks() -> Iterator[list[int]]:
        for part in ([uids[0]], [uids[1]], uids[2:]):
            sent.append(part)
            yield part

    fetched = account.fetch_ahead(chunks())
    first = next(fetched)
    assert [m.uid for m in first] == [uids[0]] and len(sent) == 2  # the second chunk asked for
    assert [m.uid for part in fetched for m in part] == uids[1:]


def test_stopping_early_leaves_the_connection_usable(account, dovecot, imap_user):
    uids = _fill(dovecot, imap_user, 6)
    account.select("INBOX", readonly=True)
    fetched = account.fetch_ahead([uids[:2], uids[2:4], uids[4:]])
    assert [m.uid for m in next(fetched)] == uids[:2]
    fetched.close()  # the FETCH of uids[2:4] was sent: its answer is read now
    imap = account._client._imap  # what imaplib still waits for, and FETCH data nobody asked for
    assert imap.tagged_commands == {} and "FETCH" not in imap.untagged_responses
    assert [m.message_id for m in account.fetch(uids[4:])] == ["<a4@x>", "<a5@x>"]
    assert account.uids_after(uids[3]) == uids[4:]


def test_a_connection_lost_between_chunks_raises_connection_lost(account, dovecot, imap_user):
    uids = _fill(dovecot, imap_user, 3)
    account.select("INBOX", readonly=True)
    fetched = account.fetch_ahead([[u] for u in uids])
    assert [m.uid for m in next(fetched)] == [uids[0]]
    dovecot.kick(imap_user)
    with pytest.raises(ImapConnectionLost, match="lost during UID FETCH"):
        list(fetched)
    assert not account.connected
