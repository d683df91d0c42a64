"""Structural filters used to pick machine-looking candidates out of easy_ham / easy_ham_2.

A message is a *candidate* (its listing line must be read) when any filter fires.
The rest are human-looking and are labelled by rule (after a random-sample check).
"""
from __future__ import annotations

import re

MACHINE_FROM = re.compile(
    r"rssfeeds@|pudge@perl\.org|nobody@|root@|\bmail@dogma|daemon|bugzilla|cron|postmaster|"
    r"no-?reply|noreply|webmaster|newsletter|news@|announce|listmaster|-admin@|-request@|"
    r"owner-|sourceforge\.net>?$|yahoogroups|yahoo-?groups|info@|alert|rhn-admin|confnews|"
    r"ryanair|mediaunspun|evilgerald|worldwidewords|userland\.com|ximian|freshmeat|"
    r"\bupdates?@|support@|service@|automated|mailman|majordomo|ntk|bruces@well\.com|"
    r"securityfocus|help@|editor|digest|lockergnome|register\.co\.uk|cvs|commit|"
    r"gkm@petting-zoo|hauns_", re.I)

MACHINE_SUBJ = re.compile(
    r"^\[?Bug \d|\[Bug \d|\bCVS\b|commit|^Cron <|Anacron|deliver(y|ed)|undeliver|returned mail|"
    r"auto(matic)?[- ]?(reply|response)|out of (the )?office|vacation|subscri|\bdigest\b|"
    r"newsletter|reminder|password|confirm|\balert\b|headlines|\bissue \d|welcome|"
    r"your (account|order|membership)|receipt|invoice|order|registration|\[use Perl\]|"
    r"blogged item|Viridian Note|World Wide Words|Scripting News|Errata|release[ds]?\b|"
    r"\bannounce|moderat|approval|unsubscribe|stories for|^\s*$", re.I)

MACHINE_BODY = re.compile(
    r"this is an automated|automatically generated|do not reply|mail delivery|"
    r"your (account|password|order)|"
    r"this message was created automatically|BlogStart|Problem with spamtrap|"
    r"Forwarded-by:|URL: http", re.I)

MACHINE_LISTS = re.compile(
    r"spamassassin-commits|updates\.ximian|freshmeat-news|linux-secnews|bugtraq|focus-virus|vulnwatch|ntknow|"
    r"cauce-announce|unison-announce|divx|board\.postgrad|spamcon", re.I)


# discussion-list addresses seen in the corpus (a copy addressed to one of these is a list post)
KNOWN_LISTS = (r"spamassassin-(talk|devel)@|razor-users@|exmh-(users|workers)@|ilug@|social@linux\.ie|"
               r"fork@|zzzzteana@|rpm-zzzlist@|spambayes@|secprog@|python-dev@|webdev@linux\.ie|iiu@")


def _lid(r: dict) -> str:
    return " ".join([r.get("List-Id", ""), r.get("X-Beenthere", ""), r.get("Mailing-List", "")])


def fired(r: dict) -> list[str]:
    """Names of the filters that fire for a listing record."""
    out = []
    if MACHINE_FROM.search(r["From"]):
        out.append("from")
    if MACHINE_SUBJ.search(r["Subject"]):
        out.append("subj")
    if MACHINE_BODY.search(r["body"][:600]):
        out.append("body")
    if MACHINE_LISTS.search(_lid(r) + " " + r["To"]):
        out.append("list")
    if r.get("Auto-Submitted") and r["Auto-Submitted"].lower() != "no":
        out.append("autosub")
    if (r.get("Precedence", "").lower() in ("bulk", "junk")) and not _lid(r).strip():
        out.append("bulk-nolist")
    if "text/html" in r.get("ctypes", "") and "text/plain" not in r.get("ctypes", ""):
        out.append("html-only")
    if any(t in r.get("ctypes", "") for t in ("message/delivery-status", "text/calendar",
                                               "multipart/report")):
        out.append("report")
    return out


def list_kind(r: dict) -> str:
    """'discussion' if the message came through a discussion list, else 'direct'."""
    lid = _lid(r) + " " + r.get("X-Mailman-Version", "")
    if lid.strip():
        return "discussion"
    if re.search(r"^(re: ?)*\[(spambayes|satalk|sadev|razor-users|ilug|exmh|fork)\]", r["Subject"], re.I) \
            and not r["To"]:
        return "discussion"  # list-archive copies with stripped headers
    if re.search(r"owner-[\w.-]+@|<[\w.-]+@lists?\.|-swap@|cypherpunks@|" + KNOWN_LISTS,
                 r.get("Sender", "") + " " + r["To"] + " " + r.get("Cc", ""), re.I):
        return "discussion"
    return "direct"
