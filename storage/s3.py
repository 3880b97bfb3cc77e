"""The S3 backend of the object store (storage.objects), spoken to through minio.

Nothing here touches the network when the store is opened: the bucket is checked (and created)
on first use, so the portal starts while the S3 server is away. Every call waits and retries only
as `storage.s3_http.Limits` allow; a server that does not answer, answers 5xx or cannot be reached
raises `StoreUnavailable`, and going down and coming back is logged once each.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error, ServerError

from storage.objects import StoreUnavailable, check_key, discard
from storage.s3_http import Limits, http_client

__all__ = ["S3_PART_SIZE", "S3Store", "open_s3"]

log = logging.getLogger(__name__)

# minio needs a part size when the length is unknown; 10 MiB keeps memory bounded (minio holds at
# most ~4 parts: one being read, three uploading) while staying far from the 10,000-part limit.
S3_PART_SIZE = 10 * 1024 * 1024
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "ResourceNotFound"})
# Answers that say "not now" rather than "not like this": worth a retry later, so 503.
_BUSY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


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
            raise StoreUnavailable(f"S3 read failed ({exc!r})") from exc

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
        self._bucket_checked = False
        self._down = False  # only to log each outage once, not once per request
        self._lock = threading.Lock()

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn minio's and urllib3's errors into FileNotFoundError, StoreUnavailable or
        OSError."""
        try:
            yield
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            if isinstance(exc, S3Error) and exc.code in _MISSING_CODES:
                raise FileNotFoundError(f"no object {key!r} in bucket {self.bucket}") from exc
            # Neither S3 error documents nor urllib3's messages (host, path, cause) hold secrets.
            detail = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else repr(exc)
            message = f"S3 {action} of {self.bucket}/{key} failed ({detail})"
            if _unavailable(exc):
                self._went_down(message)
                raise StoreUnavailable(message) from exc
            raise OSError(message) from exc
        self._came_back()

    def _went_down(self, message: str) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "object store unavailable: %s; requests that need it answer 503 until it is back",
                message,
            )

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.info("object store available again: bucket %s answers", self.bucket)

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists; StoreUnavailable while the server is away."""
        with self._errors("bucket check", ""):
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:
                # Another process may have created it between the check and the creation.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def _ready(self) -> None:
        # On first use, not when opened: the portal must start while S3 is away (a failed
        # check is simply made again by the next call).
        if self._bucket_checked:
            return
        with self._lock:
            if not self._bucket_checked:
                self.ensure_bucket()
                self._bucket_checked = True

    def put(self, key: str, reader: BinaryIO, length: int = -1) -> None:
        check_key(key)
        self._ready()
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
            discard(self, done)  # one quick try; a server that is away leaves them to gc
            raise

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        self._ready()
        with self._errors("download", key):
            response = self.client.get_object(self.bucket, key)
        return _S3Reader(response)  # type: ignore[return-value]  # all of BinaryIO callers use

    def delete(self, key: str) -> None:
        check_key(key)
        self._ready()
        with self._errors("deletion", key):
            self.client.remove_object(self.bucket, key)  # S3 deletes are idempotent already

    def exists(self, key: str) -> bool:
        check_key(key)
        self._ready()
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
        self._ready()
        with self._errors("listing", prefix + "*"):
            for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if item.object_name is not None and not item.is_dir:
                    modified = item.last_modified or dt.datetime.now(dt.UTC)
                    yield item.object_name, modified.astimezone(dt.UTC)

    def remove_stale_temps(self, before: dt.datetime) -> int:
        """Nothing to do: an S3 PUT leaves no partial object (abandoned multipart uploads are
        the bucket's lifecycle rule's to expire)."""
        return 0


def _unavailable(exc: Exception) -> bool:
    """Whether the server could not be reached or said it cannot serve now."""
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return True  # refused, timed out, reset, or 5xx answers until the retries ran out
    if isinstance(exc, S3Error):
        return exc.code in _BUSY_CODES or exc.response.status >= 500
    # A 5xx without an S3 error document; an answer that is no S3 answer at all (a proxy's
    # error page for a 4xx) is a misconfiguration, not an outage.
    return isinstance(exc, ServerError)


def open_s3(url: str, limits: Limits | None = None) -> S3Store:
    """The store for ``s3://ACCESS:SECRET@host:port/bucket``, without contacting the server."""
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
            http_client=http_client(limits or Limits()),
        )
    except ValueError as exc:
        raise ValueError(f"S3 storage URL for {host} is invalid: {exc}") from None
    return S3Store(client, bucket)
