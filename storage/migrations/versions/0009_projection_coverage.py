"""projection coverage: consent chains; what the journal lacked is "not covered" until completed

Revision ID: 9c27d5e8a1f3
Revises: 8a61f0c2b7d4
Create Date: 2026-12-03 15:00:00

From now on every value of a case file's rows that a resident, an authority or a court relies on
is in a signed journal entry, and `portal verify` derives it from the journal and compares
(mailbox/projection.py, issue 8). Consent to electronic delivery gets a signed chain of its own
per party: the table `consent_entries` and the chain's head on the party's row.

What this migration does NOT do: sign anything. Entries written before it lack some values
(when a delivery was accepted, its deemed-delivery period, whether replies are allowed, a digest
of the body, a reply's subject, when a reply was handled, the creation times, …), and consents
given before it have no chain. Signing needs the portal's seal key, which a migration does not
have (it may sit in a PKCS#11 token, or be refused beside the data). So `portal verify` reports
those values as "not covered (written before 0009)", a named state that is not ok (exit code 3),
until `portal journal complete` has written them as signed `record.completed` entries, and
consents as the first entry of each party's chain. That command records the rows as they are
when it runs: run it right after upgrading.

Downgrading drops the consent chains (their entries and heads): keep a copy of the table if
they are to serve as evidence later. Journal entries written since stay valid either way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c27d5e8a1f3"
down_revision: str | None = "8a61f0c2b7d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_consent_entries_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_entries")),
        sa.UniqueConstraint("party_id", "seq", name=op.f("uq_consent_entries_party_id")),
    )
    op.create_index(
        op.f("ix_consent_entries_party_id"), "consent_entries", ["party_id"], unique=False
    )
    with op.batch_alter_table("parties") as batch:
        batch.add_column(
            sa.Column("consent_head_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("consent_head_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("consent_head_hash")
        batch.drop_column("consent_head_seq")
    op.drop_index(op.f("ix_consent_entries_party_id"), table_name="consent_entries")
    op.drop_table("consent_entries")
