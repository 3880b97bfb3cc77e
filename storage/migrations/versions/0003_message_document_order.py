"""message documents keep their order

Revision ID: 3c1d7a52b8e4
Revises: e59c7610e311
Create Date: 2026-11-28 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1d7a52b8e4"
down_revision: str | None = "e59c7610e311"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing messages keep position 0 for all their documents: their order stays as it was.
    with op.batch_alter_table("message_documents") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("message_documents") as batch:
        batch.drop_column("position")
