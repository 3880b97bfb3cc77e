"""anchors: the heads of all case files, in a Merkle tree time-stamped by an RFC 3161 authority

Revision ID: 8a61f0c2b7d4
Revises: 7e3b51c0d9a2
Create Date: 2026-12-03 12:00:00

Someone who can write the database could delete the last entries of a journal and set the head
back, or delete a whole case file, and the journal alone would not show it (issue 8). An anchor
is a Merkle tree (RFC 9162 hashing) over every case file's head, chained to the previous anchor,
its root time-stamped by a time-stamping authority; `portal verify` checks the database against
every anchor (docs/journal-format.md §8).

A row keeps only the leaves that changed since the previous anchor (`changed_leaves`, the leaf
bytes one after the other), or now and then all of them (a checkpoint); the full set of an
anchor is the previous one's updated by them.

Downgrading drops the table and with it every anchor and time-stamp token: keep a copy of the
table if they are to serve as evidence later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a61f0c2b7d4"
down_revision: str | None = "7e3b51c0d9a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anchors",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_root_hash", sa.String(length=64), nullable=False),
        sa.Column("changed_leaves", sa.LargeBinary(), nullable=False),
        sa.Column("tsa_token", sa.LargeBinary(), nullable=False),
        sa.Column("tsa_source", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_anchors")),
    )


def downgrade() -> None:
    op.drop_table("anchors")
