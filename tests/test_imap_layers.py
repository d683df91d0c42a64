"""The layers ImapAccount is assembled from, each on its own against the real Dovecot: what one
layer gives the next (connection -> folders -> fetch -> transfer -> account). The behaviour of the
whole account is in test_imap.py."""

from __future__ import annotations

import ast
import inspect

import pytest
from dovecot import DovecotServer
from test_imap import PASSWORD, QUARANTINE, make_message, settings_for

from mailguard.errors import ImapError
from mailguard.imap.account import ImapAccount
from mailguard.imap.client import FolderState, ImapConnectionLost
from mailguard.imap.connection import ImapConnection
from mailguard.imap.fetch import ImapFetch
from mailguard.imap.folders import ImapFolders
from mailguard.imap.transfer import ImapTransfer



def upward_uses(top: type) -> list[str]:
    """Methods a class of top's chain calls on self that only a class above it (nearer top)
    defines: each layer may use itself and the layers below, never the ones built on it."""
    chain = [c for c in top.__mro__ if c.__module__.startswith("mailguard.")]
    found = []
    for i, cls in enumerate(chain):
        known = {name for c in chain[i:] for name in vars(c)}
        tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        for n in ast.walk(node):
            if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
                    and n.attr not in known and any(n.attr in vars(c) for c in chain[:i])):
                found.append(f"{cls.__name__} uses self.{n.attr}")
    return found


def test_each_layer_uses_only_itself_and_the_layers_below():
    assert upward_uses(ImapAccount) == []


@pytest.mark.dovecot
def test_connection_alone_logs_in_and_maps_a_dropped_connection(dovecot: DovecotServer, imap_user: str):
    with ImapConnection(settings_for(dovecot, imap_user), lambda: PASSWORD) as conn:
        assert conn.connected and conn.has("IDLE") and conn.has("imap4rev1")
        assert conn.noop() is False
        with pytest.raises(ImapError, match="no folder is selected"):
            conn._require_selected()
        dovecot.kick(imap_user)
        with pytest.raises(ImapConnectionLost, match="lost during NOOP"):
            conn.noop()
        assert not conn.connected  # the funnel closed it: a later command says so
        with pytest.raises(ImapConnectionLost, match="connect\\(\\) again"):
            conn.noop()
        conn.connect()
        assert conn.noop() is False


@pytest.mark.dovecot
def test_folders_layer_names_creates_and_selects_in_the_server_namespace(
        dovecot_legacy: DovecotServer, imap_user: str):
    with ImapFolders(settings_for(dovecot_legacy, imap_user), lambda: PASSWORD) as folders:
        name = folders.ensure_folder("Promo/Contact")
        assert name == "INBOX.Promo.Contact"
        state = folders.select(name)
        assert isinstance(state, FolderState) and state.exists == 0
        assert folders.selected == name
        folders.close()
        folders.connect()  # a new session: no folder selected; the namespace is asked again
        assert folders.selected is None
        assert folders.folder_name("Promo/Contact") == name


@pytest.mark.dovecot
def test_fetch_layer_reads_without_seen_and_finds_in_another_folder(dovecot: DovecotServer, imap_user: str):
    inbox = dovecot.append(imap_user, make_message("hello", "<hello@shop>"))
    dovecot.append(imap_user, make_message("promo", "<promo@shop>"), folder=QUARANTINE)
    with ImapFetch(settings_for(dovecot, imap_user), lambda: PASSWORD) as fetch:
        fetch.select("INBOX")
        (msg,) = fetch.fetch(fetch.uids_after(0))
        assert (msg.uid, msg.message_id) == (inbox, "<hello@shop>") and msg.content_hash
        assert fetch.find_by_message_id(QUARANTINE, "<promo@shop>", content_hash=None) == [1]
        assert fetch.selected == "INBOX"  # the folders layer's selection is put back
        assert fetch.uids_after(0) == [inbox]
    assert dovecot.flags(imap_user) == {inbox: ()}  # BODY.PEEK: not \Seen


@pytest.mark.dovecot
def test_transfer_layer_moves_what_the_fetch_layer_found(dovecot: DovecotServer, imap_user: str):
    dovecot.append(imap_user, make_message("promo", "<promo@shop>"))
    with ImapTransfer(settings_for(dovecot, imap_user), lambda: PASSWORD) as transfer:
        dest = transfer.ensure_folder(QUARANTINE)
        transfer.select("INBOX")
        found = transfer.find_by_message_id("INBOX", "<promo@shop>")
        assert transfer.move(found, dest) == {1: 1}
        assert transfer.uids_after(0) == []
        assert transfer.find_by_message_id(dest, "<promo@shop>") == [1]
        assert transfer.append(dest, make_message("digest", "<digest@mailguard>")) == 2


def test_account_is_the_layers_in_order_with_the_whole_interface():
    assert ImapAccount.__mro__[:5] == (ImapAccount, ImapTransfer, ImapFetch, ImapFolders, ImapConnection)
    public = {"connect", "close", "connected", "capabilities", "has", "selected", "noop",
              "list_folders", "special_folder", "folder_name", "ensure_folder", "select",
              "uids_after", "uids_since", "fetch", "find_by_message_id",
              "move", "copy", "expunge_copied", "append", "idle_wait"}
    assert public <= set(dir(ImapAccount))
