"""Build raw test messages as bytes: personal notes, replies, newsletters through ESPs."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

ME = "sam@rivera.dev"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def day(n: int, hour: int = 9) -> datetime:
    return T0 + timedelta(days=n, hours=hour - 9)


def personal(frm: str, to: str = ME, *, subject: str = "Great meeting you", when: datetime = T0,
             body: str = "Hi Sam,\n\nGreat meeting you at the meetup. Coffee next week?\n\nJane\n",
             reply_to: str | None = None, in_reply_to: str | None = None, cc: str | None = None,
             msgid: str | None = None) -> bytes:
    mid = msgid or f"<p{next(_ids)}@test.example>"
    lines = [
        f"From: {frm}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {mid}",
        *([f"Reply-To: {reply_to}"] if reply_to else []),
        *([f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"] if in_reply_to else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


NEWS_HTML = """<html><body><table><tr><td>
<a href="https://{host}/view?id=1">View this email in your browser</a>
<h1>{title}</h1><img src="https://{host}/hero.png" width="600">
<p>Our spring launch is here: 30% off all plans this week only. Upgrade now and save.</p>
<a href="https://{host}/pricing?utm_source=newsletter">See pricing</a>
<a href="https://{host}/blog?utm_source=newsletter">Read the blog</a>
<a href="https://{host}/webinar?utm_source=newsletter">Register for the webinar</a>
<a href="https://{host}/demo?utm_source=newsletter">Book a demo</a>
<p>You are receiving this email because you signed up. <a href="https://{host}/unsubscribe?u=1">Unsubscribe</a>
| <a href="https://{host}/preferences">Manage preferences</a></p>
<img src="https://{host}/open.gif?u=1" width="1" height="1" alt="">
</td></tr></table></body></html>"""


def newsletter(frm: str, *, to: str = ME, subject: str = "Spring launch: 30% off this week",
               when: datetime = T0, esp: str = "sendgrid", reply_to: str | None = None,
               return_path: str | None = None, dkim: str | None = None,
               msgid: str | None = None, host: str | None = None) -> bytes:
    mid = msgid or f"<n{next(_ids)}@mail.test.example>"
    domain = frm.rpartition("@")[2].strip(">")
    host = host or domain
    esp_headers = {
        "sendgrid": ["X-SG-EID: abc123", f"Return-Path: <bounces+123-abc=rivera.dev@em123.{domain}>"],
        "mailchimp": ["X-MC-User: 0123abcd", "Return-Path: <bounce-mc.us1_1.2-sam=rivera.dev@mail12.mcsv.net>",
                      "Feedback-ID: 1:2:us1:mc"],
        "ses": ["Feedback-ID: 1.us-east-1.abc=:AmazonSES", "X-SES-Outgoing: 2026.03.02-1.2.3.4",
                "Return-Path: <0100abc@amazonses.com>"],
        "none": [f"Return-Path: <news@{domain}>"],
    }[esp]
    if return_path:
        esp_headers = [h for h in esp_headers if not h.startswith("Return-Path")]
        esp_headers.append(f"Return-Path: <{return_path}>")
    html = NEWS_HTML.format(host=host, title=subject)
    lines = [
        *esp_headers,
        f"DKIM-Signature: v=1; a=rsa-sha256; d={dkim or domain}; s=s1; h=from:to; b=abc",
        f"From: {frm}",
        f"To: {to}",
        *([f"Reply-To: {reply_to}"] if reply_to else []),
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {mid}",
        f"List-Unsubscribe: <https://{host}/unsubscribe?u=1>, <mailto:unsub@{domain}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: bulk",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"{subject}\nOur spring launch is here: 30% off all plans this week only.\n"
        f"See pricing: https://{host}/pricing\nUnsubscribe: https://{host}/unsubscribe?u=1",
        "--b1",
        "Content-Type: text/html; charset=utf-8",
        "",
        html,
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode()


def discussion_post(frm: str, *, list_addr: str = "pydata@lists.example.org", when: datetime = T0,
                    subject: str = "[pydata] Release candidate of the parser is out") -> bytes:
    lines = [
        f"From: {frm}",
        f"To: {list_addr}",
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <d{next(_ids)}@test.example>",
        f"List-Id: PyData discussion <{list_addr.replace('@', '.')}>",
        f"List-Post: <mailto:{list_addr}>",
        "List-Archive: <https://lists.example.org/archive>",
        "List-Help: <mailto:pydata-request@lists.example.org?subject=help>",
        f"List-Unsubscribe: <mailto:pydata-leave@lists.example.org>",
        "Precedence: list",
        f"Sender: pydata-bounces@lists.example.org",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hi all, the release candidate is out; please test it and report problems. Thanks!",
    ]
    return "\r\n".join(lines).encode()


RECEIPT_BODY = ("Hi Sam,\n\nThanks for your order #{order}. We have received your payment of $49.00.\n\n"
                "Order number: {order}\nTotal: $49.00\nPayment method: Visa ending 4242\n\n"
                "You can see your order status in your account.\n")
RESET_BODY = ("Someone has requested a link to change your password. You can do this through the link "
              "below.\n\nhttps://{host}/users/password/edit?token={order}\n\nIf you didn't request this, "
              "please ignore this email. Your password won't change until you create a new one.\n")


def transactional(frm: str, *, to: str = ME, kind: str = "receipt", order: str = "A-10234",
                  subject: str | None = None, when: datetime = T0, msgid: str | None = None) -> bytes:
    """Account mail: a receipt, or a password reset (``kind="reset"``)."""
    domain = frm.rpartition("@")[2].strip(">")
    body = (RECEIPT_BODY if kind == "receipt" else RESET_BODY).format(order=order, host=domain)
    subject = subject or ("Receipt for order " + order if kind == "receipt" else "Reset password instructions")
    lines = [
        f"Return-Path: <bounces@{domain}>",
        f"From: {frm}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {msgid or f'<t{next(_ids)}@{domain}>'}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


def mbox(messages: list[bytes]) -> bytes:
    out = []
    for m in messages:
        body = m.replace(b"\r\n", b"\n")
        body = b"\n".join((b">" + line if line.startswith(b"From ") else line)
                          for line in body.split(b"\n"))
        out.append(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + body + b"\n")
    return b"\n".join(out)
