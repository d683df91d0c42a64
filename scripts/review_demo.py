"""Write the small mailbox and LinkedIn export that docs/review.md walks through.

    python scripts/review_demo.py DIR      # writes DIR/inbox.mbox and DIR/Connections.csv

The mailbox is the review tests' (tests/reviewkit.py) plus a newsletter from the company of a
LinkedIn connection whose address LinkedIn did not export.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mailfactory import day, newsletter  # noqa: E402
from reviewkit import inbox_messages, write_inbox  # noqa: E402

CONNECTIONS = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses are '
    'missing."\n'
    "\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Priya,Patel,https://www.linkedin.com/in/priya-patel,,Brightloop,Head of Growth,04 Mar 2026\n"
    "Marco,Rossi,https://www.linkedin.com/in/marcorossi,marco@corvid.dev,Corvid,Founder,12 Feb 2026\n"
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="folder to write inbox.mbox and Connections.csv into")
    out = parser.parse_args(argv).dir
    out.mkdir(parents=True, exist_ok=True)
    write_inbox(out, inbox_messages() + [
        newsletter("Brightloop <hello@brightloop.ai>", when=day(12), esp="mailchimp",
                   subject="Brightloop Pro: 2 months free", msgid="<bl1@brightloop.ai>"),
    ])
    (out / "Connections.csv").write_text(CONNECTIONS, encoding="utf-8")
    print(f"wrote {out / 'inbox.mbox'} and {out / 'Connections.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
