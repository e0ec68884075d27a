"""Feedback: what customers said after service, with its rating, links and the text model's reading; its
aspects and keywords (feedback_terms).

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
        sa.Column("segment", sa.String(16), nullable=False, server_default="",
                  comment="The customer's RFM segment when the feedback came; empty with no event stored."),
        sa.Column("model", sa.String(64), nullable=False, server_default="",
                  comment="name:version of the text model that read the text."),
        sa.Column("received_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("customer_key", "feedback_id", name="uq_feedback_customer_feedback"),
    )
    op.create_index("ix_feedback_received", "feedback", ["received_at"])
    op.create_index("ix_feedback_decision", "feedback", ["decision_id"])
    op.create_table(
        "feedback_terms",
        sa.Column("feedback_sequence", sa.BigInteger(), nullable=False, comment="The feedback row's sequence."),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
        sa.Column("kind", sa.String(8), nullable=False, comment="aspect or keyword."),
        sa.Column("term", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False, comment="The aspect's probability or the keyword's relevance."),
        sa.Column("received_at", sa.DateTime(), nullable=False, comment="The feedback's, for range queries."),
        sa.PrimaryKeyConstraint("feedback_sequence", "kind", "term", name="pk_feedback_terms"),
    )
    op.create_index("ix_feedback_terms_kind_time", "feedback_terms", ["kind", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_terms_kind_time", table_name="feedback_terms")
    op.drop_table("feedback_terms")
    op.drop_index("ix_feedback_decision", table_name="feedback")
    op.drop_index("ix_feedback_received", table_name="feedback")
    op.drop_table("feedback")
