"""contacts.is_personal: the contact-learning policy, on real parsed messages (pure, no model)."""

from __future__ import annotations

from mailfactory import ME, discussion_post, newsletter, personal

from mailguard.core.contacts import is_personal
from mailguard.core.features import extract
from mailguard.core.parse import parse_message
from mailguard.core.rules import Policy

POLICY = Policy(me=frozenset({ME}))


def _judge(raw: bytes, score: float, policy: Policy = POLICY) -> bool:
    msg = parse_message(raw)
    return is_personal(msg, extract(msg), score, policy)


def test_a_first_note_without_bulk_signals_makes_a_contact_up_to_the_strong_threshold():
    note = personal("Jane Doe <jane@fernhill.io>")
    assert _judge(note, 0.1)
    assert _judge(note, 0.9)  # middling-to-high scores on a first note: still a person writing
    assert not _judge(note, POLICY.strong_threshold)  # the model is very sure: promotion


def test_bulk_list_and_crowded_mail_make_no_contact():
    assert not _judge(newsletter("Fernhill <news@fernhill.io>"), 0.1)
    assert not _judge(discussion_post("Jane Doe <jane@fernhill.io>"), 0.1)
    crowd = ", ".join(f"p{i}@example.org" for i in range(POLICY.max_personal_recipients)) + f", {ME}"
    assert not _judge(personal("Jane Doe <jane@fernhill.io>", to=crowd), 0.1)
    assert not _judge(personal("Jane Doe <jane@fernhill.io>", to="someone@else.example"), 0.1)
    assert not _judge(personal("Support <support@fernhill.io>"), 0.1)  # a role address
