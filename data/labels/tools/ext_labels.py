"""Labels for the external messages (each listing line was read; see LABELS.md).

ext_label(r) -> (label, subkind, note) or None when the message is excluded (reason in EXCLUDE)."""
from __future__ import annotations

import re

# path (or path#VAR) -> reason; these are not used
EXCLUDE = {
    "tests/test_emails/inpost_pl_out_for_delivery.eml": "empty file in the fixture set",
    "UnitTests/TestData/messages/delivery-status-multiple-blank-lines.txt": "MIME fragment, not a whole message",
    "UnitTests/TestData/messages/delivery-status-no-blank-line.txt": "variant of delivery-status.txt (same message)",
    "UnitTests/TestData/messages/delivery-status.anonymized.eml": "all text replaced by x (copy of delivery-status.txt)",
    "UnitTests/TestData/messages/disposition-notification.txt": "RFC 3798 example, not real mail",
    "UnitTests/TestData/messages/disposition-notification.anonymized.eml": "all text replaced by x",
    "UnitTests/TestData/messages/feedback-report.txt": "RFC 5965 example, not real mail",
    "samples/failure/dmarc_ruf_report_linkedin.crlf.eml": "CRLF copy of dmarc_ruf_report_linkedin.eml",
}

DELTACHAT = {
    "AutocryptSetupMessage": ("transactional", "account", "Autocrypt setup message a mail client sends to its own user"),
    "k-9-autocrypt-setup-message": ("transactional", "account", "Autocrypt setup message a mail client sends to its own user"),
    "dsn_relayed": ("transactional", "bounce", "successful-delivery DSN (relayed)"),
    "list-from": ("promotional", "newsletter", "club newsletter; body replaced by the fixture author"),
    "mailinglist_chat_message": ("personal", "discussion", "test post to a Mailman list"),
    "mailinglist_xt_local_microsoft": ("promotional", "newsletter",
                                       "marketing-list notice of updated marketing disclosure"),
    "ms_exchange_report_original_message": ("personal", "direct", "short test message from webmail"),
    "schleuder": ("personal", "discussion", "post resent by a schleuder list"),
    "tlsrpt": ("transactional", "report", "SMTP TLS report"),
    "videochat_invitation": ("personal", "direct", "chat-app message inviting to a video call"),
}

IMAPDIGESTER = {
    "sampleEmail.txt": ("transactional", "social", "Reddit new-message notification"),
    "sampleEmail2.txt": ("transactional", "social", "Reddit new-message notification"),
    "sampleEmail3.txt": ("transactional", "social", "Reddit new-message notification"),
    "GITHUB_1": ("transactional", "tracker", "GitHub issue comment notification"),
    "GITHUB_2": ("transactional", "tracker", "GitHub issue comment notification"),
    "COMMENT_ADDED": ("transactional", "tracker", "Confluence notification"),
    "COMMENT_DELETED": ("transactional", "tracker", "Confluence notification"),
    "PAGE_EDITED": ("transactional", "tracker", "Confluence notification"),
    "HIPCHAT_ONE_TO_ONE": ("transactional", "social", "HipChat offline-message notification"),
    "HIPCHAT_MENTION_IN_ROOM": ("transactional", "social", "HipChat mention notification"),
    "NEW_ISSUE": ("transactional", "tracker", "Jira notification"),
    "CHANGED_ISSUE": ("transactional", "tracker", "Jira notification"),
    "COMMENTED_ISSUE": ("transactional", "tracker", "Jira notification"),
    "INCOMING_1": ("transactional", "social", "LinkedIn connection invitation (machine template)"),
    "FOOBAR": ("transactional", "social", "LinkedIn connection invitation (machine template)"),
}

INBOX_FAMILY_LABELS = {
    "tip-bot2": ("transactional", "commit", "tip tree commit notification"),
    "lava-cip": ("transactional", "build", "LAVA CI test-job notification"),
    "bugzilla-kernel": ("transactional", "tracker", "kernel Bugzilla notification"),
    "pr-tracker-bot": ("transactional", "tracker", "pull-request merged notification"),
    "patchwork-bot": ("transactional", "tracker", "patchwork patch-applied notification"),
    "stable-queue-notice": ("transactional", "tracker", "scripted stable-queue 'patch added' notice"),
    "list-phishing-mailbox": ("promotional", "phishing", "fake mailbox/account notice sent to a list address"),
    "list-phishing-card-jp": ("promotional", "phishing", "fake Japanese card-payment notice sent to a list address"),
    "0day-robot": ("transactional", "build", "0-day build-test report"),
    "kernelci-bot": ("transactional", "build", "KernelCI build report"),
    "cki-bot": ("transactional", "build", "CKI test report"),
    "linaro-ci": ("transactional", "build", "Linaro CI bisect report"),
    "syzbot": ("transactional", "tracker", "syzbot bug report / test result"),
    "ellerman-applied": ("transactional", "tracker", "scripted patch-applied notification"),
    "list-dsn": ("transactional", "bounce", "DSN (failure or relayed-success) received by a list"),
    "gcal-invitation": ("transactional", "calendar", "Google Calendar invitation (iMIP) sent to the list by a member's calendar"),
}


# added for issue 12: real consumer mail at pinned commits (external.PINNED_SOURCES), each message read.
# Keyed by "repo:path"; notes name the sender first (labelset.sender_groups groups by them).
_MMP = "moralmunky/Home-Assistant-Mail-And-Packages:tests/test_emails/"
_DKV = "lieser/dkim_verifier:test/data/original/Fastmail from "  # third pass (txmore)
# one note per sender family for list-archive messages (labelset.sender_groups groups those by note)
_SLACK = "Slack: new-account details, and a member's workspace invitation, sent to the list address (via Google Groups)"
_GSHARE = "Google Docs / Sites: a member shared an item with the list address (relayed by Google Groups)"
_XDC = "Google Calendar: event invitation (iMIP REQUEST) and its cancellation (CANCEL) a member's calendar sent to lists"
PINNED_LABELS = {
    _MMP + "capost_mail.eml": ("transactional", "shipping", "Canada Post: mail arriving today (letter-carrier preview)"),
    _MMP + "evri_delivered.eml": ("transactional", "shipping", "Evri: parcel delivered"),
    _MMP + "evri_out_for_delivery.eml": ("transactional", "shipping", "Evri: parcel out for delivery"),
    _MMP + "walmart_delivered.eml": ("transactional", "shipping", "Walmart: order delivered"),
    _MMP + "walmart_delivery.eml": ("transactional", "shipping", "Walmart: order out for delivery"),
    _MMP + "amazon_arriving_today.eml": ("transactional", "shipping", "Amazon: package shipped (trimmed fixture)"),
    _MMP + "amazon_arriving_today2.eml": ("transactional", "shipping", "Amazon: package shipped (trimmed fixture)"),
    _MMP + "amazon_otp.eml": ("transactional", "shipping", "Amazon: arriving today, delivery one-time password"),
    _MMP + "amazon_out_for_delivery_today.eml": ("transactional", "shipping", "Amazon: package shipped (trimmed fixture)"),
    _MMP + "fedex_delivered.eml": ("transactional", "shipping", "FedEx: shipment delivered"),
    _MMP + "informed_delivery_forwarded_email.eml": ("unsure", "", "a person forwarding a USPS Informed Delivery digest"),
    _MMP + "new_informed_delivery.eml": ("transactional", "shipping", "USPS Informed Delivery daily mail digest"),
    _MMP + "ups_delivered.eml": ("transactional", "shipping", "UPS: package delivered"),
    _MMP + "ups_delivered_with_photo.eml": ("transactional", "shipping", "UPS: package delivered"),
    _MMP + "usps_delivered.eml": ("transactional", "shipping", "USPS: item delivered"),
    _MMP + "usps_mail_delivered.eml": ("transactional", "shipping", "USPS Informed Delivery: mail delivered"),
    _MMP + "amazon_uk_out_for_delivery_structured.eml": ("transactional", "shipping", "Amazon UK: out for delivery"),
    "dacarva/zk-email-tutorial:src/emls/rawEmailTwitter.eml":
        ("transactional", "reset", "X (Twitter): password reset code (Spanish)"),
    "zkemail/zk-email-sdk-js:browser_test_proving/public/[sptrans.uber.com][gmail]uber_receipt.eml":
        ("transactional", "receipt", "Uber: trip summary with fare"),
    "zkemail/zk-email-sdk-js:browser_test_proving/public/amazonjp.eml":
        ("transactional", "receipt", "Amazon: order confirmation"),
    "zkemail/zk-email-sdk-js:browser_test_proving/public/amazon.eml":
        ("transactional", "shipping", "Amazon: order delivered"),
    "zkemail/zk-email-sdk-js:browser_test_proving/public/amazon2.eml":
        ("transactional", "account", "Amazon: Prime membership welcome after sign-up (Spanish; has offer links)"),
    "zkemail/zk-email-sdk-js:unit_tests/amazon2.eml": ("transactional", "reset", "Amazon: password assistance one-time code"),
    "zkemail/zk-email-sdk-js:unit_tests/amazon3.eml": ("transactional", "security", "Amazon: password changed"),
    "zkemail/zk-email-sdk-js:unit_tests/devcon.eml":
        ("transactional", "event", "Devcon: talk accepted, confirm participation"),
    "zkemail/zk-email-sdk-js:browser_test_proving/public/residency.eml":
        ("personal", "direct", "Succinct: organiser's note to the residency's participants"),
    "zkemail/relayer-utils:tests/fixtures/spotify.eml": ("transactional", "security", "Spotify: new login"),
    "zkemail/relayer-utils:tests/fixtures/x.eml": ("transactional", "reset", "X (Twitter): password reset code"),
    "zkemail/zkemail.nr:js/tests/test-data/aa.eml": ("transactional", "receipt", "American Airlines: trip confirmation and receipt"),
    "zkemail/zkemail.nr:js/tests/test-data/uber_1.eml": ("transactional", "receipt", "Uber: trip summary with fare"),
    "zkemail/zk-email-verify:emls/zktestemail_twitter.eml": ("transactional", "reset", "X (Twitter): password reset code"),
    "zkemail/zk-email-verify:packages/helpers/tests/test-data/multi-dkim-sig.eml":
        ("promotional", "newsletter", "Starknet Foundation: hackathon newsletter (HubSpot)"),
    "zkp2p/zk-p2p-v1:app/venmo_email_1.eml": ("transactional", "receipt", "Venmo: payment completed"),
    "zkp2p/zk-p2p-v1:app/venmo_email_2.eml": ("transactional", "receipt", "Venmo: payment completed"),
    "TickX/ticket-order-email-scraper:emails/LinkedData.eml":
        ("transactional", "receipt", "SEE Tickets: ticket order confirmation"),
    "TickX/ticket-order-email-scraper:emails/RegExp.eml":
        ("transactional", "receipt", "SEE Tickets: ticket order confirmation"),
    "YilunAllenChen/Breaking_DKIM:email_templates.py#original_dhl_email":
        ("transactional", "shipping", "DHL Express: delivery today"),
    # third pass: receipts, account mail (txmore)
    "linux-mailinglist-archives/openbmc.lists.ozlabs.org.0@f3c75f4ba303656edfbaf74c74f7c80230d44375:m":
        ("transactional", "share", "Dropbox: a member shared a folder with the list address"),
    "linux-mailinglist-archives/jailhouse-dev.googlegroups.com.0@83ea49d2e20be81cbcf8fdc8505dac780d3979cd:m":
        ("transactional", "account", _SLACK),
    "linux-mailinglist-archives/jailhouse-dev.googlegroups.com.0@6b479cdfbb6ac42d5db748c6a52fe8c919ecbbc8:m":
        ("transactional", "social", _SLACK),
    "linux-mailinglist-archives/clang-built-linux.googlegroups.com.0@7ad15009be2144535b42439527f204f1c2412b57:m":
        ("transactional", "share", _GSHARE),
    "linux-mailinglist-archives/clang-built-linux.googlegroups.com.0@fa57764592b5acd82fffe4b3d577c0981de485d6:m":
        ("transactional", "share", _GSHARE),
    "linux-mailinglist-archives/nouveau.lists.freedesktop.org.0@ac8ad71116ffc445f8044395de9bffe1dd4294f2:m":
        ("transactional", "calendar", _XDC),
    "linux-mailinglist-archives/nouveau.lists.freedesktop.org.0@2af12f5a266b97b1c436fb3b4a39cd97235b8a2e:m":
        ("transactional", "calendar", _XDC),
    "linux-mailinglist-archives/kasan-dev.googlegroups.com.0@56e1a48d7c6ff8ec3c03f4f34883cf9179152dd2:m":
        ("transactional", "calendar", "Google Calendar: invitation (iMIP) relayed by Google Groups"),
    "zkemail/docusaurus:static/files/emls/proof-of-luma.eml":
        ("transactional", "event", "Luma: event registration confirmed (an event the author set up for the example)"),
    "zaxbux/email-samples:payments.interac.ca/[sample] Interac_etransfer_autodeposit_deactivated.eml":
        ("transactional", "account", "Interac e-Transfer (BMO): Autodeposit registration no longer active (names replaced)"),
    "zaxbux/email-samples:payments.interac.ca/[sample] Interac_etransfer_autodeposit_with_message.eml":
        ("transactional", "receipt", "Interac e-Transfer (BMO): money transfer received and deposited (names, amount replaced)"),
    "zaxbux/email-samples:payments.interac.ca/[sample] Interac_etransfer_autodeposit_without_message.eml":
        ("transactional", "receipt", "Interac e-Transfer (BMO): money transfer received and deposited (names, amount replaced)"),
    _DKV + "Amazon - Verify your new Amazon account.eml":
        ("transactional", "confirm", "Amazon: verify a new account's address with a one-time password"),
    _DKV + "CNN - Thanks for subscribing to 5 Things.eml":
        ("promotional", "newsletter", "CNN: welcome mail of the 5 Things newsletter (its list; app and podcast promotion)"),
    _DKV + "CNN - Welcome to CNN Breaking News.eml":
        ("promotional", "newsletter", "CNN: welcome mail of the Breaking News alerts list (app and account promotion)"),
    _DKV + "Fastmail - How to keep your email private.eml":
        ("promotional", "announcement", "Fastmail: onboarding tips promoting features and paid plans"),
    _DKV + "Fastmail - Welcome! Get set up in 3 steps..eml":
        ("transactional", "account", "Fastmail: welcome after sign-up, three set-up steps"),
}

def ext_label(r: dict):
    repo, path = r["repo"], r["path"]
    base = path.split("/")[-1]
    from external import pinned_key
    if pinned_key(repo, path, r.get("source", "")) in PINNED_LABELS:
        return PINNED_LABELS[pinned_key(repo, path, r.get("source", ""))]
    if path in EXCLUDE:
        return None
    if f"{repo}:{path}" in INDEX_LABELS:
        return INDEX_LABELS[f"{repo}:{path}"]
    if repo == "moralmunky/Home-Assistant-Mail-And-Packages":
        if base == "amazon_fwd.eml":
            return ("unsure", "", "a person forwarding an Amazon order confirmation to themself")
        if base.startswith("informed_delivery"):
            return ("transactional", "shipping", "USPS Informed Delivery daily mail digest")
        return ("transactional", "shipping", "")
    if repo == "deltachat/deltachat-core-rust":
        stem = base[:-4]
        if stem in DELTACHAT:
            return DELTACHAT[stem]
        if "ndn" in stem:
            return ("transactional", "bounce", "")
        if stem.startswith("mailinglist_dhl") or stem.startswith("mailinglist_dpd"):
            return ("transactional", "shipping", "")
        if stem in ("mailinglist_ttline", "mailinglist_xt_local_spiegel"):
            return ("promotional", "offer", "")
        if stem == "mailinglist_xing":
            return ("promotional", "social", "contact-suggestion engagement mail")
        if stem == "ms_exchange_report_disposition_notification":
            return ("transactional", "mdn", "read receipt")
        return ("unsure", "", "unlabelled fixture")
    if repo == "jstedfast/MimeKit":
        return ("transactional", "bounce", "")
    if repo == "domainaware/parsedmarc":
        return ("transactional", "report", "DMARC/TLS report")
    if repo == "jelmer/janitor":
        return ("transactional", "tracker", "")
    if repo == "paul-hammant/imapdigester":
        key = path.split("#")[1] if "#" in path else base
        return IMAPDIGESTER[key]
    if repo == "sisimai/set-of-emails":
        fam = r["family"]
        if base == "arf-26.eml":
            return ("transactional", "list-admin", "unsubscribe request generated by Apple Mail")
        if fam.startswith("arf"):
            return ("transactional", "report", "abuse feedback (ARF) / DMARC failure report")
        if fam.startswith("rfc3834"):
            return ("transactional", "autoreply", "")
        if fam == "lhost-fml":
            return ("transactional", "list-admin", "list server: not a member")
        return ("transactional", "bounce", "")
    if repo == "prototypefund/BBND-unspy.email-untrack-email-analyzer":
        return ("promotional", "newsletter", "modern ESP newsletter (German)")
    if repo.startswith("linux-mailinglist-archives/"):
        return INBOX_FAMILY_LABELS[r["family"]]
    return ("unsure", "", "unlabelled source")


# added for issue 12 (third pass): real mail read from index copies (external.INDEX_SOURCES), each message read
# in full. Keyed by "repo:path"; notes name the sender first (labelset.sender_groups groups by them).
INDEX_LABELS = {
    _MMP + "dhl_de_delivering.eml":
        ("transactional", "shipping", "DHL Paket: parcel arrives today, delivery options (German; Optimizely platform)"),
    _MMP + "mondial_relay_delivered.eml":
        ("transactional", "shipping", "Mondial Relay by InPost: parcel ready for pickup at a relay point (Dutch)"),
    _MMP + "vinted_go_delivered.eml":
        ("transactional", "shipping", "Vinted Go: parcel ready to collect at a service point, pick-up code"),
}
