"""fees: the fees billed to residents with a Swiss QR-bill, and whether they are paid

Revision ID: c2e6a9f43d32
Revises: b1d5f8e32c21
Create Date: 2026-12-02 01:40:00

A service may declare a fee (issue 9): due `before` (the steps open once it is paid) or
`with_decision` (the QR-bill comes with the decision). Each billed fee is a row here, written
with its signed journal entries `fee.billed` and `fee.paid`. Downgrading drops the rows; the
journal entries and the bills (PDF documents of the case files) stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c2e6a9f43d32"
down_revision: str | None = "b1d5f8e32c21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=True),
        sa.Column("amount_rappen", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("account", sa.String(length=34), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("billed", "paid", name="feestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("billed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authorities.id"], name=op.f("fk_fees_authority_id_authorities")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_fees_case_id_case_files")
        ),
        sa.ForeignKeyConstraint(
            ["paid_by"], ["accounts.id"], name=op.f("fk_fees_paid_by_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fees")),
        sa.UniqueConstraint("reference", name=op.f("uq_fees_reference")),
    )
    op.create_index(op.f("ix_fees_case_id"), "fees", ["case_id"], unique=False)
    op.create_index(op.f("ix_fees_authority_id"), "fees", ["authority_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_fees_authority_id"), table_name="fees")
    op.drop_index(op.f("ix_fees_case_id"), table_name="fees")
    op.drop_table("fees")
