"""Raw object stores, a folder or an S3 bucket chosen by URL; encryption is the layer above.

Both backends accept the same keys (``check_key``), so objects can move between them, list keys in
lexicographic order, and raise plain errors: FileNotFoundError for a missing object,
StoreUnavailable when the store cannot be reached or does not answer in time (worth a retry
later), OSError for any other backend failure, ValueError for bad keys and URLs. The S3 backend
lives in storage.s3.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from storage.durable import (
    TEMP_PREFIX,
    fsync_dirs,
    make_dirs,
    sync_dirs,
    sync_files,
    write_temp,
)
from storage.s3_http import Limits, hurry

__all__ = [
    "FolderStore",
    "ObjectStore",
    "StoreUnavailable",
    "check_key",
    "discard",
    "open_store",
]

log = logging.getLogger(__name__)

_MAX_KEY_BYTES = 1024  # the S3 limit; a longer key could not move to the S3 backend


class StoreUnavailable(OSError):
    """The object store cannot be reached, or did not answer in time: try again later."""


class ObjectStore(Protocol):
    backend: str  # "folder" or "s3", recorded in each row next to the key

    def put(self, key: str, reader: BinaryIO, length: int = -1) -> None: ...
    # All objects durable when it returns, none of them left behind when it raises.
    def put_many(self, items: Sequence[tuple[str, BinaryIO]]) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def iter_keys(self, prefix: str = "") -> Iterator[str]: ...
    # Keys with their last modification (UTC), in the same order.
    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]: ...
    # Leftovers of puts that died midway, older than `before`; how many were removed.
    def remove_stale_temps(self, before: dt.datetime) -> int: ...


class _Deletes(Protocol):
    def delete(self, key: str) -> None: ...


def discard(store: _Deletes, keys: Sequence[str]) -> None:
    """Remove the objects of failed work, best effort and never slow: one short attempt each
    (`storage.s3_http.hurry`), stopping at the first failure. What is left has no row, and
    `portal storage gc` removes it after its grace period."""
    with hurry():
        for done, key in enumerate(keys):
            try:
                store.delete(key)
            except OSError as exc:
                log.warning(
                    "left %d orphaned object(s) for `portal storage gc`: %s", len(keys) - done, exc
                )
                return


def check_key(key: str, *, prefix: bool = False) -> None:
    """Raise ValueError unless ``key`` is portable; a ``prefix`` may end in a partial segment."""
    what = "key prefix" if prefix else "object key"
    if not isinstance(key, str) or not (key or prefix):
        raise ValueError(f"{what} must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key or len(key.encode()) > _MAX_KEY_BYTES:
        raise ValueError(f"{what} {key[:80]!r} must be relative, ≤1024 bytes, without \\ or NUL")
    segments = key.split("/")
    for segment in segments[:-1] if prefix else segments:
        # No "." or "..", and the folder store's temporary dot-files can never collide with a key.
        if not segment or segment.startswith("."):
            raise ValueError(f"{what} {key!r} has an empty segment or one starting with '.'")


class FolderStore:
    """Objects as files under ``root``; each put is atomic and durable before it returns."""

    backend = "folder"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, reader: BinaryIO, length: int = -1) -> None:
        path = self._path(key)
        touched = make_dirs(path.parent)
        tmp = write_temp(path.parent, reader, length, sync=True)
        try:
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # Makes the rename durable, so a row written after put() never points at a lost object.
        fsync_dirs([*touched, path.parent])

    def put_many(self, items: Sequence[tuple[str, BinaryIO]]) -> None:
        """Several objects with one group commit; each is as durable as put() makes it, and
        none of them is left behind when this raises."""
        paths = [self._path(key) for key, _ in items]  # every key checked before any write
        temps: list[str] = []
        placed: list[Path] = []
        try:
            touched: list[Path] = []
            for (_, reader), path in zip(items, paths, strict=True):
                touched += make_dirs(path.parent)
                temps.append(write_temp(path.parent, reader, sync=False))
            sync_files(temps)  # the data of all of them, before any name points at it
            for tmp, path in zip(temps, paths, strict=True):
                os.replace(tmp, path)
                placed.append(path)
            sync_dirs([*touched, *(p.parent for p in paths)])  # then the names
        except BaseException:
            leftovers: list[str | Path] = [*temps[len(placed) :], *placed]
            for leftover in leftovers:
                with suppress(FileNotFoundError):
                    os.unlink(leftover)
            raise

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (IsADirectoryError, NotADirectoryError) as exc:
            # A folder is not an object; callers only need to know that the object is absent.
            raise FileNotFoundError(f"no object {key!r} in {self.root}") from exc

    def delete(self, key: str) -> None:
        # Empty folders stay: removing them would race with a concurrent put into the same folder.
        with suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self._entries(prefix))

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]:
        for key, entry in self._entries(prefix):
            with suppress(FileNotFoundError):  # deleted since it was listed
                mtime = entry.stat(follow_symlinks=False).st_mtime
                yield key, dt.datetime.fromtimestamp(mtime, dt.UTC)

    def _entries(self, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        check_key(prefix, prefix=True)
        folder, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        return self._walk(base, f"{folder}/" if folder else "", prefix)

    def _walk(
        self, directory: Path, key_prefix: str, prefix: str
    ) -> Iterator[tuple[str, os.DirEntry[str]]]:
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sorting folders as "name/" yields keys in plain lexicographic order, like S3 listings.
        named = [(e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e) for e in entries]
        for name, entry in sorted(named, key=lambda item: item[0]):
            key = key_prefix + name
            if name.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(Path(entry.path), key, prefix)
            elif entry.is_file() and key.startswith(prefix):
                yield key, entry

    def remove_stale_temps(self, before: dt.datetime) -> int:
        """Delete temporary files of puts that died before their rename, last written before
        `before`; how many. A live put's temporary file is seconds old."""
        removed = 0
        for directory, _, files in os.walk(self.root):
            for name in files:
                if not name.startswith(TEMP_PREFIX):
                    continue
                path = os.path.join(directory, name)
                with suppress(FileNotFoundError):
                    if os.stat(path).st_mtime < before.timestamp():
                        os.unlink(path)
                        removed += 1
        return removed


def open_store(url: str, limits: Limits | None = None) -> ObjectStore:
    """Open the store named by ``url``: ``file:///abs/path``, a path, or ``s3://…/bucket``
    (waiting and retrying as ``limits`` say). Contacts no server: that happens on first use."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("storage URL is empty")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        # Imported here: the S3 backend builds on this module.
        from storage.s3 import open_s3

        return open_s3(url, limits)
    if scheme not in ("", "file"):
        raise ValueError(
            f"unsupported storage URL scheme {scheme!r}: use file:///path, a plain path "
            "or s3://ACCESS:SECRET@host:port/bucket"
        )
    parts = urlsplit(url) if scheme else None
    if parts and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        raise ValueError("file storage URL must look like file:///absolute/path")
    root = Path(unquote(parts.path)) if parts else Path(url).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return FolderStore(root)
