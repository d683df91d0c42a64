"""What a first sync learns does not depend on how fast it gets there.

The same messages go to two accounts on a real Dovecot, in the same order. One account is synced
by mailguard as it is; the other by the plain way of deciding it replaced for speed: every
store lookup and write made message by message, the pipeline's whole memory copied per batch,
every social network asked about every sender, the organisation domains worked out again by
each link rule, and the plain link-host scan, sales-tool search and email-package Message-ID
parse. The state databases must say the same (contents, not timings): contacts, first-seen
senders and their notes, the user's Message-IDs, every decision with its reasons and scores,
where each decided message is, and then the moves of a second pass."""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Any

import pytest
from imapkit import QUARANTINE, account_of, config_of, new_mail, open_store, write_config
from mailfactory import ME, day, newsletter, personal
from test_fast_paths import plain_link_hosts, plain_message_id_of, plain_tool_of

from mailguard.config import configured_workers
from mailguard.core.social import load_networks, network_of
from mailguard.imap.session import make_account
from mailguard.imap.sync import AccountSync, make_pipeline
from mailguard.pipeline import Pipeline
from mailguard.scan import make_policy


pytestmark = pytest.mark.dovecot

ROOT = Path(__file__).resolve().parents[1]


class PlainPipeline(Pipeline):
    """Pipeline deciding the plain way: no batch (so every lookup asks the store and every write
    is made at once), a copy of its memory taken before each batch, every network asked."""

    def _network_of(self, msg):  # type: ignore[no-untyped-def]
        return network_of(msg, self.social)

    def _link_context(self, orgs=None):  # type: ignore[no-untyped-def]
        return super()._link_context(None)

    def process(self, raws, refs=None, *, learn_only=False, analysed=None):  # type: ignore[no-untyped-def]
        if analysed is None:
            analysed = self.analyse(raws)
        refs = refs or [""] * len(raws)
        from mailguard.core.contacts import Ledger

        saved = (Ledger(self.ledger), dict(self._first_seen),
                 {k: set(v) for k, v in self._org_addresses.items()}, set(self._my_ids),
                 dict(self._senders_of), dict(self._signatures), dict(self._sender_links),
                 dict(self.counts), dict(self.unreadable_reasons), self.last_date)
        try:
            assert self.store is not None
            with self.store.transaction():
                return [self.step(a, ref=r, learn_only=learn_only) for a, r in zip(analysed, refs)]
        except BaseException:
            (self.ledger, self._first_seen, self._org_addresses, self._my_ids, self._senders_of,
             self._signatures, self._sender_links, self.counts, self.unreadable_reasons,
             self.last_date) = saved
            raise


def history() -> tuple[list[bytes], list[bytes]]:
    """(inbox, sent): the sample inbox (Sam's own messages to Sent), the social-network samples,
    and threads, replies and a message without a Date that the sample lacks."""
    inbox: list[bytes] = []
    sent: list[bytes] = []
    for m in mailbox.mbox(str(ROOT / "sample_mbox" / "inbox.mbox")):
        raw = m.as_bytes()
        (sent if ME in (m.get("From") or "") else inbox).append(raw)
    data = ROOT / "tests" / "data"
    inbox += [p.read_bytes() for p in sorted((data / "social").glob("*.eml"))]
    inbox += [p.read_bytes() for p in sorted((data / "corpus_sample").glob("*/*")) if p.is_file()]
    inbox += [
        personal("Ada Park <ada@lumen.example>", when=day(3), msgid="<ada1@lumen.example>",
                 body="Hi Sam,\n\nLovely chat today.\n\nAda Park\nCTO, Lumen\nhttps://lumen.example\n"),
        newsletter("Lumen <news@lumen.example>", when=day(5), msgid="<l1@lumen.example>"),
        personal("Ada Park <ada@lumen.example>", when=day(6), in_reply_to="<s-ada@rivera.dev>",
                 subject="Re: next week", msgid="<ada2@lumen.example>"),
        personal("Lumen <news@lumen.example>", when=day(7), in_reply_to="<l1@lumen.example>",
                 subject="Re: Lumen news", msgid="<l2@lumen.example>",
                 body="Hi Sam,\n\nJust bumping this to the top of your inbox.\n\nThe Lumen team\n"),
        personal("No Date <nodate@quiet.example>", when=day(8), msgid="<nodate@quiet.example>"
                 ).replace(b"Date: ", b"X-Old-Date: ", 1),
        # Quill's newsletter came before Felix of Quill became a contact: its next issue is not
        # Felix's doing (the second pass must know when news@quill.example was first seen)
        newsletter("Quill <news@quill.example>", when=day(1), msgid="<q1@quill.example>"),
        personal("Felix Ward <felix@quill.example>", when=day(2), msgid="<felix@quill.example>"),
    ]
    sent.append(personal(f"Sam Rivera <{ME}>", to="Ada Park <ada@lumen.example>", when=day(4),
                         subject="Re: next week", in_reply_to="<ada1@lumen.example>",
                         msgid="<s-ada@rivera.dev>", body="Tuesday?\n\nSam\n"))
    return inbox, sent


def deliver(server, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
    with server.client(user) as client:
        if folder != "INBOX" and not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in messages:
            client.append(folder, raw)


def sync_pass(home: Path, model, pipeline_class: type[Pipeline]):
    cfg = config_of(home)
    acct = account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        if pipeline_class is Pipeline:
            pipeline = make_pipeline(cfg, acct, store, model)
        else:
            pipeline = pipeline_class(model, make_policy(cfg, model, me=acct.me), store,
                                      source=f"imap:{acct.name}", run_kind="imap",
                                      social=load_networks(cfg.raw), workers=configured_workers(cfg))
        report = AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days).run_pass()
        pipeline.finish()
    return report


def state(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The learned content of a state database, without timings or UIDVALIDITY."""
    queries = {
        "contacts": "SELECT * FROM contacts ORDER BY email",
        "senders": "SELECT key, first_seen, last_seen, messages, note FROM senders ORDER BY key",
        "my_messages": "SELECT message_id, at FROM my_messages ORDER BY message_id",
        "decisions": """SELECT id, run_id, message_id, date, sender, subject, action, promo_score,
                            linked_contact, link_kind, reasons, ref, source, status, category,
                            link_strength, scores FROM decisions ORDER BY id""",
        "imap_decided": """SELECT account, folder, uid, message_id, content_hash, decision_id,
                                action, real FROM imap_decided ORDER BY folder, uid""",
        "moves": """SELECT account, message_id, src_folder, src_uid, dst_folder, dst_uid, state,
                         decision_id, reason, content_hash FROM moves ORDER BY id""",
        "runs": "SELECT id, kind, source, counts FROM runs ORDER BY id",
        "folder_state": "SELECT account, folder, last_uid FROM folder_state ORDER BY folder",
    }
    with open_store(home) as store:
        return {name: [tuple(r) for r in store.execute(sql)] for name, sql in queries.items()}


def later_mail() -> list[bytes]:
    """new_mail, a newsletter from before its contact (Quill) and one tied to a contact before
    (Lumen: the earlier link is in the state database)."""
    return [*new_mail(), newsletter("Quill <news@quill.example>", when=day(20), msgid="<q2@quill.example>"),
            newsletter("Lumen <news@lumen.example>", when=day(21), msgid="<l3@lumen.example>")]


def test_a_first_sync_learns_what_the_plain_pipeline_learns(dovecot, tmp_path, model, monkeypatch):
    inbox, sent = history()
    homes = {}
    for kind in ("fast", "plain"):
        user = f"state-{kind}-{tmp_path.name[-12:]}@example.test".lower()
        deliver(dovecot, user, inbox)
        deliver(dovecot, user, sent, folder="Sent")
        homes[kind] = tmp_path / kind
        # the same account name, small batches: many batch boundaries to carry state across
        write_config(homes[kind], dovecot, user, imap='name = "acct"\nbatch_size = 40')
    monkeypatch.setenv("MAILGUARD_HOME", str(homes["fast"]))
    monkeypatch.setenv("MAILGUARD_TEST_IMAP_PASSWORD", "secret")

    first = sync_pass(homes["fast"], model, Pipeline)
    with monkeypatch.context() as plain:
        plain.setattr("mailguard.core.rules.tool_of", plain_tool_of)
        plain.setattr("mailguard.core.linker.link_hosts", plain_link_hosts)
        plain.setattr("mailguard.imap.client.message_id_of", plain_message_id_of)
        plain.setenv("MAILGUARD_HOME", str(homes["plain"]))
        reference = sync_pass(homes["plain"], model, PlainPipeline)

    fast, slow = state(homes["fast"]), state(homes["plain"])
    assert first.learned == reference.learned == len(inbox) + len(sent)
    for table in fast:
        assert fast[table] == slow[table], f"{table} differs"
    # not a comparison of two empty databases
    assert len(fast["contacts"]) >= 20 and len(fast["senders"]) >= 150
    assert sum(1 for d in fast["decisions"] if d[8] is not None) >= 10  # linked to a contact
    assert len(fast["my_messages"]) >= 20

    # then new mail, acted on: the same moves
    for kind in ("fast", "plain"):
        deliver(dovecot, f"state-{kind}-{tmp_path.name[-12:]}@example.test".lower(), later_mail())
    monkeypatch.setenv("MAILGUARD_HOME", str(homes["fast"]))
    second = sync_pass(homes["fast"], model, Pipeline)
    with monkeypatch.context() as plain:
        plain.setattr("mailguard.core.rules.tool_of", plain_tool_of)
        plain.setattr("mailguard.core.linker.link_hosts", plain_link_hosts)
        plain.setenv("MAILGUARD_HOME", str(homes["plain"]))
        sync_pass(homes["plain"], model, PlainPipeline)
    fast, slow = state(homes["fast"]), state(homes["plain"])
    for table in fast:
        assert fast[table] == slow[table], f"{table} differs after new mail"
    assert second.moved and len(fast["moves"]) == len(second.moved)
    quill = [d for d in fast["decisions"] if d[2] == "<q2@quill.example>"]
    assert quill[0][6] == "keep" and "before the contact was made" in quill[0][10]
    lumen = [d for d in fast["decisions"] if d[2] == "<l3@lumen.example>"]
    assert lumen[0][6] == "move" and "earlier-link" in lumen[0][10]
    assert all(m[4] == QUARANTINE for m in fast["moves"])
