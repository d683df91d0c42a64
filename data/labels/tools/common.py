"""Shared helpers: parse a message file into a compact listing record."""
from __future__ import annotations

import email
import email.policy
import hashlib
import html
import os
import re
from email.utils import parsedate_to_datetime

# Where the mail lives: environment variables, with the defaults of the machine the labels were made on.
CORPUS = os.environ.get("MAILGUARD_CORPUS", "/work/shared/corpus/spamassassin")
REALMAIL = os.environ.get("MAILGUARD_REALMAIL", "/work/shared/realmail")
FOLDERS = ["easy_ham", "easy_ham_2", "hard_ham", "spam", "spam_2"]

HDRS = ["From", "To", "Cc", "Subject", "Date", "List-Id", "Mailing-List", "X-Mailman-Version",
        "Precedence", "X-Mailer", "User-Agent", "Auto-Submitted", "Sender", "Reply-To",
        "List-Unsubscribe", "X-Loop", "Content-Type", "Return-Path", "In-Reply-To",
        "References", "X-Beenthere", "Delivered-To", "X-Sender", "Errors-To", "Message-Id"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dec(v) -> str:
    if v is None:
        return ""
    try:
        s = str(email.header.make_header(email.header.decode_header(str(v))))
    except Exception:
        s = str(v)
    return re.sub(r"\s+", " ", s).strip()


def body_text(msg, limit: int = 4000) -> str:
    """First text part (plain preferred, else html stripped), whitespace-collapsed."""
    plain, htm = None, None
    for part in msg.walk():
        if part.is_multipart():
            continue
        ct = part.get_content_type()
        if ct not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:
            payload = b""
        cs = part.get_content_charset() or "latin-1"
        try:
            t = payload.decode(cs, "replace")
        except LookupError:
            t = payload.decode("latin-1", "replace")
        if ct == "text/plain" and plain is None:
            plain = t
        elif ct == "text/html" and htm is None:
            htm = t
    if plain is None and htm is not None:
        t = re.sub(r"(?is)<(script|style).*?</\1>", " ", htm[:200000])
        t = re.sub(r"(?s)<[^>]{0,2000}>", " ", t)
        plain = html.unescape(t)
    if plain is None:
        plain = ""
    return re.sub(r"\s+", " ", plain[: limit * 4]).strip()[:limit]


def parse_bytes(data: bytes):
    return email.message_from_bytes(data)


def record(data: bytes, body_chars: int = 600) -> dict:
    msg = parse_bytes(data)
    r = {h: _dec(msg.get(h)) for h in HDRS}
    try:
        d = parsedate_to_datetime(msg.get("Date")) if msg.get("Date") else None
        r["ts"] = d.timestamp() if d is not None else None
    except Exception:
        r["ts"] = None
    r["body"] = body_text(msg, body_chars)
    r["sha256"] = sha256(data)
    r["ctypes"] = ",".join(sorted({p.get_content_type() for p in msg.walk()}))
    return r


def line(fid: str, r: dict, n: int = 150) -> str:
    extra = []
    for h, k in [("List-Id", "L"), ("Mailing-List", "ML"), ("Precedence", "P"),
                 ("X-Mailer", "XM"), ("User-Agent", "UA"), ("Auto-Submitted", "AS")]:
        if r.get(h):
            extra.append(f"{k}={r[h][:40]}")
    return (f"{fid} | F:{r['From'][:60]} | T:{r['To'][:40]} | S:{r['Subject'][:80]} | "
            f"{' '.join(extra)} | B:{r['body'][:n]}")
