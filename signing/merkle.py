"""Merkle trees as Certificate Transparency builds them (RFC 9162 §2.1): the root of a list of
leaves, an inclusion proof of one leaf, and the check of such a proof."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), the root of no leaves


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf): RFC 9162 §2.1.1."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): RFC 9162 §2.1.1."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The tree's levels, leaf hashes first, root last.

    The RFC splits n leaves at k, the largest power of two below n, recursively. Pairing
    neighbours level by level, with a last node that has no partner moved up unchanged, builds
    the same tree without recursion (the known-answer tests compare both).
    """
    level = [leaf_hash(leaf) for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        levels.append(level)
    return levels


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(leaves), the Merkle tree hash of RFC 9162 §2.1.1."""
    if not leaves:
        return EMPTY_ROOT
    return _levels(leaves)[-1][0]


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, leaves), RFC 9162 §2.1.3.1: the sibling hashes from the leaf up."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)} leaves")
    path = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):  # no sibling: the node moves up unchanged
            path.append(level[sibling])
        index >>= 1
    return path


def root_from_inclusion(
    index: int, tree_size: int, leaf_digest: bytes, path: Sequence[bytes]
) -> bytes | None:
    """The root that `path` leads to from the leaf hash, as RFC 9162 §2.1.3.2 verifies an
    inclusion proof; None if the path cannot belong to a leaf `index` of `tree_size` leaves."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, r = index, tree_size - 1, leaf_digest
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None
