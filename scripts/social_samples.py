#!/usr/bin/env python3
"""Sample social notification mail for sample_mbox/ and tests/data/social/.

``social_messages(rng, start_date, me)`` returns ``[(raw bytes, truth)]`` in date order: for each
network a notification that makes a contact, the network's own marketing, digests, and the sequence
this feature exists for: a notification, then weeks later the person's company newsletter. Headers and
HTML follow the networks' real mails (From addresses, List-Unsubscribe, DKIM, tracking pixels, the
"This email was intended for ..." footer); the people, companies and tokens are made up.

truth = {"message_id", "expected": "keep"|"move", "case", "contact", "learns"}:
``contact`` is the contact the decision should link to (None: no link), ``learns`` the social
contact the message should create (None: none).

    python scripts/social_samples.py --eml-dir tests/data/social   # one .eml per case
"""

from __future__ import annotations

import argparse
import random
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from html import escape
from pathlib import Path

POLICY = default.clone(linesep="\n", max_line_length=998)
Sample = tuple[bytes, dict]


class _Gen:
    def __init__(self, rng: random.Random, start: datetime, me: str) -> None:
        self.rng = rng
        self.start = start
        self.me = me
        local = me.partition("@")[0]
        self.first = local.split(".")[0].split("+")[0].capitalize() or "Sam"
        self.me_name = f"{self.first} Rivera"
        self.out: list[tuple[datetime, bytes, dict]] = []

    # -- plumbing --------------------------------------------------------------------------

    def token(self, n: int = 16, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def when(self, day: int) -> datetime:
        return self.start + timedelta(days=day, hours=self.rng.randint(7, 21), minutes=self.rng.randint(0, 59),
                                      seconds=self.rng.randint(0, 59))

    def add(self, *, day: int, sender: str, subject: str, text: str, html: str, case: str,
            expected: str = "keep", contact: str | None = None, learns: str | None = None,
            msgid_domain: str, dkim: str | None = None, return_path: str | None = None,
            unsubscribe: str | None = None, extra: dict[str, str] | None = None,
            reply_to: str | None = None) -> None:
        at = self.when(day)
        mid = f"<{self.token(24)}.{at:%Y%m%d%H%M%S}@{msgid_domain}>"
        m = EmailMessage(policy=POLICY)
        m["Return-Path"] = f"<{return_path or 'bounces+' + self.token(10) + '@' + msgid_domain}>"
        if dkim:
            m["DKIM-Signature"] = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={dkim}; s=s{self.rng.randint(1, 9)}; "
                                   f"t={int(at.timestamp())}; h=from:subject:date:to:mime-version:content-type; "
                                   f"bh={self.token(43)}=; b={self.token(86)}")
        m["Message-ID"] = mid
        m["Date"] = format_datetime(at)
        m["From"] = sender
        if reply_to:
            m["Reply-To"] = reply_to
        m["To"] = f"{self.me_name} <{self.me}>"
        m["Subject"] = subject
        m["MIME-Version"] = "1.0"
        for k, v in (extra or {}).items():
            m[k] = v
        if unsubscribe:
            m["List-Unsubscribe"] = unsubscribe
            m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        m.set_content(text)
        m.add_alternative(html, subtype="html")
        m.set_boundary(f"=_{self.token(24)}")  # the stdlib's boundary is random: keep output reproducible
        truth = {"message_id": mid, "expected": expected, "case": case, "contact": contact, "learns": learns}
        self.out.append((at, m.as_bytes(policy=POLICY), truth))

    def pixel(self, host: str) -> str:
        return (f'<img src="https://{host}/open/{self.token(32)}.gif" width="1" height="1" alt="" '
                f'style="display:none">')

    # -- LinkedIn --------------------------------------------------------------------------

    def linkedin_html(self, hero: str, person: str, slug: str, headline: str, place: str, button: str,
                      kind: str) -> str:
        mt = self.token(20)
        me_slug = f"{self.first.lower()}-rivera-design"
        return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>LinkedIn</title>
<style>body{{font-family:-apple-system,system-ui,Roboto,sans-serif}} .btn{{background:#0a66c2;color:#fff}}</style></head>
<body style="margin:0;padding:0;background:#f3f2ef">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="512" style="background:#fff">
<tr><td style="padding:16px 24px"><a href="https://www.linkedin.com/comm/feed/?midToken={mt}&amp;trk=eml-{kind}-header-0-home"><img src="https://static.licdn.com/aero-v1/sc/h/logo.png" alt="LinkedIn" width="84"></a></td>
<td align="right"><a href="https://www.linkedin.com/comm/in/{me_slug}?midToken={mt}&amp;trk=eml-{kind}-header-0-profile"><img src="https://media.licdn.com/dms/image/me.jpg" alt="{escape(self.me_name)}" width="32"></a></td></tr>
<tr><td colspan="2" style="padding:24px"><p style="font-size:16px">{escape(hero)}</p>
<table role="presentation"><tr><td><a href="https://www.linkedin.com/comm/in/{slug}?midToken={mt}&amp;trk=eml-{kind}-hero-1-prof~photo"><img src="https://media.licdn.com/dms/image/{self.token(12)}.jpg" alt="{escape(person)}" width="72" style="border-radius:50%"></a></td></tr>
<tr><td><p style="font-weight:600;font-size:20px;margin:8px 0 0">{escape(person)}</p></td></tr>
<tr><td><p style="color:#666;margin:2px 0">{escape(headline)}</p></td></tr>
<tr><td><p style="color:#666;margin:2px 0">{escape(place)}</p></td></tr></table>
<p><a class="btn" href="https://www.linkedin.com/comm/in/{slug}?midToken={mt}&amp;trk=eml-{kind}-cta" style="padding:8px 16px;border-radius:24px">{escape(button)}</a></p>
</td></tr>
<tr><td colspan="2" style="padding:16px 24px;color:#666;font-size:12px">
<p>This email was intended for {escape(self.me_name)} (Product designer at Rivera Studio)</p>
<p><a href="https://www.linkedin.com/help/linkedin/answer/4788">Learn why we included this.</a></p>
<p>You are receiving {escape(kind.replace('_', ' '))} emails. <a href="https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi={self.token(24)}&amp;midToken={mt}">Unsubscribe</a></p>
<p>&copy; {self.start.year} LinkedIn Corporation, 1000 West Maude Avenue, Sunnyvale, CA 94085.</p>
</td></tr></table></td></tr></table>{self.pixel('www.linkedin.com/emimp')}</body></html>"""

    def linkedin_footer(self, kind: str) -> str:
        return (f"\n----------------------------------------\n\n"
                f"This email was intended for {self.me_name} (Product designer at Rivera Studio)\n"
                f"Learn why we included this: https://www.linkedin.com/help/linkedin/answer/4788\n"
                f"You are receiving {kind.replace('_', ' ')} emails.\n"
                f"Unsubscribe: https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi={self.token(24)}\n"
                f"© {self.start.year} LinkedIn Corporation, 1000 West Maude Avenue, Sunnyvale, CA 94085.\n"
                f"LinkedIn and the LinkedIn logo are registered trademarks of LinkedIn.\n")

    def linkedin(self, day: int, *, person: str, slug: str, headline: str, place: str, accepted: bool,
                 case: str) -> None:
        kind = "accept_invite" if accepted else "m2m_invite"
        first = person.split()[0]
        if accepted:
            subject = f"{self.first}, start a conversation with your new connection, {person}"
            hero = f"{person} has accepted your invitation. Let's start a conversation."
            button = f"Message {first}"
            sender = "LinkedIn <messages-noreply@linkedin.com>"
        else:
            subject = f"{person} wants to connect"
            hero = "I'd like to join your LinkedIn network."
            button = "Accept"
            sender = f"{person} via LinkedIn <invitations@linkedin.com>"
        mt = self.token(20)
        text = (f"Hi {self.first},\n\n{hero}\n\n{person}\n{headline}\n{place}\n"
                f"View profile: https://www.linkedin.com/comm/in/{slug}?midToken={mt}&trk=eml-{kind}-hero-1-prof\n\n"
                f"{button}: https://www.linkedin.com/comm/mynetwork/invitation-manager?midToken={mt}\n"
                + self.linkedin_footer("invitations"))
        html = self.linkedin_html(hero, person, slug, headline, place, button, kind)
        self.add(day=day, sender=sender, subject=subject, text=text, html=html, case=case,
                 learns=f"social:linkedin/{slug}", msgid_domain="linkedin.com", dkim="linkedin.com",
                 return_path=f"s-{self.token(20)}@bounce.linkedin.com",
                 unsubscribe=f"<https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi={self.token(20)}>",
                 extra={"X-LinkedIn-Class": "INVITE-ACCEPT" if accepted else "INVITE-GUEST",
                        "X-LinkedIn-Template": f"email_{kind}_single_01",
                        "X-LinkedIn-fbl": self.token(40)})

    def linkedin_post(self, day: int, *, person: str, slug: str, case: str) -> None:
        subject = f"{person} shared a post: We're hiring a founding designer"
        text = (f"{person} shared a post\n\nWe're hiring a founding designer at a tiny team with big plans. "
                f"DM me!\n\nView post: https://www.linkedin.com/comm/feed/update/urn:li:activity:{self.rng.randint(10**18, 10**19)}\n"
                f"View {person.split()[0]}'s profile: https://www.linkedin.com/comm/in/{slug}\n"
                + self.linkedin_footer("notifications"))
        html = self.linkedin_html(f"{person} shared a post", person, slug, "We're hiring a founding designer",
                                  "", "View post", "notifications")
        self.add(day=day, sender=f"{person} via LinkedIn <notifications-noreply@linkedin.com>", subject=subject,
                 text=text, html=html, case=case, msgid_domain="linkedin.com", dkim="linkedin.com",
                 unsubscribe=f"<https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi={self.token(20)}>",
                 extra={"X-LinkedIn-Class": "NOTIFICATIONS"})

    def linkedin_jobs(self, day: int) -> None:
        jobs = [("Senior Product Designer", "Globex", "Berlin (Hybrid)"),
                ("Design Lead", "Initech", "Remote"), ("UX Researcher", "Umbrella Health", "Munich")]
        text = (f"{self.first}, your job alert for product designer in Berlin\n\n"
                + "\n".join(f"{t}\n{c} · {p}\nView job: https://www.linkedin.com/comm/jobs/view/{self.rng.randint(10**9, 10**10)}\n"
                            for t, c, p in jobs)
                + "\nTry Premium for free: see how you compare to other applicants.\n"
                + self.linkedin_footer("job_alert"))
        rows = "".join(f'<tr><td><a href="https://www.linkedin.com/comm/jobs/view/{self.rng.randint(10**9, 10**10)}">'
                       f"<b>{escape(t)}</b></a><br>{escape(c)} &middot; {escape(p)}</td></tr>" for t, c, p in jobs)
        html = (f"<html><body><table>{rows}</table><p>Try Premium for free</p>"
                f'<p><a href="https://www.linkedin.com/comm/psettings/email-unsubscribe">Unsubscribe</a></p>'
                f"{self.pixel('www.linkedin.com/emimp')}</body></html>")
        self.add(day=day, sender="LinkedIn Job Alerts <jobalerts-noreply@linkedin.com>",
                 subject="Jobs you may be interested in: Senior Product Designer at Globex and more",
                 text=text, html=html, case="linkedin-own-promo", msgid_domain="linkedin.com", dkim="linkedin.com",
                 unsubscribe="<https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi=jobs>",
                 extra={"X-LinkedIn-Class": "JOBS-ALERT"})

    def linkedin_digest(self, day: int, people: list[tuple[str, str, str]]) -> None:
        text = (f"Hi {self.first},\n\nYou have {len(people)} new invitations\n\n"
                + "\n".join(f"{n}\n{h}\nView profile: https://www.linkedin.com/comm/in/{s}\n" for n, s, h in people)
                + "\nSee all invitations: https://www.linkedin.com/comm/mynetwork/invitation-manager\n"
                + self.linkedin_footer("invitation_reminder"))
        rows = "".join(f'<tr><td><a href="https://www.linkedin.com/comm/in/{s}">{escape(n)}</a><br>{escape(h)}</td></tr>'
                       for n, s, h in people)
        html = f"<html><body><h1>You have {len(people)} new invitations</h1><table>{rows}</table></body></html>"
        self.add(day=day, sender="LinkedIn <invitations@linkedin.com>",
                 subject=f"{self.first}, you have {len(people)} new invitations", text=text, html=html,
                 case="linkedin-digest", msgid_domain="linkedin.com", dkim="linkedin.com",
                 unsubscribe="<https://www.linkedin.com/comm/psettings/email-unsubscribe?lipi=inv>")

    # -- X ---------------------------------------------------------------------------------

    def x_follow(self, day: int, *, person: str, handle: str, bio: str, case: str) -> None:
        text = (f"{person} followed you!\n\n{person}\n@{handle}\n{bio}\n\n"
                f"View profile: https://x.com/{handle}\nFollow back: https://x.com/intent/follow?screen_name={handle}\n\n"
                f"--\nThis email was sent to {self.me}. Not my account: https://x.com/account/not_my_account\n"
                f"Unsubscribe: https://x.com/settings/email_notifications\nX Corp. 1355 Market Street, Suite 900, "
                f"San Francisco, CA 94103\n")
        html = f"""<html><body style="background:#fff;font-family:Helvetica,Arial,sans-serif">
<table width="100%"><tr><td align="center"><table width="420">
<tr><td><a href="https://x.com/home"><img src="https://abs.twimg.com/x-logo.png" alt="X" width="24"></a></td></tr>
<tr><td style="font-size:20px;font-weight:bold">{escape(person)} followed you!</td></tr>
<tr><td><a href="https://x.com/{handle}"><img src="https://pbs.twimg.com/profile_images/{self.token(10)}.jpg" width="48" alt=""></a></td></tr>
<tr><td><b>{escape(person)}</b></td></tr><tr><td style="color:#536471">@{handle}</td></tr>
<tr><td>{escape(bio)}</td></tr>
<tr><td><a href="https://x.com/intent/follow?screen_name={handle}" style="background:#0f1419;color:#fff;border-radius:9999px;padding:8px 16px">Follow back</a></td></tr>
<tr><td style="color:#536471;font-size:12px">This email was sent to {escape(self.me)}. <a href="https://x.com/settings/email_notifications">Unsubscribe</a><br>X Corp. 1355 Market Street, Suite 900, San Francisco, CA 94103</td></tr>
</table></td></tr></table>{self.pixel('x.com/scribe/ibis')}</body></html>"""
        self.add(day=day, sender="X <notify@x.com>", subject=f"{person} (@{handle}) followed you", text=text,
                 html=html, case=case, learns=f"social:x/{handle.lower()}", msgid_domain="x.com", dkim="x.com",
                 return_path=f"n0{self.token(12)}-{self.token(8)}@bounce.x.com",
                 unsubscribe="<https://x.com/settings/email_notifications>",
                 extra={"X-Twitter-CID": f"ibis2-new_follower-{self.token(12)}", "X-Campaign": "follow"})

    def x_promo(self, day: int) -> None:
        text = ("What's happening this week\n\nTop posts in Design and Tech, picked for you.\n"
                "Try Premium: get a checkmark, edit posts and reply prioritisation. 40% off the first year!\n"
                "Upgrade: https://x.com/i/premium_sign_up\n\n--\nUnsubscribe: https://x.com/settings/email_notifications\n")
        html = ("<html><body><h1>What's happening this week</h1><p>Top posts in Design and Tech</p>"
                '<p><a href="https://x.com/i/premium_sign_up">Try Premium: 40% off</a></p>'
                '<p><a href="https://x.com/settings/email_notifications">Unsubscribe</a></p>'
                f"{self.pixel('x.com/scribe/ibis')}</body></html>")
        self.add(day=day, sender="X <info@x.com>", subject="What's happening on X this week: 40% off Premium",
                 text=text, html=html, case="x-own-promo", msgid_domain="x.com", dkim="x.com",
                 unsubscribe="<https://x.com/settings/email_notifications>")

    # -- Mastodon --------------------------------------------------------------------------

    def mastodon_follow(self, day: int, *, instance: str, person: str, acct: str, bio: str, case: str) -> None:
        user, _, host = acct.partition("@")
        local = host in ("", instance)
        shown = f"@{user}" if local else f"@{acct}"
        url = f"https://{instance}/@{user if local else acct}"
        text = (f"New follower!\n\n{person} ({shown}) is now following you.\n{bio}\n\n"
                f"View profile: {url}\n\n---\nYou are receiving this email because you signed up at {instance}.\n"
                f"Manage email preferences: https://{instance}/settings/preferences/notifications\n"
                f"Unsubscribe: https://{instance}/unsubscribe?token={self.token(20)}&type=follow\n")
        html = f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="background:#282c37">
<table class="email-table" width="100%"><tr><td class="email-header"><a href="https://{instance}/">{escape(instance)}</a></td></tr>
<tr><td class="email-body"><h1>New follower!</h1>
<p><a href="{url}">{escape(person)}</a> ({escape(shown)}) is now following you.</p>
<p>{escape(bio)}</p>
<p><a class="button" href="{url}">View profile</a></p></td></tr>
<tr><td class="email-footer"><p>You are receiving this email because you signed up at {escape(instance)}.</p>
<p><a href="https://{instance}/settings/preferences/notifications">Manage email preferences</a></p></td></tr></table></body></html>"""
        full = acct if "@" in acct else f"{acct}@{instance}"
        fu, _, fh = full.partition("@")
        self.add(day=day, sender=f"{instance} <notifications@{instance}>", subject=f"{person} followed you",
                 text=text, html=html, case=case, learns=f"social:mastodon/{fh}/{fu}", msgid_domain=instance,
                 dkim=instance, unsubscribe=f"<https://{instance}/unsubscribe?token={self.token(20)}&type=follow>",
                 extra={"Auto-Submitted": "auto-generated"})

    def mastodon_digest(self, day: int, instance: str, people: list[tuple[str, str]]) -> None:
        lines = "\n".join(f"{n} (@{a}) followed you\nhttps://{instance}/@{a}" for n, a in people)
        text = (f"Here's a brief summary of the messages you've missed since your last visit.\n\n{lines}\n\n"
                f"---\nManage email preferences: https://{instance}/settings/preferences/notifications\n")
        html = ("<html><body><h1>You missed some things</h1>"
                + "".join(f'<p><a href="https://{instance}/@{a}">{escape(n)}</a> followed you</p>' for n, a in people)
                + "</body></html>")
        self.add(day=day, sender=f"{instance} <notifications@{instance}>",
                 subject=f"{len(people)} new notifications since your last visit 🐘", text=text, html=html,
                 case="mastodon-digest", msgid_domain=instance, dkim=instance,
                 unsubscribe=f"<https://{instance}/unsubscribe?token={self.token(20)}&type=digest>")

    # -- GitHub ----------------------------------------------------------------------------

    def github_follow(self, day: int, *, person: str, handle: str, bio: str, company: str, website: str,
                      case: str) -> None:
        me_handle = f"{self.first.lower()}rivera"
        text = (f"Hey {me_handle}!\n\n{person} (@{handle}) started following you.\n\n{person}\n{handle}\n{bio}\n"
                f"Company: {company}\nLocation: Lisbon, Portugal\nWebsite: {website}\n\n"
                f"View {handle}'s profile: https://github.com/{handle}\n\n---\n"
                f"You're receiving this email because you have follower notifications turned on.\n"
                f"Manage your notification settings: https://github.com/settings/notifications\n"
                f"GitHub, Inc. ・88 Colin P Kelly Jr Street ・San Francisco, CA 94107\n")
        html = f"""<!DOCTYPE html><html><body style="font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial">
<table width="100%"><tr><td align="center"><table width="544" style="border:1px solid #d0d7de;border-radius:6px">
<tr><td style="padding:16px"><img src="https://github.githubassets.com/images/email/global/octicon-logo.png" width="32" alt="GitHub"></td></tr>
<tr><td style="padding:16px"><p>Hey {me_handle}!</p>
<p><a href="https://github.com/{handle}">{escape(person)}</a> (@{handle}) started following you.</p>
<table><tr><td><img src="https://avatars.githubusercontent.com/u/{self.rng.randint(10**6, 10**8)}?s=96" width="48" alt=""></td>
<td><p><b>{escape(person)}</b></p><p>{handle}</p><p>{escape(bio)}</p>
<p>Company: {escape(company)}</p><p>Location: Lisbon, Portugal</p><p>Website: <a href="{website}">{website}</a></p></td></tr></table>
<p><a href="https://github.com/{handle}" style="background:#1f883d;color:#fff;padding:6px 16px;border-radius:6px">View {handle}'s profile</a></p></td></tr>
<tr><td style="padding:16px;color:#57606a;font-size:12px"><p>You're receiving this email because you have follower notifications turned on.</p>
<p><a href="https://github.com/settings/notifications">Manage your notification settings</a></p>
<p>GitHub, Inc. &#12539;88 Colin P Kelly Jr Street &#12539;San Francisco, CA 94107</p></td></tr></table></td></tr></table></body></html>"""
        self.add(day=day, sender="GitHub <noreply@github.com>", subject=f"[GitHub] {person} (@{handle}) started following you",
                 text=text, html=html, case=case, learns=f"social:github/{handle.lower()}", msgid_domain="github.com",
                 dkim="github.com", return_path=f"bounces+{self.rng.randint(10**6, 10**7)}@sgmail.github.com",
                 extra={"X-GitHub-Reason": "follow", "X-Auto-Response-Suppress": "All",
                        "Auto-Submitted": "auto-generated"})

    def github_promo(self, day: int) -> None:
        text = ("The GitHub Insider: October edition\n\nUniverse is coming: save 30% on your ticket with code INSIDER30.\n"
                "New in Copilot: agent mode for everyone on a paid plan. Start your free trial today.\n"
                "Read more: https://github.blog/news-insights/\n\nView this email in your browser: https://github.com/insider\n"
                "Unsubscribe: https://github.com/settings/emails/subscriptions\nGitHub, Inc. 88 Colin P Kelly Jr Street\n")
        html = ("<html><body><h1>The GitHub Insider</h1><p>Universe is coming: <b>save 30%</b> with code INSIDER30.</p>"
                '<p><a href="https://github.com/features/copilot">Start your free trial</a></p>'
                '<p><a href="https://github.com/settings/emails/subscriptions">Unsubscribe</a></p>'
                f"{self.pixel('github.com/email/open')}</body></html>")
        self.add(day=day, sender="GitHub <noreply@github.com>", subject="The GitHub Insider: Universe tickets 30% off",
                 text=text, html=html, case="github-own-promo", msgid_domain="github.com", dkim="github.com",
                 unsubscribe="<https://github.com/settings/emails/subscriptions>")

    # -- Bluesky ---------------------------------------------------------------------------

    def bluesky_follow(self, day: int, *, person: str, handle: str, bio: str, case: str) -> None:
        text = (f"{person} (@{handle}) followed you on Bluesky\n{bio}\n\n"
                f"View profile: https://bsky.app/profile/{handle}\n\n---\n"
                f"You're receiving this email because you turned on email notifications.\n"
                f"Manage notification settings: https://bsky.app/settings/notifications\n")
        html = f"""<html><body style="font-family:InterVariable,system-ui"><table width="480" align="center">
<tr><td><img src="https://bsky.app/static/logo.png" width="32" alt="Bluesky"></td></tr>
<tr><td><p><b>{escape(person)}</b> (@{handle}) followed you on Bluesky</p><p>{escape(bio)}</p>
<p><a href="https://bsky.app/profile/{handle}">View profile</a></p></td></tr>
<tr><td style="font-size:12px;color:#687684">You're receiving this email because you turned on email notifications.
<a href="https://bsky.app/settings/notifications">Manage notification settings</a></td></tr></table></body></html>"""
        self.add(day=day, sender="Bluesky <notifications@bsky.app>", subject=f"{person} (@{handle}) followed you",
                 text=text, html=html, case=case, learns=f"social:bluesky/{handle.lower()}", msgid_domain="bsky.app",
                 dkim="bsky.app", unsubscribe="<https://bsky.app/settings/notifications>")

    # -- Meetup ----------------------------------------------------------------------------

    def meetup_rsvp(self, day: int, *, person: str, member_id: int, intro: str, event: str, case: str) -> None:
        when = (self.start + timedelta(days=day + 9)).strftime("%a, %b %d, %Y, 7:00 PM CEST")
        text = (f"{person} RSVPed yes to {event}\n{when}\n\n{person}\nMember since {self.start:%B %Y}\n"
                f"Intro: {intro}\nView member profile: https://www.meetup.com/berlin-product-night/members/{member_id}/\n\n"
                f"See who's going: https://www.meetup.com/berlin-product-night/events/{self.rng.randint(10**8, 10**9)}/attendees/\n\n"
                f"---\nYou're receiving this email because you're an organizer of Berlin Product Night.\n"
                f"Unsubscribe: https://www.meetup.com/account/comm/?token={self.token(16)}\n"
                f"Meetup LLC, POB 4668 #37895 New York, NY 10163\n")
        html = f"""<html><body style="font-family:Graphik,Helvetica,Arial">
<table width="100%"><tr><td align="center"><table width="600">
<tr><td><img src="https://secure.meetupstatic.com/img/email/logo.png" alt="Meetup" width="100"></td></tr>
<tr><td><h2>{escape(person)} RSVPed yes to {escape(event)}</h2><p>{escape(when)}</p>
<p><a href="https://www.meetup.com/berlin-product-night/members/{member_id}/">{escape(person)}</a></p>
<p>Member since {self.start:%B %Y}</p><p>Intro: {escape(intro)}</p></td></tr>
<tr><td style="font-size:12px;color:#707070"><p>You're receiving this email because you're an organizer of Berlin Product Night.</p>
<p><a href="https://www.meetup.com/account/comm/">Unsubscribe</a></p></td></tr></table></td></tr></table>
{self.pixel('email.meetup.com/o')}</body></html>"""
        self.add(day=day, sender="Meetup <info@email.meetup.com>", subject=f"{person} RSVPed yes to {event}",
                 text=text, html=html, case=case, learns=f"social:meetup/{member_id}",
                 msgid_domain="email.meetup.com", dkim="meetup.com",
                 return_path=f"bounce-{self.token(14)}@email.meetup.com",
                 unsubscribe=f"<https://www.meetup.com/account/comm/?token={self.token(16)}>")

    def meetup_promo(self, day: int) -> None:
        text = ("Events you might like this week\n\nBerlin Design Drinks - Thu 7 PM\nAI Product Builders - Sat 11 AM\n"
                "Try Meetup+ free for 30 days: 20% off event fees!\nhttps://www.meetup.com/meetup-plus/\n\n"
                "---\nUnsubscribe: https://www.meetup.com/account/comm/\n")
        html = ("<html><body><h1>Events you might like this week</h1><p>Try Meetup+ free for 30 days</p>"
                '<p><a href="https://www.meetup.com/account/comm/">Unsubscribe</a></p>'
                f"{self.pixel('email.meetup.com/o')}</body></html>")
        self.add(day=day, sender="Meetup <info@email.meetup.com>", subject="Events you might like this week",
                 text=text, html=html, case="meetup-own-promo", msgid_domain="email.meetup.com", dkim="meetup.com",
                 unsubscribe="<https://www.meetup.com/account/comm/>")

    def meetup_digest(self, day: int, people: list[tuple[str, int]]) -> None:
        text = (f"{len(people)} new members joined Berlin Product Night\n\n"
                + "\n".join(f"{n}\nhttps://www.meetup.com/berlin-product-night/members/{i}/" for n, i in people)
                + "\n\n---\nUnsubscribe: https://www.meetup.com/account/comm/\n")
        html = ("<html><body>" + "".join(f'<p><a href="https://www.meetup.com/berlin-product-night/members/{i}/">'
                                          f"{escape(n)}</a></p>" for n, i in people) + "</body></html>")
        self.add(day=day, sender="Meetup <info@email.meetup.com>",
                 subject=f"{len(people)} new members joined Berlin Product Night", text=text, html=html,
                 case="meetup-digest", msgid_domain="email.meetup.com", dkim="meetup.com",
                 unsubscribe="<https://www.meetup.com/account/comm/>")

    # -- Eventbrite ------------------------------------------------------------------------

    def eventbrite_order(self, day: int, *, person: str, email: str, company: str, title: str, event: str,
                         case: str, learns: str) -> None:
        order = self.rng.randint(10**9, 10**10)
        text = (f"Good news! You have a new registration for {event}.\n\nOrder #{order}\n"
                f"Name: {person}\nEmail: {email}\nCompany: {company}\nJob title: {title}\n"
                f"Ticket: General Admission x 1\n\nManage attendees: https://www.eventbrite.com/attendees/{order}\n\n"
                f"---\nThis email was sent to {self.me}\nEventbrite, 535 Mission Street, 8th Floor, San Francisco, CA 94105\n")
        html = f"""<html><body style="font-family:'Neue Plak',Helvetica,Arial">
<table width="600" align="center"><tr><td><img src="https://cdn.evbstatic.com/s3-build/logo.png" alt="Eventbrite"></td></tr>
<tr><td><h1>Good news! You have a new registration for {escape(event)}.</h1>
<table><tr><td>Order #{order}</td></tr><tr><td>Name: {escape(person)}</td></tr><tr><td>Email: {escape(email)}</td></tr>
<tr><td>Company: {escape(company)}</td></tr><tr><td>Job title: {escape(title)}</td></tr>
<tr><td>Ticket: General Admission &times; 1</td></tr></table>
<p><a href="https://www.eventbrite.com/attendees/{order}">Manage attendees</a></p></td></tr>
<tr><td style="font-size:11px;color:#6f7287">This email was sent to {escape(self.me)}<br>Eventbrite, 535 Mission Street, 8th Floor, San Francisco, CA 94105</td></tr></table></body></html>"""
        self.add(day=day, sender="Eventbrite <noreply@order.eventbrite.com>", subject=f"New Order for {event}",
                 text=text, html=html, case=case, learns=learns, msgid_domain="order.eventbrite.com",
                 dkim="eventbrite.com", return_path=f"bounce-{self.token(10)}@order.eventbrite.com",
                 extra={"X-Eventbrite-Email-Type": "organizer_new_order"})

    def eventbrite_promo(self, day: int) -> None:
        text = ("Events you'll love this weekend in Berlin\n\nRooftop Jazz - from €12\nStartup Pitch Night - FREE\n"
                "Browse more: https://www.eventbrite.com/d/germany--berlin/events--this-weekend/\n\n"
                "Unsubscribe: https://www.eventbrite.com/account-settings/email-preferences\n")
        html = ("<html><body><h1>Events you'll love this weekend</h1><p>Rooftop Jazz - from &euro;12</p>"
                '<p><a href="https://www.eventbrite.com/account-settings/email-preferences">Unsubscribe</a></p>'
                f"{self.pixel('click.e.eventbrite.com/open')}</body></html>")
        self.add(day=day, sender="Eventbrite <noreply@eventbrite.com>",
                 subject="Events you'll love this weekend in Berlin", text=text, html=html,
                 case="eventbrite-own-promo", msgid_domain="eventbrite.com", dkim="eventbrite.com",
                 unsubscribe="<https://www.eventbrite.com/account-settings/email-preferences>")

    # -- Luma ------------------------------------------------------------------------------

    def luma_registration(self, day: int, *, person: str, email: str, company: str, user_id: str, event: str,
                          case: str) -> None:
        text = (f"{person} registered for {event}.\n\nEmail: {email}\nCompany: {company}\n"
                f"Profile: https://lu.ma/user/{user_id}\n\nView guest list: https://lu.ma/event/manage/evt-{self.token(12)}/guests\n\n"
                f"---\nYou are receiving this email because you are hosting {event}.\n"
                f"Unsubscribe: https://lu.ma/settings/notifications\n")
        html = f"""<html><body style="font-family:system-ui"><table width="520" align="center">
<tr><td><img src="https://images.lumacdn.com/logo.png" alt="Luma" width="60"></td></tr>
<tr><td><p><a href="https://lu.ma/user/{user_id}">{escape(person)}</a> registered for <b>{escape(event)}</b>.</p>
<p>Email: {escape(email)}</p><p>Company: {escape(company)}</p>
<p><a href="https://lu.ma/event/manage/evt-{self.token(12)}/guests">View guest list</a></p></td></tr>
<tr><td style="font-size:12px;color:#737577">You are receiving this email because you are hosting {escape(event)}.
<a href="https://lu.ma/settings/notifications">Unsubscribe</a></td></tr></table></body></html>"""
        self.add(day=day, sender="Luma <notifications@calendar.luma-mail.com>", subject=f"{person} registered for {event}",
                 text=text, html=html, case=case, learns=f"social:luma/{user_id.lower()}",
                 msgid_domain="calendar.luma-mail.com", dkim="luma-mail.com",
                 unsubscribe="<https://lu.ma/settings/notifications>")

    def luma_promo(self, day: int) -> None:
        text = ("Popular events in Berlin this week\n\nAI Founders Breakfast\nDesign Systems Night\n"
                "Discover more: https://lu.ma/berlin\n\nUnsubscribe: https://lu.ma/settings/notifications\n")
        html = ("<html><body><h1>Popular events in Berlin this week</h1>"
                '<p><a href="https://lu.ma/berlin">Discover more</a></p>'
                '<p><a href="https://lu.ma/settings/notifications">Unsubscribe</a></p></body></html>')
        self.add(day=day, sender="Luma <notifications@calendar.luma-mail.com>",
                 subject="Popular events in Berlin this week", text=text, html=html, case="luma-own-promo",
                 msgid_domain="calendar.luma-mail.com", dkim="luma-mail.com",
                 unsubscribe="<https://lu.ma/settings/notifications>")

    # -- the company newsletter that follows -----------------------------------------------

    def newsletter(self, day: int, *, sender: str, domain: str, brand: str, headline: str, case: str,
                   expected: str, contact: str | None) -> None:
        cid = self.token(10)
        text = (f"View this email in your browser: https://{domain}/newsletter/{cid}\n\n{headline}\n\n"
                f"Hi {self.first},\n\nBig news from {brand}: our Pro plan is 30% off for early supporters this week only. "
                f"Save on your annual subscription, get the new templates free, and join the launch webinar.\n\n"
                f"Claim your discount: https://{domain}/pricing?utm_source=newsletter&utm_campaign={cid}\n"
                f"Shop the sale: https://{domain}/sale?utm_source=newsletter\n\n"
                f"Limited offer, ends Sunday. Free shipping on all merch orders!\n\n"
                f"You are receiving this email because you signed up at {domain}.\n"
                f"Unsubscribe: https://{domain}/unsubscribe?c={cid} | Manage preferences: https://{domain}/preferences\n"
                f"{brand}, Torstrasse 1, 10119 Berlin\n")
        html = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(headline)}</title></head>
<body style="margin:0;background:#f4f4f4"><p style="font-size:11px;text-align:center"><a href="https://{domain}/newsletter/{cid}">View this email in your browser</a></p>
<table width="600" align="center" style="background:#fff"><tr><td><img src="https://{domain}/img/header.png" width="600" alt="{escape(brand)}"></td></tr>
<tr><td style="padding:24px"><h1>{escape(headline)}</h1><p>Hi {escape(self.first)},</p>
<p>Big news from {escape(brand)}: our Pro plan is <b>30% off</b> for early supporters this week only.</p>
<p><a href="https://{domain}/pricing?utm_source=newsletter&amp;utm_campaign={cid}" style="background:#e4572e;color:#fff;padding:12px 24px">Claim your discount</a></p>
<p><a href="https://{domain}/sale?utm_source=newsletter"><img src="https://{domain}/img/sale.png" width="540" alt="Sale"></a></p>
<p>Limited offer, ends Sunday. Free shipping on all merch orders!</p></td></tr>
<tr><td style="font-size:11px;color:#888;padding:24px">You are receiving this email because you signed up at {escape(domain)}.<br>
<a href="https://{domain}/unsubscribe?c={cid}">Unsubscribe</a> | <a href="https://{domain}/preferences">Manage preferences</a><br>{escape(brand)}, Torstrasse 1, 10119 Berlin</td></tr></table>
<img src="https://{domain}/open/{cid}.gif" width="1" height="1" alt=""></body></html>"""
        self.add(day=day, sender=sender, subject=headline, text=text, html=html, case=case, expected=expected,
                 contact=contact, msgid_domain=f"mail.{domain}", dkim=domain,
                 return_path=f"bounce-mc.us21_{self.rng.randint(10**7, 10**8)}@mail{self.rng.randint(10, 99)}.mcsv.net",
                 unsubscribe=f"<https://{domain}/unsubscribe?c={cid}>, <mailto:unsubscribe@{domain}?subject={cid}>",
                 extra={"Precedence": "bulk", "X-MC-User": self.token(25), "X-Campaign": cid})


def _as_datetime(start_date: date | datetime) -> datetime:
    if isinstance(start_date, datetime):
        return start_date if start_date.tzinfo else start_date.replace(tzinfo=timezone.utc)
    return datetime.combine(start_date, time(0, 0), tzinfo=timezone.utc)


def social_messages(rng: random.Random, start_date: date | datetime, me: str) -> list[Sample]:
    """The social samples, in date order, with their truth (see the module docstring)."""
    g = _Gen(rng, _as_datetime(start_date), me.lower())
    lena_slug = "lena-okafor-4b7a1c"
    # one notification per network (each makes a contact), and each network's own promo
    g.linkedin(3, person="Lena Okafor", slug=lena_slug,
               headline="Founder at Quillstack | Writing tools for research teams", place="Berlin, Germany",
               accepted=False, case="linkedin-invitation")
    g.linkedin_jobs(5)
    g.github_follow(6, person="Tomás Reyes", handle="treyes", bio="Building a tiny CI for monorepos.",
                    company="Driftwood Labs", website="https://driftwood.dev", case="github-follow")
    g.x_follow(8, person="Alex Chen", handle="alexchen_ferrow", bio="CEO at Ferrow · ferrow.io. Payments nerd.",
               case="x-follow")
    g.mastodon_follow(9, instance="mastodon.social", person="Alex Chen :verified:", acct="alexc@hachyderm.io",
                      bio="Data engineer at Pinecrest. Streaming, Rust, birds.", case="mastodon-follow")
    g.x_promo(10)
    g.bluesky_follow(11, person="Ines Kowalski", handle="ines.loomwork.io",
                     bio="Designer at Loomwork. Type, grids and coffee.", case="bluesky-follow")
    g.github_promo(12)
    g.meetup_rsvp(13, person="Kwame Mensah", member_id=312345678, intro="Founder at Tallyhive, learning product",
                  event="Berlin Product Night: Pricing Experiments", case="meetup-rsvp")
    g.meetup_promo(14)
    g.eventbrite_order(15, person="Hana Sato", email="hana@orbitfield.com", company="Orbitfield", title="COO",
                       event="Founders Breakfast Berlin", case="eventbrite-order",
                       learns="social:eventbrite/hana-sato+orbitfield")
    g.eventbrite_promo(16)
    g.luma_registration(17, person="Noor Haddad", email="noor@saltmarsh.studio", company="Saltmarsh",
                        user_id="usr-Qm4xT9aa", event="AI Founders Dinner", case="luma-registration")
    g.luma_promo(18)
    # digests: nobody in them becomes a contact
    g.linkedin_digest(19, [("Ravi Iyer", "ravi-iyer-77", "CTO at Brambleworks"),
                           ("Julia Berg", "julia-berg-1", "Recruiter at Talentbay"),
                           ("Omar Farouk", "omarfarouk", "Founder at Dunecraft"),
                           ("Mia Lind", "mia-lind-09", "Growth at Sprigly")])
    g.mastodon_digest(20, "mastodon.social", [("Pat Kim", "patk"), ("Lou Marr", "lou"), ("Ana Sol", "anasol"),
                                              ("Ben Tal", "bent")])
    g.meetup_digest(21, [("Ravi Iyer", 401), ("Chloe Martin", 402), ("Felix Wu", 403), ("Dana Scott", 404)])
    g.linkedin(22, person="Marco Bellini", slug="marco-bellini-vr", headline="Partner at Vantage Ridge Capital",
               place="Milan, Italy", accepted=True, case="linkedin-accepted")
    # the network relaying the person's name: the network's mail, never linked to the contact
    g.linkedin_post(24, person="Lena Okafor", slug=lena_slug, case="linkedin-post-by-contact")
    # notification, then the company newsletter
    g.newsletter(27, sender="Tomás from Driftwood <hello@driftwood.dev>", domain="driftwood.dev",
                 brand="Driftwood Labs", headline="Driftwood 2.0 is here: 30% off Pro for early supporters",
                 case="github-follow-then-newsletter", expected="move", contact="social:github/treyes")
    g.newsletter(30, sender="Quillstack <news@quillstack.io>", domain="quillstack.io", brand="Quillstack",
                 headline="Quillstack launch week: save 30% on team plans",
                 case="linkedin-invitation-then-newsletter", expected="move", contact=f"social:linkedin/{lena_slug}")
    # two people called Alex Chen: the newsletter names Ferrow, so the X follow is the link
    g.newsletter(33, sender="Alex Chen <alex@ferrow.io>", domain="ferrow.io", brand="Ferrow",
                 headline="Ferrow payouts: 30% off fees this month", case="shared-name-org-decides",
                 expected="move", contact="social:x/alexchen_ferrow")
    # ... and one that names neither organisation: ambiguous, not linked
    g.newsletter(35, sender="Alex Chen <hello@alexchen.coach>", domain="alexchen.coach", brand="Alex Chen Coaching",
                 headline="Unlock your leadership: 30% off coaching packages", case="shared-name-ambiguous",
                 expected="keep", contact=None)
    g.newsletter(37, sender="Orbitfield <news@orbitfield.com>", domain="orbitfield.com", brand="Orbitfield",
                 headline="Orbitfield autumn sale: 30% off all plans", case="eventbrite-order-then-newsletter",
                 expected="move", contact="social:eventbrite/hana-sato+orbitfield")
    # a common first name alone never links
    g.newsletter(39, sender="Hana <deals@shopdrop.com>", domain="shopdrop.com", brand="Shopdrop",
                 headline="Hana picked these deals for you: 30% off", case="first-name-only",
                 expected="keep", contact=None)
    g.newsletter(41, sender="Kwame from Tallyhive <kwame@tallyhive.com>", domain="tallyhive.com",
                 brand="Tallyhive", headline="Tallyhive is live: 30% off for Berlin Product Night members",
                 case="meetup-rsvp-then-newsletter", expected="move", contact="social:meetup/312345678")
    g.newsletter(43, sender="Loomwork <hello@loomwork.io>", domain="loomwork.io", brand="Loomwork",
                 headline="Loomwork type foundry: 30% off all families", case="bluesky-follow-then-newsletter",
                 expected="move", contact="social:bluesky/ines.loomwork.io")
    g.newsletter(45, sender="Saltmarsh Studio <news@saltmarsh.studio>", domain="saltmarsh.studio",
                 brand="Saltmarsh", headline="Saltmarsh studio sessions: 30% off this month",
                 case="luma-registration-then-newsletter", expected="move", contact="social:luma/usr-qm4xt9aa")
    g.out.sort(key=lambda x: x[0])
    return [(raw, truth) for _, raw, truth in g.out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eml-dir", type=Path, required=True, help="write one <case>.eml per sample here")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2026-10-01", help="date of the first day (YYYY-MM-DD)")
    ap.add_argument("--me", default="sam@rivera.dev")
    args = ap.parse_args()
    args.eml_dir.mkdir(parents=True, exist_ok=True)
    samples = social_messages(random.Random(args.seed), date.fromisoformat(args.start), args.me)
    for raw, truth in samples:
        (args.eml_dir / f"{truth['case']}.eml").write_bytes(raw)
    print(f"wrote {len(samples)} messages to {args.eml_dir}")


if __name__ == "__main__":
    main()
