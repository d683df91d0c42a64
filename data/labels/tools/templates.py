#!/usr/bin/env python3
"""Texts modelled on open-source projects' transactional mail templates, for the thin subkinds.

The labelled real mail has almost no receipts, invoices, password resets, address confirmations,
security alerts, statements, document shares, event logistics or trial/renewal notices in its
training part (LABELS.md, "Known weaknesses"). This script writes a small number of messages whose
*structure and wording follow* the transactional templates that open-source projects ship (named in
each spec: the project and its template), written anew here with invented organisations, people,
amounts and dates, and wrapped in the header sets such mail has (a transactional sender, often
HTML with a logo and a tracking pixel; rarely List-Unsubscribe; never email-platform headers, see
``build``).

They are training data only (``split=train``, ``method=template``), never held out, and never the
only source of the transactional class: see LABELS.md for the counts per subkind.

    python3 tools/templates.py            # writes ../templates/*.eml, prints the rows
"""
from __future__ import annotations

import hashlib
import html
import os
import random
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "templates")
SEED = 20261129


@dataclass
class Spec:
    name: str
    subkind: str
    modelled_on: str
    sender: tuple[str, str]            # (display name, address)
    subject: str
    text: str
    html: bool = False                 # also an HTML alternative (table layout, logo)
    esp: str | None = None             # sendgrid, ses, postmark, mailgun, sparkpost, mandrill
    pixel: bool = False
    unsubscribe: bool = False          # a List-Unsubscribe header (some transactional mail has one)
    ics: str | None = None             # a text/calendar part (METHOD)
    reply_to: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


PEOPLE = ["Dana Whitfield", "Marek Nowak", "Aisha Bello", "Tomás Ferreira", "Yuki Tanaka", "Priya Raman",
          "Lena Hoffmann", "Oliver Grant", "Sofia Marino", "Kwame Mensah", "Ingrid Dahl", "Rafael Ortiz"]
RECIPIENTS = ["dana.whitfield@fastmail.com", "m.nowak@posteo.de", "aisha.bello@gmail.com",
              "tomas@ferreira.pt", "yuki.t@outlook.com", "priya.raman@protonmail.com",
              "lena.hoffmann@web.de", "ogrant@icloud.com", "sofia.marino@libero.it",
              "kwame@mensah.dev", "ingrid.dahl@gmail.com", "rafa.ortiz@yahoo.es"]


def _first(i: int) -> str:
    return PEOPLE[i % len(PEOPLE)].split()[0]


def specs() -> list[Spec]:
    s: list[Spec] = []
    # -- receipts and order confirmations ---------------------------------------------------------
    shops = [("Larkspur Outdoor", "orders@larkspur-outdoor.com", "LO-48213", "Trail runner 2 (size 42)", "89.00", "USD"),
             ("Northwind Books", "shop@northwindbooks.co.uk", "NW-100734", "The Cartographer's Daughter (hardback)", "18.99", "GBP"),
             ("Kaffeerösterei Elbufer", "bestellung@elbufer-kaffee.de", "EL-2291", "Espresso Blend 1 kg", "24.90", "EUR"),
             ("Pixelforge Studio", "store@pixelforge.io", "PF-9917", "Icon pack licence (team)", "149.00", "USD")]
    for i, (shop, addr, order, item, amount, cur) in enumerate(shops):
        s.append(Spec(f"receipt-woocommerce-processing-{i}", "receipt",
                      "WooCommerce emails/customer-processing-order",
                      (shop, addr), f"Your {shop} order has been received!",
                      f"Hi {_first(i)},\n\nJust to let you know — we've received your order #{order}, and it is now "
                      f"being processed.\n\n[Order #{order}] ({(datetime(2021, 3, 4) + timedelta(days=40 * i)):%B %d, %Y})\n\n"
                      f"Product            Quantity   Price\n{item}   1   {amount} {cur}\n\nSubtotal: {amount} {cur}\n"
                      f"Shipping: Free shipping\nPayment method: Credit card\nTotal: {amount} {cur}\n\n"
                      f"Billing address\n{PEOPLE[i]}\n\nThanks for using {shop.split()[0].lower()}.com!\n",
                      html=True, esp=["sendgrid", None, "mailgun", "postmark"][i], pixel=i % 2 == 0))
    for i, (shop, addr, order, item, amount, cur) in enumerate(shops[:3]):
        s.append(Spec(f"receipt-saleor-confirmed-{i}", "receipt", "Saleor order confirmation template",
                      (shop, addr.replace("orders@", "no-reply@").replace("shop@", "no-reply@")),
                      f"Order {order} confirmed",
                      f"Thank you for your order, {_first(i + 3)}!\n\nOrder number: {order}\nOrder date: "
                      f"{(datetime(2022, 1, 12) + timedelta(days=61 * i)):%d %b %Y}\n\n1 x {item} .... {amount} {cur}\n"
                      f"Tax included\nTotal paid: {amount} {cur}\n\nWe will let you know when your order ships. "
                      f"You can see its status at any time in your account.\n", html=True,
                      esp=["ses", "sendgrid", None][i]))
    for i, (coll, amount) in enumerate([("Open Source Collective / Fennel Editor", "25.00"),
                                        ("Open Collective / Bikeshed Community Radio", "10.00"),
                                        ("Open Collective / Tidewater Hackerspace", "50.00")]):
        s.append(Spec(f"receipt-opencollective-{i}", "receipt", "Open Collective transaction receipt template",
                      ("Open Collective", "no-reply@opencollective.com"),
                      f"Your contribution to {coll.split(' / ')[1]} — receipt",
                      f"Hi {_first(i + 5)},\n\nThank you for your contribution of ${amount} to {coll.split(' / ')[1]}.\n\n"
                      f"Date: {(datetime(2023, 2, 1) + timedelta(days=30 * i)):%B %d, %Y}\nAmount: ${amount} USD\n"
                      f"Payment method: Visa ending in 4{i}21\nFiscal host: {coll.split(' / ')[0]}\n\n"
                      f"Your receipt (PDF) is available from your transactions page.\n\n— Open Collective\n",
                      html=True, esp="mailgun"))
    for i, (biz, amount, num) in enumerate([("Harbour Lights Design Ltd", "1,240.00", "0048"),
                                             ("Kettle & Byte Consulting", "380.00", "2023-117"),
                                             ("Studio Verano", "2,900.00", "INV-0311")]):
        s.append(Spec(f"receipt-invoiceninja-payment-{i}", "receipt", "Invoice Ninja payment confirmation template",
                      (biz, f"billing@{biz.split()[0].lower().replace('&', '')}{'design' if i == 0 else ''}.com"),
                      f"Payment received for invoice {num}",
                      f"Dear {PEOPLE[i + 6]},\n\nThank you for your payment of £{amount}.\n\nInvoice: {num}\n"
                      f"Amount paid: £{amount}\nPayment date: {(datetime(2020, 11, 3) + timedelta(days=97 * i)):%d/%m/%Y}\n"
                      f"Payment type: Bank transfer\n\nA receipt is attached. You can view the invoice and payment "
                      f"history in the client portal.\n\nKind regards,\n{biz}\n", esp=["postmark", None, "ses"][i]))
    # -- invoices ---------------------------------------------------------------------------------
    for i, (biz, amount, num, due) in enumerate([("Harbour Lights Design Ltd", "1,240.00", "0049", 14),
                                                  ("Greenlane Hosting", "12.00", "GH-77812", 7),
                                                  ("Atelier Nordlicht GmbH", "860.00", "RE-2024-0193", 30),
                                                  ("Quartermaster Cloud", "49.00", "QC-00412", 0)]):
        s.append(Spec(f"invoice-{['invoiceninja', 'killbill', 'odoo', 'lago'][i]}-{i}", "invoice",
                      ["Invoice Ninja invoice template", "Kill Bill InvoiceNotification template",
                       "Odoo account.move invoice mail template", "Lago invoice email template"][i],
                      (biz, ["billing@harbourlightsdesign.com", "billing@greenlane-hosting.net",
                             "buchhaltung@atelier-nordlicht.de", "invoices@quartermaster.cloud"][i]),
                      [f"New invoice {num} from {biz}", f"Your Greenlane Hosting invoice {num}",
                       f"Rechnung {num} von {biz}", f"Your invoice {num} is available"][i],
                      [f"Dear {PEOPLE[i]},\n\nTo view your invoice for {amount} GBP, click the link below.\n\n"
                       f"Invoice {num}\nAmount due: £{amount}\nDue date: in {due} days\n\nView invoice: "
                       f"https://billing.harbourlightsdesign.com/client/invoices/{num}\n\nThank you for your business.\n",
                       f"Hello {_first(i)},\n\nYour invoice {num} for the period 1-31 May is ready.\n\nAccount: "
                       f"{RECIPIENTS[i]}\nInvoice amount: ${amount}\nBalance: ${amount}\nThe amount will be charged to "
                       f"the card on file on the due date.\n\nGreenlane Hosting billing\n",
                       f"Sehr geehrte/r {PEOPLE[i]},\n\nanbei erhalten Sie die Rechnung {num} über {amount} €.\n"
                       f"Bitte überweisen Sie den Betrag innerhalb von {due} Tagen.\n\nMit freundlichen Grüßen\n{biz}\n",
                       f"Hi {_first(i)},\n\nYour invoice {num} for ${amount} has been finalized and will be paid "
                       f"automatically with your card ending 0{i}42.\n\nPlan: Team (monthly)\nPeriod: Aug 1 - Aug 31\n"
                       f"Total: ${amount}\n\nDownload the PDF from your billing page.\n"][i],
                      html=i in (1, 3), esp=["postmark", "sendgrid", None, "ses"][i]))
    # -- password resets --------------------------------------------------------------------------
    resets = [("Devise reset_password_instructions", ("Fieldnotes", "please-change-me@fieldnotes.app"), "Reset password instructions",
               "Hello {email}!\n\nSomeone has requested a link to change your password. You can do this through the "
               "link below.\n\nChange my password: https://fieldnotes.app/users/password/edit?reset_password_token=Xk2{n}\n\n"
               "If you didn't request this, please ignore this email.\nYour password won't change until you access the "
               "link above and create a new one.\n"),
              ("Django registration/password_reset_email", ("Riverside Rowing Club", "webmaster@riversiderowing.org.uk"),
               "Password reset on riversiderowing.org.uk",
               "You're receiving this email because you requested a password reset for your user account at "
               "riversiderowing.org.uk.\n\nPlease go to the following page and choose a new password:\n\n"
               "https://riversiderowing.org.uk/accounts/reset/MTI{n}/c3v-9f2a/\n\nYour username, in case you've forgotten: "
               "{user}\n\nThanks for using our site!\n\nThe riversiderowing.org.uk team\n"),
              ("Mastodon user_mailer/reset_password_instructions", ("fosstodon.social", "notifications@fosstodon.social"),
               "Mastodon: Reset password instructions",
               "Password change\n\nYou requested a new password for fosstodon.social. To proceed, click the link below. "
               "If this wasn't you, please ignore this email.\n\nChange password: https://fosstodon.social/auth/password/edit?"
               "reset_password_token=a{n}Qz\n\nThis link will expire in a few hours.\n"),
              ("Discourse forgot_password system message", ("Home Lab Forum", "noreply@forum.homelab.community"),
               "[Home Lab Forum] Password reset",
               "Somebody asked to reset your password on [Home Lab Forum](https://forum.homelab.community).\n\n"
               "If it was not you, you can safely ignore this email.\n\nClick the following link to choose a new password:\n"
               "https://forum.homelab.community/u/password-reset/{n}8c1e0b\n"),
              ("Keycloak password-reset email template", ("Acme Research SSO", "no-reply@sso.acmeresearch.org"),
               "Reset password",
               "Someone just requested to change your Acme Research account's credentials. If this was you, click on the "
               "link below to reset them.\n\nhttps://sso.acmeresearch.org/realms/staff/login-actions/action-token?key=eyJ{n}\n\n"
               "This link and code will expire within 5 minutes.\n\nIf you don't want to reset your credentials, just "
               "ignore this message and nothing will be changed.\n"),
              ("Nextcloud lost-password email", ("Family Cloud", "cloud@hoffmann-familie.de"),
               "Passwort zurücksetzen für Family Cloud",
               "Passwort zurücksetzen\n\nKlicke auf den folgenden Link, um dein Passwort zurückzusetzen. Wenn du keine "
               "Zurücksetzung angefordert hast, ignoriere diese E-Mail.\n\nhttps://cloud.hoffmann-familie.de/index.php/"
               "lostpassword/reset/form/{n}/lena\n"),
              ("WooCommerce emails/customer-reset-password", ("Larkspur Outdoor", "orders@larkspur-outdoor.com"),
               "Password Reset Request for Larkspur Outdoor",
               "Hi {user},\n\nSomeone has requested a new password for the following account on Larkspur Outdoor:\n\n"
               "Username: {user}\n\nIf you didn't make this request, just ignore this email. If you'd like to proceed:\n\n"
               "Click here to reset your password\n\nThanks for reading.\n"),
              ("Gitea mail/auth/reset_passwd", ("Gitea", "gitea@code.tidewater.coop"), "Recover your account",
               "Hi {user},\n\nPlease click the following link to recover your account within 3 hours:\n\n"
               "https://code.tidewater.coop/user/recover_account?code=2{n}a9\n\nNot requested? Please ignore this email.\n\n"
               "© Gitea: Git with a cup of tea\n")]
    for i, (tmpl, sender, subj, body) in enumerate(resets):
        s.append(Spec(f"reset-{i}", "reset", tmpl, sender, subj,
                      body.format(email=RECIPIENTS[i], user=RECIPIENTS[i].split("@")[0], n=4000 + 37 * i),
                      html=i in (2, 3, 6), esp=[None, None, "mailgun", "sparkpost", None, None, "sendgrid", None][i]))
    # -- confirmations of an address or sign-up ---------------------------------------------------
    confirms = [("Devise confirmation_instructions", ("Fieldnotes", "please-change-me@fieldnotes.app"),
                 "Confirmation instructions",
                 "Welcome {email}!\n\nYou can confirm your account email through the link below:\n\nConfirm my account: "
                 "https://fieldnotes.app/users/confirmation?confirmation_token=z{n}Q\n"),
                ("Mastodon user_mailer/confirmation_instructions", ("hachyderm.io", "notifications@hachyderm.io"),
                 "Mastodon: Confirmation instructions for hachyderm.io",
                 "One more step!\n\nYou just need to click the link below to activate your account.\n\nVerify e-mail "
                 "address: https://hachyderm.io/auth/confirmation?confirmation_token={n}xA\n\nIf you didn't sign up, "
                 "please ignore this email.\n"),
                ("Discourse signup system message", ("Home Lab Forum", "noreply@forum.homelab.community"),
                 "[Home Lab Forum] Confirm your new account",
                 "Welcome to Home Lab Forum!\n\nClick the following link to confirm and activate your new account:\n"
                 "https://forum.homelab.community/u/activate-account/{n}ffe2\n\nIf the above link is not clickable, try "
                 "copying and pasting it into the address bar of your web browser.\n"),
                ("Keycloak email-verification template", ("Acme Research SSO", "no-reply@sso.acmeresearch.org"),
                 "Verify email",
                 "Someone has created a Acme Research account with this email address. If this was you, click the link "
                 "below to verify your email address\n\nhttps://sso.acmeresearch.org/realms/staff/login-actions/"
                 "action-token?key=eyJh{n}\n\nThis link will expire within 5 minutes.\n\nIf you didn't create this "
                 "account, just ignore this message.\n"),
                ("Gitea mail/auth/activate", ("Gitea", "gitea@code.tidewater.coop"),
                 "Please activate your account",
                 "Hi {user}, thanks for registering at Gitea!\n\nPlease click the following link to activate your account "
                 "within 3 hours:\n\nhttps://code.tidewater.coop/user/activate?code={n}b7\n\nNot requested? Please "
                 "ignore this email.\n"),
                ("listmonk double opt-in (subscriber-optin) template", ("Tidewater Hackerspace", "hello@tidewater.coop"),
                 "Confirm subscription",
                 "Hi {user},\n\nYou have been added to the following mailing list:\n\n- Hackerspace members\n\n"
                 "Confirm your subscription: https://lists.tidewater.coop/subscription/optin/{n}?l=3\n\n"
                 "If you did not ask for this, you can ignore this e-mail.\n"),
                ("Nextcloud email-change confirmation", ("Family Cloud", "cloud@hoffmann-familie.de"),
                 "Bestätige deine neue E-Mail-Adresse",
                 "Hallo {user},\n\ndu hast deine E-Mail-Adresse für Family Cloud geändert. Bitte bestätige die neue "
                 "Adresse über diesen Link:\n\nhttps://cloud.hoffmann-familie.de/settings/confirm/{n}\n"),
                ("Pretix order placed, email confirmation", ("FOSS North 2024", "tickets@pretix.eu"),
                 "Your order: 2F4{n}",
                 "Hello,\n\nwe successfully received your order for FOSS North 2024. Please confirm your email address "
                 "to receive your tickets:\n\nhttps://pretix.eu/fossnorth/2024/order/2F4{n}/confirm\n\nYour order code: "
                 "2F4{n}\n\nBest regards,\nYour FOSS North team\n")]
    for i, (tmpl, sender, subj, body) in enumerate(confirms):
        s.append(Spec(f"confirm-{i}", "confirm", tmpl, sender, subj,
                      body.format(email=RECIPIENTS[i + 2], user=RECIPIENTS[i + 2].split("@")[0], n=7100 + 53 * i),
                      html=i in (1, 2, 5, 7), esp=[None, "mailgun", "sparkpost", None, None, "ses", None, "sendgrid"][i]))
    # -- security and account alerts ---------------------------------------------------------------
    sec = [("Mastodon user_mailer/suspicious_sign_in", ("fosstodon.social", "notifications@fosstodon.social"),
            "Mastodon: New sign-in on your account",
            "Your account has been accessed from a new IP address\n\nWe detected a sign-in to your account from a new "
            "IP address.\n\nIP address: 203.0.113.{n}\nBrowser: Firefox on Linux\nTime: 2024-06-0{d} 08:1{d} UTC\n\n"
            "If this was you, no action is needed. If it wasn't, please change your password and enable two-factor "
            "authentication.\n"),
           ("Bitwarden new device logged in template", ("Bitwarden", "no-reply@bitwarden.com"),
            "New Device Logged In From Linux",
            "Your Bitwarden account was just logged into from a new device.\n\nDate: Tuesday, March {d}, 2023 "
            "14:0{d} UTC\nIP Address: 198.51.100.{n}\nDevice Type: Linux\n\nYou can deauthorize all devices that have "
            "access to your account from the web vault under Settings > My Account > Deauthorize Sessions.\n"),
           ("GitLab notify/unknown_sign_in_email", ("GitLab", "gitlab@mg.gitlab.com"),
            "GitLab sign-in from new location",
            "Hi {user},\n\nA sign-in to your account has been made from the following IP address: 192.0.2.{n}\n\n"
            "If you recently signed in, you do not need to take any action. If this wasn't you, we recommend you "
            "change your password.\n"),
           ("Nextcloud two-factor enabled notification", ("Family Cloud", "cloud@hoffmann-familie.de"),
            "Zwei-Faktor-Authentifizierung aktiviert",
            "Hallo {user},\n\nfür dein Konto wurde soeben die Zwei-Faktor-Authentifizierung (TOTP) aktiviert. Wenn du "
            "das nicht warst, wende dich bitte an die Administration.\n"),
           ("Devise password_change notification", ("Fieldnotes", "please-change-me@fieldnotes.app"),
            "Password Changed",
            "Hello {email}!\n\nWe're contacting you to notify you that your password has been changed.\n"),
           ("Devise email_changed notification", ("Fieldnotes", "please-change-me@fieldnotes.app"),
            "Email Changed",
            "Hello {email}!\n\nWe're contacting you to notify you that your email is being changed to "
            "{user}@newmail.org.\n"),
           ("Discourse suspicious_login system message", ("Home Lab Forum", "noreply@forum.homelab.community"),
            "[Home Lab Forum] New Login from Lisbon, Portugal",
            "Hello,\n\nWe noticed a login from a device or location you do not normally use.\n\nLocation: Lisbon, "
            "Portugal (approximated from IP)\nBrowser: Chrome on Windows\nIP address: 203.0.113.{n}\n\nWas this you? "
            "If not, please change your password.\n"),
           ("Keycloak login alert (event listener email)", ("Acme Research SSO", "no-reply@sso.acmeresearch.org"),
            "Login error",
            "A failed login attempt was detected to your account on 2022-10-{d}T09:3{d} from 198.51.100.{n}. If this "
            "was not you, please contact an administrator.\n"),
           ("Mastodon user_mailer/two_factor_enabled", ("hachyderm.io", "notifications@hachyderm.io"),
            "Mastodon: Two-factor authentication enabled",
            "Two-factor authentication enabled\n\nTwo-factor authentication has been enabled for your account. A token "
            "generated by the paired TOTP app will now be required for logging in.\n")]
    for i, (tmpl, sender, subj, body) in enumerate(sec):
        s.append(Spec(f"security-{i}", "security", tmpl, sender, subj,
                      body.format(email=RECIPIENTS[i + 1], user=RECIPIENTS[i + 1].split("@")[0], n=20 + 17 * i, d=1 + i % 8),
                      html=i in (0, 1, 2, 6), esp=["mailgun", "sendgrid", "mailgun", None, None, None, "sparkpost", None,
                                                    "mailgun"][i]))
    # -- statements -------------------------------------------------------------------------------
    stm = [("Invoice Ninja client statement template", ("Harbour Lights Design Ltd", "billing@harbourlightsdesign.com"),
            "Statement for {month}",
            "Dear {name},\n\nPlease find attached your statement for {month}.\n\nOpening balance: £0.00\nInvoiced: "
            "£1,240.00\nPaid: £1,240.00\nBalance due: £0.00\n\nKind regards,\nHarbour Lights Design Ltd\n"),
           ("Kill Bill account statement notification", ("Greenlane Hosting", "billing@greenlane-hosting.net"),
            "Your account statement is ready",
            "Hello {name},\n\nYour monthly account statement for {month} is now available in the customer portal.\n\n"
            "Account balance: $0.00\nPayments this period: $12.00\n\nhttps://portal.greenlane-hosting.net/statements\n"),
           ("Akaunting customer statement mail", ("Kettle & Byte Consulting", "accounts@kettlebyte.com"),
            "Account statement from Kettle & Byte Consulting",
            "Hello {name},\n\nAttached is your account statement for {month}. It lists the invoices and payments of the "
            "period and the amount outstanding (£380.00, due 30 days after the invoice date).\n\nThank you,\n"
            "Kettle & Byte Consulting\n"),
           ("Firefly III-style monthly report (statement ready)", ("Mercer Community Credit Union", "estatements@mercerccu.org"),
            "Your {month} eStatement is available",
            "Dear Member,\n\nYour eStatement for the period ending {month} is now available in Online Banking. For "
            "your security, the statement is not attached to this email.\n\nSign in at https://online.mercerccu.org to "
            "view it.\n\nThis is an automated message; please do not reply.\n")]
    for i, (tmpl, sender, subj, body) in enumerate(stm):
        month = ["April 2021", "May 2022", "June 2023", "July 2024"][i]
        s.append(Spec(f"statement-{i}", "statement", tmpl, sender, subj.format(month=month),
                      body.format(name=PEOPLE[i + 3], month=month), html=i == 3, esp=[None, "ses", None, "sendgrid"][i],
                      pixel=i == 3))
    # -- calendar invitations (iMIP) ---------------------------------------------------------------
    cals = [("Nextcloud Calendar iMIP invitation", ("Marek Nowak", "marek@nowak-it.pl"), "Invitation: Quarterly review",
             "Quarterly review", "REQUEST"),
            ("Thunderbird (Lightning) iTIP invitation", ("Ingrid Dahl", "ingrid@dahl-arkitekter.no"),
             "Invitation: Site visit, Bergen office", "Site visit, Bergen office", "REQUEST"),
            ("Nextcloud Calendar iMIP update", ("Marek Nowak", "marek@nowak-it.pl"),
             "Invitation updated: Quarterly review", "Quarterly review", "REQUEST"),
            ("Nextcloud Calendar iMIP cancellation", ("Sofia Marino", "sofia@studiomarino.it"),
             "Cancelled: Photo shoot planning", "Photo shoot planning", "CANCEL"),
            ("Cal.com booking confirmation (attendee) template", ("Cal.com", "notifications@cal.com"),
             "Confirmed: 30 Min Meeting between Kwame Mensah and Oliver Grant", "30 Min Meeting", "REQUEST"),
            ("Cal.com rescheduled booking template", ("Cal.com", "notifications@cal.com"),
             "Rescheduled: Intro call between Priya Raman and Dana Whitfield", "Intro call", "REQUEST")]
    for i, (tmpl, sender, subj, title, method) in enumerate(cals):
        start = datetime(2023, 4, 3, 9, 0) + timedelta(days=45 * i, hours=i)
        ics = _ics(title, start, sender, RECIPIENTS[i + 4], method, i)
        if tmpl.startswith("Cal.com"):
            text = (f"Your meeting has been {'rescheduled' if 'Rescheduled' in subj else 'scheduled'}\n\nWhat: {title}\n"
                    f"When: {start:%A, %B %d, %Y} {start:%H:%M} - {(start + timedelta(minutes=30)):%H:%M} (Europe/London)\n"
                    f"Who: {subj.split('between ')[1]}\nWhere: Cal Video\n\nNeed to make a change? Reschedule or cancel: "
                    f"https://app.cal.com/booking/{1000 + i}\n")
        else:
            text = (f"{sender[0]} has {'cancelled' if method == 'CANCEL' else 'invited you to'} “{title}”\n\n"
                    f"When: {start:%a, %d %b %Y} {start:%H:%M} – {(start + timedelta(hours=1)):%H:%M}\n"
                    f"Where: {'Teams' if i % 2 else 'Office, 2nd floor'}\nOrganizer: {sender[0]}\n\n"
                    f"{'' if method == 'CANCEL' else 'Accept / Tentative / Decline'}\n")
        s.append(Spec(f"calendar-{i}", "calendar", tmpl, sender, subj, text, ics=ics, html=i in (0, 4),
                      esp="sendgrid" if tmpl.startswith("Cal.com") else None))
    # -- document shares --------------------------------------------------------------------------
    shares = [("Nextcloud share notification", ("Lena Hoffmann (via Family Cloud)", "cloud@hoffmann-familie.de"),
               "Lena Hoffmann hat »Urlaubsfotos 2023« mit dir geteilt",
               "Hallo,\n\nLena Hoffmann hat »Urlaubsfotos 2023« mit dir geteilt.\n\n»Urlaubsfotos 2023« öffnen: "
               "https://cloud.hoffmann-familie.de/s/{n}\n"),
              ("Nextcloud share notification", ("Oliver Grant (via Studio Cloud)", "noreply@cloud.grantstudio.co.uk"),
               "Oliver Grant shared »Proposal v3.docx« with you",
               "Hey there,\n\nOliver Grant shared »Proposal v3.docx« with you.\n\nOpen »Proposal v3.docx«: "
               "https://cloud.grantstudio.co.uk/index.php/f/{n}\n\nStudio Cloud – a safe home for all your data\n"),
              ("Seafile share-repo notification", ("Seafile", "seafile@files.acmeresearch.org"),
               "Yuki Tanaka shared a library to you on Seafile",
               "Hi,\n\nYuki Tanaka has shared a library named \"Field data 2022\" to you on Seafile.\n\nYou can "
               "go to https://files.acmeresearch.org/library/{n}/ to view it.\n\nThanks for using our site!\n"),
              ("ownCloud public link share mail", ("ownCloud", "owncloud@drive.kettlebyte.com"),
               "Rafael Ortiz shared \"Q3 figures.xlsx\" with you",
               "Hello,\n\nRafael Ortiz shared Q3 figures.xlsx with you.\nView it: https://drive.kettlebyte.com/s/{n}\n\n"
               "The share will expire on 2022-11-30.\n"),
              ("Nextcloud Talk/Deck notification: card assigned", ("Marek Nowak (via Nextcloud)", "cloud@nowak-it.pl"),
               "Marek Nowak hat dir die Karte »Angebot prüfen« zugewiesen",
               "Marek Nowak hat dir die Karte »Angebot prüfen« auf dem Board »Kunden 2024« zugewiesen.\n\n"
               "https://cloud.nowak-it.pl/apps/deck/#/board/{n}\n")]
    for i, (tmpl, sender, subj, body) in enumerate(shares):
        s.append(Spec(f"share-{i}", "share", tmpl, sender, subj, body.format(n=f"aZ{8120 + 7 * i}kq"),
                      html=i in (0, 1, 4), extra={"Auto-Submitted": "auto-generated"} if i % 2 == 0 else {}))
    # -- event logistics --------------------------------------------------------------------------
    events = [("pretix order paid / tickets", ("FOSS North 2024", "tickets@pretix.eu"),
               "Your order: 2F4K7 — payment received",
               "Hello,\n\nwe successfully received your payment for FOSS North 2024. Thank you!\n\nYour tickets are "
               "attached as PDF. You can also download them here: https://pretix.eu/fossnorth/2024/order/2F4K7/\n\n"
               "Date: April 15–16, 2024\nVenue: Chalmers Conference Centre, Gothenburg\n"),
              ("pretix event reminder ('Your event starts soon')", ("FOSS North 2024", "tickets@pretix.eu"),
               "Your event starts soon: FOSS North 2024",
               "Hello,\n\nthis is a reminder that FOSS North 2024 starts on April 15. Registration opens at 08:30 at the "
               "main entrance. Please bring your ticket (printed or on your phone).\n\nView your order: "
               "https://pretix.eu/fossnorth/2024/order/2F4K7/\n"),
              ("Indico registration confirmation", ("Indico", "indico-noreply@indico.physics-lab.eu"),
               "[Indico] Registration confirmed: Detector Workshop 2022",
               "Dear {name},\n\nYour registration for \"Detector Workshop 2022\" has been confirmed.\n\nRegistration "
               "ID: 1{n}\nDates: 12-14 September 2022\nVenue: Building 40, Room 4-C01\n\nYou can modify your "
               "registration at https://indico.physics-lab.eu/event/{n}/registrations/\n"),
              ("Indico event update: venue changed", ("Indico", "indico-noreply@indico.physics-lab.eu"),
               "[Indico] Detector Workshop 2022: room change",
               "Dear participant,\n\nplease note that the sessions of Tuesday 13 September will take place in the "
               "Main Auditorium (Building 500) instead of Room 4-C01. All other details are unchanged.\n\nThe "
               "organisers\n"),
              ("Pretalx speaker notification: session scheduled", ("Pretalx", "noreply@pretalx.com"),
               "Your session \"Zero-copy parsing in practice\" has been scheduled",
               "Hi {name},\n\nyour session \"Zero-copy parsing in practice\" is now in the public schedule:\n\nDay 2, "
               "11:30–12:00, Room K.3.201\n\nPlease arrive at the speaker desk 30 minutes before your slot. You can "
               "see and change your submission at https://pretalx.com/devconf/me/submissions/\n"),
              ("Mobilizon participation approved", ("Mobilizon", "noreply@mobilizon.fr"),
               "Your participation to event Repair Café Lyon has been approved",
               "Good news! The organizer approved your participation request to the event \"Repair Café Lyon\".\n\n"
               "Date: Saturday 8 July 2023, 14:00–18:00\nAddress: 12 rue des Tanneurs, Lyon\n\nIf you can no longer "
               "attend, please update your participation on the event page.\n")]
    for i, (tmpl, sender, subj, body) in enumerate(events):
        s.append(Spec(f"event-{i}", "event", tmpl, sender, subj, body.format(name=PEOPLE[i + 2], n=3300 + 11 * i),
                      html=i in (0, 1, 5), esp=["sendgrid", "sendgrid", None, None, "mailgun", None][i], pixel=i == 1))
    # -- trial, renewal and subscription notices ----------------------------------------------------
    trials = [("Kill Bill subscription trial-ending notification", ("Quartermaster Cloud", "billing@quartermaster.cloud"),
               "Your trial ends in 3 days",
               "Hi {first},\n\nYour free trial of Quartermaster Cloud (Team plan) ends on {date}. After that your card "
               "ending 0342 will be charged $49.00 per month.\n\nManage or cancel your subscription in your billing "
               "settings.\n"),
              ("Lago subscription renewal notice", ("Greenlane Hosting", "billing@greenlane-hosting.net"),
               "Your subscription renews on {date}",
               "Hello {first},\n\nYour Greenlane Hosting subscription (VPS S, yearly) renews automatically on {date} for "
               "$144.00.\n\nNo action is needed if you wish to continue. To change or cancel, visit your account.\n"),
              ("Ghost members subscription renewed", ("The Margins", "noreply@themargins.blog"),
               "Your subscription to The Margins has been renewed",
               "Hey {first},\n\nThanks for your continued support! Your paid subscription to The Margins was renewed on "
               "{date}. Your receipt is available in your account.\n"),
              ("Nextcloud/OpenProject-style domain renewal reminder", ("Tidewater Domains", "support@tidewater-domains.net"),
               "Domain renewal reminder: fennel-editor.org",
               "Dear customer,\n\nthe domain fennel-editor.org expires on {date}. Auto-renewal is switched off for this "
               "domain. Renew it in the control panel to keep your website and email working.\n")]
    for i, (tmpl, sender, subj, body) in enumerate(trials):
        date = f"{(datetime(2021, 6, 1) + timedelta(days=131 * i)):%B %d, %Y}"
        s.append(Spec(f"trial-{i}", "notice", tmpl, sender, subj.format(date=date),
                      body.format(first=_first(i + 7), date=date), html=i in (0, 2),
                      esp=["ses", "ses", "mailgun", None][i]))
    # -- account notices ---------------------------------------------------------------------------
    accts = [("Mastodon user_mailer/backup_ready", ("fosstodon.social", "notifications@fosstodon.social"),
              "Mastodon: Your archive is ready for download",
              "Your archive is ready for download!\n\nYou requested a full backup of your Mastodon account. It's now "
              "ready for download.\n\nDownload archive: https://fosstodon.social/backups/{n}/download\n"),
             ("Discourse account deletion confirmation", ("Home Lab Forum", "noreply@forum.homelab.community"),
              "[Home Lab Forum] Your account has been deleted",
              "Hello,\n\nas you requested, your account on Home Lab Forum has been deleted. Your posts remain, attributed "
              "to an anonymous user.\n"),
             ("Nextcloud quota warning", ("Family Cloud", "cloud@hoffmann-familie.de"),
              "Dein Speicherplatz ist fast voll",
              "Hallo,\n\ndu nutzt 92 % deines Speicherplatzes (9,2 GB von 10 GB) auf Family Cloud. Lösche nicht mehr "
              "benötigte Dateien oder wende dich an die Administration.\n"),
             ("GitLab notify/access_token_about_to_expire", ("GitLab", "gitlab@mg.gitlab.com"),
              "Your personal access tokens will expire in 7 days or less",
              "Hi {user},\n\nOne or more of your personal access tokens will expire in 7 days or less:\n\n- ci-deploy\n\n"
              "You can create a new one on your access tokens settings page.\n")]
    for i, (tmpl, sender, subj, body) in enumerate(accts):
        s.append(Spec(f"account-{i}", "account", tmpl, sender, subj,
                      body.format(user=RECIPIENTS[i + 8].split("@")[0], n=5500 + i), html=i == 0,
                      esp=["mailgun", "sparkpost", None, "mailgun"][i]))
    # -- shipping ----------------------------------------------------------------------------------
    ships = [("Saleor shipping confirmation template", ("Northwind Books", "no-reply@northwindbooks.co.uk"),
              "Your order NW-100734 has shipped",
              "Good news, {first}! Your order NW-100734 is on its way.\n\nCarrier: Royal Mail Tracked 48\nTracking number: "
              "JD0{n}GB\n\nYou can track the parcel on the carrier's website.\n"),
             ("WooCommerce emails/customer-completed-order (with tracking)", ("Larkspur Outdoor", "orders@larkspur-outdoor.com"),
              "Your Larkspur Outdoor order is now complete",
              "Hi {first},\n\nWe have finished processing your order #LO-48213. Your parcel was handed to UPS, tracking "
              "1Z9{n}.\n\nThanks for shopping with us.\n"),
             ("Solidus/Spree shipment shipped email", ("Kaffeerösterei Elbufer", "bestellung@elbufer-kaffee.de"),
              "Versandbestätigung für Bestellung EL-2291",
              "Hallo {first},\n\ndeine Bestellung EL-2291 wurde heute mit DHL verschickt. Sendungsnummer: 00340{n}.\n\n"
              "Viele Grüße\nKaffeerösterei Elbufer\n")]
    for i, (tmpl, sender, subj, body) in enumerate(ships):
        s.append(Spec(f"shipping-{i}", "shipping", tmpl, sender, subj, body.format(first=_first(i + 1), n=43421 + 71 * i),
                      html=i < 2, esp=[None, "sendgrid", "mailgun"][i], pixel=i == 1, unsubscribe=i == 1))
    return s


def _ics(title: str, start: datetime, organizer: tuple[str, str], attendee: str, method: str, i: int) -> str:
    end = start + timedelta(hours=1)
    uid = hashlib.sha1(f"{title}{i}".encode()).hexdigest()[:24]
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//{['Nextcloud', 'Mozilla', 'Nextcloud', 'Nextcloud', 'Cal.com', 'Cal.com'][i]}//EN",
        f"METHOD:{method}", "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{start:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}", f"SUMMARY:{title}",
        f"ORGANIZER;CN={organizer[0]}:mailto:{organizer[1]}",
        f"ATTENDEE;CN={attendee};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{attendee}",
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}", f"SEQUENCE:{i % 3}",
        "END:VEVENT", "END:VCALENDAR", ""])


ESP_HEADERS = {
    "sendgrid": lambda rnd: {"X-SG-EID": "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(40)),
                             "X-Entity-ID": f"{rnd.randrange(10**6):06d}"},
    "ses": lambda rnd: {"Feedback-ID": f"1.us-east-1.{rnd.randrange(10**8)}=:AmazonSES",
                        "X-SES-Outgoing": f"2023.0{rnd.randrange(1, 9)}.1{rnd.randrange(9)}-54.240.8.{rnd.randrange(255)}"},
    "postmark": lambda rnd: {"X-PM-Message-Id": f"{rnd.randrange(16**8):08x}-{rnd.randrange(16**4):04x}-4{rnd.randrange(16**3):03x}",
                             "X-PM-Tag": "transactional"},
    "mailgun": lambda rnd: {"X-Mailgun-Sid": f"WyI{rnd.randrange(10**6)}", "X-Mailgun-Tag": "transactional"},
    "sparkpost": lambda rnd: {"X-MSFBL": f"{rnd.randrange(10**9)}"},
    "mandrill": lambda rnd: {"X-Mandrill-User": f"md_{rnd.randrange(10**8)}"},
}
RETURN_PATH = {"sendgrid": "bounces+{n}@em{m}.{dom}", "ses": "{n}@amazonses.com", "postmark": "pm_bounces@pm-bounces.{dom}",
               "mailgun": "bounce+{n}@mg.{dom}", "sparkpost": "msprvs1={n}@sparkpostmail.com",
               "mandrill": "bounce-md_{n}@mandrillapp.com"}


def _html(spec: Spec, rnd: random.Random) -> str:
    paras = "".join(f"<p style=\"margin:0 0 12px 0\">{html.escape(p).replace(chr(10), '<br>')}</p>"
                    for p in spec.text.strip().split("\n\n"))
    dom = spec.sender[1].rpartition("@")[2]
    pixel = (f'<img src="https://{["t", "o", "email"][rnd.randrange(3)]}.{dom}/open/{rnd.randrange(10**9)}.gif" '
             f'width="1" height="1" alt="">' if spec.pixel else "")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"background:#f4f4f4\">"
            "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\">"
            "<table width=\"600\" style=\"background:#ffffff;font-family:Helvetica,Arial,sans-serif\">"
            f"<tr><td style=\"padding:24px\"><img src=\"https://{dom}/static/logo.png\" alt=\"{html.escape(spec.sender[0])}\" "
            f"height=\"32\"></td></tr><tr><td style=\"padding:0 24px 24px 24px;font-size:15px;color:#333\">{paras}</td></tr>"
            f"<tr><td style=\"padding:16px 24px;font-size:12px;color:#888\">{html.escape(spec.sender[0])}</td></tr>"
            f"</table></td></tr></table>{pixel}</body></html>")


def build(spec: Spec, i: int) -> bytes:
    # Sent from the organisation's own servers: no email-platform headers. Real transactional mail often
    # goes through a platform, but the promotional training mail is from 2002-2003, when platforms were
    # rare: platform headers here would teach "platform, hence transactional" (see classify.ERA_CONFOUNDED).
    spec = Spec(**{**spec.__dict__, "esp": None})
    rnd = random.Random(f"{SEED}:{spec.name}")
    dom = spec.sender[1].rpartition("@")[2]
    date = datetime(2019, 5, 2, 7, 0, tzinfo=timezone.utc) + timedelta(days=rnd.randrange(0, 6 * 365),
                                                                        minutes=rnd.randrange(0, 1440))
    rcpt = RECIPIENTS[i % len(RECIPIENTS)]
    msg = EmailMessage()
    relay = {"sendgrid": "o1.ptr{}.sendgrid.net", "ses": "a8-{}.smtp-out.amazonses.com", "postmark": "sc-ord-mta{}.mtasv.net",
             "mailgun": "m{}.mailgun.net", "sparkpost": "mta-{}.sparkpostmail.com", "mandrill": "mail{}.mandrillapp.com",
             None: "mail{}." + dom}[spec.esp].format(rnd.randrange(1, 300))
    msg["Received"] = (f"from {relay} ({relay} [{rnd.randrange(1, 223)}.{rnd.randrange(256)}.{rnd.randrange(256)}."
                       f"{rnd.randrange(1, 255)}]) by mx.{rcpt.rpartition('@')[2]} with ESMTPS id {rnd.randrange(16**10):010x} "
                       f"for <{rcpt}>; {format_datetime(date + timedelta(seconds=3))}")
    n = rnd.randrange(10**7)
    msg["Return-Path"] = "<" + RETURN_PATH.get(spec.esp or "", "bounces@" + dom).format(n=n, m=rnd.randrange(10**4), dom=dom) + ">"
    msg["DKIM-Signature"] = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s={['s1', 'k1', 'pm', 'mta', 'default'][rnd.randrange(5)]}; "
                             f"h=from:to:subject:date:message-id; bh={hashlib.sha256(spec.text.encode()).hexdigest()[:43]}=")
    msg["From"] = f"{spec.sender[0]} <{spec.sender[1]}>"
    msg["To"] = rcpt
    msg["Subject"] = spec.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{hashlib.sha1(spec.name.encode()).hexdigest()[:20]}.{n}@{(spec.esp and relay.split('.', 1)[1]) or dom}>"
    if spec.reply_to:
        msg["Reply-To"] = spec.reply_to
    if spec.esp:
        for k, v in ESP_HEADERS[spec.esp](rnd).items():
            msg[k] = v
    if spec.unsubscribe:
        msg["List-Unsubscribe"] = f"<https://{dom}/email/preferences?u={n}>"
    for k, v in spec.extra.items():
        msg[k] = v
    if rnd.random() < 0.4 and "Auto-Submitted" not in spec.extra:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(spec.text)
    if spec.html:
        msg.add_alternative(_html(spec, rnd), subtype="html")
    if spec.ics:
        method = "CANCEL" if "METHOD:CANCEL" in spec.ics else "REQUEST"
        msg.add_attachment(spec.ics.encode(), maintype="text", subtype="calendar", filename="invite.ics",
                           params={"method": method})
    # the MIME boundaries come from the global random generator: seed it, so that every run writes
    # the same bytes (labels.tsv holds their sha256)
    random.seed(f"{SEED}:{spec.name}:boundaries")
    return msg.as_bytes()


def rows() -> list[tuple[str, str, str, str, str, str, str]]:
    """(source, sha256, label, subkind, split, method, note) of every template message (written to OUT)."""
    os.makedirs(OUT, exist_ok=True)
    out = []
    for i, spec in enumerate(specs()):
        data = build(spec, i)
        name = f"{spec.name}.eml"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        out.append((f"template/{name}", hashlib.sha256(data).hexdigest(), "transactional", spec.subkind, "train",
                    "template", f"modelled on {spec.modelled_on}"))
    return out


if __name__ == "__main__":
    for r in rows():
        print("\t".join(r))
