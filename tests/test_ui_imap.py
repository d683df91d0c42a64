"""The review page over what the daemon really moved on the real Dovecot: the timeline says where
each message went, and Undo through the page moves the message back on the server (as
`mailguard undo` does), after which the daemon leaves it in the inbox."""

from __future__ import annotations

import pytest
from imapkit import (
    ACME,
    OFFENDERS,
    QUARANTINE,
    append_all,
    config_of,
    moves,
    new_mail,
    seed_history,
    snapshot,
    write_config,
)
from uikit import browser, open_sender, recorded_page, serving  # noqa: F401 - browser is a fixture

from mailguard.cli.main import main
from mailguard.review.actions import ALLOWED
from mailguard.store import DB_NAME, Store


@pytest.mark.dovecot
def test_undo_through_the_page_puts_the_message_back_in_the_inbox_on_dovecot(
        dovecot, imap_user, home, browser, capsys):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    assert main(["run", "--once"]) == 0
    append_all(dovecot, imap_user, new_mail())
    assert main(["run", "--once"]) == 0
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    capsys.readouterr()

    with serving(home, config_of(home)) as ui:
        context, page, rec = recorded_page(browser)
        try:
            page.goto(ui.url)
            entry = open_sender(page, ACME)
            blast = entry.locator("li.ev-moved").filter(has_text="Last chance: 30% off")
            assert "moved from INBOX to Contact-Promo on" in blast.inner_text()
            # the story: Jane's personal note first, then Acme's blast, by organisation
            assert "Jane Doe: they wrote to you personally on 2 Mar 2026" in entry.locator(".story").inner_text()
            entry.get_by_role("button", name=f"Undo the moves of {ACME}").click()
            status = page.get_by_role("status").inner_text()
        finally:
            context.close()
    assert rec.foreign(ui.url) == []
    assert "Moved back <blast1@acme.io>: Contact-Promo -> INBOX" in status
    assert f"Allowed {ACME} so that it is not flagged again." in status

    # on the server: back in the inbox, gone from the quarantine
    assert "<blast1@acme.io>" in snapshot(dovecot, imap_user)
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS - {"<blast1@acme.io>"}
    rows = [m for m in moves(home) if m["message_id"] == "<blast1@acme.io>"]
    assert [(m["state"], m["src_folder"], m["dst_folder"]) for m in rows] == [
        ("undone", "INBOX", QUARANTINE), ("done", QUARANTINE, "INBOX")]
    with Store(home / DB_NAME) as store:
        assert store.sender_rules() == {ACME: ALLOWED}
        assert [r["action"] for r in store.execute("SELECT action FROM review_log")] == ["undo"]

    # the daemon leaves a message put back where it is
    assert main(["run", "--once"]) == 0
    assert "<blast1@acme.io>" in snapshot(dovecot, imap_user)
