"""The export format `einwohnerportal-export/1` (docs/export-format.md): names shared by the
writer (casefiles/export/) and the offline checker (casefiles/export_check/), which must agree on
them without sharing any other code."""

from __future__ import annotations

FORMAT = "einwohnerportal-export/1"
BAGIT, ECH0160 = "bagit", "ech0160"
PACKAGINGS = (BAGIT, ECH0160)

# Every package is a zip holding one root folder `<name>/`. The portal's own files sit in one
# folder inside it: `data/` in a bag (its payload), `content/` in an eCH-0160 SIP.
PAYLOAD_FOLDER = {BAGIT: "data", ECH0160: "content"}

# Inside the payload folder:
README = "README.txt"  # how to verify the package, in plain words (de, fr, it, en)
EXPORT_JSON = "export.json"  # what the package holds: format, packaging, time, the case files
CA_PEM = "ca.pem"  # the portal's CA certificate when the export was made (not a trust anchor)
# Per case file, in a folder named by its reference (`D-ABCD-EFGH/`):
CASE_JSON = "case.json"  # the case file's metadata and its documents (version id -> path)
JOURNAL = "journal.jsonl"  # exactly `portal journal dump` (docs/journal-format.md §5)
DOCUMENTS = "documents"  # documents/<version_id>/<filename>: every version of every document
ANCHOR_JSON = "anchor.json"  # optional: the case head's inclusion proof in the latest anchor

# BagIt tag files (RFC 8493), beside `data/`.
BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"

# eCH-0160 (arelda v4.1): `header/metadata.xml` and a copy of the XSDs in `header/xsd/`.
METADATA_XML = "header/metadata.xml"
XSD_FOLDER = "header/xsd"
ARELDA_NAMESPACE = "http://bar.admin.ch/arelda/v4"

# Limits a reader applies before trusting a zip (a bomb, a path that escapes the folder).
MAX_ENTRIES = 200_000
MAX_TOTAL_SIZE = 1 << 40  # 1 TiB uncompressed
MAX_RATIO = 200  # uncompressed / compressed, per member larger than 1 MiB
