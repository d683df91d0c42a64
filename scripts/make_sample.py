#!/usr/bin/env python3
"""Generate the sample inbox (mbox) and its ground truth for mailguard.

    python scripts/make_sample.py --seed 7 --out sample_mbox/inbox.mbox --truth sample_mbox/truth.jsonl

The inbox belongs to Sam Rivera <sam@rivera.dev> (also sam.rivera@gmail.com) and covers seven months
from 2026-03-02: networking contacts who stay personal, contacts who later blast Sam with promotion
(same address, same organisation, a freemail contact's company, a bulk platform with the contact's
Reply-To, a sales sequence), brand newsletters nobody contacted, a discussion list, a list Sam was on
before meeting someone there, cold sales sequences, notifications, Sam's own mail and a few broken
messages. The mbox is written like a Google Takeout export: grouped by thread, not in date order.

Deterministic: the same seed gives byte-identical files (no wall-clock time, no global random state).
Other code can import `generate(seed, n_messages)` (load this file by path with importlib).
Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.utils
import json
import mailbox
import quopri
import random
import re
import sys
import unicodedata
from email.header import Header
from pathlib import Path

ME_NAME = "Sam Rivera"
ME = "sam@rivera.dev"
ME_GMAIL = "sam.rivera@gmail.com"
ME_ADDRESSES = (ME, ME_GMAIL)
START = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
SPAN_DAYS = 212  # 2026-03-02 .. 2026-09-30
DEFAULT_MESSAGES = 360
UTC = dt.UTC

CASES = (
    "personal", "same_address_blast", "org_newsletter", "freemail_company_blast", "esp_reply_to",
    "colleague_note", "brand_newsletter", "own_reply", "discussion_list", "pre_existing_list",
    "cold_sequence", "contact_sequence", "outside_window", "notification", "bad_message",
)
MOVE_CASES = ("same_address_blast", "org_newsletter", "freemail_company_blast", "esp_reply_to",
              "contact_sequence")

# --------------------------------------------------------------------------------------------------
# pools

FIRST = [
    "Priya", "Marco", "Jane", "Tom", "Lena", "José", "Zoë", "Søren", "Chloé", "Björn", "Łukasz",
    "Renée", "Noémie", "Jürgen", "Inés", "François", "Aisha", "Kenji", "Mei", "Olu", "Nadia", "Felix",
    "Hannah", "Daniel", "Sofia", "Mateo", "Amara", "Lucas", "Ines", "Ravi", "Ananya", "Tobias",
    "Clara", "Elif", "Omar", "Yuki", "Maya", "Jonas", "Leila", "Samuel", "Freya", "Diego", "Nora",
    "Arjun", "Emma", "Hugo", "Ingrid", "Kwame", "Lina", "Mikael", "Rosa", "Teo", "Vera", "Wen",
    "Ada", "Ben", "Carmen", "Dmitri", "Esther", "Farah", "Gabriel", "Hana", "Ivan", "Julia", "Kai",
    "Laura", "Malik", "Nina", "Oscar", "Paula", "Quentin", "Rahel", "Stefan", "Tanya", "Uma",
    "Viktor", "Wanjiru", "Xavier", "Yara", "Zainab", "Dana", "Alex", "Morgan", "Rafael", "Aurélie",
]
LAST = [
    "Patel", "Bianchi", "Okafor", "Kraus", "Núñez", "Müller", "Østergaard", "Dvořák", "Lefèvre",
    "Schäfer", "Kovačević", "Yılmaz", "García", "Peña", "Sørensen", "Nakamura", "Chen", "Adeyemi",
    "Haddad", "Fischer", "Rossi", "Silva", "Novak", "Kim", "Singh", "Andersson", "Ibrahim", "Moreau",
    "Weber", "Lindqvist", "Costa", "Mendes", "Tanaka", "Osei", "Varga", "Horvat", "Jansen", "de Vries",
    "Kowalski", "Santos", "Becker", "Ahmed", "Larsen", "Romano", "Ferreira", "Hoffmann", "Zhou",
    "Ivanova", "Mensah", "Wagner", "Dubois", "Nieminen", "Popescu", "Kaya", "Hughes", "Walsh",
    "Brennan", "Reyes", "Castillo", "Morales", "Schmidt", "Bauer", "Keller", "Vogel", "Marsh",
    "Holm", "Berg", "Quinn", "Shah", "Rao", "Iyer", "Mwangi", "Achterberg", "Lund", "Ortega",
]
ACCENTED_FIRST = ["José", "Zoë", "Søren", "Chloé", "Björn", "Łukasz", "Renée", "Noémie", "Jürgen",
                  "Inés", "François", "Aurélie"]
ACCENTED_LAST = ["Núñez", "Müller", "Østergaard", "Dvořák", "Lefèvre", "Schäfer", "Kovačević",
                 "Yılmaz", "García", "Peña", "Sørensen"]
CO_PREFIX = [
    "Bright", "Corvid", "Acme", "North", "Kite", "Tern", "Lumen", "Fern", "Quill", "Orbit", "Harbor",
    "Cobalt", "Juniper", "Marble", "Pilot", "Signal", "Tandem", "Vela", "Willow", "Zephyr", "Alder",
    "Basalt", "Cinder", "Delta", "Ember", "Flint", "Glade", "Heron", "Iris", "Jasper", "Kelp", "Lark",
    "Meadow", "Nimbus", "Onyx", "Prism", "Quarry", "Raven", "Slate", "Thistle", "Umber", "Vireo",
    "Wren", "Yarrow", "Arbor", "Birch", "Cedar", "Dune", "Estuary", "Fathom", "Granite", "Hollow",
    "Indigo", "Lattice", "Mosaic", "Nova", "Otter", "Pebble", "Ripple", "Sparrow", "Tidal", "Verdant",
]
CO_SUFFIX = ["loop", "labs", "works", "stack", "ly", "hq", "data", "base", "grid", "flow", "forge",
             "scale", "mind", "shift", "wise", "point", "craft", "layer", "sense", "metrics", "pay",
             "ops", "cloud", "link", "bit"]
CO_TLD = ["io", "ai", "dev", "com", "co", "app", "tech", "so"]
SHOP_NOUN = ["Supply Co.", "Outfitters", "Goods", "Coffee Roasters", "Provisions", "Studio",
             "Home", "Cycles", "Books", "Tea Company", "Apothecary", "Workshop"]
DIGEST_ADJ = ["Morning", "Weekly", "Daily", "Sunday", "Friday", "Pragmatic", "Quiet", "Modern",
              "Curious", "Hacker", "Data", "Berlin"]
DIGEST_NOUN = ["Byte", "Pipeline", "Stack", "Brief", "Dispatch", "Signal", "Digest", "Ledger",
               "Compiler", "Notebook", "Frontier", "Bulletin"]
FREEMAIL = ["gmail.com", "gmail.com", "gmail.com", "outlook.com", "hotmail.com", "proton.me",
            "icloud.com", "yahoo.com"]
TITLES = ["Founder", "Co-founder & CEO", "Head of Data", "Staff Engineer", "Product Lead",
          "Developer Advocate", "Head of Growth", "Engineering Manager", "CTO", "Partner",
          "Principal Consultant", "Community Manager", "Data Scientist", "Head of Partnerships"]
SALES_TITLES = ["Account Executive", "Business Development Rep", "Sales Development Representative",
                "Head of Sales", "Partnerships Manager", "Growth Lead"]
EVENTS = ["the PyData meetup", "PyCon DE", "the Rust meetup at c-base", "the data engineering breakfast",
          "the climate tech mixer", "FOSDEM", "the AI Tinkerers evening", "Maria's dinner party",
          "the DuckDB user group", "the Berlin Buzzwords party", "the founders' breakfast at Factory",
          "the local-first meetup", "the dbt meetup", "the Women in Data panel", "the Postgres meetup",
          "the indie hackers drinks", "the open source sprint", "the analytics engineering roundtable"]
TOPICS = ["DuckDB in production", "pricing for developer tools", "hiring your first data engineer",
          "the Parquet vs. Arrow question", "freelancing vs. going full-time", "local-first software",
          "dbt project layouts", "vector search on a budget", "data contracts", "Postgres partitioning",
          "streaming vs. batch", "small-team observability", "open-source licensing",
          "getting off Airflow", "LLM evals", "self-hosting analytics", "Polars", "Iceberg tables"]
PLACES = ["the café at Rosenthaler Platz", "Bonanza on Oderberger", "the place by the canal",
          "Father Carpenter", "the Barn on Auguststraße", "St. Oberholz", "the bakery on Weserstraße",
          "Café Einstein", "the Turkish place near Kotti"]
AREAS = ["Mitte", "Kreuzberg", "Neukölln", "Prenzlauer Berg", "Friedrichshain", "Wedding"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
ADDRESSES = [
    ("Torstraße", "10119", "Berlin", "GmbH"), ("Kastanienallee", "10435", "Berlin", "GmbH"),
    ("Prinzenallee", "13357", "Berlin", "UG"), ("Linienstraße", "10119", "Berlin", "GmbH"),
    ("Keizersgracht", "1015 CJ", "Amsterdam", "B.V."), ("Rua Augusta", "1100-053", "Lisboa", "Lda."),
    ("Carrer de Mallorca", "08036", "Barcelona", "S.L."), ("Rue Oberkampf", "75011", "Paris", "SAS"),
    ("Sveavägen", "111 57", "Stockholm", "AB"), ("Market Street", "San Francisco, CA 94103", "", "Inc."),
    ("Old Street", "London EC1V 9HL", "", "Ltd"), ("Broadway", "New York, NY 10012", "", "Inc."),
    ("Sendlinger Straße", "80331", "München", "GmbH"), ("Nørrebrogade", "2200", "København", "ApS"),
]
TECH_TOPICS = ["DuckDB", "Polars", "Apache Iceberg", "ClickHouse", "dbt", "Kafka", "Dagster", "pgvector",
               "Delta Lake", "SQLite replication", "Automerge", "Postgres logical replication"]
GH_REPOS = [("duckdb", "duckdb"), ("pola-rs", "polars"), ("sam-rivera", "pipeline-kit"), ("dbt-labs", "dbt-core"),
            ("apache", "arrow"), ("sam-rivera", "rivera.dev"), ("dagster-io", "dagster")]
GH_TITLES = ["Fix timezone handling in ingest", "Add retry with backoff to the S3 reader",
             "Bump pyarrow from 17.0.0 to 18.1.0", "Docs: clarify partition pruning", "Speed up CSV sniffing",
             "Handle empty Parquet row groups", "Drop Python 3.9 support", "Make the scheduler timezone-aware"]
LISTS = [
    ("pydata-berlin", "lists.pydata-berlin.org", "PyData Berlin community list"),
    ("duckdb-users", "lists.duckdb-community.org", "DuckDB users"),
    ("localfirst", "lists.localfirst.dev", "Local-first software discussion"),
    ("berlin-data-eng", "lists.berlindata.org", "Berlin data engineering"),
    ("polars-discuss", "lists.polars-community.org", "Polars discussion"),
    ("postgres-berlin", "lists.pgberlin.org", "Postgres Berlin user group"),
]
LIST_SUBJECTS = [
    "Anyone running {t} on a single box?", "Venue for the next meetup", "[ANN] slides from last week",
    "Question about {t}", "Job: freelance help with {t}", "Recording of the {t} talk",
    "Best practices for {t}?", "Call for speakers — autumn edition", "Re: Question about {t}",
    "Benchmark results for {t}",
]
NOTIFY = [
    ("GitHub", "notifications@github.com", "github.com", "ses", "gh"),
    ("Stripe", "receipts@stripe.com", "stripe.com", "ses", "receipt"),
    ("Hetzner Online", "billing@hetzner.com", "hetzner.com", "own", "invoice"),
    ("Google Calendar", "calendar-notification@google.com", "google.com", "own", "calendar"),
    ("DHL Paket", "noreply@dhl.de", "dhl.de", "own", "shipping"),
    ("Deutsche Bahn", "buchungsbestaetigung@bahn.de", "bahn.de", "own", "ticket"),
    ("1Password", "hello@1password.com", "1password.com", "sendgrid", "security"),
    ("Fastmail", "noreply@fastmail.com", "fastmail.com", "own", "security"),
    ("Linear", "notifications@linear.app", "linear.app", "ses", "linear"),
    ("N26", "noreply@n26.com", "n26.com", "sendgrid", "bank"),
    ("Namecheap", "support@namecheap.com", "namecheap.com", "own", "renewal"),
    ("Vercel", "notifications@vercel.com", "vercel.com", "ses", "deploy"),
]
ZONES = ["eu", "eu", "eu", "uk", "us_east", "us_west", "india", "japan", "brazil", "sydney"]

# --------------------------------------------------------------------------------------------------
# time


def _offset(zone: str, when: dt.datetime) -> dt.timezone:
    eu_summer = dt.datetime(2026, 3, 29, 1, tzinfo=UTC) <= when < dt.datetime(2026, 10, 25, 1, tzinfo=UTC)
    us_summer = dt.datetime(2026, 3, 8, 7, tzinfo=UTC) <= when < dt.datetime(2026, 11, 1, 6, tzinfo=UTC)
    au_summer = not (dt.datetime(2026, 4, 4, 16, tzinfo=UTC) <= when < dt.datetime(2026, 10, 3, 16, tzinfo=UTC))
    hours = {
        "eu": 2 if eu_summer else 1, "uk": 1 if eu_summer else 0, "us_east": -4 if us_summer else -5,
        "us_west": -7 if us_summer else -8, "india": 5.5, "japan": 9, "brazil": -3,
        "sydney": 11 if au_summer else 10, "utc": 0,
    }[zone]
    return dt.timezone(dt.timedelta(hours=hours))


def local(zone: str, when: dt.datetime) -> dt.datetime:
    return when.astimezone(_offset(zone, when))


def rfc2822(zone: str, when: dt.datetime) -> str:
    return email.utils.format_datetime(local(zone, when))


# --------------------------------------------------------------------------------------------------
# small helpers


def ascii_fold(s: str) -> str:
    s = s.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L").replace("ı", "i")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def slug(s: str) -> str:
    return "".join(c for c in ascii_fold(s).lower() if c.isalnum())


def addr(name: str | None, address: str) -> str:
    if not name:
        return address
    return email.utils.formataddr((name, address), charset="utf-8")


def enc_header(text: str) -> str:
    if text.isascii():
        return text
    return Header(text, "utf-8").encode(maxlinelen=76, linesep="\n\t")


def fold(name: str, value: str) -> str:
    """Fold a long structured value at '; ' or spaces, roughly like a mailer would."""
    line = f"{name}: {value}"
    if len(line) <= 78 or "\n" in value:
        return line
    out, cur = [], f"{name}:"
    for tok in value.split(" "):
        if len(cur) + 1 + len(tok) > 78 and cur.strip() != f"{name}:":
            out.append(cur)
            cur = "\t" + tok
        else:
            cur = cur + " " + tok
    out.append(cur)
    return "\n".join(out)


class Person:
    def __init__(self, first: str, last: str, email_addr: str, zone: str, host: str, *,
                 title: str = "", company: Company | None = None, website: str = "",
                 linkedin: str = "", sig_style: int = 0) -> None:
        self.first, self.last, self.email, self.zone, self.host = first, last, email_addr, zone, host
        self.title, self.company, self.website, self.linkedin = title, company, website, linkedin
        self.sig_style = sig_style
        self.met_at = "the meetup"

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


class Company:
    def __init__(self, name: str, domain: str, address: str = "") -> None:
        self.name, self.domain, self.address = name, domain, address


class Msg:
    def __init__(self, when: dt.datetime, thread: str, raw: bytes, envelope_date: dt.datetime,
                 truth: dict | None, thrid: str) -> None:
        self.when, self.thread, self.raw, self.envelope_date = when, thread, raw, envelope_date
        self.truth, self.thrid = truth, thrid


# --------------------------------------------------------------------------------------------------
# the generator


class Sample:
    def __init__(self, seed: int, n_messages: int) -> None:
        self.rng = random.Random(seed)
        self.n_target = n_messages
        self.scale = max(0.2, min(3.0, n_messages / DEFAULT_MESSAGES))
        self.msgs: list[Msg] = []
        self.used_emails: set[str] = {ME, ME_GMAIL}
        self.used_domains: set[str] = {"rivera.dev"}
        self.used_names: set[str] = {ME_NAME}
        self.used_ids: set[str] = set()
        self.thread_ids: dict[str, str] = {}
        self.sam = Person("Sam", "Rivera", ME, "eu", "workspace", title="Freelance data engineer",
                          website="https://rivera.dev")
        self.events = self.rng.sample(EVENTS, len(EVENTS))
        self.topics = self.rng.sample(TOPICS, len(TOPICS))
        self._ev = 0
        self._intro_done = False

    # ---- random atoms -------------------------------------------------------------------------

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def b64(self, n: int, url: bool = False) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + ("-_" if url else "+/")
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def alnum(self, n: int) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choice("0123456789") for _ in range(n - 1))

    def ip(self, prefix: str | None = None) -> str:
        r = self.rng
        if prefix:
            return prefix + "." + ".".join(str(r.randint(1, 254)) for _ in range(4 - prefix.count(".") - 1))
        return f"{r.choice([185, 212, 84, 91, 46, 62])}.{r.randint(1, 254)}.{r.randint(1, 254)}.{r.randint(1, 254)}"

    def event(self) -> str:
        e = self.events[self._ev % len(self.events)]
        self._ev += 1
        return e

    def topic(self) -> str:
        return self.rng.choice(self.topics)

    def uniq_id(self, make) -> str:
        while True:
            mid = make()
            if mid not in self.used_ids:
                self.used_ids.add(mid)
                return mid

    def thrid(self, thread: str) -> str:
        if thread not in self.thread_ids:
            self.thread_ids[thread] = "17" + self.digits(17)
        return self.thread_ids[thread]

    # ---- identities ---------------------------------------------------------------------------

    def new_name(self, accented: bool = False) -> tuple[str, str]:
        for _ in range(1000):
            if accented:
                first = self.rng.choice(ACCENTED_FIRST)
                last = self.rng.choice(ACCENTED_LAST)
            else:
                first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            key = f"{first} {last}"
            firsts = {n.split(" ")[0] for n in self.used_names}
            lasts = {n.split(" ", 1)[1] for n in self.used_names}
            if key not in self.used_names and first not in firsts and (last not in lasts or _ > 500):
                self.used_names.add(key)
                return first, last
        raise RuntimeError("name pool exhausted")

    def new_company(self, tlds: list[str] | None = None) -> Company:
        for _ in range(1000):
            name = self.rng.choice(CO_PREFIX) + self.rng.choice(CO_SUFFIX)
            domain = f"{name.lower()}.{self.rng.choice(tlds or CO_TLD)}"
            if domain not in self.used_domains and not any(d.split(".")[0] == name.lower() for d in self.used_domains):
                self.used_domains.add(domain)
                return Company(name, domain, self.postal(name))
        raise RuntimeError("company pool exhausted")

    def postal(self, name: str, legal: bool = True) -> str:
        street, code, city, form = self.rng.choice(ADDRESSES)
        num = self.rng.randint(1, 140)
        where = f"{street} {num} · {code} {city}".rstrip() if city else f"{num} {street} · {code}"
        return f"{name}{' ' + form if legal else ''} · {where}"

    def claim_email(self, candidates: list[str]) -> str:
        for c in candidates:
            if c not in self.used_emails:
                self.used_emails.add(c)
                return c
        c = candidates[0].replace("@", f"{self.rng.randint(2, 99)}@")
        self.used_emails.add(c)
        return c

    def person(self, *, company: Company | None = None, freemail: bool = False, own_domain: bool = False,
               accented: bool = False, title: str | None = None, zone: str | None = None) -> Person:
        r = self.rng
        first, last = self.new_name(accented)
        f, l_ = slug(first), slug(last)
        zone = zone or r.choice(ZONES)
        website = linkedin = ""
        if r.random() < 0.5:
            linkedin = f"https://www.linkedin.com/in/{f}{l_}{'-' + self.hex(4) if r.random() < 0.4 else ''}"
        if freemail:
            dom = r.choice(FREEMAIL)
            local_part = r.choice([f"{f}.{l_}", f"{f}{l_}", f"{f}.{l_}{r.randint(1, 99)}", f"{f[0]}{l_}"])
            email_addr = self.claim_email([f"{local_part}@{dom}", f"{f}.{l_}.{r.randint(1, 9)}@{dom}"])
            host = {"gmail.com": "gmail", "outlook.com": "outlook", "hotmail.com": "outlook",
                    "proton.me": "proton", "icloud.com": "apple", "yahoo.com": "yahoo"}[dom]
            if company:
                website = f"https://{company.domain}"
        elif own_domain:
            dom = r.choice([f"{f}{l_}.com", f"{f}{l_}.dev", f"{f}{l_}.me", f"{l_}studio.com",
                            f"{f}{l_}.io", f"{f}{l_}.net"])
            while dom in self.used_domains:
                dom = f"{f}{l_}{r.randint(2, 99)}.com"
            self.used_domains.add(dom)
            email_addr = self.claim_email([f"{f}@{dom}", f"hello@{dom}"])
            host = r.choice(["workspace", "fastmail", "fastmail"])
            website = f"https://{dom}"
        else:
            assert company is not None
            email_addr = self.claim_email([
                r.choice([f"{f}@{company.domain}", f"{f}.{l_}@{company.domain}", f"{f[0]}{l_}@{company.domain}"]),
                f"{f}.{l_}@{company.domain}", f"{f}{l_[0]}@{company.domain}"])
            host = r.choice(["workspace", "workspace", "m365", "fastmail"])
            website = f"https://{company.domain}" if r.random() < 0.8 else f"https://www.{company.domain}"
        return Person(first, last, email_addr, zone, host, title=title or r.choice(TITLES), company=company,
                      website=website, linkedin=linkedin, sig_style=r.randint(0, 3))

    def signature(self, p: Person) -> str:
        if p is self.sam:
            return self.rng.choice(["Sam", "Sam\n\n--\nSam Rivera\nFreelance data engineer · https://rivera.dev",
                                    "Cheers,\nSam", "Best,\nSam"])
        co = p.company.name if p.company else ""
        site = p.website
        lines: list[str]
        if p.sig_style == 0:
            lines = [p.name, f"{p.title}{', ' + co if co else ''}", site]
        elif p.sig_style == 1:
            lines = [" | ".join(x for x in [p.name, f"{p.title}{', ' + co if co else ''}", site] if x)]
        elif p.sig_style == 2:
            lines = [p.first, "", "--", p.name, p.title, co, site]
        else:
            lines = [f"{p.first}", "", f"{p.name} · {p.title}" + (f" @ {co}" if co else ""), site]
        if p.linkedin and self.rng.random() < 0.7:
            lines.append(p.linkedin)
        return "\n".join(x for x in lines if x is not None)

    # ---- dates --------------------------------------------------------------------------------

    def at(self, day: float, zone: str = "eu", hours: tuple[float, float] = (8.5, 19.5)) -> dt.datetime:
        """A UTC instant on START+day at a plausible local hour in `zone`."""
        day = max(0.0, min(SPAN_DAYS - 1.0, day))
        base = START + dt.timedelta(days=int(day))
        off = _offset(zone, base + dt.timedelta(hours=12)).utcoffset(None)
        h = self.rng.uniform(*hours)
        return base + dt.timedelta(hours=h, seconds=self.rng.randint(0, 59)) - off  # type: ignore[operator]

    def waking(self, zone: str, when: dt.datetime, lo: float = 7.5, hi: float = 22.5,
               weekdays_only: bool = False) -> dt.datetime:
        """Move an instant forward into the local waking hours (and onto a weekday if asked)."""
        for _ in range(10):
            loc = local(zone, when)
            h = loc.hour + loc.minute / 60
            if h < lo:
                when += dt.timedelta(hours=lo - h + self.rng.uniform(0, 2))
            elif h >= hi:
                when += dt.timedelta(hours=24 - h + lo + self.rng.uniform(0, 2))
            elif weekdays_only and loc.weekday() >= 5:
                when += dt.timedelta(days=7 - loc.weekday())
            else:
                break
        return when

    # ---- headers ------------------------------------------------------------------------------

    def dkim(self, d: str, s: str, when: dt.datetime, h: str = "from:to:subject:date:message-id:mime-version:content-type") -> str:
        b = self.b64(171) + "="
        b_folded = "\n\t ".join(b[i:i + 70] for i in range(0, len(b), 70))
        return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={d}; s={s};\n"
                f"\tt={int(when.timestamp())}; h={h};\n"
                f"\tbh={self.b64(43)}=;\n\tb={b_folded}")

    def auth_results(self, dkims: list[tuple[str, str]], mailfrom: str, ip: str, from_domain: str,
                     dmarc: str = "pass") -> str:
        parts = ["Authentication-Results: mx.google.com;"]
        for d, s in dkims:
            parts.append(f"       dkim=pass header.i=@{d} header.s={s} header.b={self.b64(8)};")
        parts.append(f"       spf=pass (google.com: domain of {mailfrom} designates {ip} as permitted sender) "
                     f"smtp.mailfrom={mailfrom};")
        parts.append(f"       dmarc={dmarc} (p=NONE sp=NONE dis=NONE) header.from={from_domain}"
                     if dmarc else f"       dmarc=none header.from={from_domain}")
        return "\n".join(parts)

    def received(self, helo: str, ip: str, rcpt: str, when: dt.datetime) -> list[str]:
        """Gmail's two Received lines for inbound mail (Google stamps them in US Pacific time)."""
        r = self.rng
        t1 = when + dt.timedelta(seconds=r.randint(1, 40))
        t2 = t1 + dt.timedelta(seconds=r.randint(0, 2))
        t1l = local("us_west", t1)
        smtp_id = f"{self.alnum(2)}{r.randint(10, 999)}csp{r.randint(100000, 9999999)}"
        esmtps_id = (f"{self.alnum(10)}-{self.alnum(10)}si{r.randint(100000, 9999999)}{self.alnum(3)}"
                     f".{r.randint(100, 999)}.2026.{t1l.month:02d}.{t1l.day:02d}.{t1l.hour:02d}.{t1l.minute:02d}.{t1l.second:02d}")
        return [
            (f"Received: by 2002:a05:{self.hex(4)}:{self.hex(3)}:b0:{self.hex(3)}:{self.hex(4)} with SMTP id {smtp_id};\n"
             f"        {rfc2822('us_west', t2)}"),
            (f"Received: from {helo} ({helo} [{ip}])\n"
             f"        by mx.google.com with ESMTPS id {esmtps_id}\n"
             f"        for <{rcpt}>\n"
             f"        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\n"
             f"        {rfc2822('us_west', t1)}"),
        ]

    def sender_infra(self, p: Person, when: dt.datetime) -> dict:
        """Return-Path, Received helo/ip, DKIM and Message-ID of a person's own mail system."""
        r = self.rng
        d = p.domain
        if p.host in ("gmail", "workspace"):
            n = r.randint(1, 200)
            helo = f"mail-{r.choice(['ed1', 'wr1', 'yw1', 'lj1', 'pl1', 'qt1', 'ej1'])}-f{n}.google.com"
            ip = f"209.85.{r.randint(128, 221)}.{n}"
            sel = "20230601" if p.host == "gmail" else "google"
            dk = [("gmail.com" if p.host == "gmail" else d, sel)]
            if p.host == "workspace":
                dk.append((f"{d.replace('.', '-')}.20230601.gappssmtp.com", "20230601"))
            mid = self.uniq_id(lambda: f"<CA{self.b64(r.choice([40, 42, 44]), url=True).replace('-', '+')}@mail.gmail.com>")
        elif p.host in ("outlook", "m365"):
            region = r.choice(["EUR05-AM6", "EUR03-DBA", "NAM12-MW2", "EUR02-VI1", "NAM10-DM6"])
            helo = f"{region}-obe.outbound.protection.outlook.com"
            ip = f"40.92.{r.randint(1, 250)}.{r.randint(1, 250)}" if p.host == "outlook" else f"52.101.{r.randint(1, 250)}.{r.randint(1, 250)}"
            dk = [("outlook.com" if p.host == "outlook" else d, "selector1")]
            srv = f"{r.choice(['AM9', 'DB9', 'PA4', 'VI1', 'MW4', 'BN8'])}PR{r.randint(1, 9):02d}MB{r.randint(1000, 9999)}"
            mid = self.uniq_id(lambda: f"<{srv}{self.hex(6).upper()}{self.b64(10).upper().replace('/', 'A').replace('+', 'B')}@{srv}.{r.choice(['eurprd07', 'eurprd04', 'namprd12', 'namprd05'])}.prod.outlook.com>")
        elif p.host == "fastmail":
            helo = f"fout-{r.choice(['a', 'b'])}{r.randint(1, 8)}-smtp.messagingengine.com"
            ip = f"103.168.172.{r.randint(130, 160)}"
            dk = [(d, "fm1"), ("messagingengine.com", "fm1")]
            mid = self.uniq_id(lambda: f"<{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}@app.fastmail.com>")
        elif p.host == "proton":
            helo = f"mail-{r.randint(4000, 4399)}{self.hex(2)}.protonmail.ch"
            ip = f"185.70.{r.randint(40, 43)}.{r.randint(1, 250)}"
            dk = [("proton.me", "protonmail")]
            mid = self.uniq_id(lambda: f"<{self.b64(60, url=True)}=@proton.me>")
        elif p.host == "apple":
            helo = f"st{r.randint(40, 49)}p00im-zteg{r.randint(1000, 9999)}.me.com"
            ip = f"17.58.{r.randint(1, 99)}.{r.randint(1, 250)}"
            dk = [("icloud.com", "1a1hai")]
            mid = self.uniq_id(lambda: f"<{self.hex(8).upper()}-{self.hex(4).upper()}-{self.hex(4).upper()}-{self.hex(4).upper()}-{self.hex(12).upper()}@icloud.com>")
        else:  # yahoo
            helo = f"sonic{r.randint(300, 330)}-{r.randint(1, 40)}.consmr.mail.ir2.yahoo.com"
            ip = f"77.238.{r.randint(176, 179)}.{r.randint(1, 250)}"
            dk = [("yahoo.com", "s2048")]
            mid = self.uniq_id(lambda: f"<{self.digits(10)}.{self.digits(7)}.{self.digits(13)}@mail.yahoo.com>")
        return {"helo": helo, "ip": ip, "dkim": dk, "msgid": mid, "return_path": p.email}

    # ---- bodies -------------------------------------------------------------------------------

    def text_part(self, body: str, force: str | None = None) -> tuple[list[str], bytes]:
        """Content-Type/Transfer-Encoding headers and the encoded body for a text/plain part."""
        if not body.endswith("\n"):
            body += "\n"
        if body.isascii() and max(len(x) for x in body.splitlines() or [""]) < 990 and force is None:
            cte = self.rng.choice(["7bit", "7bit", "quoted-printable"])
        else:
            cte = force or self.rng.choice(["quoted-printable", "quoted-printable", "base64", "8bit"])
        ct = 'Content-Type: text/plain; charset="UTF-8"' if self.rng.random() < 0.7 else "Content-Type: text/plain; charset=utf-8; format=flowed"
        return [ct, f"Content-Transfer-Encoding: {cte}"], encode_body(body, cte)

    def multipart_alt(self, text: str, html: str, boundary: str, html_cte: str = "quoted-printable",
                      text_cte: str = "quoted-printable") -> tuple[list[str], bytes]:
        parts = [
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {text_cte}\n\n".encode()
            + encode_body(text, text_cte),
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: {html_cte}\n\n".encode()
            + encode_body(html, html_cte),
        ]
        body = b"\n".join(parts) + f"\n--{boundary}--\n".encode()
        return [f'Content-Type: multipart/alternative;\n\tboundary="{boundary}"'], body

    # ---- message kinds ------------------------------------------------------------------------

    def add(self, when: dt.datetime | None, thread: str, headers: list[str], body: bytes,
            truth: dict | None, envelope_date: dt.datetime | None = None) -> None:
        head = "\n".join(headers) + "\n\n"
        raw = head.encode("ascii") + body
        if not raw.endswith(b"\n"):
            raw += b"\n"
        self.msgs.append(Msg(when or envelope_date, thread, raw, envelope_date or when, truth,  # type: ignore[arg-type]
                             self.thrid(thread)))

    def takeout(self, thread: str, labels: str) -> list[str]:
        return [f"X-GM-THRID: {self.thrid(thread)}", f"X-Gmail-Labels: {labels}"]

    def personal(self, sender: Person, to: list[tuple[str, str]], subject: str, body: str, when: dt.datetime,
                 *, thread: str, case: str, expected: str = "keep", contact: str | None = None,
                 cc: list[tuple[str, str]] | None = None, in_reply_to: str | None = None,
                 references: list[str] | None = None, date_header: str | None = None,
                 reply_to: str | None = None) -> str:
        infra = self.sender_infra(sender, when)
        mid = infra["msgid"]
        rcpt = to[0][1]
        h: list[str] = []
        if sender is self.sam:
            h += self.takeout(thread, self.rng.choice(["Sent", "Sent", "Sent,Opened"]))
            h += [(f"Received: by 2002:a05:{self.hex(4)}:{self.hex(3)}:b0:{self.hex(3)} with HTTP;\n"
                  f"        {rfc2822('us_west', when)}")]
            h += [f"Return-Path: <{ME}>"]
            h += [self.dkim("rivera.dev", "google", when)]
        else:
            labels = self.rng.choice(["Inbox,Opened", "Inbox,Opened", "Inbox,Unread", "Important,Inbox,Opened",
                                      "Archived,Opened"])
            h += self.takeout(thread, labels)
            h += [f"Delivered-To: {rcpt}"]
            h += self.received(infra["helo"], infra["ip"], rcpt, when)
            h += [f"Return-Path: <{infra['return_path']}>"]
            h += [self.auth_results(infra["dkim"], infra["return_path"], infra["ip"], sender.domain)]
            h += [self.dkim(d, s, when) for d, s in infra["dkim"]]
        h += ["MIME-Version: 1.0"]
        if references:
            h += [fold("References", " ".join(references))]
        if in_reply_to:
            h += [f"In-Reply-To: {in_reply_to}"]
        h += [f"From: {addr(sender.name, sender.email)}"]
        h += date_lines(date_header, f"Date: {rfc2822(sender.zone, when)}")
        h += [f"Message-ID: {mid}"]
        h += [f"Subject: {enc_header(subject)}"]
        h += [fold("To", ", ".join(addr(n, a) for n, a in to))]
        if cc:
            h += [fold("Cc", ", ".join(addr(n, a) for n, a in cc))]
        if reply_to:
            h += [f"Reply-To: {reply_to}"]
        if sender.host == "fastmail":
            h += ["User-Agent: Cyrus-JMAP/3.11.0-alpha0-" + self.hex(7)]
        elif sender.host == "apple":
            h += ["X-Mailer: iPhone Mail (22D72)"]
        ct, payload = self.text_part(body)
        h += ct
        truth = {"message_id": mid, "expected": expected, "case": case, "contact": contact}
        self.add(when, thread, h, payload, truth)
        return mid

    # ---- ESPs ---------------------------------------------------------------------------------

    def esp(self, esp: str, brand: str, brand_domain: str, rcpt: str, when: dt.datetime,
            from_addr: str) -> dict:
        """Everything an ESP adds: Return-Path, DKIM, ESP headers, unsubscribe, tracking, Message-ID."""
        r = self.rng
        tag = rcpt.replace("@", "=")
        sl = slug(brand)[:14] or "news"
        out: dict = {"extra": [], "one_click": True, "precedence": r.random() < 0.8, "list_id": None}
        if esp == "sendgrid":
            sub = f"em{r.randint(1000, 9999)}.{brand_domain}"
            u = r.randint(1000000, 49999999)
            out.update(
                return_path=f"bounces+{r.randint(10 ** 7, 10 ** 8 - 1)}-{self.hex(4)}-{tag}@{sub}",
                dkim=[(brand_domain, "s1"), ("sendgrid.net", "smtpapi")],
                helo=f"o{r.randint(1, 30)}.ptr{r.randint(1000, 9999)}.{brand_domain}",
                ip=f"149.72.{r.randint(1, 254)}.{r.randint(1, 254)}",
                msgid=f"<{self.b64(22, url=True)}@geopod-ismtpd-{r.randint(1, 40)}>",
                unsub=f"<https://u{u}.ct.sendgrid.net/lu/unsubscribe?oc={self.b64(40, url=True)}>, "
                      f"<mailto:unsubscribe@{sub}?subject=unsubscribe>",
                pixel=f"https://u{u}.ct.sendgrid.net/wf/open?upn={self.b64(60, url=True)}",
            )
            out["extra"] += [fold("X-SG-EID", self.b64(110) + "=="), f"X-SG-ID: {self.b64(60)}=",
                             f"X-Entity-ID: {self.b64(22)}=="]
        elif esp == "mailchimp":
            dc = r.randint(2, 21)
            uid, cid = self.hex(25), self.hex(10)
            n = r.randint(10, 250)
            host = f"mail{n}.{r.choice(['atl', 'sea', 'suw'])}{r.randint(11, 191)}.mcsv.net"
            out.update(
                return_path=f"bounce-mc.us{dc}_{r.randint(10 ** 7, 10 ** 8)}.{r.randint(10 ** 6, 10 ** 7)}-{self.hex(10)}@{host}",
                dkim=[(brand_domain, "k2"), ("mcsv.net", "k3")],
                helo=host.replace("mcsv.net", "mcdlv.net"),
                ip=f"198.2.{r.randint(128, 191)}.{r.randint(1, 254)}",
                msgid=f"<{self.hex(32)}.{self.hex(20)}@{host.replace('mcsv.net', 'mcdlv.net')}>",
                unsub=f"<https://{sl}.us{dc}.list-manage.com/unsubscribe?u={uid}&id={cid}&e={self.hex(10)}&c={self.hex(10)}>, "
                      f"<mailto:unsubscribe-mc.us{dc}_{uid}.{cid}-{self.hex(10)}@unsubscribe.mailchimpapp.net?subject=unsubscribe>",
                pixel=f"https://{sl}.us{dc}.list-manage.com/track/open.php?u={uid}&id={self.hex(10)}&e={self.hex(10)}",
                list_id=f"{brand} <{uid}.{sl}.us{dc}.list-manage.com>",
            )
            out["extra"] += [f"X-MC-User: {uid}", f"Feedback-ID: {r.randint(10 ** 7, 10 ** 8)}:{r.randint(10 ** 7, 10 ** 8)}.{r.randint(10 ** 6, 10 ** 7)}:us{dc}:mc",
                             f"X-Mailer: Mailchimp Mailer - **CID{cid}{self.hex(10)}**",
                             f"X-Campaign: mailchimp{uid}.{self.hex(10)}",
                             "X-Accounttype: pd",
                             fold("X-Report-Abuse", f"Please report abuse for this campaign here: https://mailchimp.com/contact/abuse/?u={uid}&id={self.hex(10)}&e={self.hex(10)}")]
        elif esp == "mailgun":
            sub = f"mg.{brand_domain}"
            tok = self.b64(40, url=True)
            out.update(
                return_path=f"bounce+{self.hex(6)}.{self.hex(6)}-{tag}@{sub}",
                dkim=[(sub, "pic"), ("mailgun.org", "mg")],
                helo=f"m{r.randint(40, 240)}-{r.randint(1, 200)}.mailgun.net",
                ip=f"159.135.{r.randint(224, 239)}.{r.randint(1, 254)}",
                msgid=f"<{when.strftime('%Y%m%d%H%M%S')}.{self.hex(16)}@{sub}>",
                unsub=f"<https://email.{sub}/u/{tok}>, <mailto:unsubscribe@{sub}?subject={self.hex(12)}>",
                pixel=f"https://email.{sub}/o/{self.b64(48, url=True)}",
            )
            out["extra"] += [f"X-Mailgun-Sid: {self.b64(60)}", f"X-Mailgun-Batch-Id: {self.hex(24)}",
                             f"Sender: {from_addr.split('@')[0]}={brand_domain}@{sub}"]
        elif esp == "ses":
            tok = f"0100{self.hex(12)}-{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}-000000"
            out.update(
                return_path=f"{tok}@amazonses.com",
                dkim=[(brand_domain, self.b64(32).lower().replace("+", "x").replace("/", "y")),
                      ("amazonses.com", "224i4yxa5dv7c2xz3womw6peuasteono")],
                helo=f"a8-{r.randint(10, 99)}.smtp-out.amazonses.com",
                ip=f"54.240.8.{r.randint(10, 99)}",
                msgid=f"<{tok}@email.amazonses.com>",
                unsub=f"<https://{brand_domain}/email/unsubscribe?token={self.b64(40, url=True)}>, <mailto:unsubscribe@{brand_domain}>",
                pixel=f"https://{self.hex(8)}.r.us-east-1.awstrack.me/I0/{tok}/{self.b64(30, url=True)}=/{r.randint(100, 400)}",
            )
            out["extra"] += [f"Feedback-ID: ::1.us-east-1.{self.b64(43)}=:AmazonSES",
                             f"X-SES-Outgoing: 2026.{when.month:02d}.{when.day:02d}-54.240.8.{r.randint(10, 99)}"]
        elif esp == "hubspot":
            bf = f"bf{r.randint(1, 30):02d}{r.choice('abcdefghxz')}.hubspotemail.net"
            portal = r.randint(1000000, 49999999)
            out.update(
                return_path=f"{self.b64(40).lower().replace('+', 'x').replace('/', 'q')}-{tag}@{bf}",
                dkim=[(brand_domain, "hs1"), ("hubspotemail.net", f"hs1-{portal}")],
                helo=f"{bf.split('.')[0]}.hubspotemail.net",
                ip=f"143.244.{r.randint(80, 95)}.{r.randint(1, 254)}",
                msgid=f"<{int(when.timestamp() * 1000)}.{self.hex(32)}@{bf}>",
                unsub=f"<https://hs-{portal}.s.hubspotemail.net/hs/manage-preferences/unsubscribe?d={self.b64(50, url=True)}>, "
                      f"<mailto:unsubscribe-{self.hex(16)}@{bf}>",
                pixel=f"https://{self.hex(8)}.na1.hubspotlinks.com/Cto/{self.b64(40, url=True)}",
            )
            out["extra"] += [f"X-HS-Cid: {self.b64(60, url=True)}", "X-Report-Abuse-To: abuse@hubspot.com",
                             f"Feedback-ID: {bf.split('.')[0]}:{portal}:{r.randint(10 ** 8, 10 ** 9)}:HubSpot"]
        elif esp == "convertkit":
            kid = r.randint(100000, 9999999)
            out.update(
                return_path=f"bounce-{kid}-{self.hex(12)}@convertkit-mail4.com",
                dkim=[(brand_domain, "ck"), ("convertkit-mail4.com", "ck")],
                helo=f"mta{r.randint(1, 40)}.convertkit-mail4.com",
                ip=f"170.10.{r.randint(128, 159)}.{r.randint(1, 254)}",
                msgid=f"<{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}@convertkit-mail4.com>",
                unsub=f"<https://unsubscribe.convertkit-mail4.com/{self.b64(30, url=True)}>, <mailto:unsubscribe-{kid}@convertkit-mail4.com>",
                pixel=f"https://open.convertkit-mail4.com/{self.b64(40, url=True)}",
            )
            out["extra"] += [f"X-Kit-ID: {kid}", f"X-Kit-Broadcast-ID: {r.randint(10 ** 7, 10 ** 8)}"]
        elif esp == "beehiiv":
            out.update(
                return_path=f"bounces+{r.randint(10 ** 7, 10 ** 8)}-{self.hex(4)}-{tag}@mail.beehiiv.com",
                dkim=[("mail.beehiiv.com", "s1"), ("sendgrid.net", "smtpapi")],
                helo=f"o{r.randint(1, 30)}.ptr{r.randint(1000, 9999)}.mail.beehiiv.com",
                ip=f"168.245.{r.randint(1, 254)}.{r.randint(1, 254)}",
                msgid=f"<{self.b64(22, url=True)}@geopod-ismtpd-{r.randint(1, 40)}>",
                unsub=f"<https://{sl}.beehiiv.com/subscribe/{self.hex(8)}-{self.hex(4)}/unsubscribe?token={self.b64(24, url=True)}>, "
                      f"<mailto:unsubscribe@mail.beehiiv.com?subject={self.hex(16)}>",
                pixel=f"https://mail.beehiiv.com/o/{self.b64(48, url=True)}",
            )
            out["extra"] += ["X-Beehiiv-Type: newsletter", f"X-Beehiiv-Ids: {self.hex(8)}-{self.hex(4)}-{self.hex(4)}",
                             fold("X-SG-EID", self.b64(80) + "==")]
        elif esp == "substack":
            out.update(
                return_path=f"bounce-{self.hex(10)}@mg1.substack.com",
                dkim=[("substack.com", "mg"), ("mg1.substack.com", "mg")],
                helo=f"m{r.randint(40, 240)}-{r.randint(1, 200)}.mailgun.net",
                ip=f"198.61.254.{r.randint(1, 254)}",
                msgid=f"<{when.strftime('%Y%m%d%H%M%S')}.{self.hex(16)}@mg1.substack.com>",
                unsub=f"<https://{sl}.substack.com/action/disable_email?token={self.b64(40, url=True)}>",
                pixel=f"https://eotrx.substackcdn.com/open?token={self.b64(60, url=True)}",
                list_id=f"<{sl}.substack.com>",
            )
            out["extra"] += [f"X-Mailgun-Sid: {self.b64(60)}", "X-Mailgun-Tag: post"]
        elif esp == "buttondown":
            out.update(
                return_path=f"bounces+{self.hex(12)}@mail.buttondown.email",
                dkim=[("buttondown.email", "bd1")],
                helo=f"a{r.randint(1, 60)}-{r.randint(1, 99)}.smtp-out.amazonses.com",
                ip=f"54.240.11.{r.randint(1, 254)}",
                msgid=f"<{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}@buttondown.email>",
                unsub=f"<https://buttondown.com/{sl}/unsubscribe/{self.hex(8)}>",
                pixel=f"https://buttondown.com/emails/{self.hex(8)}/open.gif",
            )
            out["extra"] += [f"Feedback-ID: ::1.us-east-1.{self.b64(43)}=:AmazonSES"]
        else:  # the brand's own mail server (Postfix)
            out.update(
                return_path=f"bounce-{self.hex(8)}@{brand_domain}",
                dkim=[(brand_domain, r.choice(["default", "mail", "dkim"]))],
                helo=f"mail{r.randint(1, 9)}.{brand_domain}",
                ip=self.ip(),
                msgid=f"<{when.strftime('%Y%m%d%H%M%S')}.{self.hex(10)}@{brand_domain}>",
                unsub=f"<https://{brand_domain}/newsletter/unsubscribe?id={self.hex(16)}>, <mailto:newsletter-leave@{brand_domain}>",
                pixel=f"https://{brand_domain}/t/o/{self.hex(20)}.gif",
            )
        out["msgid"] = self.uniq_id(lambda m=out["msgid"]: m)
        return out

    def marketing(self, *, esp: str, from_name: str, from_addr: str, brand: str, brand_domain: str,
                  subject: str, content: dict, when: dt.datetime, thread: str, case: str, expected: str,
                  contact: str | None = None, reply_to: str | None = None, rcpt: str = ME,
                  date_header: str | None = None, to_header: str | None = None) -> str:
        r = self.rng
        when = self.waking(content.get("zone", "utc"), when, 6, 21)
        e = self.esp(esp, brand, brand_domain, rcpt, when, from_addr)
        home = content.get("home") or f"https://{brand_domain}"
        campaign = slug(subject)[:24] or "newsletter"
        utm = f"utm_source={r.choice(['newsletter', 'email', slug(brand)[:12] or 'email'])}&utm_medium=email&utm_campaign={campaign}"
        links = [(label, f"{home}/{path}?{utm}") for label, path in content["links"]]
        view = f"{home}/email/{self.hex(10)}?{utm}" if esp not in ("mailchimp",) else f"https://mailchi.mp/{slug(brand)[:10]}/{campaign[:20]}"
        unsub_url = e["unsub"].split(">")[0].lstrip("<")
        html, text = render_newsletter(content, brand, brand_domain, home, links, view, unsub_url,
                                       e["pixel"], utm, subject)
        h: list[str] = []
        h += self.takeout(thread, r.choice(["Inbox,Unread", "Inbox,Opened", "Inbox,Unread", "Archived,Unread"]))
        h += [f"Delivered-To: {rcpt}"]
        h += self.received(e["helo"], e["ip"], rcpt, when)
        h += [f"Return-Path: <{e['return_path']}>"]
        h += [self.auth_results(e["dkim"], e["return_path"], e["ip"], from_addr.rpartition("@")[2])]
        h += [self.dkim(d, s, when, "from:subject:to:list-unsubscribe:list-unsubscribe-post:mime-version:content-type")
              for d, s in e["dkim"]]
        h += [f"Message-ID: {e['msgid']}"]
        h += date_lines(date_header, f"Date: {rfc2822(content.get('zone', 'utc'), when)}")
        h += ["MIME-Version: 1.0"]
        h += [f"From: {addr(from_name, from_addr)}"]
        if reply_to:
            h += [f"Reply-To: {reply_to}"]
        h += [f"To: {to_header or rcpt}"]
        h += [f"Subject: {enc_header(subject)}"]
        h += e["extra"]
        if e["list_id"]:
            h += [f"List-Id: {enc_header(e['list_id']) if not e['list_id'].isascii() else e['list_id']}"]
        h += [fold("List-Unsubscribe", e["unsub"])]
        if e["one_click"]:
            h += ["List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
        if e["precedence"]:
            h += ["Precedence: bulk"]
        boundary = {"mailchimp": f"_----------=_MCPart_{r.randint(10 ** 8, 10 ** 9)}",
                    "sendgrid": self.hex(64), "beehiiv": self.hex(64),
                    "hubspot": f"----=_Part_{r.randint(10 ** 5, 10 ** 6)}_{r.randint(10 ** 8, 10 ** 9)}.{int(when.timestamp() * 1000)}",
                    }.get(esp, f"=_{self.hex(32)}")
        html_cte = r.choice(["quoted-printable", "quoted-printable", "base64"])
        ct, payload = self.multipart_alt(text, html, boundary, html_cte=html_cte)
        h += ct
        truth = {"message_id": e["msgid"], "expected": expected, "case": case, "contact": contact}
        self.add(when, thread, h, payload, truth)
        return e["msgid"]

    def sales(self, *, tool: str, sender: Person, subject: str, text: str, when: dt.datetime, thread: str,
              case: str, expected: str, contact: str | None, in_reply_to: str | None = None,
              references: list[str] | None = None, book_url: str = "") -> str:
        """A sales-sequence step sent from the rep's own mailbox through a sales-engagement tool."""
        r = self.rng
        when = self.waking(sender.zone, when, 8, 18, weekdays_only=True)
        infra = self.sender_infra(sender, when)
        mid = infra["msgid"]
        if tool == "hubspot":
            pix = f"https://t.sidekickopen{r.randint(10, 90)}.com/Cto/{self.b64(8, url=True)}/{self.b64(40, url=True)}"
            wrap = f"https://t.sidekickopen{r.randint(10, 90)}.com/s3t/c5/{self.b64(30, url=True)}"
            extra = [f"X-HubSpot-Sales-Sequence: {r.randint(10 ** 6, 10 ** 7)}", f"X-HS-Cid: {self.b64(40, url=True)}",
                     "X-Mailer: HubSpot Sales"]
        elif tool == "outreach":
            pix = f"https://app{r.randint(1, 3)}a.outreach.io/api/mailings/{r.randint(10 ** 6, 10 ** 8)}/open.gif"
            wrap = f"https://app{r.randint(1, 3)}a.outreach.io/api/mailings/click/{self.b64(30, url=True)}"
            extra = [f"X-Outreach-Mailing-Id: {r.randint(10 ** 6, 10 ** 8)}", f"X-Outreach-Sequence-Id: {r.randint(1000, 99999)}"]
        else:  # apollo
            pix = f"https://email.apollo.io/o/{self.b64(40, url=True)}"
            wrap = f"https://email.apollo.io/c/{self.b64(30, url=True)}"
            extra = [f"X-Apollo-Emailer-Campaign-Id: {self.hex(24)}", f"X-Apollo-Message-Id: {self.hex(24)}"]
        paras = text.strip().split("\n\n")
        html_paras = []
        for p in paras:
            p2 = esc(p).replace("\n", "<br>")
            if book_url and "{BOOK}" in p:
                p2 = p2.replace("{BOOK}", f'<a href="{wrap}?u={esc(book_url)}">Book a demo</a>')
            html_paras.append(f'<div dir="ltr">{p2}</div><div><br></div>')
        html = ('<div dir="ltr">' + "".join(html_paras) +
                f'</div><img src="{pix}" alt="" width="1" height="1" style="display:none!important" border="0">\n')
        plain = text.replace("{BOOK}", f"Book a demo: {book_url}")
        h: list[str] = []
        h += self.takeout(thread, r.choice(["Inbox,Unread", "Inbox,Opened", "Archived,Unread"]))
        h += [f"Delivered-To: {ME}"]
        h += self.received(infra["helo"], infra["ip"], ME, when)
        h += [f"Return-Path: <{infra['return_path']}>"]
        h += [self.auth_results(infra["dkim"], infra["return_path"], infra["ip"], sender.domain)]
        h += [self.dkim(d, s, when) for d, s in infra["dkim"]]
        h += ["MIME-Version: 1.0"]
        if references:
            h += [fold("References", " ".join(references))]
        if in_reply_to:
            h += [f"In-Reply-To: {in_reply_to}"]
        h += [f"From: {addr(sender.name, sender.email)}", f"Date: {rfc2822(sender.zone, when)}",
              f"Message-ID: {mid}", f"Subject: {enc_header(subject)}", f"To: {addr(ME_NAME, ME)}"]
        h += extra
        boundary = "0000000000" + self.hex(18)
        ct, payload = self.multipart_alt(plain, html, boundary, html_cte="quoted-printable", text_cte="quoted-printable")
        h += ct
        self.add(when, thread, h, payload, {"message_id": mid, "expected": expected, "case": case, "contact": contact})
        return mid

    # ---- conversations ------------------------------------------------------------------------

    def exchange(self, p: Person, day0: float, turns: list, subject: str, *,
                 thread: str, to_addr: str = ME,
                 cc: list[tuple[str, str]] | None = None, max_gap: float = 3.0) -> dt.datetime:
        """A one-to-one thread; turns are (speaker 'them'|'sam', body[, Sam's recipients]). Returns the
        last instant."""
        r = self.rng
        prev_id: str | None = None
        refs: list[str] = []
        when = self.at(day0, p.zone if turns[0][0] == "them" else "eu")
        prev_body, prev_who, prev_when = "", None, when
        for i, (who, body, *sam_to) in enumerate(turns):
            if i:
                when = prev_when + dt.timedelta(hours=r.uniform(0.4, 24 * max_gap))
                when = self.waking(p.zone if who == "them" else "eu", when)
            subj = subject if i == 0 else ("Re: " + subject if not subject.startswith("Re: ") else subject)
            if i and prev_who is not None and r.random() < 0.6:
                body = body.rstrip() + "\n\n" + quote(prev_who, prev_body, prev_when)
            if who == "them":
                mid = self.personal(p, [(ME_NAME, to_addr)] if r.random() < 0.8 else [("", to_addr)], subj, body, when,
                                    thread=thread, case="personal", in_reply_to=prev_id,
                                    references=list(refs) if refs else None, cc=cc if i == 0 else None)
                prev_who = p
            else:
                mid = self.personal(self.sam, sam_to[0] if sam_to else [(p.name, p.email)], subj, body, when, thread=thread,
                                    case="own_reply", in_reply_to=prev_id, references=list(refs) if refs else None)
                prev_who = self.sam
            refs.append(mid)
            prev_id, prev_body, prev_when = mid, body.split("\n\nOn ")[0], when
        return prev_when

    def meet_turns(self, p: Person, n: int, sam_first: bool = False) -> tuple[str, list[tuple[str, str]]]:
        """Wording for a networking exchange of n turns."""
        r = self.rng
        ev, tp, place = self.event(), self.topic(), r.choice(PLACES)
        p.met_at = ev
        wd = r.choice(WEEKDAYS)
        wd1, wd2 = r.sample(WEEKDAYS, 2)
        Place = place[0].upper() + place[1:]
        sig = self.signature(p)
        if sam_first:
            subject = r.choice([f"Great meeting you at {ev.replace('the ', '')}", "Coffee?", f"Following up from {ev.replace('the ', '')}",
                                f"{tp} — the link I mentioned"])
            opener = r.choice([
                f"Hi {p.first},\n\nGreat meeting you at {ev} on {wd}. I'd love to hear more about how you're approaching {tp} — would you be up for a coffee in the next couple of weeks?\n\n{self.signature(self.sam)}",
                f"Hey {p.first},\n\nThanks for the chat at {ev}! Here's the write-up on {tp} I mentioned: https://rivera.dev/notes/{slug(tp)[:20]}\n\nHappy to compare notes over coffee sometime.\n\n{self.signature(self.sam)}",
            ])
            turns = [("sam", opener)]
        else:
            subject = r.choice(["Great meeting you!", f"Coffee after {ev.replace('the ', '')}?", "Nice to meet you",
                                f"Our chat about {tp}", "Hello from " + ev.replace("the ", ""), "coffee sometime?"])
            opener = r.choice([
                f"Hi Sam,\n\nGreat meeting you at {ev} last {wd}! I really enjoyed our chat about {tp}. Coffee sometime in the next couple of weeks? I'm around {r.choice(AREAS)} most afternoons.\n\nBest,\n{sig}",
                f"Hey Sam,\n\nIt was really nice to meet you at {ev}. I keep thinking about your point on {tp} -- would love to continue that over coffee if you're up for it.\n\nCheers,\n{sig}",
                f"Hi Sam,\n\n{r.choice(['Maria', 'Jonas', 'Lea', 'Tomás', 'Ayşe'])} gave me your address after {ev} — I hope that's OK. They mentioned you've done a lot of work on {tp}, which is exactly what we're wrestling with right now. Would you have 30 minutes for a call or a coffee?\n\nThanks!\n{sig}",
                f"Sam!\n\nSo good to finally meet in person at {ev}. As promised, here's the thread on {tp} I mentioned: https://news.ycombinator.com/item?id={r.randint(39000000, 42000000)}\n\nLet me know if you want to grab lunch sometime.\n\n{sig}",
                f"Hi Sam,\n\nThanks again for the conversation at {ev}.\nFrom what I remember you had strong opinions on {tp} ;)\nI'd love to hear more. Are you free for a coffee next week?\n\n{sig}",
            ])
            turns = [("them", opener)]
        sam_replies = [
            f"Hi {p.first},\n\nLikewise, great to meet you! Coffee sounds good — how about {wd1} at {r.choice(['10', '11', '3', '4'])}? {Place} works for me.\n\nSam",
            f"Hey {p.first},\n\nYes, let's do it. I'm fairly flexible next week, just pick a slot. {Place}?\n\nSam",
            f"Thanks {p.first}! Really enjoyed it too. {wd1} or {wd2} afternoon would work.\n\nBest,\nSam",
            f"Hi {p.first},\n\nThat was fun. Happy to chat more about {tp}; I've got a few notes from the last project I can share.\n\nSam",
        ]
        their_replies = [
            f"Perfect, see you then!\n\n{p.first}",
            f"{wd1} works. See you at {place}.\n\n{p.first}",
            f"Great — put it in my calendar. Looking forward!\n\n{p.first}",
            f"Thanks again for the coffee, Sam. Here's the repo I mentioned: https://github.com/{slug(p.first)}{slug(p.last)[:3]}/{slug(tp)[:16]}\n\nLet's stay in touch.\n\n{p.first}",
            f"Sounds good. I'll bring the benchmark numbers.\n\n{p.first}",
        ]
        sam_follow = [
            f"Thanks {p.first}, that was really useful. Let's do it again after the summer.\n\nSam",
            "Great seeing you today! Sending the intro to Maria now.\n\nSam",
            "See you there!\n\nSam",
        ]
        who = "them" if not sam_first else "sam"
        for i in range(1, n):
            who = "sam" if who == "them" else "them"
            if who == "sam":
                turns.append(("sam", r.choice(sam_follow if i >= 2 else sam_replies)))
            else:
                turns.append(("them", r.choice(their_replies if i >= 2 else their_replies[:3] + [
                    f"Hi Sam,\n\nGreat, thanks for writing! Coffee would be lovely. Does {r.choice(WEEKDAYS)} morning work?\n\n{sig}"])))
        return subject, turns

    # ---- scenarios ----------------------------------------------------------------------------

    def n(self, base: float, minimum: int = 1) -> int:
        return max(minimum, round(base * self.scale))

    def blast_days(self, after: float, count: int, max_gap: float = 165.0) -> list[float]:
        lo = after + self.rng.uniform(12, 30)
        hi = min(SPAN_DAYS - 2, after + max_gap)
        if lo >= hi:
            lo = max(after + 2, hi - 5)
        return sorted(self.rng.uniform(lo, hi) for _ in range(count))

    def company_content(self, co: Company, when: dt.datetime, *, founder: Person | None = None) -> dict:
        r = self.rng
        feature = r.choice(["Workflows", "Smart Alerts", "Team Spaces", "the new API", "SSO for everyone",
                            "Dashboards 2.0", "Realtime Sync", "AI Assist", "Usage-based pricing", "Audit Logs"])
        month = (when - dt.timedelta(days=r.randint(0, 6))).strftime("%B")
        tp = self.topic()
        options = [
            (f"{co.name} product update: {feature} is here", f"{feature} is live for every {co.name} workspace.",
             f"Say hello to {feature}", [f"Today we're launching {feature} — the most requested feature of the year. Teams in our beta cut the time they spend on routine work by a third.",
                                         "It's available on all paid plans starting today, and free plans get a 14-day preview.",
                                         f"Join our live walkthrough next week to see how {r.choice(['Lumen', 'Harbor', 'Kite', 'Slate'])} uses it in production."],
             "Try it now"),
            (f"[Webinar] {tp}: live on {r.choice(WEEKDAYS)}", "Save your seat — 45 minutes, live Q&A.",
             f"{tp}, live", [f"Join the {co.name} team for a practical session on {tp}. We'll share the playbook we use with hundreds of customers.",
                             "Can't make it? Register anyway and we'll send you the recording."], "Register for free"),
            (f"{co.name} {month} recap: what we shipped", "Five new features, two integrations and a price cut.",
             f"What's new at {co.name} this {month}", ["Here's everything we shipped this month: faster imports, a redesigned editor, Slack and Linear integrations, and a lot of fixes.",
                                                       f"Plus: a customer story from a team that replaced three tools with {co.name}."], "See what's new"),
            (f"Last chance: 25% off {co.name} Pro ends Friday", "Annual plans are 25% off until Friday midnight.",
             "25% off Pro — ends Friday", [f"Upgrade to {co.name} Pro this week and save 25% on an annual plan.",
                                           "Unlimited projects, priority support and every new feature first. Offer ends Friday at midnight CET."], "Upgrade now"),
            (f"You're invited: {co.name} Connect 2026", "Our first user conference — early-bird tickets inside.",
             f"{co.name} Connect 2026", ["Two days of talks, workshops and product announcements in Berlin this autumn.",
                                          "Early-bird tickets are 40% off until the end of the month."], "Get your ticket"),
            (f"5 ways teams use {co.name} to ship faster", "Real examples from real teams.",
             "5 ways to ship faster", ["1. Automate the boring handoffs. 2. Share one source of truth. 3. Alert on what matters. 4. Review in context. 5. Measure everything.",
                                       "Each tip links to a template you can copy in one click."], "Read the guide"),
        ]
        if founder is not None:
            options.append((f"A note from {founder.first}: why we built {co.name}", f"{founder.first} on the road so far.",
                            f"Why we built {co.name}", [f"When I started {co.name}, I wanted to fix one thing: {tp}.",
                                                         "Today we're opening the doors to everyone — and as a thank-you to early supporters, your first three months are on us."],
                            "Claim your 3 months"))
        subj, pre, head, paras, cta = r.choice(options)
        return {"subject": subj, "preheader": pre, "headline": head, "paras": paras, "cta": cta,
                "links": [(cta, r.choice(["pricing", "signup", "webinar", "blog/launch", "features", "events"])),
                          ("Blog", "blog"), ("Customers", "customers"), ("Docs", "docs")],
                "address": co.address,
                "zone": r.choice(["utc", "eu", "us_east"])}

    def creator_content(self, p: Person, issue: int) -> dict:
        r = self.rng
        tp = self.topic()
        options = [
            (f"{p.first}'s Notes #{issue}: {tp}", f"This week: {tp}, a tool I love and a job board.",
             f"Notes #{issue}", [f"Hi friends — this week I've been deep in {tp}. Here's what I learned and the three links worth your time.",
                                 "Also: I'm taking on two new advisory clients this quarter. Reply if that's interesting."], "Read online"),
            (f"My new course on {tp} is live 🎉", "Launch pricing for the first 100 seats.",
             "The course is live", [f"After months of work, my course on {tp} is finally out: 6 modules, 4 hours of video, exercises and a private community.",
                                    "Launch price is 40% off for the first 100 students."], "Enroll now"),
            (f"Issue #{issue} — {tp}", "Tools, talks and one contrarian take.", f"Issue #{issue}",
             [f"Welcome to the {len(self.msgs) % 300 + 400} new subscribers this month! Today: {tp}.",
              "Sponsored: this issue is brought to you by a database that never sleeps."], "Read the full issue"),
            (f"Early-bird pricing for my {tp} workshop ends soon", "Only 8 seats left.",
             "Workshop: last early-bird seats", [f"My live workshop on {tp} runs over two mornings next month.",
                                                 "Early-bird pricing ends Sunday. Teams of 3+ get another 20% off."], "Book your seat"),
        ]
        subj, pre, head, paras, cta = r.choice(options)
        return {"subject": subj, "preheader": pre, "headline": head, "paras": paras, "cta": cta,
                "links": [(cta, r.choice(["course", "workshop", "p/issue-" + str(issue), "checkout"])),
                          ("Archive", "archive"), ("Sponsor", "sponsor")],
                "address": self.postal(p.name, legal=False),
                "home": p.website or f"https://{p.domain}", "zone": p.zone}

    def brand_content(self, brand: dict, issue: int, when: dt.datetime) -> dict:
        r = self.rng
        kind, name = brand["kind"], brand["name"]
        if kind == "shop":
            item = r.choice(["linen shirts", "the autumn collection", "pour-over kits", "rain jackets",
                             "single-origin beans", "our bestsellers", "gift cards", "travel mugs"])
            subj = r.choice([f"New in: {item}", f"20% off {item} this weekend", f"Back in stock: {item}",
                             "Free shipping ends tonight", f"Our {item} guide", "Members get early access 🛍️",
                             f"{name} summer sale — up to 40% off"])
            paras = [f"Fresh arrivals from {name}: {item}, made in small batches.", "Free shipping on orders over €50."]
            cta, links = "Shop now", [("Shop now", "collections/new"), ("Sale", "sale"), ("Stores", "stores")]
        elif kind == "saas":
            subj = r.choice([f"What's new in {name} — {when.strftime('%B')}",
                             f"{name} tips: {self.topic()}", f"Your {name} usage report for {(when - dt.timedelta(days=28)).strftime('%B')}",
                             f"Introducing {name} for Teams",
                             f"Webinar: getting started with {name}", f"{name} is now 2x faster"])
            paras = [f"Here's what the {name} team shipped lately, and a few tips from power users.",
                     "As always, reply to this email if something's broken — a human reads every message."]
            cta, links = "See what's new", [("See what's new", "changelog"), ("Docs", "docs"), ("Pricing", "pricing")]
        else:
            subj = r.choice([f"{name} #{issue}: {self.topic()}", f"{name} — {self.topic()} and more",
                             f"This week in {self.topic()}", f"{name} #{issue}"])
            paras = [f"Today's top stories on {self.topic()}, {self.topic()} and {self.topic()}.",
                     "Plus: jobs, events and the chart of the week."]
            cta, links = "Read the issue", [("Read the issue", f"issues/{issue}"), ("Jobs", "jobs"), ("Sponsor us", "sponsor")]
        return {"subject": subj, "preheader": paras[0][:80], "headline": subj, "paras": paras, "cta": cta,
                "links": links, "address": brand["address"], "zone": brand["zone"]}

    # -- case 1
    def case_personal(self) -> None:
        for i in range(self.n(8, 2)):
            kind = self.rng.choice(["company", "company", "freemail", "freemail", "own"])
            p = self.person(company=self.new_company() if kind == "company" else None,
                            freemail=kind == "freemail", own_domain=kind == "own", accented=i == 0)
            thread = f"personal-{p.email}"
            day0 = self.rng.uniform(1, SPAN_DAYS - 40)
            subj, turns = self.meet_turns(p, self.rng.randint(3, 5), sam_first=self.rng.random() < 0.3)
            last = self.exchange(p, day0, turns, subj, thread=thread)
            if self.rng.random() < 0.6:  # a later personal check-in, new thread
                day = (last - START).total_seconds() / 86400 + self.rng.uniform(15, 40)
                if day < SPAN_DAYS - 3:
                    ev = self.event()
                    r = self.rng
                    options = [
                        (f"Are you going to {ev.replace('the ', '')}?", f"Hi Sam,\n\nAre you going to {ev}? Would be nice to catch up there.\n\n{p.first}", None),
                        ("That paper we talked about", f"Sam, saw this and thought of our conversation: https://arxiv.org/abs/{r.randint(2401, 2608)}.{r.randint(10000, 19999)}\n\n{p.first}", None),
                        ("Lunch next week?", f"Hey Sam,\n\nI'm near {r.choice(AREAS)} on {r.choice(WEEKDAYS)} — lunch?\n\n{p.first}", None),
                    ]
                    friend = self.person(company=self.new_company(), title=r.choice(["Head of Data", "CTO", "Engineering Manager"]))
                    options.append((f"Intro: Sam <> {friend.first}",
                                    (f"Hi both,\n\nAs promised, introducing you two. {friend.first} leads data at {friend.company.name} and is looking for "
                                    f"help with {self.topic()}; Sam is the best freelance data engineer I know.\n\nI'll let you take it from here!\n\n{p.first}"),
                                    [(friend.name, friend.email)]))
                    if p.company is not None:
                        options.append((f"We launched {p.company.name}!",
                                        (f"Hi Sam,\n\nsmall personal ask: we launched {p.company.name} publicly today. If you have five minutes, "
                                        f"I'd love your honest feedback — you had sharp questions when we met: https://{p.company.domain}\n\n"
                                        f"(Not adding you to any list, promise.)\n\n{p.first}"), None))
                    subj2, body, cc = options[-1 if p.company is None else -2] if not self._intro_done else r.choice(options)
                    if cc:
                        self._intro_done = True
                        turns2 = [("them", body), ("sam", (f"Thanks {p.first} (moving you to bcc)!\n\nHi {friend.first}, nice to e-meet you. "
                                                          f"Happy to chat — does {r.choice(WEEKDAYS)} work for a call?\n\nSam"), cc)]
                    else:
                        turns2 = [("them", body), ("sam", f"Thanks {p.first}! Sounds good.\n\nSam")]
                    self.exchange(p, day, turns2, subj2, thread=f"{thread}-2", cc=cc,
                                  to_addr=ME_GMAIL if r.random() < 0.25 else ME)
            self.personal_contacts.append(p)

    # -- case 2
    def case_same_address(self) -> None:
        esps = ["convertkit", "mailchimp", "sendgrid", "beehiiv", "mailgun"]
        for i in range(self.n(4, 1)):
            if self.rng.random() < 0.5:
                p = self.person(own_domain=True, title=self.rng.choice(["Independent consultant", "Author & coach", "Fractional CTO", "Writer"]))
                creator = True
            else:
                p = self.person(company=self.new_company(), title=self.rng.choice(["Founder", "Co-founder & CEO"]))
                creator = False
            day0 = self.rng.uniform(2, 110)
            subj, turns = self.meet_turns(p, self.rng.randint(2, 4), sam_first=self.rng.random() < 0.25)
            last = self.exchange(p, day0, turns, subj, thread=f"same-{p.email}")
            esp = esps[i % len(esps)] if i < len(esps) else self.rng.choice(esps)
            d_last = (last - START).total_seconds() / 86400
            for k, day in enumerate(self.blast_days(d_last, self.rng.randint(4, 6))):
                when = self.at(day, "utc", (6, 18))
                if creator:
                    content = self.creator_content(p, 10 + k * self.rng.randint(1, 3))
                    brand, bdom = p.name, p.domain
                else:
                    content = self.company_content(p.company, when, founder=p)
                    brand, bdom = p.company.name, p.company.domain
                alt_name = f"{p.first} from {p.last} Notes" if creator else f"{p.first} at {brand}"
                self.marketing(esp=esp, from_name=p.name if k % 3 != 2 else alt_name,
                               from_addr=p.email, brand=brand, brand_domain=bdom, subject=content["subject"],
                               content=content, when=when, thread=f"blast-{p.email}-{k}", case="same_address_blast",
                               expected="move", contact=p.email)

    # -- case 3
    def case_org_newsletter(self) -> None:
        esps = ["sendgrid", "hubspot", "ses", "mailgun", "mailchimp"]
        for i in range(self.n(4, 1)):
            co = self.new_company()
            p = self.person(company=co)
            day0 = self.rng.uniform(1, 110)
            subj, turns = self.meet_turns(p, self.rng.randint(2, 4), sam_first=self.rng.random() < 0.3)
            last = self.exchange(p, day0, turns, subj, thread=f"org-{p.email}")
            esp = esps[i % len(esps)]
            sender_local = self.rng.choice(["news", "hello", "team", "marketing", "updates"])
            sub = self.rng.choice(["", "mail.", "updates.", "news."])
            from_addr = f"{sender_local}@{sub}{co.domain}"
            from_name = self.rng.choice([co.name, f"{co.name} Team", f"The {co.name} Newsletter"])
            d_last = (last - START).total_seconds() / 86400
            for k, day in enumerate(self.blast_days(d_last, self.rng.randint(4, 6))):
                when = self.at(day, 'utc', (6, 18))
                content = self.company_content(co, when)
                self.marketing(esp=esp, from_name=from_name, from_addr=from_addr, brand=co.name,
                               brand_domain=co.domain, subject=content["subject"], content=content,
                               when=when, thread=f"orgblast-{co.domain}-{k}",
                               case="org_newsletter", expected="move", contact=p.email)
            self.org_contacts.append(p)

    # -- case 4
    def case_freemail_company(self) -> None:
        esps = ["hubspot", "mailchimp", "sendgrid", "ses"]
        for i in range(self.n(3, 1)):
            co = self.new_company()
            p = self.person(company=co, freemail=True, title=self.rng.choice(["Founder", "Co-founder", "Founder & CEO"]))
            p.sig_style = 1 if i == 0 else self.rng.randint(0, 3)
            day0 = self.rng.uniform(1, 110)
            subj, turns = self.meet_turns(p, self.rng.randint(2, 4), sam_first=False)
            last = self.exchange(p, day0, turns, subj, thread=f"fm-{p.email}")
            esp = esps[i % len(esps)]
            from_name = self.rng.choice([f"{p.first} from {co.name}", co.name, f"{co.name} News"])
            from_addr = f"{self.rng.choice(['hello', 'news', 'team', slug(p.first)])}@{co.domain}"
            d_last = (last - START).total_seconds() / 86400
            for k, day in enumerate(self.blast_days(d_last, self.rng.randint(4, 6))):
                when = self.at(day, 'utc', (6, 18))
                content = self.company_content(co, when, founder=p)
                self.marketing(esp=esp, from_name=from_name, from_addr=from_addr, brand=co.name,
                               brand_domain=co.domain, subject=content["subject"], content=content,
                               when=when, thread=f"fmblast-{co.domain}-{k}",
                               case="freemail_company_blast", expected="move", contact=p.email)
            self.org_contacts.append(p)

    # -- case 5
    def case_esp_reply_to(self) -> None:
        platforms = ["beehiiv", "substack", "convertkit", "buttondown"]
        self.rng.shuffle(platforms)
        for i in range(self.n(3, 1)):
            p = self.person(own_domain=i % 2 == 0, company=None if i % 2 == 0 else self.new_company(),
                            title=self.rng.choice(["Writer", "Independent researcher", "Founder", "Developer Advocate"]))
            day0 = self.rng.uniform(2, 100)
            subj, turns = self.meet_turns(p, self.rng.randint(2, 4), sam_first=self.rng.random() < 0.3)
            last = self.exchange(p, day0, turns, subj, thread=f"espr-{p.email}")
            plat = platforms[i % len(platforms)]
            pub = self.rng.choice([f"The {p.last} Letter", f"{p.first}'s Dispatch", f"{p.first} on Data",
                                   f"Notes from {p.first}", f"{p.first} {p.last}"])
            ps = slug(pub)[:20]
            if plat == "beehiiv":
                from_name, from_addr = p.name, f"{p.email.replace('@', '=')}@mail.beehiiv.com"
                brand_domain = "mail.beehiiv.com"
            elif plat == "substack":
                from_name, from_addr = pub, f"{ps}@substack.com"
                brand_domain = "substack.com"
            elif plat == "convertkit":
                from_name, from_addr = f"{p.first} from {pub}" if "Letter" in pub else p.name, "newsletter@convertkit-mail4.com"
                brand_domain = "convertkit-mail4.com"
            else:
                from_name, from_addr = pub, f"{ps}@buttondown.email"
                brand_domain = "buttondown.email"
            d_last = (last - START).total_seconds() / 86400
            for k, day in enumerate(self.blast_days(d_last, self.rng.randint(3, 5))):
                content = self.creator_content(p, 3 + k)
                content["site"] = f"{ps}.{'beehiiv.com' if plat == 'beehiiv' else 'substack.com' if plat == 'substack' else 'kit.com' if plat == 'convertkit' else 'buttondown.com'}"
                content["home"] = "https://" + content["site"]
                self.marketing(esp=plat, from_name=from_name, from_addr=from_addr, brand=pub, brand_domain=brand_domain,
                               subject=content["subject"], content=content, when=self.at(day, "utc", (6, 18)),
                               thread=f"esprblast-{p.email}-{k}", case="esp_reply_to", expected="move",
                               contact=p.email, reply_to=addr(p.name, p.email))

    # -- case 6
    def case_colleague(self) -> None:
        r = self.rng
        # a colleague on Sam's current client project
        client = self.new_company()
        for i in range(self.n(2, 1)):
            c = self.person(company=client, title=r.choice(["Engineering Manager", "Data Engineer", "Product Manager", "Analytics Lead"]))
            day = r.uniform(5, SPAN_DAYS - 10)
            subj, body = r.choice([
                ("ingestion PR", f"Hi Sam,\n\nCould you take a look at the ingestion PR before Thursday? It touches the partitioning logic you wrote.\n\nThanks,\n{c.first}"),
                ("offsite moved", f"Hey Sam,\n\nQuick heads-up: the {client.name} offsite moved to the 14th. You're very welcome to join for the afternoon sessions.\n\n{c.first}"),
                ("open questions from yesterday", f"Hi Sam,\n\nThanks for walking me through the pipeline yesterday. I wrote up the open questions here: https://{client.domain}/wiki/data-platform/{self.hex(6)}\n\n{c.first}"),
                ("access to the staging bucket", f"Hi Sam,\n\nI've given you read access to the staging bucket; let me know if the credentials don't work.\n\n{c.first}"),
            ])
            self.personal(c, [(ME_NAME, ME)], subj, body + "\n\n" + self.signature(c), self.at(day, c.zone), thread=f"colleague-{c.email}-{i}",
                          case="colleague_note")
        # a new person at a contact's company writes personally
        for p in r.sample(self.org_contacts, min(len(self.org_contacts), self.n(2, 1))):
            co = p.company
            assert co is not None
            c = self.person(company=co)
            day = r.uniform(40, SPAN_DAYS - 5)
            body = r.choice([
                f"Hi Sam,\n\n{p.first} passed along your name — I lead the data team at {co.name} and we're trying to decide whether to move off our home-grown scheduler. Would you have time for a short call next week?\n\n{self.signature(c)}",
                f"Hello Sam,\n\nI'm {c.first}, I joined {co.name} last month. {p.first} said you know everything about {self.topic()} — any chance you'd review a design doc? Happy to pay for your time, of course.\n\n{self.signature(c)}",
            ])
            turns = [("them", body)]
            if r.random() < 0.6:
                turns.append(("sam", f"Hi {c.first},\n\nSure, happy to help. Send it over.\n\nSam"))
            self.exchange(c, day, turns, r.choice([f"Intro via {p.first}", "Design review?", "Quick call?"]),
                          thread=f"colleague2-{c.email}")
            for m in self.msgs:
                if m.thread == f"colleague2-{c.email}" and m.truth and m.truth["case"] == "personal":
                    m.truth["case"] = "colleague_note"

    # -- case 7
    def make_brands(self) -> None:
        r = self.rng
        by_kind = {"shop": ["mailchimp", "sendgrid", "own", "ses", "hubspot"],
                   "saas": ["sendgrid", "hubspot", "ses", "mailgun", "mailchimp"],
                   "digest": ["beehiiv", "substack", "convertkit", "mailchimp", "buttondown"]}
        for v in by_kind.values():
            r.shuffle(v)
        kinds = ["shop", "saas", "digest", "shop", "saas", "digest", "digest", "saas"]
        self.brands = []
        for i, kind in enumerate(kinds[: max(3, self.n(8, 3))]):
            if kind == "shop":
                co = self.new_company(["com", "de", "shop", "co"])
                name = f"{co.name} {r.choice(SHOP_NOUN)}"
            elif kind == "saas":
                co = self.new_company(["io", "app", "com", "so"])
                name = co.name
            else:
                while True:
                    name = f"The {r.choice(DIGEST_ADJ)} {r.choice(DIGEST_NOUN)}"
                    dom = f"{slug(name)[3:]}.{r.choice(['news', 'email', 'com', 'io'])}"
                    if dom not in self.used_domains:
                        self.used_domains.add(dom)
                        break
                co = Company(name, dom)
            esp = by_kind[kind][kinds[:i].count(kind) % len(by_kind[kind])]
            local_part = r.choice(["news", "hello", "newsletter", "team", "digest", "info"])
            from_addr = f"{local_part}@{r.choice(['', 'mail.', 'email.', 'news.'])}{co.domain}"
            domain = co.domain
            if esp == "substack":
                from_addr, domain = f"{slug(name)[:20]}@substack.com", "substack.com"
            elif esp == "buttondown":
                from_addr, domain = f"{slug(name)[:20]}@buttondown.email", "buttondown.email"
            self.brands.append({"kind": kind, "name": name, "domain": domain, "esp": esp, "from": from_addr,
                                "rcpt": r.choice([ME, ME_GMAIL]),
                                "address": self.postal(name, legal=kind != "digest"),
                                "zone": r.choice(["utc", "eu", "us_east", "us_west"]), "issue": r.randint(20, 180)})

    def brand_issue(self, brand: dict, day: float, date_header: str | None = None) -> None:
        brand["issue"] += 1
        when = self.at(day, "utc", (5, 20))
        content = self.brand_content(brand, brand["issue"], when)
        if brand["esp"] in ("substack", "buttondown"):
            host = f"{slug(brand['name'])[:20]}.substack.com" if brand["esp"] == "substack" else f"buttondown.com/{slug(brand['name'])[:20]}"
            content["home"], content["site"] = f"https://{host}", host.split("/")[0]
        self.marketing(esp=brand["esp"], from_name=brand["name"], from_addr=brand["from"], brand=brand["name"],
                       brand_domain=brand["domain"], subject=content["subject"], content=content,
                       when=when, thread=f"brand-{brand['domain']}-{brand['issue']}",
                       case="brand_newsletter", expected="keep", rcpt=brand["rcpt"], date_header=date_header)

    def case_brands(self) -> None:
        for b in self.brands:
            for _ in range(self.rng.randint(2, 4)):
                self.brand_issue(b, self.rng.uniform(0, SPAN_DAYS - 1))

    # -- case 9
    def case_discussion_list(self) -> None:
        r = self.rng
        lname, ldomain, ldesc = r.choice(LISTS)
        listaddr = f"{lname}@{ldomain}"
        posters = [self.person(company=self.new_company(), zone="eu") if r.random() < 0.5 else
                   self.person(freemail=True, zone="eu") for _ in range(self.n(4, 2))]
        contacts = self.personal_contacts[:2] if self.personal_contacts else []
        threads: list[dict] = []
        total = self.n(14, 4)
        roots = [
            ("Anyone running {t} on a single box?", "Hi all,\n\nIs anyone running {t} on a single machine in production? We're at ~200 GB and wondering when it stops being a good idea.\n\nThanks,\n{first}"),
            ("Slides from last week: {t}", "Hi everyone,\n\nthe slides from last week's talk on {t} are up: https://speakerdeck.com/{who}/{ts}\nThe recording should follow next week.\n\n{first}"),
            ("Question about {t}", "Hello list,\n\nquick question about {t}: how do you handle schema changes without breaking downstream jobs? Pointers welcome.\n\n{first}"),
            ("Call for speakers - autumn edition", "Hi all,\n\nwe're planning the autumn meetup and still need two talks (20 min) and a few lightning talks. Reply to me off-list if you're interested!\n\n-- \n{name}"),
            ("Job: freelance help with {t}", "Hi,\n\nwe're looking for a freelancer for ~3 months to help with {t}. Remote is fine, Berlin preferred. Details: https://{dom}/jobs\n\n{first}"),
            ("Benchmark results for {t}", "Hi all,\n\nI ran some benchmarks on {t} over the weekend; results and scripts: https://github.com/{who}/{ts}-bench\nShort version: it depends (as always), but the defaults are surprisingly good.\n\n{first}"),
        ]
        replies = [
            "We've been running {t} for a few months now; happy to share notes off-list.\nThe short version: it works, but watch your memory.\n\n{first}",
            "+1, we hit the same wall. What finally helped us was partitioning by day and compacting nightly.\n\n{first}",
            "Thanks for sharing! Do you have numbers for the cold-cache case?\n\n{first}",
            "I'd be up for a lightning talk on this if there's still a slot.\n\n{first}",
            "Not sure I agree: for us the bottleneck was never {t} itself but the network. YMMV.\n\n{first}",
        ]
        footer = (f"\n\n_______________________________________________\n{ldesc}\n{listaddr}\n"
                  f"To unsubscribe send an email to {lname}-leave@{ldomain}")
        for i in range(total):
            is_contact = contacts and (i % 3 == 1)
            p = contacts[i % len(contacts)] if is_contact else r.choice(posters)
            # contacts post only after they became contacts
            first_day = min((m.when for m in self.msgs if m.thread.startswith(f"personal-{p.email}")), default=START)
            lo = (first_day - START).total_seconds() / 86400 + 1
            fill = {"first": p.first, "name": p.name, "who": slug(p.first) + slug(p.last)[:4], "dom": p.domain}
            open_threads = [t for t in threads if t["last"] >= START + dt.timedelta(days=lo) and t["poster"] != p.email]
            if open_threads and r.random() < 0.45:
                th = r.choice(open_threads)
                when = th["last"] + dt.timedelta(hours=r.uniform(1, 96))
                subj = f"Re: [{lname}] {th['subject']}"
                body = r.choice(replies).format(t=th["topic"], **fill)
                if r.random() < 0.6:
                    body += "\n\n" + quote(th["last_person"], th["last_body"], th["last"])
                root, refs, in_reply = th["root"], list(th["refs"]), th["refs"][-1]
            else:
                tp = r.choice(TECH_TOPICS)
                subj_t, body_t = r.choice(roots)
                subject = subj_t.format(t=tp)
                subj = f"[{lname}] {subject}"
                body = body_t.format(t=tp, ts=slug(tp)[:18], **fill)
                when = self.at(r.uniform(max(lo, 0), SPAN_DAYS - 6), p.zone)
                th = {"subject": subject, "topic": tp, "poster": p.email}
                threads.append(th)
                root, refs, in_reply = "", [], None
            when = self.waking(p.zone, when)
            body_main = body
            body += footer
            infra = self.sender_infra(p, when)
            mid = infra["msgid"]
            thread_key = f"list-{root or mid}"
            h = self.takeout(thread_key, r.choice(["Inbox,Opened", "Inbox,Unread"]))
            h += [f"Delivered-To: {ME}"]
            h += self.received(f"mail.{ldomain}", f"188.68.{r.randint(1, 250)}.{r.randint(1, 250)}", ME, when)
            h += [f"Return-Path: <{lname}-bounces+sam=rivera.dev@{ldomain}>"]
            h += [self.auth_results([(ldomain, "mailman")] + infra["dkim"][:1], f"{lname}-bounces@{ldomain}",
                                    "188.68.1.1", p.domain, dmarc="pass")]
            h += [self.dkim(ldomain, "mailman", when)]
            h += ["MIME-Version: 1.0", f"From: {addr(p.name, p.email)}", f"To: {listaddr}",
                  f"Date: {rfc2822(p.zone, when)}", f"Message-ID: {mid}",
                  f"Subject: {enc_header(subj)}"]
            if in_reply:
                h += [f"In-Reply-To: {in_reply}", fold("References", " ".join(refs))]
            h += [f"X-Mailman-Version: 3.3.{r.randint(6, 9)}", "Precedence: list",
                  f"List-Id: {enc_header(ldesc)} <{lname}.{ldomain}>",
                  f"List-Archive: <https://{ldomain}/archives/list/{listaddr}/>",
                  f"List-Help: <mailto:{lname}-request@{ldomain}?subject=help>",
                  f"List-Owner: <mailto:{lname}-owner@{ldomain}>",
                  f"List-Post: <mailto:{listaddr}>",
                  f"List-Subscribe: <mailto:{lname}-join@{ldomain}>",
                  f"List-Unsubscribe: <mailto:{lname}-leave@{ldomain}>",
                  f"Sender: {lname}-bounces@{ldomain}", f"Errors-To: {lname}-bounces@{ldomain}",
                  f"X-BeenThere: {listaddr}", f"Archived-At: <https://{ldomain}/archives/list/{listaddr}/message/{self.hex(26).upper()}/>"]
            ct, payload = self.text_part(body)
            h += ct
            self.add(when, thread_key, h, payload, {"message_id": mid, "expected": "keep", "case": "discussion_list",
                                                    "contact": None})
            if not in_reply:
                th.update(root=mid, refs=[mid])
            else:
                th["refs"] = th["refs"] + [mid]
            th.update(last=when, last_person=p, last_body=body_main.split("\n\nOn ")[0])

    # -- case 10
    def case_pre_existing(self) -> None:
        r = self.rng
        co = self.new_company(["com", "io"])
        esp = r.choice(["mailchimp", "sendgrid", "hubspot", "mailgun"])
        from_addr = f"{r.choice(['newsletter', 'news', 'digest'])}@{co.domain}"
        brand = {"kind": "saas", "name": co.name, "domain": co.domain, "esp": esp, "from": from_addr, "rcpt": ME,
                 "address": co.address,
                 "zone": "us_east", "issue": r.randint(30, 90)}
        interval = r.choice([10, 14]) if self.scale >= 0.5 else 30
        day = r.uniform(0, 10)
        contact_day = r.uniform(60, 85)
        while day < SPAN_DAYS - 1:
            brand["issue"] += 1
            when = self.at(day, "us_east", (7, 11))
            content = self.company_content(co, when) if r.random() < 0.5 else self.brand_content(brand, brand["issue"], when)
            self.marketing(esp=esp, from_name=f"{co.name}", from_addr=from_addr, brand=co.name, brand_domain=co.domain,
                           subject=content["subject"], content=content, when=when,
                           thread=f"pre-{co.domain}-{brand['issue']}", case="pre_existing_list", expected="keep")
            day += interval + r.uniform(-1.5, 1.5)
        p = self.person(company=co)
        subj, turns = self.meet_turns(p, r.randint(2, 3))
        self.exchange(p, contact_day, turns, subj, thread=f"pre-contact-{p.email}")

    # -- case 11
    def sequence_text(self, p: Person, co: Company, step: int, known: bool) -> str:
        r = self.rng
        pain = r.choice(["pipeline failures", "cloud spend on your warehouse", "flaky dashboards", "data quality alerts",
                         "onboarding new analysts", "schema drift"])
        benefit = r.choice(["catch broken pipelines before stakeholders do", "cut warehouse costs by 30%",
                            "ship dashboards without the fire drills", "automate data quality checks"])
        cust = r.choice(["Lumenworks", "Harborpay", "a Series B fintech", "two of the big Berlin scale-ups"])
        sig = f"{p.first}\n{p.title}, {co.name}\n{p.website}"
        hook = ("it was great chatting at " + p.met_at) if known else r.choice(
            ["I noticed you're doing data engineering work at rivera.dev", "I came across your talk on " + self.topic(),
             "I enjoyed your post on " + self.topic()])
        if step == 0:
            return (f"Hi Sam,\n\n{hook[0].upper() + hook[1:]}. Quick question: how are you handling {pain} today?\n\n"
                    f"{co.name} helps data teams {benefit} — {cust} saw results in their first month.\n\n"
                    f"Worth a 15-minute chat next week? {{BOOK}}\n\nBest,\n{sig}")
        if step == 1:
            return (f"Hi Sam,\n\nJust bumping this to the top of your inbox. Teams like {cust} use {co.name} to {benefit}.\n\n"
                    f"Would {r.choice(WEEKDAYS)} or {r.choice(WEEKDAYS)} work for a quick demo? {{BOOK}}\n\n{sig}")
        if step == 2:
            return (f"Hi Sam,\n\nI'll keep this short: here's a 2-minute video of how {co.name} tackles {pain}: "
                    f"https://{co.domain}/demo-video\n\nIf it's useful, {{BOOK}}\n\n{sig}")
        return (f"Hi Sam,\n\nI haven't heard back, so I'll assume {pain} isn't a priority right now. "
                f"I'll close the loop on my end — if anything changes, {{BOOK}}\n\n{sig}")

    def case_sequences(self) -> None:
        r = self.rng
        tools = ["outreach", "apollo", "hubspot"]
        for i in range(self.n(2, 1)):  # cold
            co = self.new_company()
            p = self.person(company=co, title=r.choice(SALES_TITLES))
            p.host = "workspace"
            tool = tools[i % 3]
            day = r.uniform(5, SPAN_DAYS - 40)
            subj = r.choice(["Quick question, Sam", f"{co.name} <> Rivera", "data quality at rivera.dev",
                             "Idea for rivera.dev"])
            refs: list[str] = []
            for step in range(r.randint(3, 4)):
                when = self.at(day, p.zone, (8, 11))
                mid = self.sales(tool=tool, sender=p, subject=subj if step == 0 else "Re: " + subj,
                                 text=self.sequence_text(p, co, step, False), when=when, thread=f"cold-{p.email}",
                                 case="cold_sequence", expected="keep", contact=None,
                                 in_reply_to=refs[-1] if refs else None, references=list(refs) or None,
                                 book_url=f"https://meetings.hubspot.com/{slug(p.first)}-{slug(p.last)}" if tool == "hubspot" else f"https://calendly.com/{slug(p.first)}-{slug(co.name)}/15min")
                refs.append(mid)
                day += r.uniform(2, 6)
        for i in range(self.n(2, 1)):  # contact
            co = self.new_company()
            p = self.person(company=co, title=r.choice(["Founder", "Co-founder & CEO", "Head of Sales", "Account Executive"]))
            p.host = "workspace"
            day0 = r.uniform(2, 100)
            subj, turns = self.meet_turns(p, r.randint(2, 3))
            last = self.exchange(p, day0, turns, subj, thread=f"cseq-contact-{p.email}")
            day = (last - START).total_seconds() / 86400 + r.uniform(14, 40)
            seq_subj = r.choice([f"{co.name} <> Rivera.dev", f"Following up on {p.met_at.replace('the ', '')}",
                                 "Quick idea for you, Sam", f"{co.name} demo?"])
            refs = []
            for step in range(r.randint(3, 4)):
                if day > SPAN_DAYS - 1:
                    break
                when = self.at(day, p.zone, (8, 11))
                mid = self.sales(tool="hubspot", sender=p, subject=seq_subj if step == 0 else "Re: " + seq_subj,
                                 text=self.sequence_text(p, co, step, True), when=when, thread=f"cseq-{p.email}",
                                 case="contact_sequence", expected="move", contact=p.email,
                                 in_reply_to=refs[-1] if refs else None, references=list(refs) or None,
                                 book_url=f"https://meetings.hubspot.com/{slug(p.first)}-{slug(p.last)}")
                refs.append(mid)
                day += r.uniform(2, 5)

    # -- case 12
    def case_outside_window(self) -> None:
        r = self.rng
        for i in range(self.n(1, 1)):
            co = self.new_company()
            p = self.person(company=co, title=r.choice(["Founder", "Head of Marketing", "CEO"]))
            day0 = r.uniform(0, 1.5)
            subj, turns = self.meet_turns(p, 2)
            last = self.exchange(p, day0, turns, subj, thread=f"ow-{p.email}", max_gap=0.8)
            d_last = (last - START).total_seconds() / 86400
            esp = r.choice(["sendgrid", "hubspot", "mailchimp"])
            for k in range(r.randint(1, 2)):
                day = r.uniform(d_last + 188, SPAN_DAYS - 1)
                when = self.at(day, 'utc', (6, 18))
                content = self.company_content(co, when, founder=p)
                self.marketing(esp=esp, from_name=co.name, from_addr=f"news@{co.domain}", brand=co.name,
                               brand_domain=co.domain, subject=content["subject"], content=content,
                               when=when, thread=f"owblast-{co.domain}-{k}",
                               case="outside_window", expected="keep")

    # -- notifications
    def notification(self, svc: tuple, day: float, date_header: str | None = None) -> None:
        r = self.rng
        name, from_addr, dom, kind, what = svc
        when = self.at(day, "utc", (0, 23.9))
        amount = f"{r.randint(3, 240)}.{r.randint(0, 99):02d}"
        ref = self.hex(8).upper()
        gh_owner, gh_repo = r.choice(GH_REPOS)
        gh_pr = r.randint(10, 4000)
        texts = {
            "gh": (f"[{gh_owner}/{gh_repo}] {r.choice(GH_TITLES)} (PR #{gh_pr})",
                   f"@{slug(r.choice(FIRST))}{r.randint(1, 99)} requested your review on this pull request.\n\nYou are receiving this because your review was requested.\nReply to this email directly or view it on GitHub:\nhttps://github.com/{gh_owner}/{gh_repo}/pull/{gh_pr}"),
            "receipt": (f"Your receipt from {r.choice(['Plausible Analytics', 'Fly.io', 'Tailscale', 'Kagi'])} #{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
                        f"Receipt #{ref}\nAmount paid: €{amount}\nDate paid: {(START + dt.timedelta(days=day)).strftime('%b %d, %Y')}\n\nIf you have any questions, contact us at support@stripe.com."),
            "invoice": (f"Hetzner Online GmbH - Rechnung {r.randint(10 ** 9, 10 ** 10)}",
                        f"Sehr geehrter Herr Rivera,\n\nanbei erhalten Sie Ihre Rechnung über €{amount}.\nDer Betrag wird per Lastschrift eingezogen.\n\nMit freundlichen Grüßen\nHetzner Online GmbH"),
            "calendar": (f"Invitation: {r.choice(['Coffee', 'Sync', 'Project kickoff', 'Design review'])} @ {r.choice(WEEKDAYS)} {r.randint(9, 17)}:00 (CEST) ({ME})",
                         "You have been invited to the following event.\n\nJoin with Google Meet: https://meet.google.com/" + f"{self.hex(3)}-{self.hex(4)}-{self.hex(3)}" + "\n\nInvitation from Google Calendar"),
            "shipping": (f"Ihre Sendung {r.randint(10 ** 11, 10 ** 12)} kommt heute",
                         "Guten Tag,\n\nIhre Sendung wird heute zwischen 10:00 und 14:00 Uhr zugestellt.\n\nIhr DHL Team"),
            "ticket": ("Ihre Buchungsbestätigung (Auftrag " + ref + ")",
                       f"Vielen Dank für Ihre Buchung!\nAuftragsnummer: {ref}\nBerlin Hbf → {r.choice(['München Hbf', 'Hamburg Hbf', 'Köln Hbf'])}\nGesamtpreis: €{amount}"),
            "security": (r.choice(["New sign-in to your account", "Your password was changed", "New device added"]),
                         f"We noticed a new sign-in from {r.choice(['Firefox on Linux', 'Safari on iPhone', 'Chrome on macOS'])} near Berlin, Germany.\nIf this was you, you can ignore this email."),
            "linear": (f"[{r.choice(['DATA', 'ENG', 'OPS'])}-{r.randint(10, 999)}] {self.topic()}",
                       f"{r.choice(FIRST)} assigned this issue to you.\n\nView issue: https://linear.app/{self.hex(6)}/issue/{self.hex(6)}"),
            "bank": ("Your monthly statement is ready", "Hi Sam,\n\nyour account statement is now available in the app.\n\nYour N26 Team"),
            "renewal": ("Domain renewal reminder: rivera.dev", f"Your domain rivera.dev expires in 30 days. Auto-renew is ON; we will charge ${amount}."),
            "deploy": (f"Deployment {(st := r.choice(['succeeded', 'failed']))} for rivera-dev", f"Your production deployment {self.hex(9)} {'is ready' if st == 'succeeded' else 'failed during the build step'}.\nhttps://vercel.com/sam-rivera/rivera-dev/{self.hex(9)}"),
        }
        subject, body = texts[what]
        if kind == "ses":
            e = self.esp("ses", name, dom, ME, when, from_addr)
        elif kind == "sendgrid":
            e = self.esp("sendgrid", name, dom, ME, when, from_addr)
        else:
            e = self.esp("own", name, dom, ME, when, from_addr)
        h = self.takeout(f"notify-{e['msgid']}", r.choice(["Inbox,Opened", "Inbox,Unread", "Archived,Opened"]))
        h += [f"Delivered-To: {ME}"]
        h += self.received(e["helo"], e["ip"], ME, when)
        h += [f"Return-Path: <{e['return_path']}>"]
        h += [self.auth_results(e["dkim"], e["return_path"], e["ip"], dom)]
        h += [self.dkim(d, s, when) for d, s in e["dkim"]]
        h += [f"Message-ID: {e['msgid']}"]
        h += date_lines(date_header, f"Date: {rfc2822('utc' if kind != 'own' else 'eu', when)}")
        h += ["MIME-Version: 1.0", f"From: {addr(name, from_addr)}", f"To: {ME}", f"Subject: {enc_header(subject)}"]
        if what == "gh":
            h += [f"Reply-To: {gh_owner}/{gh_repo} <reply+{self.hex(40).upper()}@reply.github.com>",
                  f"List-ID: {gh_owner}/{gh_repo} <{gh_repo}.{gh_owner}.github.com>",
                  f"List-Archive: https://github.com/{gh_owner}/{gh_repo}",
                  fold("List-Unsubscribe", f"<mailto:unsub+{self.hex(20)}@reply.github.com>, <https://github.com/notifications/unsubscribe/{self.b64(30, url=True)}>"),
                  "X-GitHub-Reason: review_requested", "Precedence: list"]
        h += ["Auto-Submitted: auto-generated"] if r.random() < 0.4 else []
        if r.random() < 0.5:
            html = f"<html><body><p>{esc(body).replace(chr(10), '<br>')}</p></body></html>\n"
            ct, payload = self.multipart_alt(body + "\n", html, f"--=_{self.hex(24)}", html_cte="quoted-printable")
        else:
            ct, payload = self.text_part(body)
        h += ct
        self.add(when, f"notify-{e['msgid']}", h, payload,
                 {"message_id": e["msgid"], "expected": "keep", "case": "notification", "contact": None})

    # -- odd messages
    def bad_messages(self) -> None:
        r = self.rng
        # 1: no From, no Message-ID (left out of the truth)
        when = self.at(r.uniform(20, 180), "eu")
        h = self.takeout(f"bad-1-{self.hex(4)}", "Inbox,Unread")
        h += [f"Delivered-To: {ME}"] + self.received(f"host-{r.randint(10, 99)}-{r.randint(1, 250)}.dsl.example.net", self.ip(), ME, when)
        h += [f"Date: {rfc2822('eu', when)}", f"To: {ME}", "Subject: (no subject)", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=us-ascii"]
        self.add(when, h[0], h, b"test\n\nFrom the printer on floor 3 -- scan attached? (no attachment)\n", None)
        # 2: broken MIME boundary
        c = self.person(freemail=True)
        when = self.at(r.uniform(20, 180), c.zone)
        infra = self.sender_infra(c, when)
        th = f"bad-2-{infra['msgid']}"
        h = self.takeout(th, "Inbox,Opened") + [f"Delivered-To: {ME}"] + self.received(infra["helo"], infra["ip"], ME, when)
        h += [f"Return-Path: <{c.email}>", f"From: {addr(c.name, c.email)}", f"To: {ME}", f"Date: {rfc2822(c.zone, when)}",
              f"Message-ID: {infra['msgid']}", "Subject: scans", "MIME-Version: 1.0",
              'Content-Type: multipart/mixed; boundary="=_declared_boundary_1"']
        body = (b"--=_other_boundary_2\nContent-Type: text/plain; charset=utf-8\n\nhere are the scans\n\n"
                b"--=_other_boundary_2\nContent-Type: application/pdf; name=\"scan.pdf\"\nContent-Transfer-Encoding: base64\n\n"
                + base64.encodebytes(bytes(r.randrange(256) for _ in range(300))) + b"\n--=_other_bou")
        self.add(when, th, h, body, {"message_id": infra["msgid"], "expected": "keep", "case": "bad_message", "contact": None})
        # 3: undecodable declared charset
        when = self.at(r.uniform(20, 180), "eu")
        mid = self.uniq_id(lambda: f"<{self.hex(12)}.{self.hex(6)}@mailer.{r.choice(['oldforum.net', 'classifieds-berlin.de'])}>")
        th = f"bad-3-{mid}"
        h = self.takeout(th, "Inbox,Unread") + [f"Delivered-To: {ME}"] + self.received("mailer.oldforum.net", self.ip(), ME, when)
        h += ["Return-Path: <noreply@oldforum.net>", "From: =?x-klingon-pIqaD?Q?=F8=E9_Forum?= <noreply@oldforum.net>",
              f"To: {ME}", f"Date: {rfc2822('eu', when)}", f"Message-ID: {mid}",
              "Subject: =?x-klingon-pIqaD?B?" + base64.b64encode(b"\xf8\xe9 neue Antwort \xff").decode() + "?=",
              "MIME-Version: 1.0", 'Content-Type: text/plain; charset="x-klingon-pIqaD"', "Content-Transfer-Encoding: 8bit"]
        body = b"Neue Antwort in \xf8\xe9\xff\xfe Thema \x81\x8d \xc3\x28 \xa0\xa1\n"
        self.add(when, th, h, body, {"message_id": mid, "expected": "keep", "case": "bad_message", "contact": None})

    def case_social(self) -> None:
        """Social-network notifications (scripts/social_samples.py): each network's follow/connect/
        registration mail, the networks' own promo, a digest, and a notification then a newsletter."""
        import importlib.util

        path = Path(__file__).resolve().parent / "social_samples.py"
        spec = importlib.util.spec_from_file_location("mailguard_social_samples", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        start = START + dt.timedelta(days=self.rng.uniform(0, 40))
        for raw, truth in mod.social_messages(random.Random(self.rng.random()), start, ME):
            head = raw.split(b"\n\n", 1)[0].decode("ascii", "replace")
            m = re.search(r"^Date: (.+)$", head, re.M)
            when = email.utils.parsedate_to_datetime(m.group(1).strip()).astimezone(dt.UTC)
            rec = {k: truth.get(k) for k in ("message_id", "expected", "case", "contact")}
            rec["case"] = "social:" + rec["case"]
            thread = "social:" + str(truth["message_id"])
            self.msgs.append(Msg(when, thread, raw if raw.endswith(b"\n") else raw + b"\n", when, rec,
                                 self.thrid(thread)))

    # ---- driver -------------------------------------------------------------------------------

    def build(self) -> list[Msg]:
        r = self.rng
        self.personal_contacts: list[Person] = []
        self.org_contacts: list[Person] = []
        self.case_outside_window()
        self.case_personal()
        self.case_same_address()
        self.case_org_newsletter()
        self.case_freemail_company()
        self.case_esp_reply_to()
        self.case_colleague()
        self.case_discussion_list()
        self.case_pre_existing()
        self.case_sequences()
        self.make_brands()
        self.case_brands()
        self.case_social()
        services = r.sample(NOTIFY, min(len(NOTIFY), max(4, self.n(8, 4))))
        for svc in services:
            self.notification(svc, r.uniform(0, SPAN_DAYS - 1))
        self.bad_messages()
        # garbage / missing Date headers on a brand issue and a notification
        self.brand_issue(self.brands[0], r.uniform(30, 150), date_header="Date: " + r.choice(["2026-05-14 09:00:00", "Tuesday, sometime in May"]))
        self.notification(services[0], r.uniform(30, 150), date_header="")
        self.notification(services[-1], r.uniform(30, 150), date_header="Date: Mon, 32 Foo 2026 25:61:00 +0000")
        # fill to the requested size with more newsletter issues and notifications
        while len(self.msgs) < self.n_target:
            if r.random() < 0.6:
                self.brand_issue(r.choice(self.brands), r.uniform(0, SPAN_DAYS - 1))
            else:
                self.notification(r.choice(services), r.uniform(0, SPAN_DAYS - 1))
        return self.ordered()

    def ordered(self) -> list[Msg]:
        """Takeout-like order: grouped by thread, threads roughly (not strictly) by first date."""
        r = self.rng
        threads: dict[str, list[Msg]] = {}
        for m in self.msgs:
            threads.setdefault(m.thread, []).append(m)
        keyed = []
        for t, ms in threads.items():
            ms.sort(key=lambda m: m.when)
            jitter = dt.timedelta(days=r.uniform(-45, 45))
            keyed.append((ms[0].when + jitter, t))
        keyed.sort()
        out: list[Msg] = []
        for _, t in keyed:
            out.extend(threads[t])
        return out


# --------------------------------------------------------------------------------------------------
# module-level helpers


def date_lines(override: str | None, default: str) -> list[str]:
    """The Date header: the default, a replacement (garbage) line, or none at all for ''."""
    if override is None:
        return [default]
    return [override] if override else []


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def encode_body(text: str, cte: str) -> bytes:
    data = text.encode("utf-8")
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        out = quopri.encodestring(data)
        return out if out.endswith(b"\n") else out + b"\n"
    return data


def quote(who: Person, body: str, when: dt.datetime) -> str:
    d = local(who.zone, when)
    head = f"On {d.strftime('%a, %-d %b %Y')} at {d.strftime('%H:%M')}, {who.name} <{who.email}> wrote:"
    lines = body.strip().splitlines()[:8]
    return head + "\n" + "\n".join(("> " + x) if x else ">" for x in lines)


def render_newsletter(c: dict, brand: str, domain: str, home: str, links: list[tuple[str, str]], view: str,
                      unsub: str, pixel: str, utm: str, subject: str) -> tuple[str, str]:
    cta_label, cta_url = links[0]
    paras_html = "\n".join(f"<p>{esc(p)}</p>" for p in c["paras"])
    nav = " &middot; ".join(f'<a href="{esc(u)}">{esc(lbl)}</a>' for lbl, u in links[1:])
    img_host = f"https://cdn.{domain}" if "." in domain else home
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(subject)}</title>
<style>body{{margin:0;background:#f4f4f5;font-family:Helvetica,Arial,sans-serif}}.w{{max-width:600px;background:#fff}}
p{{font-size:16px;line-height:24px}}.btn{{background:#4f46e5;color:#fff;padding:12px 20px;border-radius:6px}}
.f,.f a{{font-size:12px;color:#71717a}}</style></head>
<body><span style="display:none">{esc(c['preheader'])}</span>
<table role="presentation" width="100%"><tr><td align="center">
<p class="f"><a href="{esc(view)}">View in browser</a></p>
<table role="presentation" class="w" cellpadding="24">
<tr><td><a href="{esc(home)}/?{esc(utm)}"><img src="{img_host}/email/logo.png" width="140" height="40" alt="{esc(brand)}"></a></td></tr>
<tr><td><img src="{img_host}/email/hero-{hash_str(subject) % 1000}.jpg" width="552" alt=""></td></tr>
<tr><td><h1>{esc(c['headline'])}</h1>
{paras_html}
<p><a class="btn" href="{esc(cta_url)}">{esc(cta_label)}</a></p>
<p>{nav}</p></td></tr>
<tr><td class="f">You are receiving this email because you subscribed at {esc(c.get('site', domain))}.<br>{esc(c['address'])}<br>
<a href="{esc(home)}/email/preferences?{esc(utm)}">Update preferences</a> &middot; <a href="{esc(unsub)}">Unsubscribe</a></td></tr>
</table></td></tr></table>
<img src="{esc(pixel)}" width="1" height="1" alt="" style="border:0">
</body></html>
"""
    text = (f"View in browser: {view}\n\n{c['headline']}\n{'=' * len(c['headline'])}\n\n" + "\n\n".join(c["paras"]) +
            f"\n\n{cta_label}: {cta_url}\n\n" + "\n".join(f"{lbl}: {u}" for lbl, u in links[1:]) +
            f"\n\n--\nYou are receiving this email because you subscribed at {c.get('site', domain)}.\n{c['address']}\n"
            f"Unsubscribe: {unsub}\n")
    return html, text


def hash_str(s: str) -> int:
    h = 0
    for ch in s:
        h = (h * 131 + ord(ch)) % 1_000_000_007
    return h


def _envelope(m: Msg) -> bytes:
    d = m.envelope_date.astimezone(UTC)
    return f"From {m.thrid}@xxx {d.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n".encode()


def _generate(seed: int, n_messages: int) -> list[Msg]:
    return Sample(seed, n_messages).build()


def generate(seed: int = 7, n_messages: int = DEFAULT_MESSAGES) -> tuple[list[bytes], list[dict]]:
    """Raw RFC 5322 messages (in mbox order, without the mbox From_ line) and the truth records
    (one per message that has a Message-ID, same order)."""
    msgs = _generate(seed, n_messages)
    return [m.raw for m in msgs], [m.truth for m in msgs if m.truth is not None]


def write(seed: int, n_messages: int, out: Path, truth_path: Path) -> tuple[list[Msg], list[dict]]:
    msgs = _generate(seed, n_messages)
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    box = mailbox.mbox(str(out), create=True)
    try:
        box.lock()
        for m in msgs:
            box.add(_envelope(m) + m.raw)
        box.flush()
    finally:
        box.unlock()
        box.close()
    truths = [m.truth for m in msgs if m.truth is not None]
    truth_path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truths), encoding="utf-8")
    return msgs, truths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("sample_mbox/inbox.mbox"))
    ap.add_argument("--truth", type=Path, default=Path("sample_mbox/truth.jsonl"))
    ap.add_argument("--messages", type=int, default=DEFAULT_MESSAGES,
                    help=f"approximate number of messages (default {DEFAULT_MESSAGES}; every case is always present)")
    args = ap.parse_args(argv)
    msgs, truths = write(args.seed, args.messages, args.out, args.truth)
    by_case: dict[str, int] = {}
    by_exp: dict[str, int] = {}
    for t in truths:
        by_case[t["case"]] = by_case.get(t["case"], 0) + 1
        by_exp[t["expected"]] = by_exp.get(t["expected"], 0) + 1
    print(f"wrote {len(msgs)} messages to {args.out} ({args.out.stat().st_size} bytes) and "
          f"{len(truths)} truth records to {args.truth}")
    print("expected: " + ", ".join(f"{k} {v}" for k, v in sorted(by_exp.items())))
    print("cases:    " + ", ".join(f"{k} {v}" for k, v in sorted(by_case.items())))
    print("--me " + " --me ".join(ME_ADDRESSES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
