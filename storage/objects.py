"""Raw object stores, a folder or an S3 bucket chosen by URL; encryption is the layer above.

Both backends accept the same keys (``check_key``), so objects can move between them, list keys in
lexicographic order, and raise plain errors: FileNotFoundError for a missing object, OSError for
any other backend failure, ValueError for bad keys and URLs.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from storage.durable import (
    TEMP_PREFIX,
    fsync_dirs,
    make_dirs,
    sync_dirs,
    sync_files,
    write_temp,
)

__all__ = ["FolderStore", "ObjectStore", "S3Store", "check_key", "open_store"]

# minio needs a part size when the length is unknown; 10 MiB keeps memory bounded (minio holds at
# most ~4 parts: one being read, three uploading) while staying far from the 10,000-part limit.
S3_PART_SIZE = 10 * 1024 * 1024
_MAX_KEY_BYTES = 1024  # the S3 limit; a longer key could not move to the S3 backend
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "ResourceNotFound"})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


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


class _S3Reader(io.RawIOBase):
    """A GET response as a stream; closing it hands the connection back to minio's pool."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__()
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise OSError(f"S3 read failed ({exc!r})") from exc

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()


class S3Store:
    """Objects in one bucket of an S3 server, spoken to through minio."""

    backend = "s3"

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn minio's and urllib3's errors into FileNotFoundError or OSError."""
        try:
            yield
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            if isinstance(exc, S3Error) and exc.code in _MISSING_CODES:
                raise FileNotFoundError(f"no object {key!r} in bucket {self.bucket}") from exc
            # Neither S3 error documents nor urllib3's messages (host, path, cause) hold secrets.
            detail = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else repr(exc)
            raise OSError(f"S3 {action} of {self.bucket}/{key} failed ({detail})") from exc

    def ensure_bucket(self) -> None:
        with self._errors("bucket creation", ""):
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:
                # Another process may have created it between the check and the creation.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put(self, key: str, reader: BinaryIO, length: int = -1) -> None:
        check_key(key)
        part_size = S3_PART_SIZE if length < 0 else 0  # 0: minio sizes the parts itself
        with self._errors("upload", key):
            self.client.put_object(self.bucket, key, reader, length, part_size=part_size)

    def put_many(self, items: Sequence[tuple[str, BinaryIO]]) -> None:
        """One by one: S3 has no fsync to group, a PUT is durable when it is answered."""
        for key, _ in items:
            check_key(key)
        done: list[str] = []
        try:
            for key, reader in items:
                self.put(key, reader)
                done.append(key)
        except BaseException:
            for key in done:
                with suppress(OSError):
                    self.delete(key)
            raise

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with self._errors("download", key):
            response = self.client.get_object(self.bucket, key)
        return _S3Reader(response)  # type: ignore[return-value]  # all of BinaryIO callers use

    def delete(self, key: str) -> None:
        check_key(key)
        with self._errors("deletion", key):
            self.client.remove_object(self.bucket, key)  # S3 deletes are idempotent already

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            with self._errors("lookup", key):
                self.client.stat_object(self.bucket, key)
        except FileNotFoundError:
            return False
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.iter_objects(prefix))

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]:
        check_key(prefix, prefix=True)  # now, not on the first next()
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[tuple[str, dt.datetime]]:
        with self._errors("listing", prefix + "*"):
            for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if item.object_name is not None and not item.is_dir:
                    modified = item.last_modified or dt.datetime.now(dt.UTC)
                    yield item.object_name, modified.astimezone(dt.UTC)

    def remove_stale_temps(self, before: dt.datetime) -> int:
        """Nothing to do: an S3 PUT leaves no partial object (abandoned multipart uploads are
        the bucket's lifecycle rule's to expire)."""
        return 0


def open_store(url: str) -> ObjectStore:
    """Open the store named by ``url``: ``file:///abs/path``, a path, or ``s3://…/bucket``."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("storage URL is empty")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        return _open_s3(url)
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


def _open_s3(url: str) -> S3Store:
    parts = urlsplit(url)
    # Messages name the host at most: the URL itself carries the secret key.
    endpoint = parts.netloc.rpartition("@")[2]
    host = parts.hostname or ""
    if not host or not parts.username or not parts.password:
        raise ValueError("S3 storage URL must look like s3://ACCESS:SECRET@host:port/bucket")
    bucket = parts.path.strip("/")
    if not bucket or "/" in bucket:
        raise ValueError(f"S3 storage URL for {host} must name exactly one bucket: …/bucket")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"secure", "region"})
    if unknown:
        raise ValueError(f"S3 storage URL has unknown options: {', '.join(unknown)}")
    secure = query.get("secure", "false" if host in _LOCAL_HOSTS else "true").lower()
    if secure not in ("true", "false"):
        raise ValueError("S3 storage URL option secure must be true or false")
    try:
        client = Minio(
            endpoint,
            access_key=unquote(parts.username),
            secret_key=unquote(parts.password),
            secure=secure == "true",
            region=query.get("region") or None,
        )
    except ValueError as exc:
        raise ValueError(f"S3 storage URL for {host} is invalid: {exc}") from None
    store = S3Store(client, bucket)
    store.ensure_bucket()
    return store
