"""Mailbox exports: mbox in date order, Maildir, folders, and what is not a mailbox."""

import mailbox
import random

import pytest

from mailguard.errors import SourceError
from mailguard.sources import in_date_order, iter_messages, open_source
from mailfactory import day, mbox, personal


def _msgs(n=12):
    return [personal(f"P{i} <p{i}@x{i}.org>", when=day(i), subject=f"m{i}", msgid=f"<m{i}@t>")
            for i in range(n)]


def _ids(src):
    return [raw.split(b"Message-ID: ")[1].split(b"\r")[0].split(b"\n")[0].decode()
            for _, raw in iter_messages(src)]


def test_shuffled_mbox_is_processed_in_date_order(tmp_path):
    msgs = _msgs()
    random.Random(3).shuffle(msgs)
    p = tmp_path / "takeout.mbox"
    p.write_bytes(mbox(msgs))
    with open_source(p) as src:
        assert src.kind == "mbox"
        assert _ids(src) == [f"<m{i}@t>" for i in range(12)]


def test_undated_message_keeps_its_file_order_place(tmp_path):
    msgs = _msgs(4)
    undated = b"From: u@u.org\r\nSubject: undated\r\nMessage-ID: <u@t>\r\n\r\nx"
    bad_date = b"From: v@u.org\r\nDate: yesterday-ish\r\nMessage-ID: <v@t>\r\n\r\nx"
    p = tmp_path / "a.mbox"
    p.write_bytes(mbox([msgs[2], undated, msgs[0], bad_date, msgs[3], msgs[1]]))
    with open_source(p) as src:
        # undated follows m2 (its predecessor); bad_date follows m0
        assert _ids(src) == ["<m0@t>", "<v@t>", "<m1@t>", "<m2@t>", "<u@t>", "<m3@t>"]


def test_maildir(tmp_path):
    md = mailbox.Maildir(tmp_path / "Mail", create=True)
    for raw in reversed(_msgs(5)):
        md.add(raw)
    with open_source(tmp_path / "Mail") as src:
        assert src.kind == "maildir"
        assert _ids(src) == [f"<m{i}@t>" for i in range(5)]


def test_folder_of_files_eml_and_bare(tmp_path):
    d = tmp_path / "export"
    (d / "sub").mkdir(parents=True)
    for i, raw in enumerate(_msgs(4)):
        name = f"{9 - i}.eml" if i % 2 else f"sub/0000{i}.abcdef"
        (d / name).write_bytes(raw)
    (d / "README.md").write_text("not mail")
    with open_source(d) as src:
        assert src.kind == "folder"
        assert _ids(src) == [f"<m{i}@t>" for i in range(4)]


def test_single_eml_file(tmp_path):
    p = tmp_path / "one.eml"
    p.write_bytes(_msgs(1)[0])
    with open_source(p) as src:
        assert _ids(src) == ["<m0@t>"]


@pytest.mark.parametrize("setup,needle", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n binary"), "not a mailbox"),
    (lambda p: p.mkdir(), "no message files"),
])
def test_not_a_mailbox_is_one_clear_error(tmp_path, setup, needle):
    p = tmp_path / "thing"
    setup(p)
    with pytest.raises(SourceError, match=needle):
        open_source(p)


def test_in_date_order_all_undated_is_file_order():
    from mailguard.sources import Item
    items = [Item(str(i), str(i), i, None) for i in (2, 0, 1)]
    assert [i.position for i in in_date_order(items)] == [0, 1, 2]
