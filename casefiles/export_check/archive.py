"""Reading an export's zip safely, in one pass: every member streamed and hashed once, nothing
extracted to disk (docs/export-format.md §1 and §3.1).

What later checks need from a member is kept as it goes by: its SHA-256 (taken in another
thread, hashing.py) and size always, the bytes of the small metadata files, and for a signed PDF
the result of validating its signatures (so a document's bytes are never held for long).
"""

from __future__ import annotations

import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from casefiles.export import format as fmt
from casefiles.export_check.hashing import BackgroundHashing

_CHUNK = 1 << 20
_BIG_MEMBER = 1 << 20  # the ratio limit applies to members larger than this (format.py)
_KEEP_LIMIT = 64 << 20  # metadata files larger than this are not kept (a journal is far smaller)
_PDF_LIMIT = 512 << 20  # signed PDFs up to this size are validated
_SIGNED_PDF_MARK = b"/ByteRange"  # every PDF signature dictionary has one, uncompressed
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, …, name length, extra field length


class NotAnExport(Exception):
    """The file is not an export at all: not a zip, truncated, unsafe, or no known layout."""


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int


@dataclass
class Package:
    """What one pass over the zip found; member names are relative to the root folder."""

    root: str
    packaging: str
    members: dict[str, Member] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    pdf_signatures: dict[str, Any] = field(default_factory=dict)  # name -> statuses or error

    @property
    def payload(self) -> str:
        return fmt.PAYLOAD_FOLDER[self.packaging]


PdfValidator = Callable[[bytes], Any]


def read_package(path: Path, make_validator: Callable[[Package], PdfValidator]) -> Package:
    """One pass over the zip at `path`; NotAnExport when it cannot or must not be read.
    `make_validator` is called once the CA certificate is read (first), before any document."""
    if not path.is_file():
        raise NotAnExport(f"{path} is not a file")
    try:
        with zipfile.ZipFile(path) as zipped, path.open("rb") as archive:
            infos = zipped.infolist()
            root, names = _safe_names(infos)
            package = Package(root=root, packaging=_packaging(names))
            ca_name = f"{package.payload}/{fmt.CA_PEM}"
            first = [i for i in infos if names.get(i.filename) == ca_name]
            rest = [i for i in infos if not i.is_dir() and names.get(i.filename) != ca_name]
            with BackgroundHashing() as hashing:
                digests: dict[str, tuple[Future[str], int]] = {}
                for info in first:
                    _read_member(archive, info, ca_name, package, _unused, hashing, digests)
                validate_pdf = make_validator(package)
                for info in rest:
                    name = names[info.filename]
                    _read_member(archive, info, name, package, validate_pdf, hashing, digests)
                package.members = {n: Member(d.result(), size) for n, (d, size) in digests.items()}
            return package
    except NotAnExport:
        raise
    except zipfile.BadZipFile as error:
        raise NotAnExport(f"not a readable zip file ({error})") from None
    except (zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as error:
        # Truncated or corrupt data, an unsupported or encrypted member: not readable.
        raise NotAnExport(f"the zip file is damaged or truncated ({error})") from None


def _unused(_data: bytes) -> Any:
    raise AssertionError("ca.pem is not a document")


def _safe_names(infos: list[zipfile.ZipInfo]) -> tuple[str, dict[str, str]]:
    """The one root folder, and each member's name below it; refuses what could escape or
    explode (§1, §3.1)."""
    if not infos:
        raise NotAnExport("the zip file is empty")
    if len(infos) > fmt.MAX_ENTRIES:
        raise NotAnExport(f"the zip file has more than {fmt.MAX_ENTRIES} entries")
    total, roots, seen = 0, set(), set()
    names: dict[str, str] = {}
    for info in infos:
        name = info.filename
        _refuse_unsafe(info, name)
        if name in seen:
            raise NotAnExport(f"the name {name!r} occurs twice in the zip")
        seen.add(name)
        total += info.file_size
        if total > fmt.MAX_TOTAL_SIZE:
            raise NotAnExport("the zip file expands to more than 1 TiB")
        if info.file_size > _BIG_MEMBER and info.file_size > fmt.MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise NotAnExport(
                f"{name!r} expands more than {fmt.MAX_RATIO} times (a zip bomb?): refused"
            )
        root, _, rest = name.partition("/")
        roots.add(root)
        if not info.is_dir():
            if not rest:
                raise NotAnExport(f"{name!r} is not inside the package's folder")
            names[name] = rest
    if len(roots) != 1:
        raise NotAnExport(
            f"the zip holds {len(roots)} top-level entries, an export holds one folder"
        )
    return roots.pop(), names


def _refuse_unsafe(info: zipfile.ZipInfo, name: str) -> None:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or ":" in name[:2]:
        raise NotAnExport(f"unsafe path in the zip: {name!r}")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts) or posixpath.normpath(name) != name.rstrip(
        "/"
    ):
        raise NotAnExport(f"unsafe path in the zip: {name!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise NotAnExport(f"{name!r} is a symbolic link: refused")
    if info.flag_bits & 0x1:
        raise NotAnExport(f"{name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NotAnExport(f"{name!r} uses an unknown compression method")


def _packaging(names: dict[str, str]) -> str:
    inside = set(names.values())
    if fmt.BAGIT_TXT in inside:
        return fmt.BAGIT
    if fmt.METADATA_XML in inside:
        return fmt.ECH0160
    raise NotAnExport(
        f"no known layout: neither {fmt.BAGIT_TXT} (BagIt) nor {fmt.METADATA_XML} (eCH-0160)"
    )


def _read_member(
    archive: BinaryIO,
    info: zipfile.ZipInfo,
    name: str,
    package: Package,
    validate_pdf: PdfValidator,
    hashing: BackgroundHashing,
    digests: dict[str, tuple[Future[str], int]],
) -> None:
    digest, size = hashing.new(), 0
    keep = _is_metadata(name, package.payload) and info.file_size <= _KEEP_LIMIT
    chunks: list[bytes] | None = [] if keep else None
    for chunk in _contents(archive, info):
        if size == 0 and chunks is None and chunk.startswith(b"%PDF"):
            chunks = [] if info.file_size <= _PDF_LIMIT else None  # held until validated
        hashing.update(digest, chunk)
        size += len(chunk)
        if chunks is not None:
            chunks.append(chunk)
    digests[name] = (hashing.hexdigest(digest), size)
    if chunks is None:
        return
    data = b"".join(chunks)
    if keep:
        package.texts[name] = data
    elif _SIGNED_PDF_MARK in data:
        package.pdf_signatures[name] = validate_pdf(data)


def _contents(archive: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes, read from its place in the file and inflated here. Not through
    zipfile's reader: its CRC-32 would cost nearly as much as the SHA-256 that is taken anyway
    (and that the manifests check). Never more than the central directory's size comes out."""
    archive.seek(info.header_offset)
    header = archive.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise NotAnExport(f"{info.filename!r}: the zip file is damaged (no local header)")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[1:]
    archive.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left, produced = info.compress_size, 0
    while left > 0:
        raw = archive.read(min(_CHUNK, left))
        if not raw:
            raise NotAnExport(f"{info.filename!r}: the zip file is truncated")
        left -= len(raw)
        while raw:
            data = inflate.decompress(raw, _CHUNK) if inflate else raw
            raw = inflate.unconsumed_tail if inflate else b""
            produced += len(data)
            if produced > info.file_size:
                raise NotAnExport(f"{info.filename!r} holds more than the zip says: refused")
            if data:
                yield data
    rest = inflate.flush() if inflate else b""
    if produced + len(rest) != info.file_size:
        raise NotAnExport(f"{info.filename!r}: the zip file is damaged (size differs)")
    if rest:
        yield rest


def _is_metadata(name: str, payload: str) -> bool:
    """Everything but the documents: tag files, metadata.xml, export.json, journals, …"""
    return f"/{fmt.DOCUMENTS}/" not in name or not name.startswith(f"{payload}/")
