"""The zip of an export, written as a stream: each file chunk by chunk, hashed as it is written,
so memory stays flat however large the documents are."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from casefiles.export.read_ahead import Opener, ReadAhead

# Already compressed (PDF, images, archives) or unknown: stored; text: deflated.
_TEXT_SUFFIXES = (".txt", ".json", ".jsonl", ".xml", ".xsd", ".pem", ".csv", ".html")
_TEXT_TYPES = ("application/json", "application/xml", "application/xhtml+xml")
_WRITE_BEHIND = 32 * 1024 * 1024
# Linux starts writing the range's dirty pages back (without waiting), then drops the clean ones.
_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", 4)


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
    # For a file that will be fsynced: start its disk writes as it grows (see _write_behind).
    write_behind: bool = False
    written: list[Written] = field(default_factory=list)
    _behind: int = 0

    def add(self, path: str, chunks: Iterable[bytes], *, compress: bool | None = None) -> Written:
        digest, size = hashlib.sha256(), 0
        with self._member(path, compress) as member:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
        return self._record(Written(path, size, digest.hexdigest()))

    def add_read_ahead(
        self,
        files: Sequence[tuple[str, Opener, bool | None]],
        after: Callable[[int, Written], None],
    ) -> None:
        """Write each (path, opener, compress) in turn, the openers' files read, decrypted and
        hashed ahead in a thread of their own (read_ahead.py); `after(index, written)` once each
        is in. A failure to read file i raises read_ahead.ReadFailed(i, error)."""
        with ReadAhead([opener for _path, opener, _compress in files]) as reader:
            for index, (path, _opener, compress) in enumerate(files):
                with self._member(path, compress) as member:
                    for chunk in reader.chunks():
                        member.write(chunk)
                after(index, self._record(Written(path, reader.size, reader.sha256)))

    def _member(self, path: str, compress: bool | None) -> IO[bytes]:
        if compress is None:
            compress = compressible(path)
        info = zipfile.ZipInfo(f"{self.root}/{path}", date_time=self._date_time())
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return self.zf.open(info, "w", force_zip64=True)

    def _record(self, written: Written) -> Written:
        self.written.append(written)
        if self.write_behind:
            self._write_behind()
        return written

    def add_bytes(self, path: str, data: bytes, *, compress: bool | None = None) -> Written:
        return self.add(path, [data], compress=compress)

    def _write_behind(self) -> None:
        """Every _WRITE_BEHIND bytes, ask the kernel to write what the zip holds so far to disk
        (and drop it from the page cache once written, which a gigabyte export would otherwise
        fill): the final fsync then waits for the last few megabytes, not the whole file.
        zipfile flushed its buffer when it went back to complete the file's header."""
        fp = self.zf.fp
        if fp is None or not hasattr(os, "posix_fadvise"):
            return
        end = fp.tell()
        if end - self._behind >= _WRITE_BEHIND:
            with suppress(OSError, ValueError):  # a pipe or a file without a descriptor
                os.posix_fadvise(fp.fileno(), self._behind, end - self._behind, _DONTNEED)
            self._behind = end

    def _date_time(self) -> tuple[int, int, int, int, int, int]:
        m = self.moment
        return (max(m.year, 1980), m.month, m.day, m.hour, m.minute, m.second)


def open_zip(out: BinaryIO) -> zipfile.ZipFile:
    return zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
