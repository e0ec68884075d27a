"""GetSessionBottlenecks as domain logic: where service time goes. Check the range and the filters, then let the
store aggregate the sessions opened in the range (in SQL, the same on SQLite and PostgreSQL): per stage, queue and
intent, the seconds each session's customer waited and was handled there (how many sessions spent any, the
nearest-rank median and 90th percentile, the total) and the transfers out of the group.

The figures come from what TrackSession stored with each event: the stage, queue and need the session was in when
the event came, the event's wait, and its handling time (the time since the previous event, less the wait), so a
session's time in a stage is the time from the event that entered it to the event that left it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infogap_server.errors import InvalidArgument
from infogap_server.services.insights import resolve_range
from infogap_server.services.patterns import CLIENT_ID
from infogap_server.store.base import Bottleneck, BottleneckData, BottleneckQuery, SessionStore, TimeSpread

DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=366)
#: Intents and queues are stored in columns of 64 characters.
MAX_FILTER_CHARS = 64
FILTER_RULE = f"must be at most {MAX_FILTER_CHARS} characters, each a letter, a digit or one of . _ : / + = -"


@dataclass(frozen=True)
class BottlenecksRequest:
    since: datetime | None = None
    until: datetime | None = None
    intent: str = ""
    queue: str = ""


@dataclass(frozen=True)
class Bottlenecks:
    """The answer: the range (naive UTC), the sessions opened in it and the groups, as the store ordered them (by
    dimension: stage, queue, intent; then by value)."""

    since: datetime
    until: datetime
    sessions: int
    groups: list[Bottleneck]


def _check_filter(field: str, value: str) -> None:
    if value and (len(value) > MAX_FILTER_CHARS or not CLIENT_ID.fullmatch(value)):
        raise InvalidArgument(field, FILTER_RULE)


def _rounded(t: TimeSpread) -> TimeSpread:
    """To the millisecond: sums of float seconds carry binary noise (0.30000000000000004) nobody should read."""
    return TimeSpread(t.count, round(t.p50_s, 3), round(t.p90_s, 3), round(t.total_s, 3))


class BottleneckService:
    def __init__(self, store: SessionStore,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None)) -> None:
        self._store = store
        self._now = clock

    def query(self, r: BottlenecksRequest) -> BottleneckQuery:
        """The store's query for ``r``; raises InvalidArgument naming the field and the reason."""
        since, until = resolve_range(r.since, r.until, self._now(), default=DEFAULT_RANGE, maximum=MAX_RANGE)
        _check_filter("intent", r.intent)
        _check_filter("queue", r.queue)
        return BottleneckQuery(since, until, r.intent, r.queue)

    async def bottlenecks(self, r: BottlenecksRequest) -> Bottlenecks:
        q = self.query(r)
        data: BottleneckData = await self._store.session_bottlenecks(q)
        groups = [Bottleneck(g.dimension, g.value, g.sessions, _rounded(g.wait), _rounded(g.handling), g.transfers)
                  for g in data.groups]
        return Bottlenecks(q.since, q.until, data.sessions, groups)
