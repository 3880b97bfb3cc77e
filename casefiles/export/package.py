"""The zip of an export, written as a stream: each file chunk by chunk, hashed as it is written,
so memory stays flat however large the documents are."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

# Already compressed (PDF, images, archives) or unknown: stored; text: deflated.
_TEXT_SUFFIXES = (".txt", ".json", ".jsonl", ".xml", ".xsd", ".pem", ".csv", ".html")
_TEXT_TYPES = ("application/json", "application/xml", "application/xhtml+xml")


def compressible(name: str, media_type: str | None = None) -> bool:
    if media_type is not None:
        return media_type.startswith("text/") or media_type in _TEXT_TYPES
    return name.lower().endswith(_TEXT_SUFFIXES)


@dataclass(frozen=True)
class Written:
    path: str  # relative to the package's root folder
    size: int
    sha256: str


@dataclass
class PackageWriter:
    """Files into `<root>/…` of a zip; remembers each one's size and SHA-256."""

    zf: zipfile.ZipFile
    root: str
    moment: dt.datetime
    written: list[Written] = field(default_factory=list)

    def add(self, path: str, chunks: Iterable[bytes], *, compress: bool | None = None) -> Written:
        if compress is None:
            compress = compressible(path)
        info = zipfile.ZipInfo(f"{self.root}/{path}", date_time=self._date_time())
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        digest, size = hashlib.sha256(), 0
        with self.zf.open(info, "w", force_zip64=True) as member:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
        written = Written(path, size, digest.hexdigest())
        self.written.append(written)
        return written

    def add_bytes(self, path: str, data: bytes, *, compress: bool | None = None) -> Written:
        return self.add(path, [data], compress=compress)

    def _date_time(self) -> tuple[int, int, int, int, int, int]:
        m = self.moment
        return (max(m.year, 1980), m.month, m.day, m.hour, m.minute, m.second)


def open_zip(out: BinaryIO) -> zipfile.ZipFile:
    return zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
