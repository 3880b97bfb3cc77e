"""orders and steps: case types on case files, the declarations ordered under, the steps, and
the authorities taking part in a case file

Revision ID: b1d5f8e32c21
Revises: a0c4e7d21b10
Create Date: 2026-12-02 01:30:00

Residents order services from the catalogue (issue 9). An order opens a case file that records
its case type (`case_type`, `case_type_version`; NULL for the case files authorities opened by
delivering); `service_versions` keeps each declaration as it was ordered, so a case file stays
readable after its YAML file changes. `steps` holds the steps of an ordered case file at the
authorities responsible for them, `case_authorities` every authority taking part (the lead and
one per step), which may then see the case file.

Existing case files keep their one authority (`case_files.authority_id`) and get no rows here.
Downgrading drops the steps, the declarations and who takes part: case files ordered meanwhile
then remain readable as plain case files of their lead authority, their journal unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1d5f8e32c21"
down_revision: str | None = "a0c4e7d21b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = (
    "waiting",
    "open",
    "claimed",
    "needs_information",
    "done",
    "decided",
    "forwarded",
    "rejected",
    "skipped",
)


def upgrade() -> None:
    with op.batch_alter_table("case_files") as batch:
        batch.add_column(sa.Column("case_type", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("case_type_version", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_case_files_case_type"), ["case_type"], unique=False)
    op.create_table(
        "case_authorities",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
            name=op.f("fk_case_authorities_authority_id_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_case_authorities_case_id_case_files")
        ),
        sa.PrimaryKeyConstraint("case_id", "authority_id", name=op.f("pk_case_authorities")),
    )
    op.create_index(
        op.f("ix_case_authorities_authority_id"),
        "case_authorities",
        ["authority_id"],
        unique=False,
    )
    op.create_table(
        "service_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("declaration", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_versions")),
        sa.UniqueConstraint(
            "service_id", "version", "digest", name=op.f("uq_service_versions_service_id")
        ),
    )
    op.create_index(
        op.f("ix_service_versions_service_id"), "service_versions", ["service_id"], unique=False
    )
    op.create_table(
        "steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(*_STATUSES, name="stepstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authorities.id"], name=op.f("fk_steps_authority_id_authorities")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_steps_case_id_case_files")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["accounts.id"], name=op.f("fk_steps_claimed_by_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steps")),
        sa.UniqueConstraint("case_id", "step_id", name=op.f("uq_steps_case_id")),
    )
    op.create_index(op.f("ix_steps_case_id"), "steps", ["case_id"], unique=False)
    op.create_index(op.f("ix_steps_status"), "steps", ["status"], unique=False)
    op.create_index("ix_steps_queue", "steps", ["authority_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_steps_queue", table_name="steps")
    op.drop_index(op.f("ix_steps_status"), table_name="steps")
    op.drop_index(op.f("ix_steps_case_id"), table_name="steps")
    op.drop_table("steps")
    op.drop_index(op.f("ix_service_versions_service_id"), table_name="service_versions")
    op.drop_table("service_versions")
    op.drop_index(op.f("ix_case_authorities_authority_id"), table_name="case_authorities")
    op.drop_table("case_authorities")
    with op.batch_alter_table("case_files") as batch:
        batch.drop_index(batch.f("ix_case_files_case_type"))
        batch.drop_column("case_type_version")
        batch.drop_column("case_type")
