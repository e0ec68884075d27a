"""The store's tables (SQLAlchemy Core). Alembic migrations create them (store/migrations); a test checks that
the migrated database and this metadata agree.

Every table holding customer data has a ``customer_key`` column (the pseudonym); erasure finds the tables by
that column, so a table added by a later issue is erased without anyone remembering to add it.

The rollups (``feedback_hourly``, ``feedback_daily``, ``feedback_terms_daily``) are the other kind: counts of feedback
per time bucket and dimension value, kept in the transaction of every insert and erasure, with no customer in them
(marked ``info={"aggregate": True}``). GetInsights sums them instead of scanning the raw rows.

Sessions (``sessions``, ``session_events``): one row per live session holding its latest snapshot, the lease of the
stream that writes it and its outcome, and its events append-only, each with the state answered after it.

The decision log (``decisions``, ``decision_rewards``) is append-only: a Recommend answer is written once, and its
reward is a row of its own written later, once (by feedback or, after a wait, the default).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: 64-bit ids that autoincrement on PostgreSQL and SQLite alike (SQLite only does so for INTEGER PRIMARY KEY).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

CUSTOMER_KEY = "customer_key"

events = sa.Table(
    "events",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
    sa.Column("event_id", sa.String(128), nullable=False, comment="The client's id of the event."),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("occurred_at", sa.DateTime(), nullable=False, comment="UTC."),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False, comment="Money in minor units (cents)."),
    sa.Column("item_count", sa.Integer(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False, server_default="", comment="Free text, PII redacted."),
    sa.Column("received_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
    sa.UniqueConstraint(CUSTOMER_KEY, "event_id", name="uq_events_customer_event"),
)
sa.Index("ix_events_customer_time", events.c.customer_key, events.c.occurred_at)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
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
    sa.Column("resolved", sa.Boolean(), nullable=True,
              comment="Whether the customer says the need was resolved; null when not asked."),
    sa.UniqueConstraint(CUSTOMER_KEY, "feedback_id", name="uq_feedback_customer_feedback"),
)
sa.Index("ix_feedback_received", feedback.c.received_at)
sa.Index("ix_feedback_decision", feedback.c.decision_id)
# Feedback of one intent, plan or segment in a range, with what insights group it by (covering: no row lookups).
sa.Index("ix_feedback_intent_received", feedback.c.intent, feedback.c.received_at, feedback.c.plan_id,
         feedback.c.segment, feedback.c.rating)
sa.Index("ix_feedback_plan_received", feedback.c.plan_id, feedback.c.received_at, feedback.c.intent,
         feedback.c.segment, feedback.c.rating)
sa.Index("ix_feedback_segment_received", feedback.c.segment, feedback.c.received_at, feedback.c.intent,
         feedback.c.plan_id, feedback.c.rating)

feedback_terms = sa.Table(
    "feedback_terms",
    metadata,
    sa.Column("feedback_sequence", sa.BigInteger(), nullable=False, comment="The feedback row's sequence."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
    sa.Column("kind", sa.String(8), nullable=False, comment="aspect or keyword."),
    sa.Column("term", sa.String(64), nullable=False),
    sa.Column("score", sa.Float(), nullable=False, comment="The aspect's probability or the keyword's relevance."),
    sa.Column("received_at", sa.DateTime(), nullable=False, comment="The feedback's, for range queries."),
    sa.PrimaryKeyConstraint("feedback_sequence", "kind", "term", name="pk_feedback_terms"),
)
sa.Index("ix_feedback_terms_kind_time", feedback_terms.c.kind, feedback_terms.c.received_at)

#: The dimensions a rollup row counts feedback by: "" (all feedback, value ""), or a column of ``feedback``.
ROLLUP_DIMENSIONS = ("", "intent", "plan_id", "segment")


def _rollup_key_columns() -> list[sa.Column]:
    return [
        sa.Column("dimension", sa.String(8), nullable=False,
                  comment="What value is: '' (all feedback), intent, plan_id or segment."),
        sa.Column("value", sa.String(128), nullable=False, comment="The dimension's value; '' for all feedback."),
    ]


def _rating_counts(name: str, unit: str, unit_comment: str) -> sa.Table:
    """A rollup of feedback counted per dimension value, time ``unit`` and rating, indexed by dimension and time."""
    table = sa.Table(
        name,
        metadata,
        *_rollup_key_columns(),
        sa.Column(unit, sa.BigInteger(), nullable=False, comment=unit_comment),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("feedback_count", sa.BigInteger(), nullable=False, comment="Feedback rows counted; never 0."),
        sa.PrimaryKeyConstraint("dimension", "value", unit, "rating", name=f"pk_{name}"),
        info={"aggregate": True},
    )
    sa.Index(f"ix_{name}_time", table.c.dimension, table.c[unit])
    return table


feedback_hourly = _rating_counts("feedback_hourly", "hour", "Hours since 1970-01-01 00:00 UTC (received_at).")
feedback_daily = _rating_counts("feedback_daily", "day", "Days since 1970-01-01 UTC (received_at).")

feedback_terms_daily = sa.Table(
    "feedback_terms_daily",
    metadata,
    *_rollup_key_columns(),
    sa.Column("kind", sa.String(8), nullable=False, comment="aspect or keyword."),
    sa.Column("day", sa.BigInteger(), nullable=False, comment="Days since 1970-01-01 UTC (the term's received_at)."),
    sa.Column("term", sa.String(64), nullable=False),
    sa.Column("feedback_count", sa.BigInteger(), nullable=False, comment="Feedback naming the term; never 0."),
    sa.PrimaryKeyConstraint("dimension", "value", "kind", "day", "term", name="pk_feedback_terms_daily"),
    info={"aggregate": True},
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column("decision_id", sa.String(32), nullable=False, comment="The Recommend answer's id (32 hex digits)."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False,
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
# Erasure, and a customer's decisions in time order.
sa.Index("ix_decisions_customer_decided", decisions.c.customer_key, decisions.c.decided_at)
# Decisions older than the reward wait (the default reward).
sa.Index("ix_decisions_decided", decisions.c.decided_at)

decision_rewards = sa.Table(
    "decision_rewards",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column("decision_id", sa.String(32),
              sa.ForeignKey("decisions.decision_id", name="fk_decision_rewards_decision", ondelete="CASCADE"),
              nullable=False, comment="The decision rewarded; one reward per decision."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="The decision's customer_key (erasure)."),
    sa.Column("reward", sa.Float(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False, comment="feedback or default (no feedback in time)."),
    sa.Column("rewarded_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
    sa.UniqueConstraint("decision_id", name="uq_decision_rewards_decision_id"),
)
sa.Index("ix_decision_rewards_customer", decision_rewards.c.customer_key)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Publication order."),
    sa.Column("version", sa.String(64), nullable=False, comment="The policy version Recommend answers name."),
    sa.Column("payload", sa.LargeBinary(), nullable=False, comment="What replicas load (learning/policy.py)."),
    sa.Column("summary", sa.Text(), nullable=False, comment="JSON: the learner's offline check and estimates."),
    sa.Column("trained_decisions", sa.Integer(), nullable=False, comment="Rewarded decisions it learned from."),
    sa.Column("published_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
    sa.Column("kind", sa.String(16), nullable=False, server_default="recommend",
              comment="Which loop published it: recommend (the bandit) or session (next best action)."),
    sa.UniqueConstraint("version", name="uq_policies_version"),
)
sa.Index("ix_policies_kind_sequence", policies.c.kind, policies.c.sequence)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column("session_id", sa.String(128), nullable=False, comment="The client's id of the session."),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
    sa.Column("opened_at", sa.DateTime(), nullable=False, comment="UTC; the first event's time."),
    sa.Column("updated_at", sa.DateTime(), nullable=False,
              comment="UTC; when the store committed the last event (the inactivity timeout counts from here)."),
    sa.Column("last_event_at", sa.DateTime(), nullable=False, comment="UTC; the last event's own time."),
    sa.Column("last_sequence", sa.Integer(), nullable=False, comment="Events applied so far (session_events)."),
    sa.Column("snapshot", sa.Text(), nullable=False,
              comment="JSON: the state after the last event, what the next event is applied to (no free text)."),
    sa.Column("stage", sa.String(16), nullable=False, comment="discovery, resolving, escalated or closed."),
    sa.Column("intent", sa.String(64), nullable=False, server_default="", comment="The most probable need so far."),
    sa.Column("queue", sa.String(64), nullable=False, server_default="", comment="The queue the session is in."),
    sa.Column("closed_at", sa.DateTime(), nullable=True, comment="UTC; null while open."),
    sa.Column("close_reason", sa.String(16), nullable=False, server_default="",
              comment="ended (SessionEnd) or expired (inactivity); empty while open."),
    sa.Column("resolved", sa.Boolean(), nullable=True, comment="SessionEnd's answer; null while open or expired."),
    sa.Column("escalated", sa.Boolean(), nullable=False, server_default=sa.false(),
              comment="Whether the session reached the escalated stage."),
    sa.Column("lease_process", sa.String(32), nullable=False, server_default="",
              comment="The gateway process whose stream writes the session now; empty when none."),
    sa.Column("lease_stream", sa.String(32), nullable=False, server_default="", comment="That stream's id."),
    sa.Column("lease_expires_at", sa.DateTime(), nullable=True,
              comment="UTC; the lease lapses then unless its process renews it."),
    sa.UniqueConstraint("session_id", name="uq_sessions_session_id"),
)
sa.Index("ix_sessions_customer", sessions.c.customer_key)
sa.Index("ix_sessions_lease_process", sessions.c.lease_process)
# Open sessions past the inactivity timeout; closed sessions in a time range (bottlenecks, the learner).
sa.Index("ix_sessions_open_updated", sessions.c.closed_at, sessions.c.updated_at)
sa.Index("ix_sessions_opened", sessions.c.opened_at)

session_events = sa.Table(
    "session_events",
    metadata,
    sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column(CUSTOMER_KEY, sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
    sa.Column("event_sequence", sa.Integer(), nullable=False, comment="1, 2, ... within the session."),
    sa.Column("client_event_id", sa.String(128), nullable=True,
              comment="The client's id of the event; a resent event with it is not applied twice."),
    sa.Column("kind", sa.String(16), nullable=False,
              comment="message, action, wait, transfer, end, or expired (written by the server)."),
    sa.Column("occurred_at", sa.DateTime(), nullable=False, comment="UTC; the event's own time."),
    sa.Column("received_at", sa.DateTime(), nullable=False, comment="UTC; when the store committed it."),
    sa.Column("from_customer", sa.Boolean(), nullable=True, comment="For a message: the customer's (true)."),
    sa.Column("text", sa.Text(), nullable=False, server_default="", comment="A message's text, PII redacted."),
    sa.Column("action", sa.String(64), nullable=False, server_default="", comment="An agent action's name."),
    sa.Column("plan_id", sa.String(128), nullable=False, server_default="", comment="offer_plan's plan."),
    sa.Column("stage", sa.String(16), nullable=False, comment="The stage the session was in before the event."),
    sa.Column("intent", sa.String(64), nullable=False, server_default="", comment="The need before the event."),
    sa.Column("queue", sa.String(64), nullable=False, server_default="", comment="The queue before the event."),
    sa.Column("wait_s", sa.Float(), nullable=False, server_default="0",
              comment="A wait event's duration: time the customer waited."),
    sa.Column("handling_s", sa.Float(), nullable=False, server_default="0",
              comment="Time since the previous event less the wait: time spent handling in that stage."),
    sa.Column("state_key", sa.String(128), nullable=False, server_default="",
              comment="The next-best-action policy's discretised state before the event."),
    sa.Column("allowed", sa.String(1024), nullable=False, server_default="",
              comment="The actions the playbook allowed before the event, comma-separated."),
    sa.Column("state", sa.Text(), nullable=False, comment="JSON: the state answered after the event."),
    sa.Column("risk_features", sa.Text(), nullable=False, server_default="",
              comment="JSON: the escalation model's inputs after the event (numbers only); the learner fits on them."),
    sa.UniqueConstraint("session_id", "event_sequence", name="uq_session_events_sequence"),
    sa.UniqueConstraint("session_id", "client_event_id", name="uq_session_events_client_id"),
)
sa.Index("ix_session_events_customer", session_events.c.customer_key)
# Bottlenecks: events in a range of time.
sa.Index("ix_session_events_occurred", session_events.c.occurred_at)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("audit_id", sa.String(32), primary_key=True),
    sa.Column("erased_at", sa.DateTime(), nullable=False, comment="UTC."),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("deleted", sa.Text(), nullable=False, comment="JSON: rows deleted per table."),
)

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)


def customer_tables() -> list[sa.Table]:
    """Every table with customer data, children before parents (the order deletes must go in)."""
    return [t for t in reversed(metadata.sorted_tables) if CUSTOMER_KEY in t.c]


def aggregate_tables() -> list[sa.Table]:
    """The rollups: counts over many customers' feedback, no customer in them. Erasure subtracts from them."""
    return [t for t in metadata.sorted_tables if t.info.get("aggregate")]
