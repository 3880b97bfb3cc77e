"""login sessions on the server; failed logins counted per name and per name and client

Revision ID: 6d2f8a41c3b9
Revises: 5b0c9e1f2a77
Create Date: 2026-12-02 10:20:00

A cookie saved before logout still opened the inbox, and five wrong passwords locked the owner
of a login name out (issue 6). Sessions now live in `login_sessions`; failures are counted per
login name (delays, the owner's warning) and per login name and client (`login_pair_failures`,
blocks).

`login_failures` is rebuilt rather than altered: it holds short-lived counters, not records, and
its old block (`blocked_until`) has no meaning in the new scheme. Upgrading and downgrading both
start the counts afresh. Every browser has to log in again after the upgrade (its cookie holds
no session token yet), and after a downgrade the remaining sessions' rows are dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6d2f8a41c3b9"
down_revision: str | None = "5b0c9e1f2a77"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("login_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delayed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("warn_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_login_failures_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("login_hash", name=op.f("pk_login_failures")),
    )
    op.create_table(
        "login_pair_failures",
        sa.Column("pair_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pair_hash", name=op.f("pk_login_pair_failures")),
    )
    op.create_table(
        "login_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_login_sessions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_login_sessions")),
    )
    op.create_index(
        op.f("ix_login_sessions_account_id"), "login_sessions", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_sessions_account_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
    op.drop_table("login_pair_failures")
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("login_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("login_hash", name=op.f("pk_login_failures")),
    )
