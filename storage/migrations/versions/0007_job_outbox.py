"""jobs outbox: background jobs are rows written in the transaction of the work

Revision ID: 7e3b51c0d9a2
Revises: 6d2f8a41c3b9
Create Date: 2026-12-03 09:00:00

With Redis down, requests whose work was committed answered 500 and their jobs were lost until
`portal jobs recover` was run (issue 7). A job is now a row of `job_outbox`, committed with the
work; it is handed to rq after the commit, again by the relay when needed, and marked done by the
job itself.

Downgrading drops the table: jobs not yet done are then lost to the outbox, and `portal jobs
recover` finds the ones the database shows as due (notices, receipts, webhooks, warnings).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e3b51c0d9a2"
down_revision: str | None = "6d2f8a41c3b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("func", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
    )
    op.create_index("ix_job_outbox_due", "job_outbox", ["done_at", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_outbox_due", table_name="job_outbox")
    op.drop_table("job_outbox")
