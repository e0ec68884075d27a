"""Customer data layer: behaviour events, erasure audit, store metadata.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
        sa.Column("event_id", sa.String(128), nullable=False, comment="The client's id of the event."),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False, comment="UTC."),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False, comment="Money in minor units (cents)."),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default="", comment="Free text, PII redacted."),
        sa.Column("received_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("customer_key", "event_id", name="uq_events_customer_event"),
    )
    op.create_index("ix_events_customer_time", "events", ["customer_key", "occurred_at"])
    op.create_table(
        "erasures",
        sa.Column("audit_id", sa.String(32), primary_key=True),
        sa.Column("erased_at", sa.DateTime(), nullable=False, comment="UTC."),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("deleted", sa.Text(), nullable=False, comment="JSON: rows deleted per table."),
    )
    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_meta")
    op.drop_table("erasures")
    op.drop_index("ix_events_customer_time", table_name="events")
    op.drop_table("events")
