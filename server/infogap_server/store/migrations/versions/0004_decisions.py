"""The decision log: every Recommend answer (decisions) and its reward, written once, later (decision_rewards).

Both tables are keyed by customer_key, so erasure reaches them. The context holds features only, never free text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("decision_id", sa.String(32), nullable=False, comment="The Recommend answer's id (32 hex digits)."),
        sa.Column("customer_key", sa.String(64), nullable=False,
                  comment="HMAC-SHA256 pseudonym of the customer id; empty for a recommendation without a customer."),
        sa.Column("policy_version", sa.String(64), nullable=False, comment="The policy that ranked the plans."),
        sa.Column("catalogue_version", sa.String(64), nullable=False, comment="The plan catalogue it ranked from."),
        sa.Column("intent", sa.String(64), nullable=False, server_default="", comment="The intent that was served."),
        sa.Column("seed", sa.BigInteger(), nullable=False, comment="The sampling seed: replays the decision."),
        sa.Column("context", sa.Text(), nullable=False,
                  comment="JSON object of the features the policy read (numbers, flags, labels); never free text."),
        sa.Column("candidates", sa.Text(), nullable=False,
                  comment="JSON list of {plan_id, probability, score}, in ranked order."),
        sa.Column("chosen", sa.Text(), nullable=False, comment="JSON list of the plan ids answered, in order."),
        sa.Column("top_plan_id", sa.String(128), nullable=False, server_default="",
                  comment="The first plan answered; empty when none was."),
        sa.Column("decided_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("decision_id", name="uq_decisions_decision_id"),
    )
    op.create_index("ix_decisions_customer_decided", "decisions", ["customer_key", "decided_at"])
    op.create_index("ix_decisions_decided", "decisions", ["decided_at"])
    op.create_table(
        "decision_rewards",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("decision_id", sa.String(32),
                  sa.ForeignKey("decisions.decision_id", name="fk_decision_rewards_decision", ondelete="CASCADE"),
                  nullable=False, comment="The decision rewarded; one reward per decision."),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="The decision's customer_key (erasure)."),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, comment="feedback or default (no feedback in time)."),
        sa.Column("rewarded_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("decision_id", name="uq_decision_rewards_decision_id"),
    )
    op.create_index("ix_decision_rewards_customer", "decision_rewards", ["customer_key"])


def downgrade() -> None:
    op.drop_index("ix_decision_rewards_customer", table_name="decision_rewards")
    op.drop_table("decision_rewards")
    op.drop_index("ix_decisions_decided", table_name="decisions")
    op.drop_index("ix_decisions_customer_decided", table_name="decisions")
    op.drop_table("decisions")
