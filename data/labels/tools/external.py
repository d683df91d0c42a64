#!/usr/bin/env python3
"""Enumerate the external (public repository) messages used, read them from the fetched mirrors,
and write work/ext_listing.jsonl (one listing record per message).

Each message gets a source id:
  github:owner/repo@<commit>:path            a file at the mirror's HEAD commit
  github:owner/repo@<commit>:path#VAR        a Python string literal VAR in that file (reconstructed, UTF-8)
  github:owner/repo@<commit>:m               a public-inbox archive message (one message per commit)

Run: python3 tools/external.py   (needs the mirrors fetched into $MAILGUARD_MIRROR, default /work/.mirror)
"""
from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import record  # noqa: E402

# the fetched repository snapshots (one directory per owner+repo), default as on the labelling machine
MIRROR = os.environ.get("MAILGUARD_MIRROR", "/work/.mirror")
OUT = os.path.join(os.path.dirname(__file__), "..", "work", "ext_listing.jsonl")


def gitdir(repo: str) -> str:
    base = os.path.join(MIRROR, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def git(repo: str, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", gitdir(repo), *args], check=True,
                          capture_output=True).stdout


def head(repo: str) -> str:
    return git(repo, "rev-parse", "HEAD").decode().strip()


def ls(repo: str) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines()


# ---- source definitions -------------------------------------------------------------------
# (repo, license, path regex, family function) for plain fixture files
FILE_SOURCES = [
    ("moralmunky/Home-Assistant-Mail-And-Packages", "MIT", r"^tests/test_emails/.*\.eml$"),
    ("deltachat/deltachat-core-rust", "MPL-2.0",
     r"^test-data/message/(.*_ndn.*|dsn_relayed|ms_exchange_report_.*|tlsrpt|videochat_invitation|"
     r"mailinglist_xt_local_microsoft|mailinglist_dhl|mailinglist_dpd|mailinglist_xing|mailinglist_ttline|"
     r"mailinglist_xt_local_spiegel|gmail_ndn_group|ndn_with_attachment|AutocryptSetupMessage|"
     r"k-9-autocrypt-setup-message|schleuder|mailinglist_chat_message|list-from)\.eml$"),
    ("jstedfast/MimeKit", "MIT",
     r"^UnitTests/TestData/messages/(bounce\.txt|delivery-status.*|disposition-notification.*|"
     r"feedback-report\.txt|multipart-report\.txt)$"),
    ("domainaware/parsedmarc", "Apache-2.0", r"^samples/(aggregate|failure|smtp_tls)/.*\.eml$"),
    ("jelmer/janitor", "GPL-2.0", r"^mail-filter/tests/data/.*\.txt$"),
    ("paul-hammant/imapdigester", "MIT", r"^digesters/reddit/sampleEmail.*\.txt$"),
    # added for the three-way model (train): modern newsletters of senders realmail does not hold (one of
    # each u1/u2 pair: the same mailing received by two users)
    ("prototypefund/BBND-unspy.email-untrack-email-analyzer", "AGPL-3.0-or-later (composer.json)",
     r"^src/Matcher/(_todo/_no-user-tracking/2023-01-16-norma|_todo/elaine/examples/2023-01-15-rewe|"
     r"_todo/fairmailing/examples/2023-01-03-oekoligenta|_todo/inxmail/examples/2023-02-17-rp-online-|"
     r"_todo/klaviyo/examples/2023-02-16-casida-|_todo/newsletter2go/examples/2023-01-02-schoepflin|"
     r"_todo/optimizely/examples/2023-01-04-wwf|cleverreach/examples/2023-01-02-oekumenisches-asylforum|"
     r"inxmail/examples/2023-02-16-inxmail-)\.?u1\.eml$"),
]

PYVAR_SOURCES = [
    ("paul-hammant/imapdigester", "MIT", {
        "digesters/github/test_github_notifications.py": ["GITHUB_1", "GITHUB_2"],
        "digesters/confluence/test_confluence_notifications.py": ["COMMENT_ADDED", "COMMENT_DELETED", "PAGE_EDITED"],
        "digesters/hipchat/test_hipchat_notifications.py": ["HIPCHAT_ONE_TO_ONE", "HIPCHAT_MENTION_IN_ROOM"],
        "digesters/jira/test_jira_notifications.py": ["NEW_ISSUE", "CHANGED_ISSUE", "COMMENTED_ISSUE"],
        "digesters/linkedin/test_linkedin_invitations.py": ["INCOMING_1", "FOOBAR"],
    }),
]

# sisimai: one or two files per MTA/provider family (bounces are capped), all ARF reports, RFC 3834 replies
SISIMAI = ("sisimai/set-of-emails", "BSD-2-Clause")
SISIMAI_PER_FAMILY = 1

# public-inbox archives (one message per commit). The same bot posts to several lists with the same template,
# so these are sampled and split per *family* (bot/template), not per list:
#   (family, split, [(repo, regex on "author <email>|subject", max messages)])
ARCH = "linux-mailinglist-archives/"
APPARMOR = ARCH + "apparmor.lists.ubuntu.com.0"
CBL, EXT4, F2FS, DDEV, TIP, CIP, LMM = (ARCH + n for n in (
    "clang-built-linux.googlegroups.com.0", "linux-ext4.vger.kernel.org.0",
    "linux-f2fs-devel.lists.sourceforge.net.0", "driverdev-devel.linuxdriverproject.org.0",
    "linux-tip-commits.vger.kernel.org.0", "cip-testing-results.lists.cip-project.org.0",
    "linaro-mm-sig.lists.linaro.org.0"))
INBOX_FAMILIES = [
    ("tip-bot2", "heldout", [(TIP, r"^tip-bot2", 15)]),
    ("lava-cip", "heldout", [(CIP, r".", 15)]),
    ("bugzilla-kernel", "heldout", [(EXT4, r"^bugzilla-daemon", 12), (F2FS, r"^bugzilla-daemon", 8)]),
    ("pr-tracker-bot", "train", [(EXT4, r"^pr-tracker-bot", 8), (F2FS, r"^pr-tracker-bot", 4), (DDEV, r"^pr-tracker-bot", 4)]),
    ("patchwork-bot", "heldout", [(CBL, r"^patchwork-bot", 6), (EXT4, r"^patchwork-bot", 4), (F2FS, r"^patchwork-bot", 6)]),
    ("stable-queue-notice", "train", [(F2FS, r"^gregkh.*\|.*has been +added to", 6), (DDEV, r"^gregkh.*\|.*has been +added to", 4)]),
    ("list-phishing-mailbox", "train", [(LMM, r"noreply@lists\.linaro\.org|^IRS", 15)]),
    ("list-phishing-card-jp", "heldout", [(DDEV, r"\|.*(決済完了|お支払い予定|ご利用内容)", 6)]),
    ("0day-robot", "train", [(CBL, r"^(kernel|kbuild) test robot", 20), (DDEV, r"^(kernel|kbuild) test robot", 15)]),
    ("kernelci-bot", "heldout", [(CBL, r"^kernelci\.org bot", 12)]),
    ("cki-bot", "heldout", [(CBL, r"^CKI Project", 12)]),
    ("linaro-ci", "train", [(CBL, r"^ci_notify@linaro\.org", 12)]),
    ("syzbot", "heldout", [(CBL, r"^syzbot", 12), (F2FS, r"^syzbot", 6)]),
    ("ellerman-applied", "train", [(CBL, r"patch-notifications@ellerman", 10)]),
    ("list-dsn", "train", [(DDEV, r"MAILER-DAEMON@osuosl|\|Undelivered Mail Returned", 8),
                           (F2FS, r"mailer-daemon|Mail Delivery", 2)]),
    # added for the three-way model: real Google Calendar invitations (iMIP) that a list member's calendar
    # sent to the list (train; realmail's held-out Google invitation is the same template family, see LABELS.md)
    ("gcal-invitation", "train", [(APPARMOR, r"\|\[apparmor\] (Updated|Synced) invitation", 8)]),
]
INBOX_SPLIT = {fam: sp for fam, sp, _ in INBOX_FAMILIES}
INBOX_SOURCES = [(repo, "unknown (public list archive)") for repo in (CBL, EXT4, F2FS, DDEV, TIP, CIP, LMM, APPARMOR)]

LICENSES = {r[0]: r[1] for r in FILE_SOURCES + PYVAR_SOURCES + [SISIMAI] + INBOX_SOURCES}


def sisimai_family(path: str) -> str:
    name = os.path.basename(path)
    return re.sub(r"-\d+\.eml$", "", name)


def iter_messages():
    for repo, _lic, pat in FILE_SOURCES:
        c = head(repo)
        for p in ls(repo):
            if re.search(pat, p):
                yield repo, f"github:{repo}@{c}:{p}", p, git(repo, "show", f"HEAD:{p}"), os.path.basename(p)
    for repo, _lic, files in PYVAR_SOURCES:
        c = head(repo)
        for p, names in files.items():
            tree = ast.parse(git(repo, "show", f"HEAD:{p}").decode("utf-8"))
            values = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                      for t in n.targets if isinstance(t, ast.Name)
                      and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
            for name in names:
                yield repo, f"github:{repo}@{c}:{p}#{name}", f"{p}#{name}", values[name].encode("utf-8"), name
    repo = SISIMAI[0]
    c = head(repo)
    fam_count: dict[str, int] = {}
    for p in sorted(ls(repo)):
        if not re.match(r"^maildir/bsd/.*\.eml$", p):
            continue
        fam = sisimai_family(p)
        keep = fam.startswith(("arf", "rfc3834")) or fam_count.get(fam, 0) < SISIMAI_PER_FAMILY
        if not keep:
            continue
        fam_count[fam] = fam_count.get(fam, 0) + 1
        yield repo, f"github:{repo}@{c}:{p}", p, git(repo, "show", f"HEAD:{p}"), fam
    logs: dict[str, list[str]] = {}
    for fam, _split, parts in INBOX_FAMILIES:
        for repo, pat, k in parts:
            if repo not in logs:
                logs[repo] = git(repo, "log", "--format=%H\t%an <%ae>|%s").decode("utf-8", "replace").splitlines()
            commits = [l.split("\t")[0] for l in logs[repo] if re.search(pat, l.split("\t", 1)[1])]
            rng = random.Random(f"{repo}|{pat}")
            for cm in sorted(rng.sample(commits, min(k, len(commits)))):
                yield repo, f"github:{repo}@{cm}:m", "m", git(repo, "show", f"{cm}:m"), fam


def main() -> None:
    n = 0
    with open(OUT, "w") as out:
        for repo, source, path, data, family in iter_messages():
            r = record(data)
            r.update(source=source, repo=repo, path=path, family=family, folder="external",
                     license=LICENSES[repo])
            out.write(json.dumps(r) + "\n")
            n += 1
    print(f"wrote {n} records to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
