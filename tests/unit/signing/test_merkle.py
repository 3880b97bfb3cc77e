"""Merkle trees as RFC 9162 §2.1 defines them: known answers of Certificate Transparency, the
RFC's recursive definitions written out again, and inclusion proofs that fail when altered."""

from __future__ import annotations

import hashlib

import pytest

from signing.merkle import EMPTY_ROOT, inclusion_path, leaf_hash, root, root_from_inclusion

# The leaves and roots of Certificate Transparency's own tests (google/certificate-transparency,
# merkle_tree_test.cc): the root of the first n leaves, n = 1..8.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(d: list[bytes]) -> bytes:
    """MTH as RFC 9162 §2.1.1 writes it: split at k, the largest power of two below n."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return _h(b"\x01" + _mth(d[:k]) + _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as RFC 9162 §2.1.3.1 writes it."""
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return _path(m, d[:k]) + [_mth(d[k:])]
    return _path(m - k, d[k:]) + [_mth(d[:k])]


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_are_those_of_certificate_transparency(n):
    assert root(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


def test_no_leaves_is_the_hash_of_nothing():
    assert root([]) == EMPTY_ROOT == _h(b"")


def test_root_and_paths_agree_with_the_rfc_definitions():
    for n in range(1, 40):
        leaves = [f"leaf {i}".encode() for i in range(n)]
        assert root(leaves) == _mth(leaves)
        for m in range(n):
            path = inclusion_path(m, leaves)
            assert path == _path(m, leaves)
            assert root_from_inclusion(m, n, leaf_hash(leaves[m]), path) == root(leaves)


def test_an_inclusion_proof_fails_when_anything_is_changed():
    leaves = [f"leaf {i}".encode() for i in range(11)]
    good = root(leaves)
    path = inclusion_path(6, leaves)
    digest = leaf_hash(leaves[6])
    assert root_from_inclusion(6, 11, digest, path) == good
    assert root_from_inclusion(5, 11, digest, path) != good  # another position
    assert root_from_inclusion(6, 11, leaf_hash(b"other"), path) != good  # another leaf
    assert root_from_inclusion(6, 11, digest, path[:-1]) != good  # a node left out
    assert root_from_inclusion(6, 11, digest, [*path, path[0]]) is None  # one too many
    assert root_from_inclusion(6, 8, digest, path) is None  # a size of another shape
    assert root_from_inclusion(11, 11, digest, path) is None  # not a leaf of the tree
