"""`portal verify`'s check of the anchors: they chain and their time-stamps hold, and every
head they anchored is still in its journal, of a case file still there (or one the destruction
register records destroyed with that head or a later one)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field

from cryptography import x509
from sqlalchemy.orm import Session

from casefiles.anchors import (
    CASE_FILES,
    LEAF_KINDS,
    NO_HASH,
    Anchor,
    Leaf,
    LeafKind,
    all_anchors,
    split_leaves,
    statement,
)
from casefiles.journal import keyring_of
from casefiles.verify import Problem
from signing import Keyring, merkle
from signing.timestamp_checks import TokenCheck, check_tokens


@dataclass
class AnchorReport:
    anchors: int = 0
    latest: str = ""  # the latest anchor, as the operator reads it
    problems: list[Problem] = field(default_factory=list)  # the anchors', and subjects gone
    case_problems: dict[uuid.UUID, list[Problem]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.case_problems


@dataclass
class _Anchored:
    """One head as an anchor recorded it."""

    anchor: int
    leaf: Leaf


def trust_roots(keyring: Keyring) -> list[x509.Certificate]:
    """Whose time-stamps count: the portal's CA (its own TSA) and the configured TSA's roots."""
    roots = [keyring.ca_certificate]
    if keyring.tsa is not None:
        roots += [root for root in keyring.tsa.trust_roots if root not in roots]
    return roots


def check_anchors(session: Session, case_ids: Collection[uuid.UUID] | None = None) -> AnchorReport:
    """Check the anchors, and the heads they hold (of the given case files, or of all)."""
    report = AnchorReport()
    anchors = all_anchors(session)
    report.anchors = len(anchors)
    if not anchors:
        return report
    latest_heads = _check_chain(anchors, report)
    checks = check_tokens(
        [(a.tsa_token, hashlib.sha256(statement(a)).digest()) for a in anchors],
        trust_roots(keyring_of(session)),
    )
    for anchor, check in zip(anchors, checks, strict=True):
        if not check.ok:
            report.problems.append(Problem(f"anchor {anchor.seq}", _token_problem(check)))
    latest, check = anchors[-1], checks[-1]
    when = check.gen_time.isoformat() if check.gen_time else "no readable time"
    report.latest = f"latest {latest.seq} time-stamped {when} by {check.tsa or latest.tsa_source}"
    for kind in LEAF_KINDS:
        wanted = {
            subject: head
            for (code, subject), head in latest_heads.items()
            if code == kind.code and (kind is not CASE_FILES or not case_ids or subject in case_ids)
        }
        _check_heads(session, kind, wanted, report)
    return report


def _check_chain(
    anchors: list[Anchor], report: AnchorReport
) -> dict[tuple[int, uuid.UUID], _Anchored]:
    """Sequence, previous roots, sizes, and the latest root; the latest head of each subject,
    with the first anchor that holds it."""
    leaves: dict[bytes, bytes] = {}
    latest: dict[tuple[int, uuid.UUID], _Anchored] = {}
    previous: Anchor | None = None
    for anchor in anchors:
        item = f"anchor {anchor.seq}"
        expected = previous.seq + 1 if previous else 1
        if anchor.seq != expected:
            gone = f"{expected}" if anchor.seq == expected + 1 else f"{expected}–{anchor.seq - 1}"
            report.problems.append(Problem(item, f"anchor(s) {gone} before it are missing"))
        prev_root = previous.root_hash if previous else NO_HASH.hex()
        if anchor.prev_root_hash != prev_root:
            follows = f"anchor {previous.seq}'s root" if previous else "the genesis value"
            report.problems.append(
                Problem(
                    item,
                    f"does not follow the previous anchor: it names {anchor.prev_root_hash} as "
                    f"the previous root, {follows} is {prev_root}",
                )
            )
        try:
            changed = split_leaves(anchor.changed_leaves)
        except ValueError as error:
            report.problems.append(Problem(item, f"its leaves are not readable: {error}"))
            changed = []
        for data in changed:
            if leaves.get(data[:17]) != data:  # a checkpoint repeats the heads that stayed
                leaf = Leaf.decode(data)
                latest[leaf.kind.code, leaf.subject] = _Anchored(anchor.seq, leaf)
            leaves[data[:17]] = data
        if anchor.tree_size != len(leaves):
            report.problems.append(
                Problem(item, f"says {anchor.tree_size} leaves, its leaves are {len(leaves)}")
            )
        previous = anchor
    # Only the latest tree is built again (a few ms per 10,000 leaves): the time-stamp of
    # every anchor covers its root and the digest of its leaves, so older roots cannot be
    # changed without breaking their tokens, and the latest root checks the leaves' sum.
    assert previous is not None
    computed = merkle.root(sorted(leaves.values())).hex()
    if computed != previous.root_hash:
        report.problems.append(
            Problem(
                f"anchor {previous.seq}",
                f"its root {previous.root_hash} is not the Merkle root of its "
                f"{len(leaves)} leaves ({computed})",
            )
        )
    return latest


def _token_problem(check: TokenCheck) -> str:
    if check.problem and check.problem.startswith("the token covers"):
        return (
            "its time-stamp covers other data: its root, size, previous root or leaves were "
            f"changed after it was time-stamped ({check.problem})"
        )
    return f"time-stamp: {check.problem}"


def _check_heads(
    session: Session, kind: LeafKind, anchored: dict[uuid.UUID, _Anchored], report: AnchorReport
) -> None:
    """Every subject anchored is still there, and its latest anchored head is still its entry.

    Where the head on the row is the anchored head, nothing is looked up: the chain's own
    check (casefiles/verify.py for journals) holds the row's head to the chain's last entry.
    Older anchored heads are not looked up either: the latest is only anchored over them as
    their descendant (`anchor_heads` refuses otherwise), and the signed hash chain from it
    fixes every entry before it.
    """
    present = kind.heads(session)
    # Gone on purpose (a destroyed case file) with this head or a later one: not a fault.
    left = kind.left_at_or_after(session, [h.leaf for s, h in anchored.items() if s not in present])
    moved: list[_Anchored] = []
    for subject, head in anchored.items():
        leaf = head.leaf
        if subject in left:
            continue
        if subject not in present:
            report.problems.append(
                Problem(
                    leaf.label,
                    f"is missing from the database (deleted): anchor {head.anchor} holds it "
                    f"with {leaf.head_seq} journal entries, head {leaf.head_hash}",
                )
            )
        elif present[subject] != (leaf.head_seq, leaf.head_hash) and leaf.head_seq > 0:
            moved.append(head)
    found = kind.hashes_at(session, [(h.leaf.subject, h.leaf.head_seq) for h in moved])
    for head in moved:
        leaf = head.leaf
        now = found.get((leaf.subject, leaf.head_seq))
        if now == leaf.head_hash:
            continue
        if now is None:
            what = f"the journal has no entry {leaf.head_seq} now: entries were removed"
            if present[leaf.subject][0] < leaf.head_seq:
                what += " and the head set back"
        else:
            what = f"entry {leaf.head_seq} is now {now}: the journal was rewritten from there"
        message = (
            f"anchor {head.anchor} holds journal entry {leaf.head_seq} with hash "
            f"{leaf.head_hash}; {what}"
        )
        if kind is CASE_FILES:
            problem = Problem(f"anchored head (anchor {head.anchor})", message)
            report.case_problems.setdefault(leaf.subject, []).append(problem)
        else:
            report.problems.append(Problem(leaf.label, message))
