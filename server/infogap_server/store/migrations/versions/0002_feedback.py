"""Feedback: what customers said after service, with its rating, links and the text model's reading.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
        sa.Column("feedback_id", sa.String(128), nullable=False, comment="The client's id of the feedback."),
        sa.Column("rating", sa.SmallInteger(), nullable=False, comment="1 (worst) to 5 (best)."),
        sa.Column("text", sa.Text(), nullable=False, server_default="", comment="Free text, PII redacted."),
        sa.Column("session_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("intent", sa.String(64), nullable=False, server_default="", comment="The intent that was served."),
        sa.Column("plan_id", sa.String(128), nullable=False, server_default="", comment="The plan that was offered."),
        sa.Column("decision_id", sa.String(32), nullable=False, server_default="",
                  comment="The Recommend decision the feedback rates (32 hex digits)."),
        sa.Column("sentiment", sa.String(16), nullable=False, server_default="",
                  comment="negative, neutral or positive; empty without text."),
        sa.Column("sentiment_negative", sa.Float(), nullable=True),
        sa.Column("sentiment_neutral", sa.Float(), nullable=True),
        sa.Column("sentiment_positive", sa.Float(), nullable=True),
        sa.Column("model", sa.String(64), nullable=False, server_default="",
                  comment="name:version of the text model that read the text."),
        sa.Column("received_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("customer_key", "feedback_id", name="uq_feedback_customer_feedback"),
    )
    op.create_index("ix_feedback_received", "feedback", ["received_at"])
    op.create_index("ix_feedback_decision", "feedback", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_decision", table_name="feedback")
    op.drop_index("ix_feedback_received", table_name="feedback")
    op.drop_table("feedback")
