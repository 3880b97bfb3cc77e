"""The export's read-ahead thread: files come out whole and in order with their digests, a
reader's failure is raised in the writer naming the file, and a writer that stops early stops
the thread and closes what it was reading."""

from __future__ import annotations

import hashlib
import threading

import pytest

from casefiles.export.read_ahead import ReadAhead, ReadFailed


class Source:
    def __init__(self, chunks, fail_after=None):
        self.chunks, self.fail_after, self.closed = chunks, fail_after, False

    def __iter__(self):
        for number, chunk in enumerate(self.chunks):
            if number == self.fail_after:
                raise OSError("disk read error")
            yield chunk

    def close(self):
        self.closed = True


def test_files_come_out_in_order_with_their_digests():
    files = [[bytes([i]) * 1000 for _ in range(i + 1)] for i in range(60)]  # more than in flight
    sources = [Source(chunks) for chunks in files]
    with ReadAhead([lambda s=s: s for s in sources]) as reader:
        for chunks in files:
            got = b"".join(reader.chunks())
            assert got == b"".join(chunks)
            assert reader.size == len(got) and reader.sha256 == hashlib.sha256(got).hexdigest()
    assert all(s.closed for s in sources)


def test_a_read_error_is_raised_in_the_writer_naming_the_file():
    sources = [Source([b"a" * 10]), Source([b"b" * 10] * 5, fail_after=3)]
    with ReadAhead([lambda s=s: s for s in sources]) as reader:
        assert b"".join(reader.chunks()) == b"a" * 10
        with pytest.raises(ReadFailed) as failed:
            list(reader.chunks())
    assert failed.value.index == 1 and isinstance(failed.value.error, OSError)
    assert sources[1].closed


def test_a_writer_that_stops_early_stops_the_thread():
    endless = Source([b"x" * 65536] * 10_000)  # far more than fits in flight
    before = threading.active_count()
    with ReadAhead([lambda: endless, lambda: Source([b"never"])]) as reader:
        next(reader.chunks())
    assert endless.closed and threading.active_count() == before
