"""An independent check of an Einwohnerportal export, written from docs/export-format.md and
docs/journal-format.md alone (Python 3 and `cryptography`): `verify_export.py EXPORT.zip
[--ca CA.pem]`. Checks the zip's safety, the BagIt manifests or the eCH-0160 checksums in
metadata.xml, every journal (hashes, links, seq, signatures, seals issued by the CA, head), every
document against its journal entry, the CA. Not here: PAdES, anchors, the XSD (`portal verify`).
Prints each problem; exit 1 if there are any, 2 if the file is not an export at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
import zipfile

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

DER = serialization.Encoding.DER
HASHED = ("case_id", "seq", "recorded_at", "actor", "action", "payload", "prev_hash")
A = "{http://bar.admin.ch/arelda/v4}"  # arelda v4.1


class NotAnExport(Exception):
    pass


def read_zip(path):
    """{name below the root folder: bytes}; refuses what is unsafe (format §1, §3.1)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise NotAnExport(f"not a readable zip ({error})") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        names = [i.filename for i in archive.infolist()]
        if not infos or len(names) > 200_000 or len(set(names)) != len(names):
            raise NotAnExport("empty, too many entries or duplicate names")
        if sum(i.file_size for i in infos) > 1 << 40:
            raise NotAnExport("expands to more than 1 TiB")
        for i in infos:
            parts = i.filename.split("/")
            if i.filename.startswith("/") or "\\" in i.filename or ".." in parts or "" in parts:
                raise NotAnExport(f"unsafe path {i.filename!r}")
            if (i.external_attr >> 16) & 0o170000 == 0o120000:
                raise NotAnExport(f"symbolic link {i.filename!r}")
            if i.file_size > 1 << 20 and i.file_size > 200 * max(i.compress_size, 1):
                raise NotAnExport(f"zip bomb: {i.filename!r}")
        if len({n.split("/")[0] for n in names}) != 1 or any("/" not in n for n in names):
            raise NotAnExport("not exactly one root folder")
        try:  # small exports only: this checker keeps the files in memory, for brevity
            return {i.filename.split("/", 1)[1]: archive.read(i) for i in infos}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise NotAnExport(f"damaged zip ({error})") from None


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_listed(files, listed, covered, what, problems):
    """Every covered file listed with its SHA-256, nothing listed that is not there."""
    problems += [f"{what}: {name} is not listed" for name in sorted(covered - set(listed))]
    for name, digest in listed.items():
        if name not in covered or sha256(files[name]) != digest:
            problems.append(f"{what}: {name} is missing or has another checksum")


def check_bagit(files, problems):
    if "BagIt-Version: 1.0" not in files["bagit.txt"].decode("utf-8", "replace").splitlines():
        problems.append("bagit.txt does not declare version 1.0")
    data = {n for n in files if n.startswith("data/")}
    tags = set(files) - data - {"tagmanifest-sha256.txt"}
    for manifest, covered in (("manifest-sha256.txt", data), ("tagmanifest-sha256.txt", tags)):
        listed = {}
        for line in files.get(manifest, b"").decode("utf-8", "replace").splitlines():
            digest, _, path = line.partition("  ")  # RFC 8493 percent-encodes CR, LF and %
            listed[path.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")] = digest
        check_listed(files, listed, covered, manifest, problems)


def check_ech0160(files, problems):
    raw = files["header/metadata.xml"]
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:  # no entity tricks: none belongs in it
        problems.append("metadata.xml holds a DOCTYPE")
        return
    try:
        root = ET.fromstring(raw)  # noqa: S314  (stdlib only, on purpose; DOCTYPEs refused above)
    except ET.ParseError as error:
        problems.append(f"metadata.xml is not XML ({error})")
        return
    listed = {}

    def walk(node, prefix):
        for folder in node.findall(f"{A}ordner"):
            walk(folder, prefix + folder.findtext(f"{A}name", "") + "/")
        for datei in node.findall(f"{A}datei"):
            if datei.findtext(f"{A}pruefalgorithmus") != "SHA-256":
                problems.append("metadata.xml: a checksum is not SHA-256")
            listed[prefix + datei.findtext(f"{A}name", "")] = datei.findtext(f"{A}pruefsumme")

    contents = root.find(f"{A}inhaltsverzeichnis")
    walk(contents if contents is not None else ET.Element("none"), "")
    covered = {n for n in files if n.startswith(("content/", "header/xsd/"))}
    for name in set(files) - covered - {"header/metadata.xml"}:
        problems.append(f"{name} is not part of an eCH-0160 package")
    check_listed(files, listed, covered, "metadata.xml", problems)


def issued_by(cert, ca):
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def check_journal(raw, case_id, ca, problems):
    """docs/journal-format.md §6; returns {version_id: (sha256, size)} of document.added."""
    lines = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line]
    case = lines[0] if lines and lines[0].get("type") == "case" else {}
    if case.get("format") != "einwohnerportal-journal/1" or case.get("case_id") != case_id:
        problems.append("not this case file's journal dump")
    seals = {}
    for line in lines:
        if line.get("type") == "certificate" and line.get("role") == "seal":
            cert = x509.load_pem_x509_certificate(line["pem"].encode())
            der = cert.public_bytes(DER)
            if sha256(der) == line["key_id"] and issued_by(cert, ca):
                seals[line["key_id"]] = cert  # others: their entries fail below
    versions, previous, seq = {}, "0" * 64, 0
    for entry in (line for line in lines if line.get("type") == "entry"):
        seq += 1
        name = f"entry {entry.get('seq')} ({entry.get('action')})"
        hashed = json.dumps({k: entry[k] for k in HASHED}, sort_keys=True, separators=(",", ":"),
                            ensure_ascii=False, allow_nan=False).encode("utf-8")  # canonical
        if entry["seq"] != seq or entry["prev_hash"] != previous or entry["case_id"] != case_id:
            problems.append(f"{name}: out of sequence or chain")
        if sha256(hashed) != entry["entry_hash"]:
            problems.append(f"{name}: content does not match its hash")
        cert, previous = seals.get(entry["key_id"]), entry["entry_hash"]
        try:  # ECDSA P-256 with SHA-256 over the 32 bytes of the hash, DER
            signature, digest = base64.b64decode(entry["signature"]), bytes.fromhex(previous)
            cert.public_key().verify(signature, digest, ec.ECDSA(hashes.SHA256()))
        except Exception:  # no certificate of the CA, or a bad signature
            problems.append(f"{name}: signature not valid with a seal of the CA")
        if entry["action"] == "document.added":
            added = entry["payload"]
            versions[added["version_id"]] = (added["sha256"], added["size"])
    if (case.get("head_seq"), case.get("head_hash")) != (seq, previous if seq else None):
        problems.append("the head is not the last entry")
    return versions, (seq, previous if seq else None)


def check(path, pinned):
    files = read_zip(path)
    problems = []
    if "bagit.txt" not in files and "header/metadata.xml" not in files:
        raise NotAnExport("no known layout")
    payload = "data/" if "bagit.txt" in files else "content/"
    (check_bagit if payload == "data/" else check_ech0160)(files, problems)
    ca = x509.load_pem_x509_certificate(files[payload + "ca.pem"])
    fingerprint = sha256(ca.public_bytes(DER))
    if pinned is not None and fingerprint != sha256(pinned.public_bytes(DER)):
        problems.append("the package's CA is not the one given with --ca")
    export = json.loads(files[payload + "export.json"])
    if export.get("format") != "einwohnerportal-export/1" or export.get("ca_sha256") != fingerprint:
        problems.append("export.json: not this format, or not this CA")
    for case in export["cases"]:
        base = f"{payload}{case['path']}/"
        try:
            journal = files[base + "journal.jsonl"]
            versions, head = check_journal(journal, case["case_id"], ca, problems)
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            problems.append(f"{case['reference']}: journal unreadable ({error!r})")
            continue
        case_json = json.loads(files[base + "case.json"])
        if (case_json["head"]["seq"], case_json["head"]["hash"]) != head:
            problems.append(f"{case['reference']}: case.json's head is not the journal's")
        found = set()
        for name in (n for n in files if n.startswith(base + "documents/")):
            version, data = name[len(base + "documents/") :].split("/")[0], files[name]
            if version in found or versions.get(version) != (sha256(data), len(data)):
                problems.append(f"{name}: not a document version the journal records")
            found.add(version)
        for version in set(versions) - found:
            problems.append(f"{case['reference']}: document version {version} is missing")
    return problems, fingerprint


def verify(path, pinned=None):
    """(problems, CA fingerprint); NotAnExport when it is not an export at all."""
    try:
        return check(path, pinned)
    except (KeyError, ValueError, TypeError, AttributeError, UnsupportedAlgorithm) as error:
        return [f"unreadable: {error!r}"], None


def main(argv):
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--ca"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        pinned = None
        if len(argv) == 3:
            with open(argv[2], "rb") as f:
                pinned = x509.load_pem_x509_certificate(f.read())
        problems, fingerprint = verify(argv[0], pinned)
    except (NotAnExport, OSError, ValueError) as error:
        print(f"{argv[0]}: not an export: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"  - {problem}")
    unpinned = "" if len(argv) == 3 else " (trust not pinned: compare it with the published one)"
    print(f"CA SHA-256 fingerprint: {fingerprint}{unpinned}")
    print(f"{len(problems)} problem(s)" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
