"""Networking contacts from outside the mailbox: a LinkedIn connections export (Connections.csv)
and vCard files (.vcf: 2.1, 3.0 and 4.0) become :class:`~mailguard.core.contacts.Contact` records with
``source="import"``. Parsing is pure (text in, contacts out); :func:`import_contacts` merges them into
the store through the :class:`~mailguard.core.contacts.Ledger`, so a contact known from mail keeps the
earlier of the two dates.

A contact is keyed by its email address. LinkedIn hides most addresses, so a row without one is keyed
``linkedin:<profile>`` (the /in/ name of its URL, else ``<name>/<company>``) and a vCard without one
``vcard:<UID or name>``. Such a contact has no organisation domain; it links to mail by name ("Priya
Patel", "Priya from Brightloop") and by its company's name (``org_name``, folded like every
organisation name: "Bright Loop Inc." -> "brightloop"), which the linker matches to the sender's
domain (brightloop.ai) for imported contacts.
"""

from __future__ import annotations

import codecs
import csv
import io
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

from ..core.contacts import Contact, Ledger, make_contact
from ..errors import ContactImportError
from ..core.identity import _fold, _fold_org
from ..store import Store

LINKEDIN = "linkedin"
VCARD = "vcard"
KINDS = (LINKEDIN, VCARD)

HOW_LINKEDIN = "connected on LinkedIn"
_EMAIL = re.compile(r"^[^\s@<>(),;:\"]+@[^\s@<>(),;:\"]+\.[^\s@<>(),;:\"]+$")


@dataclass(frozen=True)
class ParsedContacts:
    """What a file gave: the contacts, the rows left out (with why), and how many contacts were
    dated ``default_since`` because the file gave them no date."""

    kind: str
    contacts: tuple[Contact, ...]
    skipped: tuple[str, ...] = ()
    undated: int = 0


def _valid_email(s: str) -> str:
    s = s.strip().strip("<>").strip()
    if s.lower().startswith("mailto:"):
        s = s[7:]
    return s.lower() if _EMAIL.match(s) else ""


def _slug(s: str) -> str:
    return _fold(s).replace(" ", "-")


def _name_key(name: str, org: str) -> str:
    """'Ann Lee', 'Stone Labs' -> 'ann-lee/stone-labs' (without '/...' when there is no org)."""
    return _slug(name) + (f"/{_slug(org)}" if org.strip() else "")


# -- LinkedIn ---------------------------------------------------------------------------------

_LI_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d")
_LI_PROFILE = re.compile(r"linkedin\.com/in/([^/?#\s]+)", re.I)


def parse_linkedin_date(s: str) -> datetime | None:
    """'12 Mar 2026' (LinkedIn's format; older exports used '03/12/26') -> 2026-03-12 00:00 UTC."""
    s = s.strip()
    for fmt in _LI_DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _clean_person_name(first: str, last: str) -> str:
    # "Doe, PhD" / "Doe, MBA": credentials after a comma are not part of the name
    last = last.split(",")[0]
    return " ".join(f"{first} {last}".split())


def _find_linkedin_header(text: str) -> int:
    """Offset of the 'First Name,Last Name,...' line, after LinkedIn's "Notes:" preamble."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if line[:11].lower() == "first name," or line[:12].lower() == '"first name"':
            try:
                cells = next(csv.reader([line.strip("\r\n")]), [])
            except csv.Error:  # a line over the csv module's field limit: not the header
                cells = []
            if len(cells) >= 2 and [c.strip().lower() for c in cells[:2]] == ["first name", "last name"]:
                return offset
        offset += len(line)
    return -1


def parse_linkedin_csv(text: str, *, default_since: datetime,
                       file_name: str = "Connections.csv") -> ParsedContacts:
    """LinkedIn's Connections.csv: a few preamble lines ("Notes:", a quoted note, a blank line),
    then ``First Name,Last Name,URL,Email Address,Company,Position,Connected On``. Rows without an
    email are kept, keyed ``linkedin:<profile>``; rows with neither a name nor an email are skipped."""
    text = text.lstrip("\ufeff")
    start = _find_linkedin_header(text)
    if start < 0:
        raise ContactImportError(
            f"{file_name} is not a LinkedIn connections export: no 'First Name,Last Name,...' header")
    header_line = text[:start].count("\n") + 1
    reader = csv.DictReader(io.StringIO(text[start:]))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}

    def get(row: dict[str, str | None], name: str) -> str:
        key = fields.get(name)
        return (row.get(key) or "").strip() if key else ""

    contacts: list[Contact] = []
    skipped: list[str] = []
    undated = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # "field larger than field limit (131072)": this row only
            why = (f"a field longer than {csv.field_size_limit()} characters"
                   if "field limit" in str(exc) else f"unreadable ({exc})")
            skipped.append(f"line {header_line + reader.reader.line_num - 1}: {why}"[:200])
            continue
        line = header_line + reader.line_num - 1
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        name = _clean_person_name(get(row, "first name"), get(row, "last name"))
        email = _valid_email(get(row, "email address"))
        company, position, url = get(row, "company"), get(row, "position"), get(row, "url")
        if not name and not email:
            skipped.append(f"line {line}: no name and no email address")
            continue
        raw_date = get(row, "connected on")
        since = parse_linkedin_date(raw_date) if raw_date else None
        if raw_date and since is None:
            skipped.append(f"line {line}: cannot read the date {raw_date!r}")
            continue
        if since is None:
            since, undated = default_since, undated + 1
        if not email:
            m = _LI_PROFILE.search(url)
            profile = unquote(m.group(1)).strip().lower() if m else ""
            email = f"{LINKEDIN}:{profile or _name_key(name, company)}"
        role = " at ".join(x for x in (position, company) if x)
        contacts.append(make_contact(
            email, name, since, f"{HOW_LINKEDIN}: {role}" if role else HOW_LINKEDIN,
            org_name=_fold_org(company) if company else "", source="import", network=LINKEDIN,
            handle=url,
        ))
    return ParsedContacts(LINKEDIN, tuple(contacts), tuple(skipped), undated)


# -- vCard ------------------------------------------------------------------------------------


def _unfold(text: str) -> list[str]:
    """Physical lines -> logical lines: CRLF + space/tab continues (RFC 6350 3.2), and a vCard 2.1
    quoted-printable value ending in '=' continues on the next line. Linear: the lines of one
    logical line are gathered and joined once."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\n[ \t]", "", text)
    out: list[str] = []
    parts: list[str] = []  # the physical lines of the logical line being read
    qp = False  # it is a quoted-printable value (decided once, from its first line)
    for line in text.split("\n"):
        if parts and qp and parts[-1].endswith("="):
            parts.append(line)
            continue
        if parts:
            out.append("\n".join(parts))
        parts = [line]
        qp = "QUOTED-PRINTABLE" in line.split(":", 1)[0].upper()
    if parts:
        out.append("\n".join(parts))
    return out


def _split_unquoted(s: str, sep: str, maxsplit: int = -1) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    quoted, n = False, 0
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted and (maxsplit < 0 or n < maxsplit):
            parts.append("".join(cur))
            cur, n = [], n + 1
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def _split_value(s: str, sep: str = ";") -> list[str]:
    """Split on unescaped ``sep`` and unescape (\\n, \\, \\; \\\\)."""
    parts, cur, esc = [], [], False
    for ch in s:
        if esc:
            cur.append("\n" if ch in "nN" else ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


@dataclass(frozen=True)
class _Prop:
    name: str
    params: dict[str, str]
    value: str


def _prop(line: str) -> _Prop | None:
    head_value = _split_unquoted(line, ":", 1)
    if len(head_value) != 2:
        return None
    head, value = head_value
    name, *params = _split_unquoted(head, ";")
    name = name.rpartition(".")[2].strip().upper()  # drop a group prefix ("item1.EMAIL")
    pmap: dict[str, str] = {}
    for p in params:
        k, eq, v = p.partition("=")
        if eq:
            pmap[k.strip().upper()] = v.strip().strip('"')
        else:  # vCard 2.1 bare parameter: "EMAIL;INTERNET;WORK:"
            pmap.setdefault("TYPE", k.strip())
    if pmap.get("ENCODING", "").upper() in ("QUOTED-PRINTABLE", "QP"):
        raw = quopri.decodestring(value.replace("=\n", "").encode("latin-1", "replace"))
        value = _decode_text(raw, pmap.get("CHARSET", "utf-8"))
    return _Prop(name, pmap, value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_text(raw: bytes, charset: str) -> str:
    """bytes in a vCard's CHARSET, as text that can be stored and printed: a charset Python does
    not know, one that is no text encoding (hex, zlib...) or one that cannot replace errors (idna)
    gives way to UTF-8; lone surrogates (UTF-7 can make them) become U+FFFD."""
    try:
        if not codecs.lookup(charset)._is_text_encoding:  # type: ignore[attr-defined]
            raise LookupError(charset)
        text = raw.decode(charset, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = raw.decode("utf-8", "replace")
    return _SURROGATE.sub("\ufffd", text)


def parse_vcard_date(s: str) -> datetime | None:
    """REV / date values: 2026-03-12T10:15:00Z, 20260312T101500Z, 2026-03-12, 20260312."""
    s = s.strip()
    digits = re.sub(r"[-:]", "", s)
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%dT%H%MZ", "%Y%m%d"):
        try:
            return datetime.strptime(digits, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def parse_vcards(text: str, *, default_since: datetime, file_name: str = "contacts.vcf"
                 ) -> ParsedContacts:
    """Every card of a .vcf file; a card with several EMAILs gives one contact per address. The
    date is the card's REV (when it was last saved) or ``default_since``; ORG's first component is
    the organisation."""
    text = text.lstrip("\ufeff")
    contacts: list[Contact] = []
    skipped: list[str] = []
    undated = 0
    card: list[_Prop] | None = None
    n_cards = 0
    for line in _unfold(text):
        if not line.strip():
            continue
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            card = []
            continue
        if upper == "END:VCARD":
            if card is not None:
                n_cards += 1
                made, why, dated = _card_contacts(card, default_since, file_name)
                contacts += made
                undated += len(made) if not dated else 0
                if why:
                    skipped.append(f"card {n_cards}: {why}")
            card = None
            continue
        if card is not None:
            p = _prop(line)
            if p is not None:
                card.append(p)
    if n_cards == 0:
        raise ContactImportError(f"{file_name} is not a vCard file: no BEGIN:VCARD ... END:VCARD")
    return ParsedContacts(VCARD, tuple(contacts), tuple(skipped), undated)


def _card_contacts(props: list[_Prop], default_since: datetime, file_name: str
                   ) -> tuple[list[Contact], str, bool]:
    first: dict[str, _Prop] = {}
    emails: list[str] = []
    for p in props:
        first.setdefault(p.name, p)
        if p.name == "EMAIL":
            e = _valid_email(_split_value(p.value)[0])
            if e and e not in emails:
                emails.append(e)
    name = _split_value(first["FN"].value)[0].strip() if "FN" in first else ""
    if not name and "N" in first:
        family, given, *_ = _split_value(first["N"].value) + ["", ""]
        name = " ".join(f"{given} {family}".split())
    org = _split_value(first["ORG"].value)[0].strip() if "ORG" in first else ""
    if not name and not emails:
        return [], "no FN, N or EMAIL", True
    since = parse_vcard_date(first["REV"].value) if "REV" in first else None
    dated = since is not None
    since = since or default_since
    if not emails:
        uid = _split_value(first["UID"].value)[0].strip().lower() if "UID" in first else ""
        uid = uid.removeprefix("urn:uuid:")
        emails = [f"{VCARD}:{uid or _name_key(name, org)}"]
    how = f"in your address book ({file_name})"
    made = [make_contact(e, name, since, how, org_name=_fold_org(org) if org else "",
                         source="import", network=VCARD, handle=file_name) for e in emails]
    return made, "", dated


# -- files and the store ----------------------------------------------------------------------


def detect_kind(text: str, file_name: str = "") -> str:
    """'vcard' for .vcf / BEGIN:VCARD, 'linkedin' for a CSV with a First Name,Last Name header."""
    head = text.lstrip("\ufeff \r\n\t")[:200].upper()
    if file_name.lower().endswith((".vcf", ".vcard")) or head.startswith("BEGIN:VCARD"):
        return VCARD
    if _find_linkedin_header(text.lstrip("\ufeff")) >= 0:
        return LINKEDIN
    raise ContactImportError(f"{file_name or 'the file'} is neither a LinkedIn Connections.csv (no "
                             "'First Name,Last Name,...' header) nor a vCard (no BEGIN:VCARD)")


def read_contacts_file(path: Path | str, *, kind: str | None = None,
                       default_since: datetime | None = None) -> ParsedContacts:
    """Read and parse a contacts file; ``kind`` None detects it. Undated contacts get
    ``default_since`` (default: now)."""
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ContactImportError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    kind = kind or detect_kind(text, p.name)
    if kind not in KINDS:
        raise ContactImportError(f"unknown contacts format {kind!r}: use one of {', '.join(KINDS)}")
    since = default_since or datetime.now(timezone.utc).replace(microsecond=0)
    if kind == LINKEDIN:
        return parse_linkedin_csv(text, default_since=since, file_name=p.name)
    return parse_vcards(text, default_since=since, file_name=p.name)


@dataclass(frozen=True)
class ImportCounts:
    new: int
    updated: int
    unchanged: int


def import_contacts(store: Store, contacts: Iterable[Contact]) -> ImportCounts:
    """Merge contacts into the store (one transaction): a new address is added; a known one keeps
    its earliest date and gains the organisation name it lacked."""
    ledger = Ledger(store.load_contacts())
    new = updated = unchanged = 0
    with store.transaction():
        for c in contacts:
            known = c.email in ledger
            stored, changed = ledger.add(c)
            if not changed:
                unchanged += 1
                continue
            store.save_contact(stored)
            if known:
                updated += 1
            else:
                new += 1
    return ImportCounts(new, updated, unchanged)
