"""The store's contracts: plain-Python rows and one narrow Protocol per concern. Services depend on these only;
the SQL lives in :mod:`infogap_server.store.sql` behind them.

Every customer-keyed row carries ``customer_key``: the customer's pseudonym (never the id the caller sent).
Every write a client may retry carries the client's id and is idempotent; every write returns only after its
transaction has committed. A store that cannot be reached raises :class:`~infogap_server.errors.Unavailable`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from infogap_server.services.patterns import DECISION_ID


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
    resolved: bool | None = None  # whether the customer says the need was resolved; None: not asked


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


#: A decision id: 32 lower-case hexadecimal digits (a UUID without dashes), as Recommend returns it.
#: Where a decision's reward came from: the customer's feedback, or the default after no feedback came in time.
REWARD_SOURCES = ("feedback", "default")
#: Context values: numbers, flags and labels. A string longer than a label is refused (no free text in the log).
MAX_CONTEXT_LABEL_CHARS = 64
MAX_CONTEXT_FEATURES = 256


@dataclass(frozen=True, slots=True)
class Candidate:
    """One plan the policy ranked: its probability of being answered first (the logging propensity), its score
    and the plan's features as the policy read them (numbers, flags and labels, as in a decision's context), so a
    learner trains on exactly what the policy saw."""

    plan_id: str
    probability: float
    score: float
    features: Mapping[str, float | int | bool | str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionRow:
    """One Recommend answer as logged: what the policy saw (``context``: features only, never free text: numbers,
    flags and short labels such as an intent or a segment), every candidate in ranked order with its probability,
    the plans answered (``chosen``, in order) and the seed that replays the sampling. Times in UTC (naive)."""

    decision_id: str
    customer_key: str  # the pseudonym; "" for a recommendation without a customer
    policy_version: str
    catalogue_version: str
    seed: int
    candidates: tuple[Candidate, ...]
    chosen: tuple[str, ...]
    intent: str = ""
    context: Mapping[str, float | int | bool | str | None] = field(default_factory=dict)
    decided_at: datetime | None = None  # set by the store when it commits
    sequence: int | None = None

    @property
    def top_plan_id(self) -> str:
        return self.chosen[0] if self.chosen else ""


@dataclass(frozen=True)
class RewardRow:
    """A decision's reward, stored once per decision: ``source`` is one of :data:`REWARD_SOURCES`."""

    decision_id: str
    reward: float
    source: str
    customer_key: str = ""  # the decision's; set by the store
    rewarded_at: datetime | None = None  # set by the store when it commits
    sequence: int | None = None


@dataclass(frozen=True)
class RewardedDecision:
    """What a learner reads of one decision: the decision as stored, the first feedback its customer gave on it
    (None fields and no aspects without one) and its reward when one is stored."""

    decision: DecisionRow
    feedback_id: str | None = None
    rating: int | None = None
    sentiment: str | None = None  # "" for feedback without text
    sentiment_negative: float | None = None
    sentiment_neutral: float | None = None
    sentiment_positive: float | None = None
    aspects: tuple[str, ...] = ()  # sorted: the complaint aspects of the feedback's text
    reward: RewardRow | None = None
    resolved: bool | None = None  # the feedback's answer to "was it resolved?"; None: not asked or no feedback


def _check_label(name: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a string of at most {limit} characters")


def _check_features(what: str, features: Mapping) -> None:
    if not isinstance(features, Mapping) or len(features) > MAX_CONTEXT_FEATURES:
        raise ValueError(f"{what} must be a mapping of at most {MAX_CONTEXT_FEATURES} features")
    for key, value in features.items():
        _check_label(f"a feature's name in {what}", key, MAX_CONTEXT_LABEL_CHARS)
        if isinstance(value, str):
            _check_label(f"{what}[{key!r}]", value, MAX_CONTEXT_LABEL_CHARS)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{what}[{key!r}] must be finite")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise ValueError(f"{what}[{key!r}] must be a number, a flag or a label (features only, no free text)")


def check_decision(row: DecisionRow) -> None:
    """Raise ValueError when ``row`` cannot be logged as it is: the same rules on every database (PostgreSQL
    would refuse an over-long string, SQLite would store it)."""
    if not isinstance(row.decision_id, str) or not DECISION_ID.fullmatch(row.decision_id):
        raise ValueError("decision_id must be 32 lower-case hexadecimal digits")
    _check_label("customer_key", row.customer_key, 64)
    _check_label("policy_version", row.policy_version, 64)
    _check_label("catalogue_version", row.catalogue_version, 64)
    _check_label("intent", row.intent, 64)
    if not row.policy_version or not row.catalogue_version:
        raise ValueError("policy_version and catalogue_version must not be empty")
    if isinstance(row.seed, bool) or not isinstance(row.seed, int) or not 0 <= row.seed < 2**63:
        raise ValueError("seed must be an integer in [0, 2**63)")
    _check_features("context", row.context)
    seen: set[str] = set()
    for candidate in row.candidates:
        _check_label("a candidate's plan_id", candidate.plan_id, 128)
        _check_features(f"the features of {candidate.plan_id!r}", candidate.features)
        if not candidate.plan_id or candidate.plan_id in seen:
            raise ValueError("candidates must have distinct, non-empty plan ids")
        seen.add(candidate.plan_id)
        if not (math.isfinite(candidate.probability) and 0.0 <= candidate.probability <= 1.0):
            raise ValueError(f"the probability of {candidate.plan_id!r} must be in [0, 1]")
        if not math.isfinite(candidate.score):
            raise ValueError(f"the score of {candidate.plan_id!r} must be finite")
    if len(set(row.chosen)) != len(row.chosen) or not set(row.chosen) <= seen:
        raise ValueError("chosen must be distinct plan ids among the candidates")


def check_reward(row: RewardRow) -> None:
    """Raise ValueError when ``row`` cannot be stored as it is."""
    if not isinstance(row.decision_id, str) or not DECISION_ID.fullmatch(row.decision_id):
        raise ValueError("decision_id must be 32 lower-case hexadecimal digits")
    if row.source not in REWARD_SOURCES:
        raise ValueError(f"source must be one of {', '.join(REWARD_SOURCES)}")
    if isinstance(row.reward, bool) or not isinstance(row.reward, (int, float)) or not math.isfinite(row.reward):
        raise ValueError("reward must be a finite number")


@dataclass(frozen=True)
class PolicyRow:
    """A published policy version: ``payload`` is what replicas load (:mod:`infogap_server.learning.policy`),
    ``summary`` the learner's report of it (JSON-ready: its offline check and estimates), no customer in either."""

    version: str
    payload: bytes
    summary: Mapping[str, object] = field(default_factory=dict)
    trained_decisions: int = 0
    published_at: datetime | None = None  # set by the store when it commits
    sequence: int | None = None
    kind: str = "recommend"  # one of POLICY_KINDS


#: The learning loops that publish policies: Recommend's bandit, TrackSession's next best action.
POLICY_KINDS = ("recommend", "session")


def check_policy(row: PolicyRow) -> None:
    """Raise ValueError when ``row`` cannot be published as it is."""
    if row.kind not in POLICY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(POLICY_KINDS)}")
    _check_label("version", row.version, 64)
    if not row.version or not isinstance(row.payload, (bytes, bytearray)) or not row.payload:
        raise ValueError("a policy needs a version and a payload")
    if isinstance(row.trained_decisions, bool) or not isinstance(row.trained_decisions, int) \
            or row.trained_decisions < 0:
        raise ValueError("trained_decisions must be an integer >= 0")


#: Session event kinds: the five a client sends, and ``expired`` (written by the server when the inactivity timeout
#: closes a session).
SESSION_EVENT_KINDS = ("message", "action", "wait", "transfer", "end", "expired")
#: Why a session closed.
CLOSE_REASONS = ("ended", "expired")


@dataclass(frozen=True)
class SessionRecord:
    """A session as stored: its latest snapshot (JSON-ready, no free text), what the bottleneck queries group by,
    its outcome once closed, and the lease of the stream that writes it. Times in UTC (naive)."""

    session_id: str
    customer_key: str
    opened_at: datetime
    updated_at: datetime  # when the store committed the last event
    last_event_at: datetime
    last_sequence: int
    snapshot: Mapping[str, object]
    stage: str
    intent: str = ""
    queue: str = ""
    closed_at: datetime | None = None
    close_reason: str = ""
    resolved: bool | None = None
    escalated: bool = False
    lease_process: str = ""
    lease_stream: str = ""
    lease_expires_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


@dataclass(frozen=True)
class SessionEventRow:
    """One event of a session as stored: what happened (text redacted), where the session stood before it (stage,
    intent, queue, the policy's discretised state), the time it took (wait and handling seconds) and the state
    answered after it (``state``, JSON-ready), which a resent event with the same ``client_event_id`` gets back."""

    session_id: str
    customer_key: str
    event_sequence: int
    kind: str  # one of SESSION_EVENT_KINDS
    occurred_at: datetime
    state: Mapping[str, object]
    client_event_id: str = ""
    from_customer: bool | None = None
    text: str = ""  # already redacted
    action: str = ""
    plan_id: str = ""
    stage: str = ""
    intent: str = ""
    queue: str = ""
    wait_s: float = 0.0
    handling_s: float = 0.0
    state_key: str = ""
    allowed: str = ""  # the actions the playbook allowed before the event and its next step: encode_allowed
    risk_features: Mapping[str, float] = field(default_factory=dict)  # the escalation model's inputs after it
    received_at: datetime | None = None  # set by the store when it commits
    sequence: int | None = None


def encode_allowed(allowed: Sequence[str], next_step: str | None) -> str:
    """The ``allowed`` column: the allowed actions comma-separated, then ``;`` and the playbook's next step (empty
    when there is none)."""
    return ",".join(allowed) + ";" + (next_step or "")


def decode_allowed(text: str) -> tuple[tuple[str, ...], str | None]:
    allowed, _, step = text.partition(";")
    return tuple(filter(None, allowed.split(","))), step or None


@dataclass(frozen=True)
class SessionUpdate:
    """What an event changes on the session's row, written in the event's transaction."""

    snapshot: Mapping[str, object]
    stage: str
    last_event_at: datetime
    intent: str = ""
    queue: str = ""
    close_reason: str = ""  # set when the event closes the session: one of CLOSE_REASONS
    resolved: bool | None = None
    escalated: bool = False


@dataclass(frozen=True)
class Lease:
    """The writer of a session: a gateway process and one of its streams. ``lease_s``: how long the lease lasts
    past each write or renewal."""

    process: str
    stream: str
    lease_s: float


@dataclass(frozen=True)
class LoggedSession:
    """What the next-best-action learner reads of one closed session: the session, the agent actions in order as
    (state_key before the action, action, the actions allowed then, the playbook's next step then or None), and the
    first rating its customer gave with its session id."""

    session: SessionRecord
    actions: tuple[tuple[str, str, tuple[str, ...], str | None], ...]
    rating: int | None = None
    #: The escalation model's inputs after each of the session's events that stored them, in order.
    risk_features: tuple[Mapping[str, float], ...] = ()


@dataclass(frozen=True)
class BottleneckQuery:
    """Sessions opened in [since, until) (naive UTC), optionally of one intent and one queue."""

    since: datetime
    until: datetime
    intent: str = ""
    queue: str = ""


@dataclass(frozen=True)
class TimeSpread:
    """Seconds per session in one group: how many sessions of the group spent any time there (``count``), and over
    all the group's sessions (zeros included) the median, the 90th percentile (nearest-rank) and the total."""

    count: int
    p50_s: float
    p90_s: float
    total_s: float


@dataclass(frozen=True)
class Bottleneck:
    """Where time went in one group (a stage, a queue or an intent): waiting and handling, per session."""

    dimension: str  # stage, queue or intent
    value: str
    sessions: int
    wait: TimeSpread
    handling: TimeSpread
    transfers: int  # transfers out of this group


@dataclass(frozen=True)
class BottleneckData:
    sessions: int
    groups: list[Bottleneck]


class SessionLost(Exception):
    """The write was refused because the caller no longer holds the session (another stream took it over after
    the lease lapsed, or its sequence moved on): nothing was written."""


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


class DecisionStore(Protocol):
    """The decision log: every Recommend answer once, its reward once, and what a learner reads of them.

    The log holds features only: the caller passes the policy's context as numbers, flags and short labels, never
    the customer's message or any other free text (:func:`check_decision` refuses long strings)."""

    async def add_decision(self, row: DecisionRow) -> tuple[DecisionRow, bool]:
        """Store ``row`` unless its decision id is stored already, and return after the commit: (the stored row,
        True when it was there before and nothing new was stored). The store sets ``decided_at``. Concurrent adds of
        one id store one row. Raises ValueError for a row :func:`check_decision` refuses."""

    async def get_decision(self, decision_id: str) -> DecisionRow | None:
        """The stored decision, or None."""

    async def add_reward(self, row: RewardRow) -> tuple[RewardRow, bool]:
        """Store the decision's reward unless it has one already (the first one written wins: feedback or the
        default, whichever commits first), and return after the commit: (the stored reward, True when one was
        there before). The store copies the decision's customer_key and sets ``rewarded_at``. Raises ValueError for
        a bad row and LookupError when the decision is not stored."""

    async def rewards_since(self, after_sequence: int, *, limit: int) -> list[RewardedDecision]:
        """Up to ``limit`` decisions with a sequence greater than ``after_sequence``, in sequence order, each with
        the first feedback (lowest sequence) its own customer gave with its decision id, that feedback's complaint
        aspects, and its stored reward. Each is read as it stands now: feedback may still come for a recent
        decision, so a learner advances its cursor only past decisions that have a reward (and, on PostgreSQL
        with several writers, only past decisions older than a settle time: a row still committing may hold a lower
        sequence than one already visible, as for :meth:`AlertFeedStore.feedback_since`)."""

    async def decisions_without_feedback(self, older_than: datetime, *, limit: int) -> list[DecisionRow]:
        """Up to ``limit`` decisions decided before ``older_than`` (naive UTC) with neither feedback of their
        customer nor a stored reward, oldest first: the ones due a default reward."""


class PolicyStore(Protocol):
    """Policy versions: the learner publishes, every replica polls for the newest."""

    async def publish_policy(self, row: PolicyRow) -> tuple[PolicyRow, bool]:
        """Store a new version once it has passed its check; publishing a version that exists changes nothing
        (the stored one and True come back). Answered after the commit."""
        ...

    async def latest_policy(self, *, kind: str = "recommend", with_payload: bool = True) -> PolicyRow | None:
        """The newest published version of ``kind`` (highest sequence), or None; without the payload when not
        needed."""
        ...


class SessionStore(Protocol):
    """Live sessions: one row per session (snapshot, lease, outcome) and its events, append-only.

    One writer at a time: a stream claims a session (a lease with an expiry, renewed by its process while the
    stream is open) and every append checks, in its transaction, that the lease is still its own and that the
    session is at the sequence it expects, so two writers can never interleave events."""

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session as stored, or None."""

    async def create_session(self, record: SessionRecord) -> tuple[SessionRecord, bool]:
        """Store a new session unless its id is stored already; (the stored one, True when it was there before)."""

    async def claim_session(self, session_id: str, lease: Lease) -> tuple[SessionRecord, bool]:
        """Take the session's lease when it is free, lapsed or already ``lease``'s (True), or leave it to its holder
        (False); either way the session as stored comes back. Raises LookupError when the session is not stored."""

    async def append_session_event(
        self, row: SessionEventRow, update: SessionUpdate, lease: Lease
    ) -> tuple[SessionEventRow, bool]:
        """Store the event and the session's update and return after the commit: (the stored row, False). Appends
        that arrive together may share one transaction (group commit); one that fails does not fail the others.
        An event whose ``client_event_id`` the session holds already changes nothing: (that stored row, True).
        Raises SessionLost when ``lease`` no longer holds the session or the session is not at
        ``row.event_sequence - 1``; the lease is renewed by a successful write."""

    async def release_session(self, session_id: str, lease: Lease) -> None:
        """Give up the lease if ``lease`` holds it."""

    async def renew_session_leases(self, process: str, streams: Sequence[str], lease_s: float) -> int:
        """Extend the leases ``process``'s live ``streams`` hold on open sessions by ``lease_s`` from now; how many.
        A lease of a stream not named (one that ended without releasing it) lapses."""

    async def find_session_event(self, session_id: str, client_event_id: str) -> SessionEventRow | None:
        """The session's stored event with this client id, or None."""

    async def idle_sessions(self, updated_before: datetime, *, limit: int) -> list[SessionRecord]:
        """Up to ``limit`` open sessions whose last event was committed before ``updated_before``, oldest first."""

    async def closed_sessions(self, *, limit: int) -> list[LoggedSession]:
        """The ``limit`` sessions closed most recently, oldest of them first, with their agent actions in order and
        the first rating their customer gave with the session's id."""

    async def session_bottlenecks(self, query: BottleneckQuery) -> BottleneckData:
        """Where time went in the sessions opened in the range: per stage, queue and intent, the wait and handling
        seconds per session (count, p50, p90, total) and transfers; computed in SQL."""


class CustomerStore(Protocol):
    """Everything the store keeps about one customer, as a whole."""

    async def erase_customer(self, customer_key: str, *, request_id: str) -> ErasureReport:
        """Delete every row of the customer in every customer-keyed table in one transaction and leave an audit
        record (time, counts per table, request id: no pseudonym, no personal data). The rollups (counts without
        customers) lose the customer's feedback in the same transaction."""


class Store(EventStore, FeedbackStore, AlertFeedStore, DecisionStore, PolicyStore, SessionStore, CustomerStore,
            Protocol):
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
