"""Anchors: the heads of all case files in a Merkle tree (RFC 9162 hashing), chained to the
previous anchor and time-stamped by an RFC 3161 authority (docs/journal-format.md §8).

Someone who can rewrite the database can cut the end off a journal and set the head back, or
delete a case file; the journal alone cannot show it. An anchor made before can: `portal
verify` (casefiles/anchor_check.py) finds every anchored head still in its journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import struct
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import Integer, LargeBinary, String, func, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from casefiles.destruction import destroyed_heads, register_hashes_at, register_heads
from casefiles.models import CaseFile, JournalEntry
from directory.consent_chain import consent_hashes_at, consent_heads
from signing import merkle
from signing.canonical import canonical_json
from signing.timestamps import TimeStampingAuthority
from storage.db import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

FORMAT = "einwohnerportal-anchor/1"
NO_HASH = bytes(32)  # an empty journal's head, and the first anchor's previous root
_LEAF = struct.Struct(">B16sQ32s")  # kind, subject id, head seq, head hash: 57 bytes
LEAF_SIZE = _LEAF.size
_BATCH = 500  # (subject, seq) pairs per query


class Anchor(Base):
    """One anchor. The leaves that differ from the previous anchor's are kept, one after the
    other; the full set of anchor n is anchor n − 1's with these put in. Now and then an
    anchor keeps all its leaves (a checkpoint), so that finding them needs no long replay."""

    __tablename__ = "anchors"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    tree_size: Mapped[int]
    root_hash: Mapped[str] = mapped_column(String(64))
    prev_root_hash: Mapped[str] = mapped_column(String(64))
    changed_leaves: Mapped[bytes] = mapped_column(LargeBinary)
    tsa_token: Mapped[bytes] = mapped_column(LargeBinary)  # RFC 3161 TimeStampToken, DER
    tsa_source: Mapped[str] = mapped_column(String(300))  # "embedded" or the TSA's URL


@dataclass(frozen=True)
class LeafKind:
    """A kind of chain whose heads an anchor holds: its leaves start with `code`.

    `heads` gives every current head by subject id, (seq, hash or None when empty);
    `hashes_at` the entry hash at each (subject, seq) asked for that exists; `gone`, for a kind
    whose subjects may leave on purpose (a destroyed case file), the head each of the given
    subjects had when it left, for those that did.
    """

    code: int
    name: str
    heads: Callable[[Session], dict[uuid.UUID, tuple[int, str | None]]]
    hashes_at: Callable[[Session, list[tuple[uuid.UUID, int]]], dict[tuple[uuid.UUID, int], str]]
    gone: (
        Callable[[Session, Collection[uuid.UUID]], dict[uuid.UUID, tuple[int, str | None]]] | None
    ) = None

    def left_at_or_after(self, session: Session, leaves: list[Leaf]) -> set[uuid.UUID]:
        """The subjects of these anchored leaves that left on purpose with the anchored head or
        a later one (a destruction recorded with the journal's head then)."""
        if self.gone is None or not leaves:
            return set()
        heads = self.gone(session, [leaf.subject for leaf in leaves])
        fine = set()
        for leaf in leaves:
            seq, head = heads.get(leaf.subject, (-1, None))
            if seq > leaf.head_seq or (seq == leaf.head_seq and head == leaf.head_hash):
                fine.add(leaf.subject)
        return fine


def _case_heads(session: Session) -> dict[uuid.UUID, tuple[int, str | None]]:
    rows = session.execute(select(CaseFile.id, CaseFile.head_seq, CaseFile.head_hash))
    return {case_id: (seq, head) for case_id, seq, head in rows}


def _journal_hashes_at(
    session: Session, wanted: list[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], str]:
    found: dict[tuple[uuid.UUID, int], str] = {}
    for start in range(0, len(wanted), _BATCH):
        pairs = wanted[start : start + _BATCH]
        rows = session.execute(
            select(JournalEntry.case_id, JournalEntry.seq, JournalEntry.entry_hash).where(
                tuple_(JournalEntry.case_id, JournalEntry.seq).in_(pairs)
            )
        )
        found.update({(case_id, seq): entry_hash for case_id, seq, entry_hash in rows})
    return found


# A destroyed case file leaves on purpose: the destruction register holds its last head.
CASE_FILES = LeafKind(0x01, "case file", _case_heads, _journal_hashes_at, destroyed_heads)
# Consent to electronic delivery is a signed chain per party (directory.consent_chain); the
# legality of every delivery rests on it, so its heads are anchored like the journals'.
CONSENT_CHAINS = LeafKind(0x02, "consent chain", consent_heads, consent_hashes_at)
# The destruction register (casefiles/destruction.py): one subject, the register's fixed id.
DESTRUCTION_REGISTER = LeafKind(0x03, "destruction register", register_heads, register_hashes_at)
# The kinds an anchor covers, in the order of their codes; anchoring, proofs and
# `portal verify` take every kind listed here alike.
LEAF_KINDS: tuple[LeafKind, ...] = (CASE_FILES, CONSENT_CHAINS, DESTRUCTION_REGISTER)
_KINDS = {kind.code: kind for kind in LEAF_KINDS}


@dataclass(frozen=True)
class Leaf:
    kind: LeafKind
    subject: uuid.UUID
    head_seq: int
    head_hash: str | None

    def encode(self) -> bytes:
        digest = bytes.fromhex(self.head_hash) if self.head_hash else NO_HASH
        return _LEAF.pack(self.kind.code, self.subject.bytes, self.head_seq, digest)

    @classmethod
    def decode(cls, data: bytes) -> Leaf:
        code, subject, seq, digest = _LEAF.unpack(data)
        if code not in _KINDS:
            raise ValueError(f"unknown leaf kind {code:#04x}")
        head = None if digest == NO_HASH else digest.hex()
        return cls(_KINDS[code], uuid.UUID(bytes=subject), seq, head)

    @property
    def label(self) -> str:
        return f"{self.kind.name} {self.subject}"


def split_leaves(blob: bytes) -> list[bytes]:
    """The leaves one after the other in `blob`; ValueError if it is not made of leaves."""
    if len(blob) % LEAF_SIZE:
        raise ValueError(f"{len(blob)} bytes are not a whole number of {LEAF_SIZE}-byte leaves")
    leaves = [blob[i : i + LEAF_SIZE] for i in range(0, len(blob), LEAF_SIZE)]
    for leaf in leaves:
        if leaf[0] not in _KINDS:
            raise ValueError(f"unknown leaf kind {leaf[0]:#04x}")
    return leaves


def statement(anchor: Anchor) -> bytes:
    """What the time-stamp covers (its SHA-256): the tree head, the previous anchor's root and
    the digest of the leaves that changed, as canonical JSON (docs/journal-format.md §8)."""
    return canonical_json(
        {
            "anchor": FORMAT,
            "seq": anchor.seq,
            "tree_size": anchor.tree_size,
            "root": anchor.root_hash,
            "prev_root": anchor.prev_root_hash,
            "changes": hashlib.sha256(anchor.changed_leaves).hexdigest(),
        }
    )


def leaves_after(anchors: Iterable[Anchor]) -> dict[bytes, bytes]:
    """The leaves of the last of `anchors`, keyed by kind and subject (their first 17 bytes):
    the first anchor's (a checkpoint's: all of them) updated by those of each one after it."""
    leaves: dict[bytes, bytes] = {}
    for anchor in anchors:
        for leaf in split_leaves(anchor.changed_leaves):
            leaves[leaf[:17]] = leaf
    return leaves


def all_anchors(session: Session) -> list[Anchor]:
    return list(session.scalars(select(Anchor).order_by(Anchor.seq)))


def anchors_since_checkpoint(session: Session, upto: int | None = None) -> list[Anchor]:
    """The anchors from the last checkpoint up to `upto` (default: the latest): all that
    `leaves_after` needs for the leaves of the last of them. A checkpoint is an anchor that keeps
    all its leaves (anchor 1 always does; see `anchor_heads`)."""
    checkpoint = select(func.max(Anchor.seq)).where(
        func.length(Anchor.changed_leaves) == Anchor.tree_size * LEAF_SIZE
    )
    wanted = select(Anchor).order_by(Anchor.seq)
    if upto is not None:
        checkpoint = checkpoint.where(Anchor.seq <= upto)
        wanted = wanted.where(Anchor.seq <= upto)
    start = session.scalar(checkpoint) or 1
    return list(session.scalars(wanted.where(Anchor.seq >= start)))


class AnchorRefused(Exception):
    """The heads now are not what the last anchor allows: a chain lost its end or a subject
    is gone. Anchoring over that would hide it; `portal verify` names what happened."""


def anchor_heads(session: Session, tsa: TimeStampingAuthority) -> Anchor | None:
    """Anchor every head that changed since the last anchor; None if none did."""
    since_checkpoint = anchors_since_checkpoint(session)
    previous = since_checkpoint[-1] if since_checkpoint else None
    anchored = leaves_after(since_checkpoint)
    current: dict[bytes, bytes] = {}
    for kind in LEAF_KINDS:
        for subject, (seq, head) in kind.heads(session).items():
            leaf = Leaf(kind, subject, seq, head).encode()
            current[leaf[:17]] = leaf
    _refuse_rollbacks(session, anchored, current)
    changed = sorted(leaf for key, leaf in current.items() if anchored.get(key) != leaf)
    if not changed:
        return None
    anchored.update(current)
    leaves = sorted(anchored.values())
    # Each anchor keeps only its changed leaves, so the leaves of the latest are found by
    # replaying the anchors since the last checkpoint. Once those would hold more leaves than
    # the tree, this one keeps all of them: storage stays within twice the changes, and a
    # replay within twice the tree.
    stored = sum(len(a.changed_leaves) for a in since_checkpoint[1:]) // LEAF_SIZE
    if stored + len(changed) >= len(leaves):
        changed = leaves
    anchor = Anchor(
        seq=(previous.seq + 1) if previous else 1,
        created_at=utcnow(),
        tree_size=len(leaves),
        root_hash=merkle.root(leaves).hex(),
        prev_root_hash=previous.root_hash if previous else NO_HASH.hex(),
        changed_leaves=b"".join(changed),
    )
    anchor.tsa_token = tsa.token(hashlib.sha256(statement(anchor)).digest())
    anchor.tsa_source = tsa.source
    session.add(anchor)
    session.flush()
    log.info(
        "anchor %d: %d heads, %d changed, root %s",
        anchor.seq,
        len(leaves),
        len(changed),
        anchor.root_hash,
    )
    return anchor


def _refuse_rollbacks(
    session: Session, anchored: dict[bytes, bytes], current: dict[bytes, bytes]
) -> None:
    problems = []
    recheck: dict[LeafKind, list[Leaf]] = {}
    missing: dict[LeafKind, list[Leaf]] = {}
    for key, data in anchored.items():
        was = Leaf.decode(data)
        if key not in current:
            missing.setdefault(was.kind, []).append(was)
        elif current[key] != data and was.head_seq > 0:
            recheck.setdefault(was.kind, []).append(was)
    for kind, leaves in missing.items():
        fine = kind.left_at_or_after(session, leaves)
        problems += [f"{leaf.label} is gone" for leaf in leaves if leaf.subject not in fine]
    for kind, leaves in recheck.items():
        found = kind.hashes_at(session, [(leaf.subject, leaf.head_seq) for leaf in leaves])
        for leaf in leaves:
            now = found.get((leaf.subject, leaf.head_seq))
            if now != leaf.head_hash:
                state = "is missing" if now is None else f"is {now[:12]}…"
                problems.append(
                    f"{leaf.label}: anchored entry {leaf.head_seq} ({leaf.head_hash}) {state}"
                )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AnchorRefused(
            "not anchoring over what the last anchor contradicts: "
            + "; ".join(problems[:5])
            + more
            + ". Run `portal verify`."
        )
