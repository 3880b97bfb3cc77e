"""Known answers of the anchor format (docs/journal-format.md §8), as literal values: a refactor
that changes a leaf's bytes, a hash or the time-stamped statement fails here."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from casefiles.anchors import CASE_FILES, LEAF_SIZE, NO_HASH, Anchor, Leaf, split_leaves, statement
from signing import merkle

CASE_A = uuid.UUID("3f2b8c1e-7a4d-4e9b-8f61-2c5d9e0a7b13")
CASE_B = uuid.UUID("c0ffee00-1234-4abc-8def-0123456789ab")
CASE_C = uuid.UUID("8e5d2a10-6b3c-4f7e-9a21-d4c3b2a1f0e9")  # an empty journal
HEAD_A = "7e200ec8517011b7a3eaa7d67af7cd5ad1ecfa23dd07021814f0fdbe5cf8f331"
HEAD_B = "9bf4e3960398eecbb7e9d6b7ac1e83f5ebea22b63e91b0568ab9e98ffd5b3564"

LEAF_A = (
    "01" "3f2b8c1e7a4d4e9b8f612c5d9e0a7b13" "0000000000000002"
    "7e200ec8517011b7a3eaa7d67af7cd5ad1ecfa23dd07021814f0fdbe5cf8f331"
)  # fmt: skip
LEAF_B = (
    "01" "c0ffee0012344abc8def0123456789ab" "0000000000000001"
    "9bf4e3960398eecbb7e9d6b7ac1e83f5ebea22b63e91b0568ab9e98ffd5b3564"
)  # fmt: skip
LEAF_C = "01" "8e5d2a106b3c4f7e9a21d4c3b2a1f0e9" "0000000000000000" + "00" * 32  # fmt: skip
HASH_A = "855e42de3c1a700da415d99a116757b269e66a8918181c1b8b887b720d73fbc0"
HASH_B = "fed4e7469b584afbaa294a7c79919e0de04a2ff699efc96c1e197e82efe97fc1"
HASH_C = "85f1937f7c1fe95caa29d4108eb569a16757b46935ad391c1460f152381dc04f"
ROOT = "4a7332b66ac204cd44a3c976028644ddcafc13798815813d982f2947f0a2a252"
STATEMENT = (
    '{"anchor":"einwohnerportal-anchor/1",'
    '"changes":"36b3c3c175f772f79d8938857a204fbd52ec15b127cb29785f45dc888317f604",'
    '"prev_root":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"root":"4a7332b66ac204cd44a3c976028644ddcafc13798815813d982f2947f0a2a252",'
    '"seq":1,"tree_size":3}'
)
STATEMENT_SHA256 = "f452e17970e63ba654c034b9ecf869af755a81563b45159798e34c2a6c0bec32"


def _leaves():
    return [
        Leaf(CASE_FILES, CASE_A, 2, HEAD_A).encode(),
        Leaf(CASE_FILES, CASE_B, 1, HEAD_B).encode(),
        Leaf(CASE_FILES, CASE_C, 0, None).encode(),
    ]


def test_leaf_bytes_and_hashes():
    a, b, c = _leaves()
    assert LEAF_SIZE == 57
    assert (a.hex(), b.hex(), c.hex()) == (LEAF_A, LEAF_B, LEAF_C)
    assert merkle.leaf_hash(a).hex() == HASH_A == hashlib.sha256(b"\x00" + a).hexdigest()
    assert merkle.leaf_hash(b).hex() == HASH_B
    assert merkle.leaf_hash(c).hex() == HASH_C
    assert Leaf.decode(a) == Leaf(CASE_FILES, CASE_A, 2, HEAD_A)
    assert Leaf.decode(c).head_hash is None


def test_tree_of_sorted_leaves_and_the_inclusion_path():
    ordered = sorted(_leaves())  # by their bytes: kind, then subject id
    assert [leaf.hex() for leaf in ordered] == [LEAF_A, LEAF_C, LEAF_B]
    assert merkle.root(ordered).hex() == ROOT
    assert [node.hex() for node in merkle.inclusion_path(0, ordered)] == [HASH_C, HASH_B]
    assert [node.hex() for node in merkle.inclusion_path(2, ordered)] == [
        hashlib.sha256(bytes.fromhex("01" + HASH_A + HASH_C)).hexdigest()
    ]


def test_the_time_stamped_statement():
    ordered = sorted(_leaves())
    anchor = Anchor(
        seq=1,
        tree_size=3,
        root_hash=ROOT,
        prev_root_hash=NO_HASH.hex(),
        changed_leaves=b"".join(ordered),
    )
    assert statement(anchor).decode() == STATEMENT
    assert hashlib.sha256(statement(anchor)).hexdigest() == STATEMENT_SHA256


@pytest.mark.parametrize(
    ("blob", "problem"),
    [(bytes(56), "whole number"), (b"\x07" + bytes(56), "unknown leaf kind 0x07")],
)
def test_stored_leaves_that_are_not_leaves_are_refused(blob, problem):
    with pytest.raises(ValueError, match=problem):
        split_leaves(blob)
