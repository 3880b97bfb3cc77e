"""archival lifecycle: closing and retention, appraisals, a key per case file, the destruction
register, export jobs

Revision ID: d3f7b0a54e43
Revises: c2e6a9f43d32
Create Date: 2026-12-02 04:00:00

Issue 10. Case files get `closed_at`, `retention_until` and `disposition` (written with signed
journal entries); archivists' appraisals, the destruction register (a signed chain of its own)
and export jobs get tables. Objects get a key group (`blobs.group_id`): the KEK wraps the group's
key (`group_keys`), the group's key wraps the objects' data keys, so destroying the group's key
destroys the objects for good. Existing objects keep their KEK-wrapped data keys until
`portal storage rewrap` (run by `portal db upgrade`) rewraps them; no object is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d3f7b0a54e43"
down_revision: str | None = "c2e6a9f43d32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table("case_files") as batch_op:
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retention_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("disposition", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_case_files_retention_until", ["retention_until"])
    with op.batch_alter_table("blobs") as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_blobs_group_id", ["group_id"])
    op.create_table(
        "group_keys",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    op.create_table(
        "appraisals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("disposition", _enum("disposition", "archive", "destroy"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status", _enum("appraisalstatus", "proposed", "approved", "rejected"), nullable=False
        ),
        sa.Column("proposed_by", sa.Uuid(), nullable=False),
        sa.Column("proposed_by_label", sa.String(length=300), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_by_label", sa.String(length=300), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_files.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appraisals_case_id", "appraisals", ["case_id"])
    op.create_table(
        "destruction_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("register", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_label", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("register", "seq"),
    )
    op.create_index("ix_destruction_records_case_id", "destruction_records", ["case_id"])
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column(
            "status", _enum("exportstatus", "queued", "running", "done", "failed"), nullable=False
        ),
        sa.Column("done_items", sa.Integer(), nullable=False),
        sa.Column("total_items", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_by_label", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_files.id"]),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exports_case_id", "exports", ["case_id"])


def downgrade() -> None:
    # Objects whose data keys a case file's key wraps would be lost with `group_keys`.
    grouped = op.get_bind().execute(
        sa.text("SELECT count(*) FROM blobs WHERE group_id IS NOT NULL")
    )
    if grouped.scalar():
        raise RuntimeError(
            "objects are wrapped by case file keys: run `portal storage unwrap` before downgrading"
        )
    op.drop_table("exports")
    op.drop_table("destruction_records")
    op.drop_table("appraisals")
    op.drop_table("group_keys")
    with op.batch_alter_table("blobs") as batch_op:
        batch_op.drop_index("ix_blobs_group_id")
        batch_op.drop_column("group_id")
    with op.batch_alter_table("case_files") as batch_op:
        batch_op.drop_index("ix_case_files_retention_until")
        batch_op.drop_column("disposition")
        batch_op.drop_column("retention_until")
        batch_op.drop_column("closed_at")
