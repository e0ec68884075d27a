"""WatchAlerts as domain logic: spikes of negative feedback, overall, per complaint aspect and per intent, found
by a documented statistical rule over the feedback in the STORE, so that every replica (and every watcher) computes
the same alerts with the same ids.

What counts
    A feedback row is *negative* when its rating is 1 or 2, or when it is 3 and its text's sentiment label is
    negative. The rating is the customer's own verdict and decides on its own at both ends; the text model only
    tips the undecided middle (a 5 with "negative" text is far more often the model misreading praise than an
    unhappy customer).

Streams (each a sequence of events, each event a hit or not)
    - overall: every feedback row is an event; the negative ones are hits;
    - aspect A: every feedback row is an event; the negative ones whose text named A (feedback_terms, kind
      'aspect': the aspects the text model found, at its aspect threshold) are hits;
    - intent I: the rows about intent I are the events; the negative ones are hits.

The rule (the same for every stream; W, B, alpha, m and L are settings)
    At each event of a stream, the window is the stream's last W events and the baseline the up to B events just
    before them. The expected rate is the baseline's, with one pseudo-hit and one pseudo-miss added
    (p = (hits + 1) / (events + 2)), so that a baseline without a hit does not make any single hit look unusual.
    The test *passes* when the window holds at least m hits and the one-sided tail P(X >= hits) is below alpha,
    X beta-binomial: the binomial over W events at the baseline's rate, with the rate's own uncertainty (its Beta
    posterior from the uniform prior) carried in, so a short baseline with a low rate by chance does not alarm.
    alpha is a fixed, strict per-test level: every stream is tested at every one of its events, so a Bonferroni
    share of a family rate would still not bound the alarms per event; it is set from the false-alarm rate
    measured by ``infogap bench --paths alerts``. A stream is tested only with a full window and a baseline of at
    least W events.

    An alert *fires* at an event where the test passes and it passed at none of the stream's previous W events:
    once a stream has fired, it is quiet until its window has passed in full without the test passing, so a
    sustained spike is one alert, not one per event (as the spike becomes the baseline, the test stops passing
    and the stream re-arms).

Determinism
    The decision at a row depends only on the stored rows, in sequence order, within the last 2 x L rows
    (L >= W + B): every stream forgets events more than L rows old, and the re-arm looks back W events. A watch
    therefore starts reading 2 x L rows before the first row of its replay and emits alerts from there: watches
    starting anywhere, on any replica, agree on every alert. The alert id hashes the stream, the sequence of the
    row that made it fire and the rule's parameters. Rows are read only once they were stored at least
    ``alerts_settle_s`` ago, so that a PostgreSQL transaction still committing a lower sequence number is not
    skipped; erasing a customer removes their rows, and alerts computed afterwards are over what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import math
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infogap_server.errors import InvalidArgument, ResourceExhausted, Unavailable
from infogap_server.services.customers import to_utc_naive
from infogap_server.settings import Settings
from infogap_server.store.base import AlertFeedStore, FeedbackSignal

#: The kinds of stream, in the order of the API's AlertStream enum.
KINDS = ("overall", "aspect", "intent")
#: Example feedback ids an alert carries (the latest hits of its window).
EXAMPLES = 5
#: Rows read from the store per query.
READ_BATCH = 2000
#: Most stream keys one watch may name.
MAX_KEYS = 100


def is_negative(rating: int, sentiment: str) -> bool:
    """The rule's definition of a negative feedback: rating 1-2, or 3 with a negative text."""
    return rating <= 2 or (rating == 3 and sentiment == "negative")


@dataclass(frozen=True)
class AlertRule:
    """The rule's parameters (see the module docstring)."""

    window_events: int = 300
    baseline_events: int = 3000
    alpha: float = 1e-5
    min_hits: int = 5
    lookback_rows: int = 50_000

    def __post_init__(self) -> None:
        if self.lookback_rows < self.window_events + self.baseline_events:
            raise ValueError("lookback_rows must be at least window_events + baseline_events")

    @classmethod
    def from_settings(cls, s: Settings) -> AlertRule:
        return cls(s.alerts_window_events, s.alerts_baseline_events, s.alerts_alpha, s.alerts_min_hits,
                   s.alerts_lookback_rows)

    @property
    def warmup_rows(self) -> int:
        """Rows read before a replay's first row so that its decisions match every other watch's."""
        return 2 * self.lookback_rows

    def fingerprint(self) -> str:
        return f"W{self.window_events}:B{self.baseline_events}:a{self.alpha!r}:m{self.min_hits}:L{self.lookback_rows}"


@dataclass(frozen=True)
class Alert:
    """One fired alert. Times are naive UTC; ``fired_at`` is the time the row that made it fire was stored (the
    same on every replica), not the moment a watcher got it."""

    alert_id: str
    kind: str
    key: str  # "" for overall; the aspect or intent name
    window_start_sequence: int
    window_end_sequence: int
    window_start: datetime
    window_end: datetime
    window_events: int
    observed_hits: int
    expected_rate: float
    baseline_events: int
    baseline_hits: int
    p_value: float
    example_feedback_ids: tuple[str, ...]
    fired_at: datetime

    @property
    def observed_rate(self) -> float:
        return self.observed_hits / self.window_events


def _log_beta(x: float, y: float) -> float:
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def _tail_terms(k: int, n: int, a: float, b: float) -> list[float]:
    """P(X = j) for j = k, k + 1, ... under Beta-Binomial(n, a, b), until the terms no longer count (relative to
    the first, below 1e-17) or j = n: the log of the first from lgamma, the rest by the ratio of successive terms."""
    first = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + _log_beta(k + a, n - k + b)
             - _log_beta(a, b))
    term, terms = 1.0, [1.0]
    for j in range(k, n):
        term *= (n - j) / (j + 1) * (j + a) / (n - j - 1 + b)
        terms.append(term)
        if term < 1e-17 * terms[0] and j + 1 > n * a / (a + b):
            break
    scale = math.exp(first)
    return [t * scale for t in terms]


def tail_probability(k: int, n: int, baseline_hits: int, baseline_events: int) -> float:
    """P(X >= k) for the hits X of a window of ``n`` events, given the baseline: X ~ Beta-Binomial(n, hits + 1,
    misses + 1), the binomial with the baseline's rate and its uncertainty (a uniform prior updated by the
    baseline). A short baseline thus alarms less readily than a long one with the same rate."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    a, b = baseline_hits + 1.0, baseline_events - baseline_hits + 1.0
    return min(1.0, math.fsum(_tail_terms(k, n, a, b)))


def critical_hits(n: int, baseline_hits: int, baseline_events: int, alpha: float) -> int:
    """The fewest hits k of a window of ``n`` events with :func:`tail_probability` below ``alpha`` (n + 1 when even
    n hits are not that unlikely)."""
    a, b = baseline_hits + 1.0, baseline_events - baseline_hits + 1.0
    start = int(n * a / (a + b))
    terms = _tail_terms(start, n, a, b)
    if math.fsum(terms) < alpha:  # a lenient alpha: the critical value is below the mean
        start, terms = 0, _tail_terms(0, n, a, b)
    tail = 0.0
    for j in range(len(terms) - 1, -1, -1):
        tail += terms[j]
        if tail >= alpha:
            return start + j + 1
    return start


def expected_rate(baseline_hits: int, baseline_events: int) -> float:
    """The baseline's rate with one pseudo-hit and one pseudo-miss (the mean of the rate's Beta posterior)."""
    return (baseline_hits + 1) / (baseline_events + 2)


def alert_id(rule: AlertRule, kind: str, key: str, sequence: int) -> str:
    """Deterministic: the same stream, triggering row and rule give the same id on every replica."""
    text = f"{rule.fingerprint()}\x00{kind}\x00{key}\x00{sequence}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _RowStream:
    """Overall or one aspect: every row is an event, so these streams share the row window. Holds the hits of the
    window (ordinal, feedback id) and the ordinals of the baseline's hits."""

    __slots__ = ("kind", "key", "window", "baseline", "last_pass")

    def __init__(self, kind: str, key: str) -> None:
        self.kind, self.key = kind, key
        self.window: deque[tuple[int, str]] = deque()
        self.baseline: deque[int] = deque()
        self.last_pass = -(1 << 62)

    def advance(self, ordinal: int, w: int, b: int) -> None:
        window, baseline = self.window, self.baseline
        while window and window[0][0] <= ordinal - w:
            baseline.append(window.popleft()[0])
        while baseline and baseline[0] <= ordinal - w - b:
            baseline.popleft()


class _EventStream:
    """One intent: its own events, the last W in the window (ordinal, sequence, received_at, feedback id, hit) and up
    to B before them in the baseline (ordinal, hit), none older than the look-back."""

    __slots__ = ("key", "window", "baseline", "window_hits", "baseline_hits", "count", "last_pass")

    def __init__(self, key: str) -> None:
        self.key = key
        self.window: deque[tuple[int, int, datetime, str, bool]] = deque()
        self.baseline: deque[tuple[int, bool]] = deque()
        self.window_hits = self.baseline_hits = 0
        self.count = 0  # events seen: differences between counts are event distances
        self.last_pass: tuple[int, int] = (-(1 << 62), -(1 << 62))  # (count, ordinal) of the last pass

    def add(self, event: tuple[int, int, datetime, str, bool], oldest: int, w: int, b: int) -> None:
        """Forget events at or before ordinal ``oldest`` (the look-back), then append ``event``."""
        window, baseline = self.window, self.baseline
        while baseline and baseline[0][0] <= oldest:
            self.baseline_hits -= baseline.popleft()[1]
        if not baseline:
            while window and window[0][0] <= oldest:
                self.window_hits -= window.popleft()[4]
        window.append(event)
        self.window_hits += event[4]
        self.count += 1
        if len(window) > w:
            ordinal, _, _, _, hit = window.popleft()
            self.window_hits -= hit
            baseline.append((ordinal, hit))
            self.baseline_hits += hit
            if len(baseline) > b:
                self.baseline_hits -= baseline.popleft()[1]


class AlertDetector:
    """Feed it the stored feedback rows in sequence order (:meth:`add`); it returns the alerts that fire at each."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self._ordinal = -1
        self._recent: deque[tuple[int, datetime]] = deque(maxlen=rule.window_events)  # (sequence, received_at)
        self._overall = _RowStream("overall", "")
        self._aspects: dict[str, _RowStream] = {}
        self._intents: dict[str, _EventStream] = {}
        self._critical: dict[tuple[int, int], int] = {}

    def _critical_hits(self, baseline_events: int, baseline_hits: int) -> int:
        key = (baseline_events, baseline_hits)
        found = self._critical.get(key)
        if found is None:
            if len(self._critical) > 200_000:
                self._critical.clear()
            found = self._critical[key] = max(self.rule.min_hits, critical_hits(
                self.rule.window_events, baseline_hits, baseline_events, self.rule.alpha))
        return found

    def add(self, row: FeedbackSignal) -> list[Alert]:
        rule = self.rule
        w, b = rule.window_events, rule.baseline_events
        self._ordinal += 1
        i = self._ordinal
        self._recent.append((row.sequence, row.received_at))
        negative = is_negative(row.rating, row.sentiment)
        if negative:
            self._overall.window.append((i, row.feedback_id))
            for aspect in row.aspects:
                stream = self._aspects.get(aspect)
                if stream is None:
                    stream = self._aspects[aspect] = _RowStream("aspect", aspect)
                stream.window.append((i, row.feedback_id))
        alerts = []
        baseline_events = min(b, i + 1 - w)
        if baseline_events < w:  # too few rows for any test yet
            streams: tuple[_RowStream, ...] = ()
        else:
            streams = (self._overall, *self._aspects.values())
        for stream in streams:
            if len(stream.window) < rule.min_hits:  # cannot pass; advance() later catches up (it depends on i only)
                continue
            stream.advance(i, w, b)
            if len(stream.window) < rule.min_hits:
                continue
            hits = len(stream.window)
            if hits < self._critical_hits(baseline_events, len(stream.baseline)):
                continue
            if stream.last_pass < i - w:  # no pass in the previous W events: it fires
                alerts.append(self._row_alert(stream, row, baseline_events))
            stream.last_pass = i
        if row.intent:
            alert = self._add_intent(row, negative, i)
            if alert is not None:
                alerts.append(alert)
        if len(alerts) > 1:  # in a fixed order, whatever order the streams were first seen in
            alerts.sort(key=lambda a: (KINDS.index(a.kind), a.key))
        return alerts

    def _row_alert(self, stream: _RowStream, row: FeedbackSignal, baseline_events: int) -> Alert:
        w = self.rule.window_events
        start_sequence, start_time = self._recent[0]
        hits, baseline_hits = len(stream.window), len(stream.baseline)
        p = expected_rate(baseline_hits, baseline_events)
        examples = tuple(feedback_id for _, feedback_id in list(stream.window)[-EXAMPLES:][::-1])
        p_value = tail_probability(hits, w, baseline_hits, baseline_events)
        return Alert(alert_id(self.rule, stream.kind, stream.key, row.sequence), stream.kind, stream.key,
                     start_sequence, row.sequence, start_time, row.received_at, w, hits, p, baseline_events,
                     baseline_hits, p_value, examples, row.received_at)

    def _add_intent(self, row: FeedbackSignal, hit: bool, i: int) -> Alert | None:
        rule = self.rule
        w = rule.window_events
        stream = self._intents.get(row.intent)
        if stream is None:
            stream = self._intents[row.intent] = _EventStream(row.intent)
        oldest = i - rule.lookback_rows
        stream.add((i, row.sequence, row.received_at, row.feedback_id, hit), oldest, w, rule.baseline_events)
        hits, baseline_events = stream.window_hits, len(stream.baseline)
        if len(stream.window) < w or baseline_events < w or hits < rule.min_hits:
            return None
        if hits < self._critical_hits(baseline_events, stream.baseline_hits):
            return None
        last_count, last_ordinal = stream.last_pass
        stream.last_pass = (stream.count, i)
        if last_count >= stream.count - w and last_ordinal > oldest:  # passed within the previous W events
            return None
        p = expected_rate(stream.baseline_hits, baseline_events)
        examples = tuple(e[3] for e in reversed(stream.window) if e[4])[:EXAMPLES]
        first = stream.window[0]
        return Alert(alert_id(rule, "intent", stream.key, row.sequence), "intent", stream.key, first[1],
                     row.sequence, first[2], row.received_at, w, hits, p, baseline_events, stream.baseline_hits,
                     tail_probability(hits, w, stream.baseline_hits, baseline_events), examples, row.received_at)


# --- the service ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchRequest:
    """A watch: replay from ``since`` (None: the server's default), of the streams of ``kinds`` (empty: all; a kind
    the API does not know is "") and of ``keys`` (empty: all), and with ``follow`` keep watching."""

    since: datetime | None = None
    kinds: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    follow: bool = False


class AlertService:
    """WatchAlerts on the store: validate, then replay and (with ``follow``) poll for new feedback."""

    def __init__(self, settings: Settings, store: AlertFeedStore,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
                 on_alert: Callable[[Alert], None] = lambda alert: None) -> None:
        self._settings = settings
        self._store = store
        self._now = clock
        self._on_alert = on_alert  # metrics: called for every alert sent to a watcher
        self.rule = AlertRule.from_settings(settings)
        self.watching = 0  # watches running now (each replays on its own: they are capped)

    def check(self, r: WatchRequest) -> tuple[datetime, frozenset[str], frozenset[str]]:
        """(since as naive UTC, kinds, keys); raises InvalidArgument naming the field and the reason."""
        now = self._now()
        since = now - timedelta(seconds=self._settings.alerts_default_replay_s) if r.since is None \
            else to_utc_naive(r.since)
        if since > now + timedelta(seconds=self._settings.clock_skew_s):
            raise InvalidArgument("since", "is in the future")
        longest = timedelta(days=self._settings.alerts_max_replay_days)
        if now - since > longest:
            raise InvalidArgument("since", f"is more than {longest.days} days ago (alerts_max_replay_days)")
        for index, kind in enumerate(r.kinds):
            if kind not in KINDS:
                raise InvalidArgument(f"kinds[{index}]", f"must be one of {', '.join(KINDS)}")
        if len(r.keys) > MAX_KEYS:
            raise InvalidArgument("keys", f"has {len(r.keys)} keys; the maximum is {MAX_KEYS}")
        for index, key in enumerate(r.keys):
            if not key or len(key) > 64:
                raise InvalidArgument(f"keys[{index}]", "must be an aspect or intent name of 1 to 64 characters")
        return since, frozenset(r.kinds), frozenset(r.keys)

    def watch(self, r: WatchRequest, stop: asyncio.Event) -> AsyncIterator[Alert]:
        """Check ``r`` now (raising InvalidArgument), then return the alerts as they are found: the replay from
        ``since`` first, then, with ``follow``, new ones every poll interval until ``stop`` is set (which ends the
        watch with UNAVAILABLE: the server is shutting down)."""
        since, kinds, keys = self.check(r)
        return self._counted(self._watch(since, kinds, keys, r.follow, stop))

    async def _counted(self, alerts: AsyncIterator[Alert]) -> AsyncIterator[Alert]:
        """At most alerts_max_watches watches at once: each one's replay is seconds of CPU on a large store."""
        if self.watching >= self._settings.alerts_max_watches:
            raise ResourceExhausted(f"{self.watching} alert watches are running, the most this server takes "
                                    "(alerts_max_watches): retry later, or share one watch")
        self.watching += 1
        try:
            async for alert in alerts:
                yield alert
        finally:
            self.watching -= 1

    async def _watch(self, since: datetime, kinds: frozenset[str], keys: frozenset[str], follow: bool,
                     stop: asyncio.Event) -> AsyncIterator[Alert]:
        s = self._settings
        detector = AlertDetector(self.rule)
        start = await self._store.feedback_replay_start(since, rows_before=self.rule.warmup_rows)
        after = start.after
        settle = timedelta(seconds=s.alerts_settle_s)
        while True:
            if stop.is_set():
                raise _shutting_down()
            cutoff = self._now() - settle
            rows = await self._store.feedback_since(after, limit=READ_BATCH)
            # In sequence order: a row not settled yet holds back the ones after it.
            settled = list(itertools.takewhile(lambda row, cutoff=cutoff: row.received_at <= cutoff, rows))
            if settled:
                after = settled[-1].sequence
                # Pure Python work of a few milliseconds per hundred rows: on a thread, so that a long replay does
                # not hold the event loop (and every other call) for its whole batch.
                for alert in await asyncio.to_thread(_detect, detector, settled, start.first):
                    if (not kinds or alert.kind in kinds) and (not keys or alert.key in keys):
                        self._on_alert(alert)
                        yield alert
            if len(settled) == READ_BATCH:
                continue  # more stored rows to read now
            if not follow:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), s.alerts_poll_interval_s)


def _detect(detector: AlertDetector, rows: list[FeedbackSignal], first: int) -> list[Alert]:
    """The alerts ``rows`` make fire, from the row with sequence ``first`` on (the rows before only warm up)."""
    return [alert for row in rows for alert in detector.add(row) if row.sequence >= first]


def _shutting_down() -> Unavailable:
    return Unavailable("the server is shutting down; watch again on another replica (since the last alert's "
                       "fired_at: alert ids are the same on every replica)")


class FirstSeen:
    """A bounded memory of ids: :meth:`add` is True the first time an id is given (within the last ``size``)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> bool:
        if item in self._ids:
            return False
        self._ids[item] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True
