#!/bin/sh
# Rebuild everything from the corpus, realmail, the fetched mirrors and the index copies (run from data/labels).
# Paths: MAILGUARD_CORPUS, MAILGUARD_REALMAIL, MAILGUARD_MIRROR, MAILGUARD_INDEX_COPIES (defaults:
# /work/shared/corpus/spamassassin, /work/shared/realmail, /work/.mirror, /work/.index-copies; the index copies
# can be downloaded as extra/index_copies.md shows).
set -e
mkdir -p work
python3 tools/make_listing.py               # work/listing.jsonl (corpus + realmail)
python3 tools/sample.py ham  > /dev/null    # work/sample_ham.txt  (300 rule-labelled ham, seed fixed)
python3 tools/sample.py spam > /dev/null    # work/sample_spam.txt (250 spam, seed fixed)
python3 tools/spam_scan.py                  # work/read_spam_scan.txt
python3 tools/external.py                   # work/ext_listing.jsonl (needs the mirrors and index copies)
python3 tools/build_labels.py               # labels.tsv, excluded.tsv (and templates/*.eml, tools/templates.py)
python3 tools/stats.py > work/stats.md
