"""delivery law, api, webhooks

Revision ID: e59c7610e311
Revises: 9f3f20b0a77e
Create Date: 2026-11-28 07:41:27.903421
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e59c7610e311"
down_revision: str | None = "9f3f20b0a77e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
            name=op.f("fk_api_clients_authority_id_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_clients_authority_id"), ["authority_id"], unique=False
        )

    op.create_table(
        "delivery_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("given_by", sa.String(length=300), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_delivery_consents_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_consents")),
    )
    with op.batch_alter_table("delivery_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_consents_party_id"), ["party_id"], unique=False
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_api_keys_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_keys_prefix"), ["prefix"], unique=False)

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_idempotency_records_client_id_api_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("client_id", "key", name=op.f("uq_idempotency_records_client_id")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_webhook_events_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_events_pending", ["delivered_at", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deemed_delivery_days", sa.Integer(), server_default="7", nullable=False)
        )
        batch_op.add_column(sa.Column("seal_ref", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("seal_certificate", sa.LargeBinary(), nullable=True))

    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_case_files_authority_id"), ["authority_id", "external_ref"]
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deemed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deemed_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("deemed_after_days", sa.Integer(), server_default="7", nullable=False)
        )
        batch_op.add_column(sa.Column("appeal_period_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("reply_allowed", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("api_client_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("notice_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_api_client_id_api_clients"),
            "api_clients",
            ["api_client_id"],
            ["id"],
        )
        batch_op.create_index("ix_deliveries_sweep", ["status", "deemed_due_at"], unique=False)

    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signatures", sa.JSON(), nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "direction",
                sa.Enum("outbound", "inbound", name="direction", native_enum=False, length=32),
                server_default="outbound",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("sender_party_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("in_reply_to_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=300), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_sender_party_id_parties"),
            "parties",
            ["sender_party_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_in_reply_to_id_messages"),
            "messages",
            ["in_reply_to_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_messages_in_reply_to_id_messages"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_messages_sender_party_id_parties"), type_="foreignkey"
        )
        batch_op.drop_column("handled_by")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("in_reply_to_id")
        batch_op.drop_column("sender_party_id")
        batch_op.drop_column("direction")

    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.drop_column("signatures")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_sweep")
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_api_client_id_api_clients"), type_="foreignkey"
        )
        batch_op.drop_column("notice_sent_at")
        batch_op.drop_column("api_client_id")
        batch_op.drop_column("reply_allowed")
        batch_op.drop_column("due_date")
        batch_op.drop_column("appeal_period_days")
        batch_op.drop_column("deemed_after_days")
        batch_op.drop_column("withdrawn_by")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("deemed_due_at")
        batch_op.drop_column("deemed_at")

    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_case_files_authority_id"), type_="unique")
        batch_op.drop_column("external_ref")

    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.drop_column("seal_certificate")
        batch_op.drop_column("seal_ref")
        batch_op.drop_column("deemed_delivery_days")

    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_pending")
        batch_op.drop_index(batch_op.f("ix_webhook_events_client_id"))

    op.drop_table("webhook_events")
    op.drop_table("idempotency_records")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_prefix"))
        batch_op.drop_index(batch_op.f("ix_api_keys_client_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("delivery_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_consents_party_id"))

    op.drop_table("delivery_consents")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_authority_id"))

    op.drop_table("api_clients")
