"""Feedback rollups for GetInsights: feedback per UTC hour and per UTC day, and aspects and keywords per UTC day, each
for all feedback and per intent, plan and segment; filled from the feedback already stored. Indexes on feedback for
ranges of one intent, plan or segment.

The rollups hold counts only (no customer_key): the store keeps them in the transaction of every insert and erasure.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: "" counts all feedback (value ""); the others are columns of feedback.
DIMENSIONS = ("", "intent", "plan_id", "segment")


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("dimension", sa.String(8), nullable=False,
                  comment="What value is: '' (all feedback), intent, plan_id or segment."),
        sa.Column("value", sa.String(128), nullable=False, comment="The dimension's value; '' for all feedback."),
    ]


def upgrade() -> None:
    op.create_index("ix_feedback_intent_received", "feedback",
                    ["intent", "received_at", "plan_id", "segment", "rating"])
    op.create_index("ix_feedback_plan_received", "feedback", ["plan_id", "received_at", "intent", "segment", "rating"])
    op.create_index("ix_feedback_segment_received", "feedback",
                    ["segment", "received_at", "intent", "plan_id", "rating"])
    hourly = op.create_table(
        "feedback_hourly",
        *_key_columns(),
        sa.Column("hour", sa.BigInteger(), nullable=False, comment="Hours since 1970-01-01 00:00 UTC (received_at)."),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("feedback_count", sa.BigInteger(), nullable=False, comment="Feedback rows counted; never 0."),
        sa.PrimaryKeyConstraint("dimension", "value", "hour", "rating", name="pk_feedback_hourly"),
    )
    op.create_index("ix_feedback_hourly_time", "feedback_hourly", ["dimension", "hour"])
    daily = op.create_table(
        "feedback_daily",
        *_key_columns(),
        sa.Column("day", sa.BigInteger(), nullable=False, comment="Days since 1970-01-01 UTC (received_at)."),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("feedback_count", sa.BigInteger(), nullable=False, comment="Feedback rows counted; never 0."),
        sa.PrimaryKeyConstraint("dimension", "value", "day", "rating", name="pk_feedback_daily"),
    )
    op.create_index("ix_feedback_daily_time", "feedback_daily", ["dimension", "day"])
    terms_daily = op.create_table(
        "feedback_terms_daily",
        *_key_columns(),
        sa.Column("kind", sa.String(8), nullable=False, comment="aspect or keyword."),
        sa.Column("day", sa.BigInteger(), nullable=False,
                  comment="Days since 1970-01-01 UTC (the term's received_at)."),
        sa.Column("term", sa.String(64), nullable=False),
        sa.Column("feedback_count", sa.BigInteger(), nullable=False, comment="Feedback naming the term; never 0."),
        sa.PrimaryKeyConstraint("dimension", "value", "kind", "day", "term", name="pk_feedback_terms_daily"),
    )
    backfill(hourly, daily, terms_daily)


def _epoch_hours(column, dialect: str):
    """Whole hours from 1970-01-01 00:00 to a naive UTC timestamp (the store computes the same in Python)."""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.BigInteger) // 3600
    return sa.cast(sa.func.floor(sa.extract("epoch", column) / 3600), sa.BigInteger)


def backfill(hourly: sa.Table, daily: sa.Table, terms_daily: sa.Table) -> None:
    """The rollups of the feedback and terms stored before this revision, in SQL (INSERT ... SELECT ... GROUP BY)."""
    bind = op.get_bind()
    f = sa.table("feedback", sa.column("sequence"), sa.column("received_at"), sa.column("rating"),
                 *[sa.column(d) for d in DIMENSIONS if d])
    t = sa.table("feedback_terms", sa.column("feedback_sequence"), sa.column("kind"), sa.column("term"),
                 sa.column("received_at"))
    for dimension in DIMENSIONS:
        label = sa.literal(dimension, sa.String)
        value = f.c[dimension] if dimension else sa.literal("", sa.String)
        by_value = [value] if dimension else []  # a constant is not grouped by
        for table, unit in ((hourly, "hour"), (daily, "day")):
            bucket = _epoch_hours(f.c.received_at, bind.dialect.name)
            if unit == "day":
                bucket = bucket // 24
            select = (sa.select(label, value, bucket, f.c.rating, sa.func.count())
                      .group_by(*by_value, bucket, f.c.rating))
            bind.execute(sa.insert(table).from_select(["dimension", "value", unit, "rating", "feedback_count"],
                                                      select))
        day = _epoch_hours(t.c.received_at, bind.dialect.name) // 24
        select = (sa.select(label, value, t.c.kind, day, t.c.term, sa.func.count())
                  .select_from(t.join(f, f.c.sequence == t.c.feedback_sequence))
                  .group_by(*by_value, t.c.kind, day, t.c.term))
        bind.execute(sa.insert(terms_daily).from_select(
            ["dimension", "value", "kind", "day", "term", "feedback_count"], select))


def downgrade() -> None:
    op.drop_table("feedback_terms_daily")
    op.drop_index("ix_feedback_daily_time", table_name="feedback_daily")
    op.drop_table("feedback_daily")
    op.drop_index("ix_feedback_hourly_time", table_name="feedback_hourly")
    op.drop_table("feedback_hourly")
    op.drop_index("ix_feedback_segment_received", table_name="feedback")
    op.drop_index("ix_feedback_plan_received", table_name="feedback")
    op.drop_index("ix_feedback_intent_received", table_name="feedback")
