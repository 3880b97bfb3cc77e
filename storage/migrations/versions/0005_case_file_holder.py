"""a case file belongs to one resident or organisation (its holder)

Revision ID: 5b0c9e1f2a77
Revises: 7a4e2c90d1f3
Create Date: 2026-12-01 21:40:00

Residents who shared a case file saw each other's letters (issue 6). From now on a case file has
one holder: the party it is about, and the only party who sees it. An authority's own file number
(`external_ref`) may span several holders, so it is unique per authority *and* holder.

Existing case files get as holder the first party of their `case.opened` journal entry (the
recipient they were opened for). A case file of the old kind with further parties keeps them:
those parties no longer see the dossier, but they still read what was delivered to them.
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0c9e1f2a77"
down_revision: str | None = "7a4e2c90d1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_files") as batch:
        batch.add_column(sa.Column("party_id", sa.Uuid(), nullable=True))
    _backfill_holders()
    with op.batch_alter_table("case_files") as batch:
        batch.alter_column("party_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key(
            batch.f("fk_case_files_party_id_parties"), "parties", ["party_id"], ["id"]
        )
        batch.create_index(batch.f("ix_case_files_party_id"), ["party_id"], unique=False)
        batch.drop_constraint(batch.f("uq_case_files_authority_id"), type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_case_files_authority_id"), ["authority_id", "external_ref", "party_id"]
        )


def _backfill_holders() -> None:
    bind = op.get_bind()
    opened = bind.execute(
        sa.text("SELECT case_id, payload FROM journal_entries WHERE action = 'case.opened'")
    )
    for case_id, payload in opened:
        if isinstance(payload, str):  # SQLite hands JSON back as text
            payload = json.loads(payload)
        parties = payload.get("parties") or []
        if parties:
            bind.execute(
                sa.text("UPDATE case_files SET party_id = :party WHERE id = :case"),
                {"party": _uuid(parties[0]["id"], bind), "case": case_id},
            )
    # A case file whose opening names no party (none are made so) falls back to any party.
    bind.execute(
        sa.text(
            "UPDATE case_files SET party_id = (SELECT cp.party_id FROM case_parties cp "
            "WHERE cp.case_id = case_files.id ORDER BY cp.party_id LIMIT 1) "
            "WHERE party_id IS NULL"
        )
    )


def _uuid(value: str, bind: sa.Connection) -> object:
    # SQLAlchemy's Uuid stores hex without dashes on SQLite and a native uuid on PostgreSQL.
    parsed = uuid.UUID(value)
    return parsed.hex if bind.dialect.name == "sqlite" else parsed


def downgrade() -> None:
    with op.batch_alter_table("case_files") as batch:
        batch.drop_constraint(batch.f("uq_case_files_authority_id"), type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_case_files_authority_id"), ["authority_id", "external_ref"]
        )
        batch.drop_index(batch.f("ix_case_files_party_id"))
        batch.drop_constraint(batch.f("fk_case_files_party_id_parties"), type_="foreignkey")
        batch.drop_column("party_id")
