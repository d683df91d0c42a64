"""Provisional (draft) labels for corpus messages from sender/subject/body patterns.

These are only a starting point shown next to each listing line while reading; every
candidate line is read and the final label comes from draft + work/overrides.tsv.
"""
from __future__ import annotations

import re

from filters import list_kind

# (field, pattern, label, subkind)
RULES: list[tuple[str, str, str, str]] = [
    ("From", r"rssfeeds@", "promotional", "news-feed"),
    ("Subject", r"^\[use Perl\]", "promotional", "newsletter"),
    ("From", r"bugzilla-daemon", "transactional", "tracker"),
    ("Subject", r"^\[SACVS\] CVS:|^CVS:", "transactional", "commit"),
    ("From", r"Cron Daemon|Anacron", "transactional", "cron"),
    ("body", r"^Problem with spamtrap", "transactional", "cron"),
    ("From", r"mailer-daemon|postmaster|Mail Delivery", "transactional", "bounce"),
    ("body", r"^(This is an automated response|I will be out of (the )?office|I am (currently )?out of (the )?office)",
     "transactional", "autoreply"),
    ("From", r"distribution@ximian\.com", "promotional", "announcement"),
    ("Subject", r"^blogged item$", "transactional", "cron"),
    ("From", r"rhn-admin", "transactional", "security"),
    ("From", r"spesh\.com|jboletta@securityfocus|mediaunspun|WORLDWIDEWORDS|bruces@well|evilgerald|"
             r"confnews@|userland\.com|gkm@petting-zoo", "promotional", "newsletter"),
    ("From", r"ryanairmail", "promotional", "offer"),
    ("Subject", r"requires approval|admin request\(s\) waiting|memberships reminder|subscription notification|"
                r"mailing list memberships|moderator request", "transactional", "list-admin"),
    ("Mailing-List", r"ntknow", "promotional", "newsletter"),
    ("List-Id", r"freshmeat-news|linux-secnews", "promotional", "newsletter"),
    ("Mailing-List", r"-announce@", "promotional", "announcement"),
    ("Subject", r"^\[VulnWatch\] (?!re:)", "promotional", "announcement"),
    ("From", r"security-advisories@|Security Advisor", "promotional", "announcement"),
]


# hard_ham is mostly subscribed bulk mail: these patterns pick the offer/alert/announcement kinds;
# everything else there defaults to promotional/newsletter (each line was read; see overrides.tsv)
HARD_RULES: list[tuple[str, str, str, str]] = [
    ("From", r"Shopper|Buyer's Alert|CNET Auctions|ZDNet Announcements|CNET Delivers|ryanairmail|tesco|"
             r"buy4now|dELiA|fooladvisor|Apple Store|jeffb@amazon|digitalriver|lifetimetv\.com>?$", "promotional", "offer"),
    ("Subject", r"Sweeps", "promotional", "offer"),
    ("From", r"weather\.com|berkshireeagle|Geocaching|blo\.gs", "promotional", "news-alert"),
    ("From", r"CERT Advisory|Libertarian Party|aynrand|iSilo|Netscape|Espial|matrox|rhn-admin|O'Reilly|"
             r"Linux-Announce|globalscape", "promotional", "announcement"),
]


def draft(r: dict) -> tuple[str, str]:
    if r["folder"] == "hard_ham":
        for field, pat, label, sub in RULES[:1] + HARD_RULES + RULES[1:]:
            if re.search(pat, r.get(field, "")[:400], re.I):
                return label, sub
        if list_kind(r) == "discussion" and not re.search(r"theregister|divx|ntknow", r.get("From", "") + r.get("Mailing-List", ""), re.I):
            return "personal", "discussion"
        return "promotional", "newsletter"
    for field, pat, label, sub in RULES:
        if re.search(pat, r.get(field, "")[:400], re.I):
            return label, sub
    if r["folder"] in ("spam", "spam_2"):
        return "promotional", "spam"
    return "personal", list_kind(r)
