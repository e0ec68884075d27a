"""Recommend's learning loop: published policy versions (policies), and the customer's answer to "was it resolved?"
on feedback (feedback.resolved), part of a decision's reward.

policies holds no customer: learned weights and per-segment plan ratings over many customers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("resolved", sa.Boolean(), nullable=True,
                                   comment="Whether the customer says the need was resolved; null when not asked."))
    op.create_table(
        "policies",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Publication order."),
        sa.Column("version", sa.String(64), nullable=False, comment="The policy version Recommend answers name."),
        sa.Column("payload", sa.LargeBinary(), nullable=False, comment="What replicas load (learning/policy.py)."),
        sa.Column("summary", sa.Text(), nullable=False, comment="JSON: the learner's offline check and estimates."),
        sa.Column("trained_decisions", sa.Integer(), nullable=False, comment="Rewarded decisions it learned from."),
        sa.Column("published_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
        sa.UniqueConstraint("version", name="uq_policies_version"),
    )


def downgrade() -> None:
    op.drop_table("policies")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("resolved")
