"""Mailbox exports: mbox in date order, Maildir, folders, and what is not a mailbox."""

import mailbox
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- what is not a mailbox -----------------------------------------------------------------------


def _tree(root, files):
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def test_a_folder_of_other_files_is_not_a_mailbox(tmp_path):
    """`mailguard scan /etc` used to exit 0 with a thousand rows 'not understood'."""
    d = _tree(tmp_path / "etc", {
        **{f"conf{i}.conf": b"# a setting\nkey = value\n" for i in range(8)},
        "hosts": b"127.0.0.1 localhost\n",
        "passwd": b"root:x:0:0:root:/root:/bin/bash\n",  # a header-like first line, no mail header
        "one.eml": _msgs(1)[0],
    })
    with pytest.raises(SourceError) as info:
        open_source(d)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{d} is not a mailbox: 10 of its 11 files are not mail messages")


def test_hidden_folders_and_non_mail_files_are_not_looked_at(tmp_path):
    """Scanning a source tree read .git objects and .venv files as 'messages'."""
    d = _tree(tmp_path / "repo", {
        ".git/objects/ab/cdef": b"x\x9c\x01\x02binary",
        ".venv/lib/site.py": b"import os\n",
        "notes.md": b"From: not really\n",
        **{f"mail/{i}.eml": raw for i, raw in enumerate(_msgs(2))},
    })
    with open_source(d) as src:
        assert [p.name for p in src.files] == ["0.eml", "1.eml"]


def test_a_source_tree_is_not_a_mailbox_even_with_test_messages_in_it(tmp_path):
    """Files that are never mail (.py, .md) are not read, but they count: scanning a repository
    with a few .eml fixtures is an error, not a scan of the fixtures."""
    d = _tree(tmp_path / "repo", {
        **{f"pkg/m{i}.py": b"import os\n" for i in range(6)},
        "README.md": b"# hi\n",
        **{f"tests/data/{i}.eml": raw for i, raw in enumerate(_msgs(3))},
    })
    with pytest.raises(SourceError, match=r"is not a mailbox: 7 of its 10 files are not mail messages"):
        open_source(d)


def test_a_folder_mostly_of_messages_keeps_the_odd_file_as_not_understood(tmp_path):
    d = _tree(tmp_path / "export", {
        **{f"{i}.eml": raw for i, raw in enumerate(_msgs(3))},
        "garbage.bin": b"\x00\x01\x02",
    })
    with open_source(d) as src:
        assert len(src.items()) == 4  # reported, not silently dropped


def test_envelope_line_files_are_messages_but_named_mbox_files_are_not(tmp_path):
    """SpamAssassin-corpus files start with a 'From ' line and hold one message each; a Takeout
    folder of .mbox files must be scanned file by file."""
    corpus = _tree(tmp_path / "corpus", {
        f"0000{i}.abc": b"From sender@x.example Mon Mar  2 09:00:00 2026\n" + raw
        for i, raw in enumerate(_msgs(3))})
    with open_source(corpus) as src:
        assert len(src.items()) == 3
    takeout = _tree(tmp_path / "Takeout", {"All mail.mbox": mbox(_msgs(2)), "Inbox.mbox": mbox(_msgs(2))})
    with pytest.raises(SourceError, match=r"is a folder of 2 mbox file\(s\) .*mailguard scan '"):
        open_source(takeout)


def test_a_text_file_starting_with_from_is_not_an_mbox(tmp_path):
    p = tmp_path / "letter.txt"
    p.write_bytes(b"From the desk of the editor\nDear reader,\n")
    with pytest.raises(SourceError, match="not a mailbox"):
        open_source(p)


def test_the_mbox_index_splits_and_reads_as_the_stdlib_mbox(tmp_path, monkeypatch):
    """The offsets index (read in blocks, never the whole file) finds the messages mailbox.mbox
    finds, with the same bytes, whatever the block size: From lines in bodies, blank lines,
    CRLF, a file not starting with From, a From line split across two blocks."""
    import mailbox
    import random

    from mailguard import sources as sources_mod

    rnd = random.Random(7)
    pieces = [b"From a@b Mon\n", b"Subject: x\n", b"\n", b"body From here\n", b">From q\n", b"From ",
              b"\r\n", b"x", b"From b\n\n", b"\n\n"]
    cases = [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30))) for _ in range(300)]
    cases = [(b"From x@y Tue\n" + c) if i % 3 else c for i, c in enumerate(cases)]
    path = tmp_path / "t.mbox"
    for data in cases:
        path.write_bytes(data)
        box = mailbox.mbox(str(path), create=False)
        want = [box.get_bytes(k) for k in box.iterkeys()]
        box.close()
        for block in (1, 3, 6, 1 << 20):
            monkeypatch.setattr(sources_mod, "_INDEX_BLOCK", block)
            src = sources_mod.MboxSource(path)
            try:
                assert [src.read(it) for it in src.items(dates=False)] == want, (block, data)
            finally:
                src.close()


def test_an_mbox_is_dated_from_its_index(tmp_path):
    from mailfactory import day, mbox, personal

    p = tmp_path / "a.mbox"
    p.write_bytes(mbox([personal("A <a@x.io>", when=day(3)), personal("B <b@y.io>", when=day(1))]))
    src = open_source(p)
    items = src.items()
    assert [it.date for it in items] == [day(3), day(1)]
    assert [it.ref for it in in_date_order(items)] == ["a.mbox#2", "a.mbox#1"]
    assert b"b@y.io" in src.read(in_date_order(items)[0])
    src.close()


def _big(n: int, size: int) -> bytes:
    """A message with an attachment of about ``size`` bytes."""
    import base64

    blob = base64.encodebytes(random.Random(n).randbytes(size * 3 // 4)).replace(b"\n", b"\r\n")
    return (f"From: Jo {n} <jo{n}@acme.io>\r\nTo: sam@rivera.dev\r\nSubject: photos {n}\r\n"
            f"Date: Mon, 2 Mar 2026 09:0{n}:00 +0000\r\nMessage-ID: <big{n}@acme.io>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            "Hi Sam, the photos.\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
            'Content-Disposition: attachment; filename="a.jpg"\r\n\r\n').encode() + blob + b"\r\n--b--\r\n"


def test_a_large_message_is_read_only_as_far_as_it_is_parsed(tmp_path):
    """read_message gives the first READ_BYTES of a large message (a Head that knows its size)
    and exactly read() of a small one; either way the parsed message is the same."""
    from mailguard.core.parse import Head, parse_message
    from mailguard.sources import READ_BYTES, read_spans

    folder = tmp_path / "f"
    folder.mkdir()
    msgs = [_big(1, 3 << 20), personal("Jo <jo@acme.io>", when=day(1)), _big(2, READ_BYTES - 2000),
            b"From jo@acme.io Mon Mar  2 09:00:00 2026\n" + _big(3, 2 << 20)]  # an envelope line in a file
    for i, raw in enumerate(msgs):
        (folder / f"{i}.eml").write_bytes(raw)
    box = tmp_path / "box.mbox"
    box.write_bytes(mbox([m for m in msgs if not m.startswith(b"From ")]))
    for path in (folder, box):
        with open_source(path) as src:
            items = src.items()
            for it in items:
                whole, head = src.read(it), src.read_message(it)
                assert parse_message(head) == parse_message(whole)
                if len(whole) > READ_BYTES:
                    assert isinstance(head, Head) and head.size == len(whole)
                    assert len(head) == READ_BYTES and whole.startswith(head)
                    back = pickle.loads(pickle.dumps(head))  # to a worker and back
                    assert isinstance(back, Head) and back == head and back.size == head.size
                else:
                    assert head == whole and not isinstance(head, Head)
            raws, errors = read_spans(src.spans(items))
            assert errors == [] and raws == [src.read_message(it) for it in items]
    raws, errors = read_spans([(str(tmp_path / "gone.eml"), 0, -1)])
    assert raws == [b""] and errors[0][0] == 0 and "gone.eml" in errors[0][1]


def _walked_files(root):
    """_visible_files as it was: os.walk without hidden folders, Path.is_file of each visible name."""
    import os
    from pathlib import Path

    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            p = Path(top) / name
            if not name.startswith(".") and p.is_file():
                yield p


def test_folder_listing_finds_what_os_walk_and_is_file_find(tmp_path):
    from mailguard.sources import FolderSource, _visible_files

    root = tmp_path / "mail"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a-c").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "far.eml").write_bytes(personal("Jo <jo@x.io>"))
    for rel in ("top.eml", "a/one.eml", "a/b/two", "a-c/three.eml", ".dot.eml", ".hidden/no.eml", "a/notes.md"):
        (root / rel).write_bytes(personal("Jo <jo@x.io>"))
    (root / "a" / "link.eml").symlink_to(root / "top.eml")  # a link to a file: a file
    (root / "a" / "dangling.eml").symlink_to(root / "gone.eml")  # a broken link: nothing
    (root / "linkdir").symlink_to(outside, target_is_directory=True)  # not followed, as os.walk
    (root / "a" / "fifo").unlink(missing_ok=True)
    import os
    os.mkfifo(root / "a" / "fifo")  # not a file
    for top in (root, tmp_path / "mail/", root / "a" / ".." / "a"):
        assert sorted(_visible_files(top)) == sorted(_walked_files(top))
    src = FolderSource(root)
    assert [str(p) for p in src.files] == [str(p) for p in sorted(p for p in _walked_files(root)
                                                                  if p.suffix != ".md")]
    assert [it.ref for it in src.items(dates=False)] == [str(p.relative_to(root)) for p in src.files]
    assert "a-c/three.eml" in [it.ref for it in src.items(dates=False)]


def test_reading_a_message_file_gives_what_open_and_read_give(tmp_path):
    """read_span of a whole file (os.read) is what open(path, "rb") and read() or read(READ_BYTES)
    gave: the bytes, a Head of a larger file, and the same error for a folder or a missing file."""
    from mailguard.core.parse import Head
    from mailguard.sources import READ_BYTES, read_span

    def old(path):
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= READ_BYTES:
                return f.read()
            data = f.read(READ_BYTES)
        return Head(data, size) if len(data) == READ_BYTES else data

    import os
    for name, size in (("empty", 0), ("small", 100), ("edge", READ_BYTES), ("over", READ_BYTES + 1),
                       ("big", 3 * READ_BYTES + 7)):
        p = tmp_path / name
        p.write_bytes(random.Random(size).randbytes(size))
        got, want = read_span((str(p), 0, -1)), old(str(p))
        assert got == want and type(got) is type(want)
        assert getattr(got, "size", None) == getattr(want, "size", None)
    for bad in (tmp_path, tmp_path / "missing"):
        with pytest.raises(OSError) as a:
            read_span((str(bad), 0, -1))
        with pytest.raises(OSError) as b:
            old(str(bad))
        assert str(a.value) == str(b.value) and type(a.value) is type(b.value)


def test_reading_a_head_gives_what_open_and_read_n_give(tmp_path):
    from mailguard.sources import HEAD_BYTES, SNIFF_BYTES, _read_head

    for size in (0, 10, SNIFF_BYTES - 1, SNIFF_BYTES, SNIFF_BYTES + 1, HEAD_BYTES, HEAD_BYTES + 5):
        p = tmp_path / f"m{size}"
        p.write_bytes(random.Random(size).randbytes(size))
        for n in (SNIFF_BYTES, HEAD_BYTES):
            with open(p, "rb") as f:
                assert _read_head(p, n) == f.read(n)
    with pytest.raises(OSError):
        _read_head(tmp_path, SNIFF_BYTES)  # a folder, as open().read() fails on it


def _plain_looks_like_message(head: bytes) -> bool:
    """sources._looks_like_message as it was: the header block cut at the first blank line, then
    searched for a header every message has."""
    from mailguard.sources import _HEADER_LINE, _MAIL_HEADER

    head = head.lstrip(b"\r\n")
    if not _HEADER_LINE.match(head.split(b"\n", 1)[0]):
        return False
    end = min((i for i in (head.find(b"\n\n"), head.find(b"\r\n\r\n")) if i >= 0), default=len(head))
    return bool(_MAIL_HEADER.search(head[:end]))


_HEAD_PIECES = [b"From: a@b\n", b"from:", b"Subject: x", b"X-A: 1\n", b"\n", b"\r\n", b"\r", b"\n\n",
                b"\r\n\r\n", b"To:", b"Date: d\r\n", b"body", b" ", b":", b"From ", b"x", b"\t",
                b"DKIM-Signature:", b"received:"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_HEAD_PIECES), max_size=12).map(b"".join))
def test_message_sniffing_is_the_plain_check(head: bytes) -> None:
    """_looks_like_message looks for the blank line only up to the first mail header: the same
    answer as cutting the head at the first blank line (blank lines just before, inside and after
    a header)."""
    from mailguard.sources import _looks_like_message

    assert _looks_like_message(head) == _plain_looks_like_message(head)


def test_message_sniffing_is_the_plain_check_on_files() -> None:
    from pathlib import Path

    from mailguard.sources import _looks_like_message

    for head in (b"X-A: 1\n\nFrom: a\n", b"X-A: 1\r\n\r\nFrom: a\r\n", b"X-A: 1\nFrom:\n\n", b"X-A: 1\nFrom\n\n:",
                 b"X-A: 1\r\nFrom:\r\n\r\n", b"X-A: 1\n\r\n\r\nTo:", b"X-A: 1\nTo:", b"X-A: 1\nTo\r\n\r\n:"):
        assert _looks_like_message(head) == _plain_looks_like_message(head), head
    root = Path(__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc")[:3000]
    heads = [p.read_bytes()[:2048] for p in files]
    assert sum(map(_plain_looks_like_message, heads)) >= 50 and not all(map(_plain_looks_like_message, heads))
    assert list(map(_looks_like_message, heads)) == list(map(_plain_looks_like_message, heads))
