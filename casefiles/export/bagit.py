"""The tag files of a bag (BagIt 1.0, RFC 8493), written after its payload."""

from __future__ import annotations

import datetime as dt

from casefiles.export.format import BAG_INFO, BAGIT_TXT, MANIFEST, TAG_MANIFEST
from casefiles.export.package import PackageWriter, Written

SOURCE_ORGANIZATION = "Einwohnerportal Luzern"


def encode_path(path: str) -> str:
    """A path as a manifest line holds it (RFC 8493 §2.1.3): `%`, CR and LF percent-encoded."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _manifest(files: list[Written]) -> bytes:
    lines = sorted(f"{f.sha256}  {encode_path(f.path)}\n" for f in files)
    return "".join(lines).encode("utf-8")


def write_tag_files(
    writer: PackageWriter, payload: list[Written], *, name: str, when: dt.datetime
) -> None:
    bagit_txt = writer.add_bytes(
        BAGIT_TXT, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    octets = sum(f.size for f in payload)
    info = (
        f"Bag-Software-Agent: Einwohnerportal (einwohnerportal-export/1)\n"
        f"Bagging-Date: {when.date().isoformat()}\n"
        f"External-Identifier: {name}\n"
        f"Payload-Oxum: {octets}.{len(payload)}\n"
        f"Source-Organization: {SOURCE_ORGANIZATION}\n"
    )
    bag_info = writer.add_bytes(BAG_INFO, info.encode("utf-8"))
    manifest = writer.add_bytes(MANIFEST, _manifest(payload))
    writer.add_bytes(TAG_MANIFEST, _manifest([bagit_txt, bag_info, manifest]))
