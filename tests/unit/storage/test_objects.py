"""Raw object stores against a real folder and a real S3 server (moto over HTTP)."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import time
import traceback
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from storage.objects import FolderStore, ObjectStore, open_store
from storage.s3 import S3Store
from tests.support.s3 import s3_url

BAD_KEYS = ["", "/abs", "a/../b", "..", ".", "a/./b", "a\\b", "a//b", "a/", "a/.put-x", "a\x00b"]


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


class FailingReader(io.RawIOBase):
    """Delivers ``good`` bytes, then fails like a client that disconnects mid-upload."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._good.read(size)
        if not data:
            raise ConnectionResetError("client went away")
        return data


def test_put_open_round_trip(store: ObjectStore) -> None:
    store.put("ab/cd/object", io.BytesIO(b"hello world"))
    assert read_all(store, "ab/cd/object") == b"hello world"
    assert store.exists("ab/cd/object")


def test_open_reads_in_pieces_and_closes(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    store.put("k", io.BytesIO(data))
    stream = store.open("k")
    pieces = []
    while piece := stream.read(7_000):
        assert len(piece) <= 7_000
        pieces.append(piece)
    stream.close()
    assert b"".join(pieces) == data
    assert stream.closed


def test_put_empty_object(store: ObjectStore) -> None:
    store.put("empty", io.BytesIO(b""))
    assert store.exists("empty")
    assert read_all(store, "empty") == b""


def test_put_overwrites(store: ObjectStore) -> None:
    store.put("k", io.BytesIO(b"first"))
    store.put("k", io.BytesIO(b"second"))
    assert read_all(store, "k") == b"second"


def test_put_with_known_length_reads_only_that_much(store: ObjectStore) -> None:
    store.put("k", io.BytesIO(b"0123456789"), length=4)
    assert read_all(store, "k") == b"0123"


def test_put_with_stream_shorter_than_length_fails(store: ObjectStore) -> None:
    with pytest.raises(OSError, match="10"):
        store.put("k", io.BytesIO(b"short"), length=10)
    assert not store.exists("k")


def test_put_of_unknown_length_above_part_size(store: ObjectStore) -> None:
    # Crosses the 10 MiB part size, so S3 takes the multipart path.
    data = os.urandom(10 * 1024 * 1024 + 12_345)
    store.put("big", io.BytesIO(data))
    assert read_all(store, "big") == data


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.open("no/such/object")
    assert not store.exists("no/such/object")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("a/b", io.BytesIO(b"x"))
    store.delete("a/b")
    store.delete("a/b")
    store.delete("never/existed")
    assert not store.exists("a/b")
    with pytest.raises(FileNotFoundError):
        store.open("a/b")


def test_iter_keys_in_lexicographic_order(store: ObjectStore) -> None:
    keys = ["b", "a/c/d", "ab/x", "a-c", "a/b", "a/c/e"]
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))
    assert list(store.iter_keys()) == sorted(keys)
    assert list(store.iter_keys("a/")) == ["a/b", "a/c/d", "a/c/e"]
    assert list(store.iter_keys("a")) == ["a-c", "a/b", "a/c/d", "a/c/e", "ab/x"]
    assert list(store.iter_keys("a/c")) == ["a/c/d", "a/c/e"]
    assert list(store.iter_keys("ab")) == ["ab/x"]
    assert list(store.iter_keys("zz/")) == []


def test_iter_objects_gives_keys_with_their_modification_time(store: ObjectStore) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    for key in ("b/2", "a/1"):
        store.put(key, io.BytesIO(b"x"))
    listed = list(store.iter_objects())
    assert [key for key, _ in listed] == ["a/1", "b/2"] == list(store.iter_keys())
    for _, modified in listed:
        assert modified.tzinfo is not None
        assert before <= modified <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.delete(key)


@pytest.mark.parametrize("prefix", ["/a", "../", "a/../", "a\\"])
def test_bad_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        store.iter_keys(prefix)


def test_failed_put_leaves_the_previous_object(folder_store: FolderStore) -> None:
    folder_store.put("ab/k", io.BytesIO(b"old"))
    with pytest.raises(ConnectionResetError):
        folder_store.put("ab/k", FailingReader(b"new partial content"))  # type: ignore[arg-type]
    assert read_all(folder_store, "ab/k") == b"old"
    # No temporary file is left behind, and none would be listed anyway.
    assert os.listdir(folder_store.root / "ab") == ["k"]
    assert list(folder_store.iter_keys()) == ["ab/k"]


def test_stray_temporary_files_are_not_objects(folder_store: FolderStore) -> None:
    folder_store.put("ab/k", io.BytesIO(b"x"))
    (folder_store.root / "ab" / ".put-crashed").write_bytes(b"half")
    assert list(folder_store.iter_keys()) == ["ab/k"]


def test_stale_temporary_files_are_removed_young_ones_kept(folder_store: FolderStore) -> None:
    folder_store.put("ab/k", io.BytesIO(b"x"))
    stale, young = folder_store.root / "ab" / ".put-crashed", folder_store.root / ".put-running"
    stale.write_bytes(b"half")
    young.write_bytes(b"being written")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    assert folder_store.remove_stale_temps(cutoff) == 1
    assert not stale.exists() and young.exists()
    assert read_all(folder_store, "ab/k") == b"x"


def test_folder_is_not_an_object(folder_store: FolderStore) -> None:
    folder_store.put("ab/k", io.BytesIO(b"x"))
    assert not folder_store.exists("ab")
    with pytest.raises(FileNotFoundError):
        folder_store.open("ab")


def test_folder_objects_are_private(folder_store: FolderStore) -> None:
    folder_store.put("k", io.BytesIO(b"x"))
    assert (folder_store.root / "k").stat().st_mode & 0o077 == 0


def test_missing_bucket_is_an_error_not_a_missing_object(s3_endpoint: str) -> None:
    client = Minio(s3_endpoint, "testing", "testing", secure=False)
    store = S3Store(client, "no-such-bucket-here")
    store.exists("k")  # the first use creates the bucket: gone after that, it is an error
    client.remove_bucket("no-such-bucket-here")
    with pytest.raises(OSError, match="NoSuchBucket") as info:
        store.open("k")
    assert not isinstance(info.value, FileNotFoundError)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_errors_become_oserror_without_the_secret() -> None:
    secret = "very-secret-key-1234"
    # No retries: the default client would retry a refused connection for seconds.
    http = urllib3.PoolManager(retries=0, timeout=2)
    client = Minio(f"127.0.0.1:{closed_port()}", "access", secret, secure=False, http_client=http)
    store = S3Store(client, "bucket")
    for action in (
        lambda: store.put("k", io.BytesIO(b"x")),
        lambda: store.open("k"),
        lambda: store.exists("k"),
        lambda: store.delete("k"),
        lambda: list(store.iter_keys()),
        store.ensure_bucket,
    ):
        with pytest.raises(OSError) as info:
            action()
        assert not isinstance(info.value, FileNotFoundError)
        assert secret not in "".join(traceback.format_exception(info.value))


def test_open_store_with_plain_path_and_file_url(tmp_path: Path) -> None:
    plain = open_store(str(tmp_path / "plain"))
    url = open_store((tmp_path / "url dir").as_uri())
    assert isinstance(plain, FolderStore) and isinstance(url, FolderStore)
    assert plain.backend == url.backend == "folder"
    assert (tmp_path / "plain").is_dir() and (tmp_path / "url dir").is_dir()


def test_s3_store_creates_its_bucket_on_first_use(s3_endpoint: str) -> None:
    store = open_store(s3_url(s3_endpoint, "created-by-open-store"))
    assert isinstance(store, S3Store) and store.backend == "s3"
    # Opening contacts no server (the portal starts while S3 is away); the first call does.
    assert not store.client.bucket_exists("created-by-open-store")
    assert list(store.iter_keys()) == []
    assert store.client.bucket_exists("created-by-open-store")
    # Opening again finds the bucket in place.
    open_store(s3_url(s3_endpoint, "created-by-open-store")).put("k", io.BytesIO(b"x"))
    assert read_all(store, "k") == b"x"


def test_open_store_without_secure_option_uses_http_for_localhost(s3_endpoint: str) -> None:
    store = open_store(f"s3://testing:testing@{s3_endpoint}/plain-http-default")
    store.put("k", io.BytesIO(b"x"))
    assert store.exists("k")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.org/objects",
        "http://127.0.0.1:9000/bucket",
        "minio://key:secret@127.0.0.1/bucket",
        "file://otherhost/srv/objects",
        "s3://127.0.0.1:9000/bucket",
        "s3://key:topsecret@127.0.0.1:9000",
        "s3://key:topsecret@127.0.0.1:9000/a/b",
        "s3://key:topsecret@127.0.0.1:9000/bucket?secure=maybe",
        "s3://key:topsecret@127.0.0.1:9000/bucket?verify=false",
        "s3://key:topsecret@127.0.0.1:notaport/bucket",
    ],
)
def test_open_store_rejects_bad_urls_without_echoing_secrets(url: str) -> None:
    with pytest.raises(ValueError) as info:
        open_store(url)
    assert "topsecret" not in str(info.value)
