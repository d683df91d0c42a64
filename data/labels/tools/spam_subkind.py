"""Subkind for spam messages whose listing line was read (the random sample); checked by reading."""
import re

RULES = [
    ("scam", r"\] HELLO|I PRESUME THIS MAIL|partner|inheritance|assistan|confidential|strictly private|cry for help|next of kin|"
             r"from the desk of|urgent|kabila|fax response|beneficiar|you won|winner|claim#|\bPRIVATE\b|HELLO$|IMPORTANT\.$"),
    ("adult", r"\bsex|porn|\bxxx|babes|milf|\badult\b|horny|sluts|dorm\b|bang bus|incest|\bteen\b|girls|dildo|"
              r"hammer|inches|size rite|spice to your life|pheromone|Erotik|amat.r video"),
    ("newsletter", r"Membership Exchange|SponsorClick|News Letter"),
]


def spam_subkind(r: dict) -> str:
    text = r["Subject"] + " " + r["From"] + " " + r["body"][:200]
    for sub, pat in RULES:
        if re.search(pat, text, re.I if sub != "scam" else re.I):
            return sub
    return "sales"
