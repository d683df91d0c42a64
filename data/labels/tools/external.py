#!/usr/bin/env python3
"""Enumerate the external (public repository) messages used, read them from the fetched mirrors,
and write work/ext_listing.jsonl (one listing record per message).

Each message gets a source id:
  github:owner/repo@<commit>:path            a file at the mirror's HEAD commit
  github:owner/repo@<commit>:path#VAR        a Python string literal VAR in that file (reconstructed, UTF-8)
  github:owner/repo@<commit>:m               a public-inbox archive message (one message per commit)

Run: python3 tools/external.py   (needs the mirrors fetched into $MAILGUARD_MIRROR, default /work/.mirror)
Files in INDEX_SOURCES are read from $MAILGUARD_INDEX_COPIES (default /work/.index-copies) instead: copies of
files at a fixed commit that no mirror holds (see extra/index_copies.md for their raw URLs and sha256).
"""
from __future__ import annotations

import ast
import hashlib
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
# copies of files no mirror holds, laid out owner+repo/COMMIT/PATH (see INDEX_SOURCES)
INDEX_COPIES = os.environ.get("MAILGUARD_INDEX_COPIES", "/work/.index-copies")
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

# added for issue 12 (real consumer transactional mail; each message read, labels in ext_labels.PINNED_LABELS):
# files at a pinned commit, since several exist only on a branch or in an older commit:
#   (repo, license, commit, path or path#VAR, sender family)
# The split follows the rule of the fixtures already used: sender families held out before (Amazon, FedEx,
# UPS, USPS with Informed Delivery: moralmunky's carriers and realmail's) stay held out, everything else
# trains (build_labels.HELDOUT_SENDER_FAMILIES), so no sender's template is on both sides.
MMP, MMP_DEV = "moralmunky/Home-Assistant-Mail-And-Packages", "2b5ee074c10e887f254457180db41920a13a8fdc"
SDK, RLU, ZNR = "zkemail/zk-email-sdk-js", "zkemail/relayer-utils", "zkemail/zkemail.nr"
ZEV, ZP2, BDK = "zkemail/zk-email-verify", "zkp2p/zk-p2p-v1", "YilunAllenChen/Breaking_DKIM"
PINNED_SOURCES = [
    # Mail and Packages, dev branch: the 16 fixtures added after master's f2a8ecf
    *[(MMP, "MIT", MMP_DEV, f"tests/test_emails/{n}.eml", fam) for n, fam in (
        ("capost_mail", "canadapost"), ("evri_delivered", "evri"), ("evri_out_for_delivery", "evri"),
        ("walmart_delivered", "walmart"), ("walmart_delivery", "walmart"),
        ("amazon_arriving_today", "amazon"), ("amazon_arriving_today2", "amazon"), ("amazon_otp", "amazon"),
        ("amazon_out_for_delivery_today", "amazon"), ("fedex_delivered", "fedex"),
        ("informed_delivery_forwarded_email", "usps"), ("new_informed_delivery", "usps"),
        ("ups_delivered", "ups"), ("ups_delivered_with_photo", "ups"), ("usps_delivered", "usps"),
        ("usps_mail_delivered", "usps"))],
    (MMP, "MIT", "b6b8ec5ea3755282f8f9ab6ab9c441364de18b0d",  # on a pull-request branch
     "tests/test_emails/amazon_uk_out_for_delivery_structured.eml", "amazon"),
    # ZK Email and ZKP2P: real DKIM-signed mail their authors received, kept whole for signature checks
    (SDK, "MIT (package.json)", "1333968f952ad0979876e517cfd48c734201b70c",
     "browser_test_proving/public/[sptrans.uber.com][gmail]uber_receipt.eml", "uber"),
    (SDK, "MIT (package.json)", "66c7c26366246ccaad79be89e25890dcdecd2ec5", "browser_test_proving/public/amazonjp.eml", "amazon"),
    (SDK, "MIT (package.json)", "f3112e411d20b9a458cd6bc89108ea3027ecef40", "browser_test_proving/public/amazon.eml", "amazon"),
    (SDK, "MIT (package.json)", "984d11793626cd65cbae39c302b9277a8319087c", "browser_test_proving/public/amazon2.eml", "amazon"),
    (SDK, "MIT (package.json)", "30dcdf3b29ea99d3bbc910164e4d042a5287b8ea", "unit_tests/amazon2.eml", "amazon"),
    (SDK, "MIT (package.json)", "30dcdf3b29ea99d3bbc910164e4d042a5287b8ea", "unit_tests/amazon3.eml", "amazon"),
    (SDK, "MIT (package.json)", "a91198f98455cde72f28423e26f965e8cc1c3dce", "unit_tests/devcon.eml", "devcon"),
    (SDK, "MIT (package.json)", "7c8b6316e98d41cc1ac88b8f6f0359f7ffe8fb8f", "browser_test_proving/public/residency.eml", "succinct"),
    (RLU, "MIT (Cargo.toml)", "ac61c9201c850e573516bcb763aec439139587dd", "tests/fixtures/spotify.eml", "spotify"),
    (RLU, "MIT (Cargo.toml)", "cda92bf5d8f768402aaec1a51b3887c22add40f6", "tests/fixtures/x.eml", "x"),
    (ZNR, "MIT", "290f4c74949ffcdf87191ff05a492d1f236a9573", "js/tests/test-data/aa.eml", "americanairlines"),
    (ZNR, "MIT", "290f4c74949ffcdf87191ff05a492d1f236a9573", "js/tests/test-data/uber_1.eml", "uber"),
    (ZEV, "MIT", "72d73f6b42e855ad054df2d75c77b873ecb22859", "emls/zktestemail_twitter.eml", "x"),
    (ZEV, "MIT", "57e09c88f738c26a4dabef6def9d307704248b63", "packages/helpers/tests/test-data/multi-dkim-sig.eml", "starknet"),
    ("dacarva/zk-email-tutorial", "none stated (public repository)", "98cc2e28f649dc3bcca3976d476eb250245971d0",
     "src/emls/rawEmailTwitter.eml", "x"),
    (ZP2, "MIT", "db530b2ec1a1480dd339367cb96ee08424ee335a", "app/venmo_email_1.eml", "venmo"),
    (ZP2, "MIT", "db530b2ec1a1480dd339367cb96ee08424ee335a", "app/venmo_email_2.eml", "venmo"),
    # a ticket-order scraper's real SEE Tickets confirmations (order numbers replaced by its author; two of four:
    # the same template)
    *[("TickX/ticket-order-email-scraper", "none stated (public repository)", "e41dc3a2845b9fe86e67b5138cc153ffe7a9d38b",
       f"emails/{n}.eml", "seetickets") for n in ("LinkedData", "RegExp")],
    # a DKIM demo keeps the real mail it tampers with as a Python string literal (the tampered copies are not used)
    (BDK, "MIT", "803ba22bf0b99bd74e5f70a42ee99df7259b7d58", "email_templates.py#original_dhl_email", "dhl"),
    # third pass: receipts, account mail (txmore)
    # service mail a member's account sent to a public list address (public-inbox archives: path "m", one message
    # per commit, so the commit is part of the key, see pinned_key)
    (ARCH + "openbmc.lists.ozlabs.org.0", "none (public list archive)", "f3c75f4ba303656edfbaf74c74f7c80230d44375",
     "m", "dropbox"),
    *[(ARCH + "jailhouse-dev.googlegroups.com.0", "none (public list archive)", c, "m", "slack")
      for c in ("83ea49d2e20be81cbcf8fdc8505dac780d3979cd", "6b479cdfbb6ac42d5db748c6a52fe8c919ecbbc8")],
    *[(ARCH + "clang-built-linux.googlegroups.com.0", "none (public list archive)", c, "m", "google-share")
      for c in ("7ad15009be2144535b42439527f204f1c2412b57", "fa57764592b5acd82fffe4b3d577c0981de485d6")],
    *[(ARCH + r, "none (public list archive)", c, "m", "gcal-invitation") for r, c in (
        ("nouveau.lists.freedesktop.org.0", "ac8ad71116ffc445f8044395de9bffe1dd4294f2"),
        ("nouveau.lists.freedesktop.org.0", "2af12f5a266b97b1c436fb3b4a39cd97235b8a2e"),
        ("kasan-dev.googlegroups.com.0", "56e1a48d7c6ff8ec3c03f4f34883cf9179152dd2"))],
    # ZK Email's documentation keeps the Luma registration mail its blueprint example was made from
    ("zkemail/docusaurus", "MIT (LICENCE)", "dbd0360d717055c78feb005f07fec6e67a1a091c",
     "static/files/emls/proof-of-luma.eml", "luma"),
    # real INTERAC e-Transfer notices kept by an invoice-matching project (names, amounts, references replaced)
    *[("zaxbux/email-samples", "none stated (README: copies of third-party mail, no licence)",
       "1ab283e38ade8ae51ba1991bc7287d6138debde8", f"payments.interac.ca/[sample] Interac_etransfer_{n}.eml", "interac")
      for n in ("autodeposit_deactivated", "autodeposit_with_message", "autodeposit_without_message")],
    # a DKIM add-on's tests keep the first mail a new Fastmail test account received, unchanged
    *[("lieser/dkim_verifier", "MIT (LICENSE.txt)", "1badb6c8d639bd5973f870fa7bfc6f96facba9ca",
       f"test/data/original/Fastmail from {n}.eml", fam) for n, fam in (
        ("Amazon - Verify your new Amazon account", "amazon"), ("CNN - Thanks for subscribing to 5 Things", "cnn"),
        ("CNN - Welcome to CNN Breaking News", "cnn"), ("Fastmail - How to keep your email private", "fastmail"),
        ("Fastmail - Welcome! Get set up in 3 steps.", "fastmail"))],
]


def pinned_key(repo: str, path: str, source: str = "") -> str:
    """The PINNED_FAMILY / PINNED_LABELS key: "repo:path", and "repo@commit:m" for a list-archive message (one
    message per commit, always at path "m")."""
    if path == "m":
        return f"{repo}@{source.split('@', 1)[1].split(':', 1)[0]}:m"
    return f"{repo}:{path}"


PINNED_FAMILY = {pinned_key(repo, path, f"github:{repo}@{c}:{path}"): fam for repo, _lic, c, path, fam in PINNED_SOURCES}

INBOX_SOURCES = [(repo, "unknown (public list archive)") for repo in (CBL, EXT4, F2FS, DDEV, TIP, CIP, LMM, APPARMOR)]

LICENSES = {r[0]: r[1] for r in FILE_SOURCES + PYVAR_SOURCES + [SISIMAI] + INBOX_SOURCES}
for _r in PINNED_SOURCES:
    LICENSES.setdefault(_r[0], _r[1])


def sisimai_family(path: str) -> str:
    name = os.path.basename(path)
    return re.sub(r"-\d+\.eml$", "", name)


def read_at(repo: str, commit: str, path: str) -> bytes:
    """A file at a commit, or a Python string literal in it (``path#VAR``, re-encoded as UTF-8)."""
    var = None
    if "#" in path:
        path, var = path.split("#", 1)
    data = git(repo, "show", f"{commit}:{path}")
    if var is None:
        return data
    tree = ast.parse(data.decode("utf-8"))
    return next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == var for t in n.targets)).encode("utf-8")


# ---- index copies ---------------------------------------------------------------------------
# added for issue 12 (third pass): real shipping notices at a fixed public commit that no fetchable snapshot
# holds. They were copied, text exact, from the code search index into $MAILGUARD_INDEX_COPIES
# (owner+repo/COMMIT/PATH); anyone can download the same bytes from
# https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH (extra/index_copies.md lists the URLs). Each file's
# sha256 is recorded below and checked on every read. Same shape as PINNED_SOURCES, and the same split rule
# (build_labels.HELDOUT_SENDER_FAMILIES held out, every other family trains); labels in ext_labels.INDEX_LABELS.
INDEX_SOURCES = [
    (MMP, "MIT", "3a9fd42ca463fa849c3ac8205f23b70310fe75a1", "tests/test_emails/dhl_de_delivering.eml", "dhl"),
    (MMP, "MIT", "5d621c31d19c0b10df2f951cd6bc5d239e1c4223", "tests/test_emails/mondial_relay_delivered.eml",
     "mondialrelay"),
    (MMP, "MIT", "5d621c31d19c0b10df2f951cd6bc5d239e1c4223", "tests/test_emails/vinted_go_delivered.eml", "vintedgo"),
]
INDEX_SHA256 = {  # "repo:path" -> sha256 of the stored copy (a raw download must give the same)
    f"{MMP}:tests/test_emails/dhl_de_delivering.eml": "d859e0faf1d66cf4ec58cbc91be70b9fd0c8b82a22547fc268f950dc5447785e",
    f"{MMP}:tests/test_emails/mondial_relay_delivered.eml":
        "1eae6b6028dd45020be8c1b06eeba7b1475787f48f648f57a27d5fe9c9c4c7f5",
    f"{MMP}:tests/test_emails/vinted_go_delivered.eml": "9bbbbed6b29a2380d85acededa02370567e65b052049697ec6f35d085dbe13a4",
}
PINNED_FAMILY.update({f"{repo}:{path}": fam for repo, _lic, _c, path, fam in INDEX_SOURCES})
for _r in INDEX_SOURCES:
    LICENSES.setdefault(_r[0], _r[1])


def index_copy_path(repo: str, commit: str, path: str, root: str | None = None) -> str:
    return os.path.join(root or INDEX_COPIES, repo.replace("/", "+"), commit, *path.split("/"))


def read_index_copy(repo: str, commit: str, path: str) -> bytes:
    """The stored copy of an INDEX_SOURCES file; exits with one line when it is missing or differs."""
    p = index_copy_path(repo, commit, path)
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    if not os.path.isfile(p):
        sys.exit(f"index copy missing: {p} (download {url} there; see extra/index_copies.md)")
    with open(p, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != INDEX_SHA256[f"{repo}:{path}"]:
        sys.exit(f"index copy differs from its recorded sha256: {p} (expected the bytes of {url})")
    return data


def iter_messages():
    # index copies first: their rows then sit apart from the ones later additions append after the pinned files
    for repo, _lic, c, path, fam in INDEX_SOURCES:
        yield repo, f"github:{repo}@{c}:{path}", path, read_index_copy(repo, c, path), fam
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
    for repo, _lic, c, path, fam in PINNED_SOURCES:
        yield repo, f"github:{repo}@{c}:{path}", path, read_at(repo, c, path), fam


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
