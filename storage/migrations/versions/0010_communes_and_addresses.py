"""communes, responsibilities per commune and task, addresses of parties and authorities

Revision ID: a0c4e7d21b10
Revises: 9c27d5e8a1f3
Create Date: 2026-12-02 01:00:00

Residents order services without picking an office (issue 9): the portal routes an order by the
commune of the resident's address. `communes` holds the political communes by their official BFS
number, `responsibilities` which authority does which task for a commune (a regional office is
responsible in several). `portal communes import FILE.csv` fills both.

Parties get an address with its commune (`bfs`); authorities get what a Swiss QR-bill names as
creditor (QR-IBAN and address). All new columns are nullable: existing parties have no address
until one is recorded, and a service routed by commune then tells the resident so.

Downgrading drops the communes, the responsibilities and the addresses.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0c4e7d21b10"
down_revision: str | None = "9c27d5e8a1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communes",
        sa.Column("bfs", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("canton", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("bfs", name=op.f("pk_communes")),
    )
    op.create_table(
        "responsibilities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("bfs", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
            name=op.f("fk_responsibilities_authority_id_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["bfs"], ["communes.bfs"], name=op.f("fk_responsibilities_bfs_communes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibilities")),
        sa.UniqueConstraint("bfs", "task", name=op.f("uq_responsibilities_bfs")),
    )
    op.create_index(
        op.f("ix_responsibilities_authority_id"),
        "responsibilities",
        ["authority_id"],
        unique=False,
    )
    with op.batch_alter_table("parties") as batch:
        batch.add_column(sa.Column("street", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("postcode", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("town", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("bfs", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_parties_bfs_communes"), "communes", ["bfs"], ["bfs"])
        batch.create_index(batch.f("ix_parties_bfs"), ["bfs"], unique=False)
    with op.batch_alter_table("authorities") as batch:
        batch.add_column(sa.Column("qr_iban", sa.String(length=34), nullable=True))
        batch.add_column(sa.Column("street", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("postcode", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("town", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("town")
        batch.drop_column("postcode")
        batch.drop_column("street")
        batch.drop_column("qr_iban")
    with op.batch_alter_table("parties") as batch:
        batch.drop_index(batch.f("ix_parties_bfs"))
        batch.drop_constraint(batch.f("fk_parties_bfs_communes"), type_="foreignkey")
        batch.drop_column("bfs")
        batch.drop_column("town")
        batch.drop_column("postcode")
        batch.drop_column("street")
    op.drop_index(op.f("ix_responsibilities_authority_id"), table_name="responsibilities")
    op.drop_table("responsibilities")
    op.drop_table("communes")
