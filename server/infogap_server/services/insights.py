"""GetInsights as domain logic: check the range and the filters, let the store aggregate (in SQL, the same on
SQLite and PostgreSQL, from its rollups: any range, exact to the microsecond; ranges and ``since`` on whole UTC
hours read the fewest raw rows), and turn its figures into what a service manager reads: satisfaction (count, mean
rating, CSAT: the share of 4 and 5) overall and by intent, plan, segment and period, and the aspects and keywords
named most, with their change against the range of equal length before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infogap_server.errors import InvalidArgument
from infogap_server.services.customers import SEGMENTS, to_utc_naive
from infogap_server.services.patterns import CLIENT_ID, CLIENT_ID_RULE
from infogap_server.store.base import FeedbackStore, InsightsData, InsightsQuery, Satisfaction, TermCount

PERIODS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=400)
MAX_BUCKETS = 1000
DEFAULT_TOP_N, MAX_TOP_N = 10, 50


@dataclass(frozen=True)
class InsightsRequest:
    since: datetime | None = None
    until: datetime | None = None
    intent: str = ""
    plan_id: str = ""
    segment: str = ""
    period: str = "day"
    top_n: int = 0


@dataclass(frozen=True)
class Group:
    key: str
    count: int
    mean_rating: float
    csat: float
    period_start: datetime | None = None


@dataclass(frozen=True)
class TermTrend:
    term: str
    count: int
    previous_count: int
    change: float | None  # count / previous - 1; None when previous is 0


@dataclass(frozen=True)
class Insights:
    since: datetime
    until: datetime
    overall: Group
    previous: Group
    by_intent: list[Group]
    by_plan: list[Group]
    by_segment: list[Group]
    by_period: list[Group]
    top_aspects: list[TermTrend]
    top_keywords: list[TermTrend]


def resolve_range(since: datetime | None, until: datetime | None, now: datetime, *, default: timedelta,
                  maximum: timedelta) -> tuple[datetime, datetime]:
    """A query's [since, until) in naive UTC: ``until`` defaults to ``now`` and ``since`` to ``default`` before it;
    InvalidArgument naming ``since`` when the range is empty or longer than ``maximum``. Shared by the queries over
    stored time ranges (GetInsights, GetSessionBottlenecks)."""
    until = now if until is None else to_utc_naive(until)
    since = until - default if since is None else to_utc_naive(since)
    if since >= until:
        raise InvalidArgument("since", "must be before until")
    if until - since > maximum:
        raise InvalidArgument("since", f"the range is {(until - since).days} days; the maximum is {maximum.days}")
    return since, until


def _group(s: Satisfaction, period_start: datetime | None = None) -> Group:
    csat = s.satisfied / s.count if s.count else 0.0
    key = "" if period_start is not None else s.key
    return Group(key, s.count, round(s.mean_rating, 4), round(csat, 4), period_start)


def _trend(t: TermCount) -> TermTrend:
    return TermTrend(t.term, t.count, t.previous, round(t.count / t.previous - 1, 4) if t.previous else None)


class InsightsService:
    def __init__(self, store: FeedbackStore,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None)) -> None:
        self._store = store
        self._now = clock

    def query(self, r: InsightsRequest) -> InsightsQuery:
        """The store's query for ``r``; raises InvalidArgument naming the field and the reason."""
        since, until = resolve_range(r.since, r.until, self._now(), default=DEFAULT_RANGE, maximum=MAX_RANGE)
        if r.period not in PERIODS:
            raise InvalidArgument("period", f"must be one of {', '.join(PERIODS)}")
        period_s = PERIODS[r.period]
        if (until - since).total_seconds() / period_s > MAX_BUCKETS:
            raise InvalidArgument("period", f"makes more than {MAX_BUCKETS} buckets in the range; take a longer one")
        if len(r.intent) > 128:
            raise InvalidArgument("intent", "is longer than 128 characters")
        if r.plan_id and not CLIENT_ID.fullmatch(r.plan_id):
            raise InvalidArgument("plan_id", CLIENT_ID_RULE)
        if r.segment and r.segment not in SEGMENTS:
            raise InvalidArgument("segment", f"must be one of {', '.join(SEGMENTS)}")
        top_n = r.top_n or DEFAULT_TOP_N
        if not 1 <= top_n <= MAX_TOP_N:
            raise InvalidArgument("top_n", f"is {r.top_n}; it must be between 1 and {MAX_TOP_N}")
        return InsightsQuery(since, until, r.intent, r.plan_id, r.segment, period_s, top_n)

    async def insights(self, r: InsightsRequest) -> Insights:
        q = self.query(r)
        data: InsightsData = await self._store.feedback_insights(q)
        period = timedelta(seconds=q.period_s)
        return Insights(
            since=q.since,
            until=q.until,
            overall=_group(data.overall),
            previous=_group(data.previous),
            by_intent=[_group(g) for g in data.by_intent],
            by_plan=[_group(g) for g in data.by_plan],
            by_segment=[_group(g) for g in data.by_segment],
            by_period=[_group(g, q.since + int(g.key) * period) for g in data.by_period],
            top_aspects=[_trend(t) for t in data.aspects],
            top_keywords=[_trend(t) for t in data.keywords],
        )
