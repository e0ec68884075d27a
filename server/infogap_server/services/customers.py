"""The customer data layer as domain logic: cleaning and storing behaviour events (RecordEvents), the customer
profile (GetCustomerProfile), erasure (EraseCustomer), and stored history for IdentifyNeeds.

Customer ids become pseudonyms here, before anything reaches the store or a log; free text is redacted here,
before it is stored. Nothing in this module knows SQL or protobuf.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infogap_server.errors import InvalidArgument, NotFound
from infogap_server.privacy.pseudonyms import Pseudonymizer
from infogap_server.privacy.redaction import redact
from infogap_server.services.churn import ChurnAssessment, ChurnService
from infogap_server.services.needs import EVENT_TYPES, BehaviorEvent
from infogap_server.services.patterns import CLIENT_ID, CLIENT_ID_RULE
from infogap_server.services.textwork import run_text_work
from infogap_server.settings import Settings
from infogap_server.store.base import ErasureReport, EventRow, Store

log = logging.getLogger("infogap.customers")

#: Client ids (event ids) take the same shape as request ids, so that none can carry other text into a log.
#: The earliest time an event may carry: anything before is a broken clock or a unit error, not a customer event.
EARLIEST_EVENT = datetime(1970, 1, 1)
#: Amounts beyond this (in currency units) are unit errors (cents sent as units, or worse), not purchases.
MAX_AMOUNT = 1e10
#: Money-moving types whose amount counts against the customer's spend (see :func:`rfm`); the behaviour model's
#: labels and features use the same rule.
SPEND_REVERSALS = ("cancellation", "refund")
#: Event types that make an open issue when no order follows them.
OPEN_ISSUE_TYPES = ("complaint", "return", "refund")
MAX_OPEN_ISSUES = 20


@dataclass(frozen=True)
class IncomingEvent:
    """A behaviour event as a client sent it."""

    customer_id: str
    event_id: str
    type: str  # one of EVENT_TYPES, or "" when the client sent an unknown one
    time: datetime | None  # aware or naive UTC; None when missing
    amount: float
    item_count: int
    note: str = ""


@dataclass(frozen=True)
class Rejection:
    """Why one event of a batch was not stored: its index, the field at fault, a reason code and its words."""

    index: int
    field: str
    code: str
    reason: str


@dataclass(frozen=True)
class RecordResult:
    stored: int
    duplicates: int
    rejected: list[Rejection]
    dropped: dict[str, int]  # every event not stored, by reason code (duplicates included)


@dataclass(frozen=True)
class OpenIssue:
    type: str
    time: datetime
    event_id: str
    amount: float


@dataclass(frozen=True)
class Rfm:
    recency_days: int | None  # days since the last order; None without orders
    frequency: int  # orders
    monetary: float  # orders minus cancellations and refunds, never below 0
    recency_score: int  # 1-5 each, 0 when there is no order
    frequency_score: int
    monetary_score: int


@dataclass(frozen=True)
class TypeCount:
    type: str
    count: int
    amount: float


@dataclass(frozen=True)
class Profile:
    as_of: datetime
    total_events: int
    by_type: list[TypeCount]
    rfm: Rfm
    segment: str
    first_activity: datetime
    last_activity: datetime
    open_issues: list[OpenIssue] = field(default_factory=list)
    #: From the behaviour model (None when none is served or it has no event it can read), with its reasons.
    churn: ChurnAssessment | None = None


# RFM scores: fixed, documented thresholds in days, orders and currency units (README "Customer profile").
RECENCY_DAYS = (30, 60, 120, 240)  # at most 30 days -> 5, ..., more than 240 -> 1
FREQUENCY_ORDERS = (20, 10, 5, 2)  # at least 20 orders -> 5, ..., 1 order -> 1
MONETARY_SPEND = (5000.0, 2000.0, 1000.0, 300.0)  # at least 5,000 -> 5, ..., under 300 -> 1


def rfm(by_type: dict[str, tuple[int, int, datetime]], as_of: datetime) -> Rfm:
    """RFM from per-type (count, amount in minor units, last time). Monetary is what the customer kept paying:
    orders minus cancellations and refunds (a return is goods coming back; its money leaves as a refund)."""
    orders = by_type.get("order")
    if orders is None:
        return Rfm(None, 0, 0.0, 0, 0, 0)
    count, amount_minor, last = orders
    reversed_minor = sum(by_type[t][1] for t in SPEND_REVERSALS if t in by_type)
    monetary = max(0, amount_minor - reversed_minor) / 100
    recency = max(0, (as_of - last).days)
    return Rfm(
        recency_days=recency,
        frequency=count,
        monetary=monetary,
        recency_score=5 - sum(recency > d for d in RECENCY_DAYS),
        frequency_score=1 + sum(count >= n for n in reversed(FREQUENCY_ORDERS)),
        monetary_score=1 + sum(monetary >= m for m in reversed(MONETARY_SPEND)),
    )


#: Every segment :func:`segment` gives.
SEGMENTS = ("champion", "loyal", "new", "promising", "at_risk", "hibernating", "lost", "prospect")


def segment(r: Rfm) -> str:
    """One segment name from the RFM scores (README "Customer profile" has the table)."""
    if r.frequency == 0:
        return "prospect"
    if r.recency_score >= 4 and r.frequency_score >= 4:
        return "champion"
    if r.recency_score >= 4 and r.frequency == 1:
        return "new"
    if r.recency_score >= 3 and r.frequency_score >= 3:
        return "loyal"
    if r.recency_score <= 2 and r.frequency_score >= 3:
        return "at_risk"
    if r.recency_score == 1:
        return "lost"
    if r.recency_score == 2:
        return "hibernating"
    return "promising"


def to_utc_naive(time: datetime) -> datetime:
    return time.astimezone(UTC).replace(tzinfo=None) if time.tzinfo else time


class CustomerService:
    """RecordEvents, GetCustomerProfile, EraseCustomer, and stored history for the other jobs."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pseudonymizer: Pseudonymizer,
        *,
        on_dropped: Callable[[str, int], None] = lambda reason, n: None,
        on_stored: Callable[[int], None] = lambda n: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
    ) -> None:
        self._settings = settings
        self._store = store
        self._pseudonyms = pseudonymizer
        self._on_dropped = on_dropped
        self._on_stored = on_stored
        self._now = clock
        #: Churn risk for profiles; set by the server while a behaviour model is served.
        self.churn: ChurnService | None = None

    def pseudonym(self, customer_id: str) -> str:
        return self._pseudonyms.pseudonym(customer_id)

    # --- RecordEvents ---------------------------------------------------------------------------------------

    async def record(self, events: Sequence[IncomingEvent]) -> RecordResult:
        """Clean, redact, pseudonymize and store a batch. Bad events are rejected one by one (the good ones are
        stored); returns after the store's transaction has committed."""
        s = self._settings
        if not events:
            raise InvalidArgument("events", "must hold at least one event")
        if len(events) > s.max_record_events:
            raise InvalidArgument("events", f"has {len(events)} events; the maximum is {s.max_record_events}")
        now = self._now()
        accepted: list[IncomingEvent] = []
        rejected: list[Rejection] = []
        for index, event in enumerate(events):
            problem = check_event(event, now, s)
            if problem is not None:
                rejected.append(Rejection(index, *problem))
            else:
                accepted.append(event)
        # Redaction of many long notes is real work: off the event loop, as every long text is.
        notes = await run_text_work(sum(len(e.note) for e in accepted), _redact_notes, [e.note for e in accepted])
        rows = [self._row(event, note) for event, note in zip(accepted, notes, strict=True)]
        result = await self._store.append_events(rows, duplicate_window_s=s.duplicate_window_s)
        dropped = Counter(r.code for r in rejected)
        if result.duplicate_ids:
            dropped["duplicate_event_id"] = len(result.duplicate_ids)
        if result.duplicate_content:
            dropped["duplicate_content"] = len(result.duplicate_content)
        for reason, n in dropped.items():
            self._on_dropped(reason, n)
        self._on_stored(len(result.stored))
        return RecordResult(
            stored=len(result.stored),
            duplicates=len(result.duplicate_ids) + len(result.duplicate_content),
            rejected=rejected,
            dropped=dict(sorted(dropped.items())),
        )

    def _row(self, event: IncomingEvent, redacted_note: str) -> EventRow:
        assert event.time is not None
        return EventRow(
            customer_key=self.pseudonym(event.customer_id),
            event_id=event.event_id,
            type=event.type,
            occurred_at=to_utc_naive(event.time),
            amount_minor=round(event.amount * 100),
            item_count=event.item_count,
            note=redacted_note,
        )

    # --- GetCustomerProfile ---------------------------------------------------------------------------------

    async def profile(self, customer_id: str, as_of: datetime | None = None) -> Profile:
        s = self._settings
        _check_customer_id(customer_id)
        now = self._now()
        as_of = now if as_of is None else to_utc_naive(as_of)
        if as_of > now + timedelta(seconds=s.clock_skew_s):
            raise InvalidArgument("as_of", "is in the future")
        key = self.pseudonym(customer_id)
        summary = await self._store.summarize_events(key, until=as_of)
        if not summary:
            raise NotFound("customer_id: no events are stored for this customer up to as_of")
        by_type = {t: (v.count, v.amount_minor, v.last) for t, v in summary.items()}
        r = rfm(by_type, as_of)
        last_order = summary["order"].last if "order" in summary else None
        since = as_of - timedelta(days=s.open_issue_window_days)
        if last_order is not None and last_order > since:
            since = last_order
        issues = await self._store.events_between(key, types=OPEN_ISSUE_TYPES, since=since, until=as_of)
        churn, scorer = None, self.churn
        if scorer is not None:
            info = scorer.model.info  # only what the model reads: old orders never crowded out by other types
            rows = await self._store.recent_events(key, limit=info.max_events, until=as_of,
                                                   types=info.trained_event_types)
            churn = await scorer.assess(_behaviour_events(rows), as_of, explain=True)
        return Profile(
            as_of=as_of,
            total_events=sum(v.count for v in summary.values()),
            by_type=[
                TypeCount(t, summary[t].count, summary[t].amount_minor / 100) for t in EVENT_TYPES if t in summary
            ],
            rfm=r,
            segment=segment(r),
            first_activity=min(v.first for v in summary.values()),
            last_activity=max(v.last for v in summary.values()),
            open_issues=[
                OpenIssue(e.type, e.occurred_at, e.event_id, e.amount_minor / 100)
                for e in issues[-MAX_OPEN_ISSUES:]
            ],
            churn=churn,
        )

    async def current_segment(self, customer_id: str) -> str:
        """The customer's RFM segment now (what feedback is grouped by in insights); empty with nothing stored."""
        now = self._now()
        summary = await self._store.summarize_events(self.pseudonym(customer_id), until=now)
        if not summary:
            return ""
        return segment(rfm({t: (v.count, v.amount_minor, v.last) for t, v in summary.items()}, now))

    # --- EraseCustomer --------------------------------------------------------------------------------------

    async def erase(self, customer_id: str, request_id: str) -> ErasureReport:
        _check_customer_id(customer_id)
        report = await self._store.erase_customer(self.pseudonym(customer_id), request_id=request_id)
        # The audit line: which erasure, how many rows; never the customer's pseudonym.
        log.info("customer erased", extra={"fields": {"audit_id": report.audit_id, "deleted": report.deleted,
                                                      "request_id": request_id}})
        return report

    # --- history for the other jobs -------------------------------------------------------------------------

    async def history(self, customer_id: str) -> tuple[BehaviorEvent, ...]:
        """The customer's latest events (at most max_history_events), oldest first, as IdentifyNeeds takes them."""
        rows = await self._store.recent_events(self.pseudonym(customer_id), limit=self._settings.max_history_events)
        return _behaviour_events(rows)


def _behaviour_events(rows: Sequence[EventRow]) -> tuple[BehaviorEvent, ...]:
    return tuple(BehaviorEvent(r.type, r.occurred_at, r.amount_minor / 100, r.item_count) for r in rows)


def check_event(event: IncomingEvent, now: datetime, s: Settings) -> tuple[str, str, str] | None:
    """The ingest path's cleaning rules: (field, reason code, reason) for the first thing wrong with the event, or
    None. Shared by RecordEvents and the behaviour model's training data, so both see the same events."""
    if not event.customer_id.strip():
        return "customer_id", "missing_customer_id", "is required"
    if len(event.customer_id) > 128:
        return "customer_id", "invalid_customer_id", "is longer than 128 characters"
    if not event.event_id:
        return "event_id", "missing_event_id", "is required (it makes a resent event count once)"
    if not CLIENT_ID.fullmatch(event.event_id):
        return "event_id", "invalid_event_id", CLIENT_ID_RULE
    if event.type not in EVENT_TYPES:
        return "event.type", "unknown_type", f"must be one of {', '.join(EVENT_TYPES)}"
    if event.time is None:
        return "event.time", "missing_time", "is required"
    time = to_utc_naive(event.time)
    if time > now + timedelta(seconds=s.clock_skew_s):
        return "event.time", "future_time", f"is more than {s.clock_skew_s:g} s in the future"
    if time < EARLIEST_EVENT:
        return "event.time", "too_old", "is before 1970"
    if not math.isfinite(event.amount) or event.amount > MAX_AMOUNT:
        return "event.amount", "invalid_amount", f"must be a finite number of at most {MAX_AMOUNT:g}"
    if event.amount < 0:
        return "event.amount", "negative_amount", "must be >= 0 (a reversal is its own event type)"
    if not 0 <= event.item_count <= 1_000_000:
        return "event.item_count", "invalid_item_count", "must be between 0 and 1,000,000"
    if len(event.note) > s.max_text_chars:
        return "note", "note_too_long", f"is {len(event.note)} characters; the maximum is {s.max_text_chars}"
    return None


def _redact_notes(notes: list[str]) -> list[str]:
    """Redacted notes; NUL characters dropped (PostgreSQL's text cannot hold them, and they carry nothing)."""
    return [redact(note.replace("\x00", "")).text if note else "" for note in notes]


def _check_customer_id(customer_id: str) -> None:
    if not customer_id.strip():
        raise InvalidArgument("customer_id", "is required")
    if len(customer_id) > 128:
        raise InvalidArgument("customer_id", "is longer than 128 characters")
