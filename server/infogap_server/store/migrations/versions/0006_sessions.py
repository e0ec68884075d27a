"""TrackSession: live sessions (sessions: the latest snapshot, the writer's lease and the outcome) and their events
(session_events, append-only, each with the state answered after it); policies gain a kind (recommend or session),
so the next-best-action learner publishes beside Recommend's.

Both session tables are customer-keyed (erasure reaches them); a message's text is stored redacted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="recommend",
                                   comment="Which loop published it: recommend (the bandit) or session (next best "
                                   "action)."))
    op.create_index("ix_policies_kind_sequence", "policies", ["kind", "sequence"])
    op.create_table(
        "sessions",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("session_id", sa.String(128), nullable=False, comment="The client's id of the session."),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
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
    op.create_table(
        "session_events",
        sa.Column("sequence", BigId, primary_key=True, autoincrement=True, comment="Store-wide sequence number."),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("customer_key", sa.String(64), nullable=False, comment="HMAC-SHA256 pseudonym of the customer id."),
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
                  comment="JSON: the escalation model's inputs after the event (numbers only); the learner fits on "
                  "them."),
        sa.UniqueConstraint("session_id", "event_sequence", name="uq_session_events_sequence"),
        sa.UniqueConstraint("session_id", "client_event_id", name="uq_session_events_client_id"),
    )
    op.create_index("ix_sessions_customer", "sessions", ["customer_key"])
    op.create_index("ix_sessions_lease_process", "sessions", ["lease_process"])
    op.create_index("ix_sessions_open_updated", "sessions", ["closed_at", "updated_at"])
    op.create_index("ix_sessions_opened", "sessions", ["opened_at"])
    op.create_index("ix_session_events_customer", "session_events", ["customer_key"])
    op.create_index("ix_session_events_occurred", "session_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("session_events")
    op.drop_table("sessions")
    op.drop_index("ix_policies_kind_sequence", table_name="policies")
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("kind")
