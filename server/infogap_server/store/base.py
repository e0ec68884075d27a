"""The store's contracts: plain-Python rows and one narrow Protocol per concern. Services depend on these only;
the SQL lives in :mod:`infogap_server.store.sql` behind them.

Every customer-keyed row carries ``customer_key``: the customer's pseudonym (never the id the caller sent).
Every write a client may retry carries the client's id and is idempotent; every write returns only after its
transaction has committed. A store that cannot be reached raises :class:`~infogap_server.errors.Unavailable`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class EventRow:
    """One behaviour event as stored: cleaned, times in UTC (naive), money in minor units (cents)."""

    customer_key: str
    event_id: str
    type: str
    occurred_at: datetime
    amount_minor: int
    item_count: int
    note: str = ""  # already redacted
    sequence: int | None = None  # the store's sequence number, set when read back


@dataclass(frozen=True)
class FeedbackRow:
    """One piece of feedback as stored: text redacted, the text model's reading of it, times in UTC (naive)."""

    customer_key: str
    feedback_id: str
    rating: int
    text: str = ""  # already redacted
    session_id: str = ""
    intent: str = ""
    plan_id: str = ""
    decision_id: str = ""
    sentiment: str = ""  # empty without text
    sentiment_negative: float | None = None
    sentiment_neutral: float | None = None
    sentiment_positive: float | None = None
    segment: str = ""  # the customer's RFM segment when the feedback came
    model: str = ""
    received_at: datetime | None = None  # set by the store when it commits
    sequence: int | None = None


@dataclass(frozen=True)
class InsightsQuery:
    """Feedback received in [since, until) (naive UTC), optionally of one intent, plan and segment; the trend in
    buckets of ``period_s`` seconds from ``since``; the ``top_n`` aspects and keywords."""

    since: datetime
    until: datetime
    intent: str = ""
    plan_id: str = ""
    segment: str = ""
    period_s: int = 86400
    top_n: int = 10


@dataclass(frozen=True)
class Satisfaction:
    """Feedback of one group: how many, their mean rating, how many rated 4 or 5."""

    key: str
    count: int
    mean_rating: float
    satisfied: int


@dataclass(frozen=True)
class TermCount:
    """An aspect or keyword: feedback naming it in the range, and in the range of equal length before it."""

    term: str
    count: int
    previous: int


@dataclass(frozen=True)
class InsightsData:
    overall: Satisfaction
    #: The same filters over the range of equal length just before ``since``.
    previous: Satisfaction
    by_intent: list[Satisfaction]
    by_plan: list[Satisfaction]
    by_segment: list[Satisfaction]
    #: Keyed by the bucket's number from ``since`` (0, 1, ...), only buckets with feedback.
    by_period: list[Satisfaction]
    aspects: list[TermCount]
    keywords: list[TermCount]


@dataclass(frozen=True, slots=True)
class FeedbackSignal:
    """What the alert detector reads of one stored feedback row: its place in store order, its rating, the text's
    sentiment label, the served intent and the complaint aspects its text named (feedback_terms, kind 'aspect')."""

    sequence: int
    feedback_id: str
    received_at: datetime  # naive UTC
    rating: int
    sentiment: str = ""  # empty without text
    intent: str = ""
    aspects: tuple[str, ...] = ()  # sorted


@dataclass(frozen=True)
class ReplayStart:
    """Where an alert replay starts reading: ``after`` (read rows with a greater sequence: the warm-up comes first)
    and ``first`` (the first row at or after the replay's time; alerts fire from there)."""

    after: int
    first: int


@dataclass(frozen=True)
class AppendResult:
    """What :meth:`EventStore.append_events` did with each row, by index into the rows it was given."""

    stored: tuple[int, ...]
    duplicate_ids: tuple[int, ...]
    duplicate_content: tuple[int, ...]


@dataclass(frozen=True)
class TypeSummary:
    """Events of one type up to a time: how many, their money, first and last."""

    count: int
    amount_minor: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class ErasureReport:
    """Rows deleted per table, and the audit record left behind (no personal data in it)."""

    audit_id: str
    erased_at: datetime
    deleted: dict[str, int] = field(default_factory=dict)


class ContentWindow:
    """The duplicate-content rule: an event with the same (customer, type, amount, item count) signature as one
    already seen within ``window`` of its time is the same event sent twice. One implementation, used by the store
    on ingest and by the behaviour model's data stage, so both keep the same events."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._times: dict[tuple, list[datetime]] = defaultdict(list)

    def add(self, signature: tuple, time: datetime) -> None:
        self._times[signature].append(time)

    def seen(self, signature: tuple, time: datetime) -> bool:
        return any(abs(at - time) <= self.window for at in self._times.get(signature, ()))


class EventStore(Protocol):
    """Append-only behaviour events per customer."""

    async def append_events(self, rows: Sequence[EventRow], *, duplicate_window_s: float) -> AppendResult:
        """Insert the rows in one transaction and return after it commits. A row whose (customer_key, event_id)
        is already stored, or appears earlier in ``rows``, is a duplicate id and changes nothing. A row with the
        same customer, type, amount and item count as a stored or earlier row within ``duplicate_window_s`` of it
        is duplicate content and is not stored either."""

    async def recent_events(
        self, customer_key: str, *, limit: int, until: datetime | None = None,
        types: Sequence[str] | None = None,
    ) -> list[EventRow]:
        """The customer's latest ``limit`` events at or before ``until`` (all when None), of ``types`` (all when
        None), oldest first."""

    async def summarize_events(self, customer_key: str, *, until: datetime) -> dict[str, TypeSummary]:
        """Per event type, the customer's events at or before ``until``."""

    async def events_between(
        self, customer_key: str, *, types: Sequence[str], since: datetime, until: datetime
    ) -> list[EventRow]:
        """The customer's events of ``types`` with since < time <= until, oldest first."""


class FeedbackStore(Protocol):
    """Feedback, stored once per (customer, feedback id)."""

    async def add_feedback(
        self, row: FeedbackRow, terms: Sequence[tuple[str, str, float]] = ()
    ) -> tuple[FeedbackRow, bool]:
        """Store ``row`` with its ``terms`` ((kind, term, score): the aspects and keywords found in its text)
        unless the customer's feedback id is stored already, and return after the commit: (the stored row, True
        when it was there before and nothing new was stored). Concurrent submissions of one id store one row, on
        one replica or several. The insights rollups count the row in the same transaction; a duplicate changes
        nothing."""

    async def feedback_terms(self, sequence: int) -> list[tuple[str, str, float]]:
        """The (kind, term, score) rows stored with the feedback of this sequence number: aspects first, each kind
        by score, highest first."""

    async def feedback_insights(self, query: InsightsQuery) -> InsightsData:
        """Satisfaction overall and by intent, plan, segment and period, and the top aspects and keywords with
        their counts in the previous range, computed in SQL from the rollups (whole UTC days and hours) and the raw
        rows (the rest): exactly the figures of the same aggregates over the raw rows."""


class AlertFeedStore(Protocol):
    """Feedback in store order, for the alert detector: every replica reading it sees the same rows in the same
    order, so it computes the same alerts (nothing about alerts lives in process memory)."""

    async def feedback_since(self, after_sequence: int, *, limit: int) -> list[FeedbackSignal]:
        """Up to ``limit`` feedback rows with a sequence greater than ``after_sequence``, in sequence order, each
        with the aspects of its text (sorted)."""

    async def feedback_replay_start(self, since: datetime, *, rows_before: int) -> ReplayStart:
        """``first``: the sequence of the earliest feedback received at or after ``since`` (naive UTC), or one
        more than the last sequence when there is none; ``after``: the sequence just before the ``rows_before``
        rows that precede ``first`` (0 when fewer are stored), so that reading after it replays them first."""


class CustomerStore(Protocol):
    """Everything the store keeps about one customer, as a whole."""

    async def erase_customer(self, customer_key: str, *, request_id: str) -> ErasureReport:
        """Delete every row of the customer in every customer-keyed table in one transaction and leave an audit
        record (time, counts per table, request id: no pseudonym, no personal data). The rollups (counts without
        customers) lose the customer's feedback in the same transaction."""


class Store(EventStore, FeedbackStore, AlertFeedStore, CustomerStore, Protocol):
    """The whole store: opened once at start, closed at stop."""

    name: str

    async def open(self, *, key_fingerprint: str) -> None:
        """Connect, apply the schema's migrations when the settings say so, and check that the pseudonym key is
        the one the database was written with (raising StoreKeyMismatch otherwise)."""

    async def check(self) -> None:
        """Raise Unavailable when the database cannot be reached now."""

    async def close(self) -> None:
        """Release connections; idempotent."""


class StoreConfigError(Exception):
    """The store cannot be used as configured (wrong pseudonym key, schema not migrated); the message says how
    to fix it. Raised at start, never during a call."""
