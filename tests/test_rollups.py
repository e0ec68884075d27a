"""The feedback rollups (issue 12), on SQLite and on a real PostgreSQL: after any mix of inserts, duplicates and
erasures they hold exactly what a recomputation from the raw rows holds, and GetInsights from them equals the same
figures over the raw rows, for ranges on and off the hour; concurrent submissions keep them exact; migration 0003
fills them from the feedback stored before it."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from infogap_server.store import create_store, rollups, schema, sql
from infogap_server.store.base import FeedbackRow, InsightsData, InsightsQuery, TermCount
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import store_migrated_from
from tests.test_store import rollup_rows

T0 = datetime(2026, 1, 10)
INTENTS = ("track_order", "cancel_order", "get_refund", "")
PLANS = ("planA", "planB", "")
SEGMENTS = ("new", "loyal", "at_risk", "")
ASPECTS = ("delivery_delay", "communication", "billing", "damaged_item")
KEYWORDS = ("late", "parcel", "refund", "rude", "great", "box")


def random_feedback(rng: random.Random, customer: str, feedback_id: str) -> tuple[FeedbackRow, list]:
    row = FeedbackRow(customer, feedback_id, rng.randint(1, 5), intent=rng.choice(INTENTS),
                      plan_id=rng.choice(PLANS), segment=rng.choice(SEGMENTS))
    terms = [("aspect", a, 0.9) for a in rng.sample(ASPECTS, rng.randint(0, 2))]
    terms += [("keyword", k, 0.5) for k in rng.sample(KEYWORDS, rng.randint(0, 3))]
    return row, terms


def random_time(rng: random.Random) -> datetime:
    """Mostly anywhere in 16 days around T0; some exactly on an hour or a day, where buckets meet."""
    at = T0 + timedelta(seconds=rng.uniform(-6 * 86400, 10 * 86400))
    if rng.random() < 0.2:
        at = at.replace(minute=0, second=0, microsecond=0)
    if rng.random() < 0.05:
        at = at.replace(hour=0)
    return at


def random_queries(rng: random.Random, n: int) -> list[InsightsQuery]:
    queries = []
    for i in range(n):
        since = T0 + timedelta(days=rng.randint(-3, 6), hours=rng.randint(0, 23))
        if i % 2:  # off the hour, down to the microsecond
            since += timedelta(minutes=rng.randint(0, 59), seconds=rng.randint(0, 59),
                               microseconds=rng.choice((0, rng.randint(1, 999_999))))
        length = rng.choice((timedelta(minutes=rng.randint(1, 59)), timedelta(hours=rng.randint(1, 30)),
                             timedelta(days=rng.randint(1, 8), minutes=rng.randint(0, 1439))))
        filters = rng.choice(({}, {"intent": rng.choice(INTENTS[:-1])}, {"plan_id": rng.choice(PLANS[:-1])},
                              {"segment": rng.choice(SEGMENTS[:-1])},
                              {"intent": "track_order", "segment": rng.choice(SEGMENTS[:-1])},
                              {"intent": "cancel_order", "plan_id": "planA", "segment": "new"}))
        period_s = rng.choice((3600, 86400, 7 * 86400))
        queries.append(InsightsQuery(since, since + length, period_s=period_s, top_n=rng.randint(1, 6), **filters))
    return queries


async def assert_rollups_exact(store, queries: list[InsightsQuery]) -> None:
    """Insights from the rollups equal the reference over the raw rows, and the rollups equal a rebuild."""
    async with store.engine.connect() as conn:
        for query in queries:
            assert await rollups.insights(conn, query) == await reference_insights(conn, query), query
    assert await rollup_rows(store) == await rollup_rows(store, rebuilt=True)


async def test_a_random_mix_of_inserts_duplicates_and_erasures_keeps_the_rollups_exact(store, monkeypatch):
    rng = random.Random(12)
    clock = [T0]
    monkeypatch.setattr(sql, "utc_now", lambda: clock[0])  # the store stamps received_at: stamp chosen times
    customers = [f"{i:064x}" for i in range(12)]
    stored: list[tuple[str, str]] = []
    counts = {"stored": 0, "duplicates": 0, "erased": 0}
    for step in range(360):
        action = rng.random()
        if action < 0.1 and stored:  # a resubmission (other content): changes nothing
            customer, feedback_id = rng.choice(stored)
            row, terms = random_feedback(rng, customer, feedback_id)
            clock[0] = random_time(rng)
            _, duplicate = await store.add_feedback(row, terms)
            assert duplicate
            counts["duplicates"] += 1
        elif action < 0.13:
            customer = rng.choice(customers)
            report = await store.erase_customer(customer, request_id=f"erase-{step}")
            stored = [s for s in stored if s[0] != customer]
            counts["erased"] += report.deleted["feedback"]
        else:
            customer = rng.choice(customers)
            row, terms = random_feedback(rng, customer, f"f{step}")
            clock[0] = random_time(rng)
            _, duplicate = await store.add_feedback(row, terms)
            assert not duplicate
            stored.append((customer, row.feedback_id))
            counts["stored"] += 1
    assert counts["duplicates"] > 20 and counts["erased"] > 20 and len(stored) > 200, counts
    queries = random_queries(rng, 80) + [
        InsightsQuery(T0 - timedelta(days=7), T0 + timedelta(days=11), period_s=86400, top_n=50),  # everything
        InsightsQuery(T0 + timedelta(minutes=30), T0 + timedelta(days=3, minutes=30), period_s=3600),
        InsightsQuery(T0 + timedelta(hours=5, minutes=1), T0 + timedelta(days=9), period_s=7 * 86400),
    ]
    await assert_rollups_exact(store, queries)
    everything = await store.feedback_insights(queries[-3])
    assert everything.overall.count == len(stored)


async def test_erasing_everyone_empties_the_rollups(store):
    rng = random.Random(5)
    for i in range(30):
        await store.add_feedback(*random_feedback(rng, f"c{i % 3}", f"f{i}"))
    for customer in ("c0", "c1", "c2"):
        await store.erase_customer(customer, request_id=customer)
    assert await rollup_rows(store) == {t.name: {} for t in schema.aggregate_tables()}


async def test_concurrent_submissions_keep_the_rollups_exact(store_url, store):
    """Fifty submissions of one id at once store one row and count it once; fifty different rows at once,
    through two store instances (as two replicas), all counted, with the same rollup rows contended."""
    second = create_store(store_url, timeout_s=20, migrate=False)
    await second.open(key_fingerprint="f" * 64)
    terms = [("aspect", "delivery_delay", 0.9), ("keyword", "late", 0.4), ("keyword", "parcel", 0.3)]
    try:
        same = FeedbackRow("c" * 64, "once", 2, intent="track_order", plan_id="planA", segment="new")
        results = await asyncio.gather(*[(store, second)[i % 2].add_feedback(same, terms) for i in range(50)])
        assert sorted(duplicate for _, duplicate in results) == [False] + [True] * 49
        rows = [FeedbackRow(f"{i % 7:064x}", f"f{i}", 1 + i % 5, intent="track_order", plan_id="planA",
                            segment="new") for i in range(50)]
        results = await asyncio.gather(*[(store, second)[i % 2].add_feedback(row, terms)
                                         for i, row in enumerate(rows)])
        assert not any(duplicate for _, duplicate in results)
    finally:
        await second.close()
    found = await rollup_rows(store)
    assert found == await rollup_rows(store, rebuilt=True)
    assert sum(n for (dimension, *_), n in found["feedback_daily"].items() if dimension == "") == 51
    assert sum(n for (dimension, _, kind, _, term), n in found["feedback_terms_daily"].items()
               if dimension == "" and term == "late") == 51


async def test_migration_0003_fills_the_rollups_from_the_feedback_stored_before_it(store_url):
    rng = random.Random(3)

    async def fill(conn) -> None:
        for sequence in range(1, 201):
            row, terms = random_feedback(rng, f"c{sequence % 9}", f"f{sequence}")
            at = random_time(rng)
            await conn.execute(sa.insert(schema.feedback).values(
                sequence=sequence, customer_key=row.customer_key, feedback_id=row.feedback_id,
                rating=row.rating, intent=row.intent, plan_id=row.plan_id, segment=row.segment, received_at=at))
            for kind, term, score in terms:
                await conn.execute(sa.insert(schema.feedback_terms).values(
                    feedback_sequence=sequence, customer_key=row.customer_key, kind=kind, term=term,
                    score=score, received_at=at))

    async with store_migrated_from(store_url, "0002", fill) as store:
        migrated = await rollup_rows(store)
        assert sum(migrated["feedback_daily"].values()) == 4 * 200  # all feedback, and once per dimension
        assert migrated == await rollup_rows(store, rebuilt=True)
        await assert_rollups_exact(store, random_queries(rng, 30))


def test_a_range_is_covered_by_whole_days_whole_hours_and_raw_time_exactly_once():
    rng = random.Random(1)
    for _ in range(2000):
        since = T0 + timedelta(seconds=rng.uniform(0, 5 * 86400))
        if rng.random() < 0.3:
            since = since.replace(minute=0, second=0, microsecond=0)
        until = since + timedelta(seconds=rng.choice((rng.uniform(0, 7200), rng.uniform(0, 9 * 86400))))
        for units in (("day", "hour"), ("hour",), ("day",)):
            whole, raw = rollups.cover(since, until, units)
            size = {"day": rollups.DAY, "hour": rollups.HOUR}
            pieces = sorted([(rollups.EPOCH + first * size[unit], rollups.EPOCH + end * size[unit])
                             for unit, first, end in whole] + raw)
            assert all(a < b for a, b in pieces)
            joined = [p for i, p in enumerate(pieces) if i == 0 or pieces[i - 1][1] != p[0]]
            assert (pieces[0][0], pieces[-1][1]) == (since, until) if pieces else since == until
            assert len(joined) <= 1 and all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    whole, raw = rollups.cover(datetime(2026, 1, 1, 10, 23), datetime(2026, 1, 4, 5, 10))
    assert raw == [(datetime(2026, 1, 1, 10, 23), datetime(2026, 1, 1, 11)),
                   (datetime(2026, 1, 4, 5), datetime(2026, 1, 4, 5, 10))]
    assert [unit for unit, _, _ in whole] == ["hour", "day", "hour"]


async def reference_insights(conn: AsyncConnection, query: InsightsQuery) -> InsightsData:
    """The same figures straight from the raw rows (what GetInsights computed before the rollups): the reference
    the tests hold :func:`insights` to. Scans every row in the range."""
    f, t = schema.feedback, schema.feedback_terms
    length = query.until - query.since
    filters = [f.c[name] == value for name, value in rollups._filters(query).items()]
    aggregates = (sa.func.count(), sa.func.sum(f.c.rating), sa.func.sum(sa.case((f.c.rating >= 4, 1), else_=0)))
    current = [f.c.received_at >= query.since, f.c.received_at < query.until, *filters]
    origin = int(query.since.replace(tzinfo=UTC).timestamp())
    bucket = rollups.PeriodBucket(f.c.received_at, sa.literal(origin), sa.literal(query.period_s))
    overall = rollups._satisfaction("", (await conn.execute(sa.select(*aggregates).where(*current))).one())
    before = [f.c.received_at >= query.since - length, f.c.received_at < query.since, *filters]
    previous = rollups._satisfaction("", (await conn.execute(sa.select(*aggregates).where(*before))).one())
    groups = {}
    for name, key in (("intent", f.c.intent), ("plan_id", f.c.plan_id), ("segment", f.c.segment),
                      ("period", bucket)):
        statement = sa.select(key, *aggregates).where(*current).group_by(key).order_by(key)
        groups[name] = [rollups._satisfaction(str(row[0]), row[1:]) for row in await conn.execute(statement)]

    def counts(kind: str, since: datetime, until: datetime) -> sa.Select:
        statement = sa.select(t.c.term, sa.func.count().label("n")).where(
            t.c.kind == kind, t.c.received_at >= since, t.c.received_at < until)
        if filters:
            statement = statement.join(f, f.c.sequence == t.c.feedback_sequence).where(*filters)
        return statement.group_by(t.c.term)

    terms = {}
    for kind in ("aspect", "keyword"):
        top = (await conn.execute(counts(kind, query.since, query.until)
                                  .order_by(sa.desc("n"), t.c.term).limit(query.top_n))).all()
        earlier = dict((await conn.execute(counts(kind, query.since - length, query.since)
                                           .where(t.c.term.in_([term for term, _ in top])))).all())
        terms[kind] = [TermCount(term, n, earlier.get(term, 0)) for term, n in top]
    return InsightsData(overall, previous, groups["intent"], groups["plan_id"], groups["segment"], groups["period"],
                        terms["aspect"], terms["keyword"])
