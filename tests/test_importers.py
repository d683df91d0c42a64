"""importers.py: LinkedIn Connections.csv and vCard files -> contacts that link like mail ones."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from mailguard.core.contacts import Ledger, make_contact
from mailguard.errors import ContactImportError
from mailguard.review.importers import (
    HOW_LINKEDIN,
    detect_kind,
    import_contacts,
    parse_linkedin_csv,
    parse_linkedin_date,
    parse_vcard_date,
    parse_vcards,
    read_contacts_file,
)
from mailguard.core.linker import COMPANY, NAME, SAME_ORG, link
from mailguard.core.parse import parse_message
from mailguard.store import Store
from mailfactory import day, newsletter, personal

UTC = timezone.utc
DEFAULT = datetime(2026, 6, 1, tzinfo=UTC)

CONNECTIONS = (
    "Notes:\r\n"
    '"When exporting your connection data, you may notice that some of the email addresses are '
    "missing. You will only see email addresses for connections who have allowed their connections "
    'to see or download their email address using this setting https://www.linkedin.com/psettings/privacy/email"\r\n'
    "\r\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
    "Priya,Patel,https://www.linkedin.com/in/priya-patel-4a1b2c,,Bright Loop Inc.,Head of Growth,03 Mar 2026\r\n"
    "Marco,Rossi,https://www.linkedin.com/in/marcorossi,marco@corvid.dev,Corvid,Founder,12 Mar 2026\r\n"
    '"José","Núñez, PhD",https://www.linkedin.com/in/jos%C3%A9-n%C3%BA%C3%B1ez,,"Acme, Inc.",CTO,1 Feb 2026\r\n'
    "Ann,Lee,,,,,\r\n"
    ",,,,,,\r\n"
    ",,https://www.linkedin.com/in/ghost,,Nowhere,,5 Jan 2026\r\n"
    "Bob,Stone,,,Stone Labs,,31/31/2026\r\n"
)


def test_linkedin_rows_with_and_without_email():
    parsed = parse_linkedin_csv(CONNECTIONS, default_since=DEFAULT)
    by_key = {c.email: c for c in parsed.contacts}
    assert list(by_key) == ["linkedin:priya-patel-4a1b2c", "marco@corvid.dev", "linkedin:josé-núñez",
                            "linkedin:ann-lee"]
    priya = by_key["linkedin:priya-patel-4a1b2c"]
    assert priya.name == "Priya Patel" and priya.person == "priya patel"
    assert priya.since == datetime(2026, 3, 3, tzinfo=UTC)
    assert priya.org_name == "brightloop" and priya.org_domain is None  # "Bright Loop Inc." folded
    assert priya.how == f"{HOW_LINKEDIN}: Head of Growth at Bright Loop Inc."
    assert (priya.source, priya.network, priya.handle) == (
        "import", "linkedin", "https://www.linkedin.com/in/priya-patel-4a1b2c")
    marco = by_key["marco@corvid.dev"]
    assert marco.org_domain == "corvid.dev" and marco.org_name == "corvid"
    jose = by_key["linkedin:josé-núñez"]
    assert jose.name == "José Núñez"  # the ", PhD" is not a name, nor an organisation
    assert jose.org_name == "acme"
    ann = by_key["linkedin:ann-lee"]
    assert ann.since == DEFAULT and ann.org_name == ""
    assert parsed.undated == 1
    assert parsed.skipped == ("line 10: no name and no email address",
                              "line 11: cannot read the date '31/31/2026'")


@pytest.mark.parametrize("text, expected", [
    ("12 Mar 2026", datetime(2026, 3, 12, tzinfo=UTC)),
    ("1 September 2025", datetime(2025, 9, 1, tzinfo=UTC)),
    ("03/12/26", datetime(2026, 3, 12, tzinfo=UTC)),
    ("2026-03-12", datetime(2026, 3, 12, tzinfo=UTC)),
    ("yesterday", None),
])
def test_linkedin_dates(text, expected):
    assert parse_linkedin_date(text) == expected


def test_linkedin_without_header_is_refused():
    with pytest.raises(ContactImportError, match="not a LinkedIn connections export"):
        parse_linkedin_csv("Name,Email\nJane,jane@acme.io\n", default_since=DEFAULT)


VCARDS = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "FN:Jane Doe\r\n"
    "N:Doe;Jane;;;\r\n"
    "ORG:Acme Widgets\\, Inc.;Research\r\n"
    "EMAIL;TYPE=INTERNET;TYPE=WORK:jane@acme.io\r\n"
    "item1.EMAIL;TYPE=\"home,pref\":jane.doe@gmail.com\r\n"
    "NOTE:met at PyCon\\, talked about\r\n"
    "  parsers\r\n"
    "REV:2026-03-10T08:30:00Z\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "FN:Tom Ber\r\n"
    " ger\r\n"
    "ORG:Dataflow\r\n"
    "EMAIL;PREF=1:tom@dataflow.io\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "N:Kim;Lee;;;\r\n"
    "ORG:Kim & Co\r\n"
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
    "REV:20260220T101500Z\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Ren=C3=A9e Br=C3=\r\n"
    "=BCnn\r\n"
    "EMAIL;INTERNET:renee@example.org\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "NOTE:nothing to go by\r\n"
    "END:VCARD\r\n"
)


def test_vcards_folded_lines_multiple_cards_and_emails():
    parsed = parse_vcards(VCARDS, default_since=DEFAULT, file_name="friends.vcf")
    by_key = {c.email: c for c in parsed.contacts}
    assert list(by_key) == ["jane@acme.io", "jane.doe@gmail.com", "tom@dataflow.io",
                            "vcard:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1", "renee@example.org"]
    jane = by_key["jane@acme.io"]
    assert jane.name == "Jane Doe" and jane.since == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
    assert jane.org_name == "acmewidgets" and jane.org_domain == "acme.io"
    assert (jane.source, jane.network, jane.handle) == ("import", "vcard", "friends.vcf")
    assert jane.how == "in your address book (friends.vcf)"
    assert by_key["jane.doe@gmail.com"].org_domain is None  # freemail
    assert by_key["tom@dataflow.io"].name == "Tom Berger"  # unfolded
    assert by_key["tom@dataflow.io"].since == DEFAULT
    kim = by_key["vcard:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"]
    assert kim.name == "Lee Kim" and kim.since == datetime(2026, 2, 20, 10, 15, tzinfo=UTC)
    assert by_key["renee@example.org"].name == "Renée Brünn"  # 2.1 quoted-printable, soft break
    assert parsed.undated == 2
    assert parsed.skipped == ("card 5: no FN, N or EMAIL",)


@pytest.mark.parametrize("text, expected", [
    ("2026-03-12T10:15:00Z", datetime(2026, 3, 12, 10, 15, tzinfo=UTC)),
    ("20260312T101500Z", datetime(2026, 3, 12, 10, 15, tzinfo=UTC)),
    ("2026-03-12", datetime(2026, 3, 12, tzinfo=UTC)),
    ("2026-03-12T10:15:00+02:00", datetime(2026, 3, 12, 8, 15, tzinfo=UTC)),
    ("soon", None),
])
def test_vcard_dates(text, expected):
    assert parse_vcard_date(text) == expected


def test_detect_kind_and_refusals(tmp_path):
    assert detect_kind(VCARDS) == "vcard"
    assert detect_kind(CONNECTIONS) == "linkedin"
    assert detect_kind("", "x.vcf") == "vcard"
    with pytest.raises(ContactImportError, match="neither a LinkedIn"):
        detect_kind("hello,world\n1,2\n", "x.csv")
    with pytest.raises(ContactImportError, match="no BEGIN:VCARD"):
        parse_vcards("FN:x\n", default_since=DEFAULT)
    with pytest.raises(ContactImportError, match="cannot read"):
        read_contacts_file(tmp_path / "missing.csv")
    bom = tmp_path / "Connections.csv"
    bom.write_bytes("\ufeff".encode() + CONNECTIONS.encode("utf-8"))
    assert read_contacts_file(bom).kind == "linkedin"
    latin = tmp_path / "old.vcf"
    latin.write_bytes("BEGIN:VCARD\nFN:Ren\xe9e\nEMAIL:r@x.org\nEND:VCARD\n".encode("cp1252"))
    assert read_contacts_file(latin).contacts[0].name == "Renée"


def test_import_merges_with_mail_contacts_keeping_the_earliest_date(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    mail = make_contact("marco@corvid.dev", "Marco Rossi", datetime(2026, 1, 5, tzinfo=UTC),
                        "you wrote to them", subject="Hello")
    store.save_contact(mail)
    parsed = parse_linkedin_csv(CONNECTIONS, default_since=DEFAULT)
    counts = import_contacts(store, parsed.contacts)
    assert (counts.new, counts.updated, counts.unchanged) == (3, 1, 0)
    marco = next(c for c in store.load_contacts() if c.email == "marco@corvid.dev")
    assert marco.since == mail.since and marco.subject == "Hello" and marco.source == "mail"
    assert marco.org_name == "corvid"  # learned from the import
    again = import_contacts(store, parsed.contacts)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)
    store.close()


# -- imported contacts link like mail ones --------------------------------------------------------


def _priya():
    return parse_linkedin_csv(CONNECTIONS, default_since=DEFAULT).contacts[0]


def test_linker_links_a_company_domain_to_an_imported_contact_without_email():
    ledger = Ledger([_priya()])
    msg = parse_message(newsletter("Brightloop <hello@brightloop.ai>", when=day(10)))
    found = link(msg, ledger, at=day(10), window=timedelta(days=180))
    assert found is not None and found.kind == COMPANY
    assert found.contact.email == "linkedin:priya-patel-4a1b2c"
    assert any('company of Priya Patel (import contact, company "' in e and 'brightloop' in e.lower()
               for e in found.evidence)
    assert found.evidence[-1] == "contact since 2026-03-03 (connected on LinkedIn: Head of Growth at Bright Loop Inc.)"
    # by full name from a freemail address too
    msg = parse_message(newsletter("Priya Patel <priya.p@gmail.com>", when=day(10), esp="mailchimp"))
    assert link(msg, ledger, at=day(10), window=timedelta(days=180)).kind == NAME
    # not before the connection was made
    assert link(msg, ledger, at=datetime(2026, 3, 1, tzinfo=UTC), window=timedelta(days=180)) is None


def test_a_mail_contact_known_by_org_name_only_does_not_link_by_domain_name():
    # "Jane (Acme)" writing from gmail: her organisation is a name only; this rule is for imports
    c = make_contact("jane.doe@gmail.com", "Jane Doe (Acme)", day(0), "they wrote to you personally")
    assert c.org_name == "acme" and c.org_domain is None
    msg = parse_message(newsletter("Deals <deals@acme.com>", when=day(10)))
    assert link(msg, Ledger([c]), at=day(10), window=timedelta(days=180)) is None


def test_imported_contact_then_scan_moves_the_company_newsletter(tmp_path, monkeypatch):
    from mailguard.cli.main import main
    from reviewkit import open_store, scan, write_inbox

    home = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    csv_path = tmp_path / "Connections.csv"
    csv_path.write_text(CONNECTIONS, encoding="utf-8")
    assert main(["contacts", "import", str(csv_path)]) == 0
    inbox = write_inbox(tmp_path, [
        newsletter("Brightloop <hello@brightloop.ai>", when=day(10), msgid="<bl@brightloop.ai>"),
        personal("Someone <x@elsewhere.org>", when=day(11)),
    ])
    scan(inbox)
    with open_store(home) as store:
        moved = store.decisions(where="action = 'move'")
    assert [(d["sender"], d["linked_contact"], d["link_kind"]) for d in moved] == [
        ("hello@brightloop.ai", "linkedin:priya-patel-4a1b2c", COMPANY)]


# -- hostile files (issue 13) -------------------------------------------------------------------


def test_csv_field_over_the_csv_limit_skips_that_row_and_keeps_the_others():
    huge = "x" * 200_000
    text = ("First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
            "Marco,Rossi,,marco@corvid.dev,Corvid,Founder,12 Mar 2026\r\n"
            f"Evil,Row,,evil@x.io,{huge},,12 Mar 2026\r\n"
            "Ann,Lee,,ann@lee.dev,,,1 Feb 2026\r\n")
    parsed = parse_linkedin_csv(text, default_since=DEFAULT)
    assert [c.email for c in parsed.contacts] == ["marco@corvid.dev", "ann@lee.dev"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("line 3: ")
    assert "longer than" in parsed.skipped[0] and len(parsed.skipped[0]) < 200


def test_csv_huge_line_before_the_header_is_no_traceback():
    text = "Notes:\r\n" + "y" * 200_000 + "\r\nFirst Name,Last Name,Email Address\r\nAnn,Lee,ann@lee.dev\r\n"
    parsed = parse_linkedin_csv(text, default_since=DEFAULT)
    assert [c.email for c in parsed.contacts] == ["ann@lee.dev"]


@pytest.mark.parametrize("charset", ["idna", "IDNA", "hex", "rot13", "base64", "uu", "zlib",
                                     "punycode", "unicode_escape", "raw_unicode_escape",
                                     "no-such-charset"])
def test_vcard_odd_charset_is_decoded_as_utf8(charset):
    card = ("BEGIN:VCARD\r\nVERSION:2.1\r\nEMAIL:ann@lee.dev\r\n"
            f"FN;CHARSET={charset};ENCODING=QUOTED-PRINTABLE:Ann =C3=A9 Lee\r\nEND:VCARD\r\n")
    (c,) = parse_vcards(card, default_since=DEFAULT).contacts
    assert c.email == "ann@lee.dev"
    assert c.name.isprintable() and "Ann" in c.name
    c.name.encode("utf-8")  # storable


def test_vcard_utf7_surrogate_is_replaced_and_the_contact_stored(tmp_path):
    card = ("BEGIN:VCARD\r\nVERSION:2.1\r\nEMAIL:ann@lee.dev\r\n"
            "FN;CHARSET=utf-7;ENCODING=QUOTED-PRINTABLE:Ann +2AA- Lee\r\n"
            "ORG;CHARSET=UTF-7;ENCODING=QUOTED-PRINTABLE:+2D3cAA-Corp\r\nEND:VCARD\r\n")
    (c,) = parse_vcards(card, default_since=DEFAULT).contacts
    assert c.name == "Ann \ufffd Lee"
    with Store(tmp_path / "db.sqlite3") as store:
        assert import_contacts(store, [c]).new == 1
        assert store.load_contacts()[0].name == "Ann \ufffd Lee"


def test_vcard_quoted_printable_unfolding_is_linear():
    """2.6 MB of soft line breaks in one value: quadratic unfolding took minutes; linear takes a
    fraction of a second (CPU time of this thread, so a busy machine does not count)."""
    lines = "\r\n".join(["A="] * 650_000)
    card = ("BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Ann Lee\r\nEMAIL:ann@lee.dev\r\n"
            f"NOTE;ENCODING=QUOTED-PRINTABLE:{lines}\r\nB\r\nEND:VCARD\r\n")
    assert len(card) > 2_600_000
    t0 = time.thread_time()
    (c,) = parse_vcards(card, default_since=DEFAULT).contacts
    assert time.thread_time() - t0 < 5.0
    assert c.email == "ann@lee.dev" and c.name == "Ann Lee"
