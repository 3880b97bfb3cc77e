"""Durable file writes for the folder store: atomic replace, one file at a time or as a group.

A file is durable once its data and the directory entry naming it have reached the disk. One at a
time that costs an fsync of the file and one of its folder (~1k files/s here). A group commit
writes every file first, makes their data durable at once (`sync_files`), renames them all and
then makes the new names durable at once (`sync_dirs`): a thousand files cost about what a few do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import uuid
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO, cast

COPY_CHUNK = 256 * 1024  # keeps a put near 1 MB of buffers, ciphertext included
TEMP_PREFIX = ".put-"  # object keys never start a segment with "." (see objects.check_key)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def copy_stream(reader: BinaryIO, out: BinaryIO, length: int) -> None:
    copied = 0
    while length < 0 or copied < length:
        data = reader.read(COPY_CHUNK if length < 0 else min(COPY_CHUNK, length - copied))
        if not data:
            break
        out.write(data)
        copied += len(data)
    if 0 <= length != copied:  # like minio, which refuses a stream shorter than announced
        raise OSError(f"stream ended after {copied} of the announced {length} bytes")


def write_temp(directory: Path, reader: BinaryIO, length: int = -1, *, sync: bool) -> str:
    """Copy `reader` into a new temporary file in `directory` (fsynced if `sync`); its path.

    The file lives in the target folder so that the final os.replace is a rename within one file
    system: a crash leaves either the old object, the new one, or a stray dot-file.
    """
    tmp = os.path.join(directory, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            copy_stream(reader, cast(BinaryIO, out), length)
            if sync:
                os.fsync(out.fileno())
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents; the folders whose entries changed (to fsync)."""
    try:
        os.mkdir(directory)
    except FileExistsError:
        return []
    except FileNotFoundError:
        touched = make_dirs(directory.parent)
        try:
            os.mkdir(directory)
        except FileExistsError:  # made by a concurrent put meanwhile
            return touched
        return [*touched, directory.parent]
    # A new folder's entry is durable only once its parent is synced.
    return [directory.parent]


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dirs(directories: Iterable[Path]) -> None:
    for directory in sorted(set(directories)):
        fsync_path(directory)


def sync_files(paths: list[str]) -> None:
    """Make the data of many written files durable, with one flush of their file system.

    `syncfs` writes back everything dirty on the file system at once: one journal commit and
    one disk cache flush instead of one per file. It reports write-back errors since Linux 5.8;
    on older kernels and where it does not exist, each file is fsynced instead.
    """
    if paths and not _syncfs(os.path.dirname(paths[0])):
        for path in paths:
            fsync_path(path)


def sync_dirs(directories: Iterable[Path]) -> None:
    """Make new entries (renames, new folders) in `directories` durable, as sync_files does."""
    directories = sorted(set(directories))
    if directories and not _syncfs(str(directories[0])):
        for directory in directories:
            fsync_path(directory)


def _load_syncfs() -> Any:
    release = platform.release().split(".")
    try:
        if platform.system() != "Linux" or (int(release[0]), int(release[1])) < (5, 8):
            return None  # older kernels' syncfs does not report write-back errors
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).syncfs
    except (OSError, AttributeError, ValueError, IndexError):
        return None


_SYNCFS = _load_syncfs()


def _syncfs(directory: str) -> bool:
    """Flush the file system holding `directory`; False where syncfs cannot be relied on."""
    if _SYNCFS is None:
        return False
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs failed: {os.strerror(errno)}")
    finally:
        os.close(fd)
    return True
