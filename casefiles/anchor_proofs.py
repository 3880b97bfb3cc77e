"""Inclusion proofs: that an anchor holds a case file's head, checkable without the portal
(docs/journal-format.md §8)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from casefiles.anchors import (
    CASE_FILES,
    FORMAT,
    Leaf,
    LeafKind,
    anchors_since_checkpoint,
    leaves_after,
    statement,
)
from casefiles.errors import NotFound
from signing import merkle


def inclusion_proof(
    session: Session, subject: uuid.UUID, anchor_seq: int | None = None, kind: LeafKind = CASE_FILES
) -> dict[str, Any]:
    """The proof that anchor `anchor_seq` (default: the latest) holds the subject's head."""
    key = bytes([kind.code]) + subject.bytes
    anchors = anchors_since_checkpoint(session, anchor_seq)
    leaves = leaves_after(anchors)
    if not anchors or anchors[-1].seq != (anchor_seq or anchors[-1].seq) or key not in leaves:
        which = f"anchor {anchor_seq}" if anchor_seq else "the latest anchor"
        raise NotFound(f"{which} holds no {kind.name} {subject}")
    anchor, ordered = anchors[-1], sorted(leaves.values())
    index = next(i for i, leaf in enumerate(ordered) if leaf[:17] == key)
    leaf = Leaf.decode(ordered[index])
    return {
        "format": FORMAT,
        "kind": kind.name,
        "subject": str(subject),
        "head_seq": leaf.head_seq,
        "head_hash": leaf.head_hash,
        "leaf": ordered[index].hex(),
        "leaf_index": index,
        "inclusion_path": [node.hex() for node in merkle.inclusion_path(index, ordered)],
        "anchor_seq": anchor.seq,
        "statement": statement(anchor).decode(),
        "timestamp": _read_token(anchor.tsa_token).gen_time.isoformat(),
        "tsa_source": anchor.tsa_source,
        "token": base64.b64encode(anchor.tsa_token).decode(),
    }


def check_inclusion_proof(
    proof: dict[str, Any], trust_roots: Sequence[x509.Certificate]
) -> list[str]:
    """What is wrong with a proof (nothing: an empty list): the leaf is the subject's head, the
    path leads to the statement's root, and a trusted time-stamp covers the statement."""
    problems = []
    leaf = bytes.fromhex(proof["leaf"])
    decoded = Leaf.decode(leaf)
    if (str(decoded.subject), decoded.head_seq, decoded.head_hash) != (
        proof["subject"],
        proof["head_seq"],
        proof["head_hash"],
    ):
        problems.append("the leaf is not the head the proof names")
    signed = proof["statement"].encode()
    head = json.loads(signed)
    path = [bytes.fromhex(node) for node in proof["inclusion_path"]]
    reached = merkle.root_from_inclusion(
        proof["leaf_index"], head["tree_size"], merkle.leaf_hash(leaf), path
    )
    if reached is None or reached.hex() != head["root"]:
        problems.append("the inclusion path does not lead to the anchor's root")
    token = base64.b64decode(proof["token"])
    from signing.timestamp_checks import check_tokens  # pyHanko: only when checking

    [check] = check_tokens([(token, hashlib.sha256(signed).digest())], trust_roots)
    if not check.ok:
        problems.append(f"time-stamp: {check.problem}")
    return problems


def _read_token(token: bytes) -> Any:
    # pyHanko loads here, not with the module: `portal export` asks for a proof of every case
    # file and most have none yet.
    from signing.timestamp_checks import read_token

    return read_token(token)
