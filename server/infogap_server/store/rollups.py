"""Feedback rollups: counts of feedback per UTC hour and day, and of aspects and keywords per UTC day, each for all
feedback ("") and per intent, plan and segment (see :mod:`.schema`). The store changes them in the transaction
that changes the raw rows (:func:`add`, :func:`subtract`); GetInsights sums them (:func:`insights`).

Exactness: a figure over [since, until) takes whole UTC days from the daily rollups, the whole hours left at either
end from the hourly ones, and the minutes left at either end (a range need not start on the hour) from the raw
rows, so it equals the same aggregate over the raw rows (``reference_insights`` in tests/test_rollups.py). The
period trend counts buckets from ``since``: when ``since`` is not on the hour, every bucket boundary cuts an hour
in two, and those hours come from the raw rows too. What a rollup cannot answer (a figure grouped by one dimension
and filtered by another, or filtered by two) comes from the raw rows, through the covering indexes of
``feedback`` on each dimension.

Deadlocks: every writer changes rollup rows in one order (hourly, daily, terms; each by primary key), so
concurrent inserts and erasures on PostgreSQL wait for each other but never in a cycle.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from infogap_server.store import schema
from infogap_server.store.base import InsightsData, InsightsQuery, Satisfaction, TermCount

EPOCH = datetime(1970, 1, 1)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
#: The feedback columns a rollup can count by ("" is all feedback).
DIMENSIONS = ("intent", "plan_id", "segment")
_UNITS = {"day": DAY, "hour": HOUR}
#: Bound parameters per IN list (SQLite and asyncpg both take far more; this keeps statements small).
_IN_CHUNK = 1000


def epoch_hour(at: datetime) -> int:
    """Whole hours from 1970-01-01 00:00 to ``at`` (naive UTC); SQL computes the same with :class:`PeriodBucket`."""
    return (at - EPOCH) // HOUR


class PeriodBucket(FunctionElement):
    """The number of the ``period`` seconds bucket, counted from the epoch second ``origin``, that a naive UTC
    timestamp falls in: integer arithmetic on SQLite, floor on PostgreSQL (the same answer on both)."""

    type = sa.BigInteger()
    name = "period_bucket"
    inherit_cache = True


@compiles(PeriodBucket, "sqlite")
def _period_bucket_sqlite(element, compiler, **kw) -> str:
    column, origin, period = (compiler.process(c, **kw) for c in element.clauses)
    return f"((CAST(strftime('%s', {column}) AS INTEGER) - {origin}) / {period})"


@compiles(PeriodBucket, "postgresql")
def _period_bucket_postgresql(element, compiler, **kw) -> str:
    column, origin, period = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor((EXTRACT(EPOCH FROM {column}) - {origin}) / {period}) AS BIGINT)"


def _epoch_hours_sql(column) -> PeriodBucket:
    return PeriodBucket(column, sa.literal(0), sa.literal(3600))


# --- keeping the rollups ------------------------------------------------------------------------------------


@dataclass
class Deltas:
    """Changes to the rollups, by primary key (in each table's column order)."""

    hourly: Counter = field(default_factory=Counter)
    daily: Counter = field(default_factory=Counter)
    terms: Counter = field(default_factory=Counter)

    def tables(self) -> list[tuple[sa.Table, Counter]]:
        """In the order every writer changes them."""
        return [(schema.feedback_hourly, self.hourly), (schema.feedback_daily, self.daily),
                (schema.feedback_terms_daily, self.terms)]


def _dimension_values(intent: str, plan_id: str, segment: str) -> list[tuple[str, str]]:
    return [("", ""), ("intent", intent), ("plan_id", plan_id), ("segment", segment)]


def deltas(feedback: Iterable[Sequence], terms: Iterable[Sequence] = ()) -> Deltas:
    """What rows add to the rollups: ``feedback`` as (received_at, rating, intent, plan_id, segment), ``terms`` as
    (received_at, kind, term, intent, plan_id, segment), the last three of the term's feedback."""
    out = Deltas()
    for received_at, rating, intent, plan_id, segment in feedback:
        hour = epoch_hour(received_at)
        for dimension, value in _dimension_values(intent, plan_id, segment):
            out.hourly[(dimension, value, hour, rating)] += 1
            out.daily[(dimension, value, hour // 24, rating)] += 1
    for received_at, kind, term, intent, plan_id, segment in terms:
        day = epoch_hour(received_at) // 24
        for dimension, value in _dimension_values(intent, plan_id, segment):
            out.terms[(dimension, value, kind, day, term)] += 1
    return out


def _key_names(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


async def add(conn: AsyncConnection, insert: Callable[[sa.Table], sa.Insert], change: Deltas) -> None:
    """Add ``change`` to the rollups in the caller's transaction: insert-or-add (ON CONFLICT DO UPDATE, on SQLite
    and PostgreSQL alike), rows in primary-key order."""
    for table, counts in change.tables():
        if not counts:
            continue
        names = _key_names(table)
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=names,
            set_={"feedback_count": table.c.feedback_count + statement.excluded.feedback_count})
        await conn.execute(statement, [{**dict(zip(names, key, strict=True)), "feedback_count": n}
                                       for key, n in sorted(counts.items())])


async def subtract(conn: AsyncConnection, change: Deltas) -> None:
    """Take ``change`` off the rollups in the caller's transaction, rows in primary-key order; rows that reach 0
    are deleted (a group with no feedback left must not be listed)."""
    for table, counts in change.tables():
        if not counts:
            continue
        names = _key_names(table)
        match = sa.and_(*[table.c[name] == sa.bindparam(f"k_{name}") for name in names])
        rows = [{**{f"k_{name}": v for name, v in zip(names, key, strict=True)}, "n": n}
                for key, n in sorted(counts.items())]
        await conn.execute(
            sa.update(table).where(match).values(feedback_count=table.c.feedback_count - sa.bindparam("n")), rows)
        await conn.execute(sa.delete(table).where(match, table.c.feedback_count <= 0), rows)


async def erase_feedback(conn: AsyncConnection, customer_key: str) -> dict[str, int]:
    """Delete the customer's feedback and its terms and take them off the rollups, in the caller's transaction;
    rows deleted per table.

    What is subtracted is what the deletes returned, so a feedback row another transaction commits meanwhile
    (PostgreSQL, read committed) is either erased with its terms and subtracted, or left whole: its terms first,
    then the feedback, then the terms of erased feedback that committed between the two deletes."""
    f, t = schema.feedback, schema.feedback_terms
    term_columns = (t.c.feedback_sequence, t.c.received_at, t.c.kind, t.c.term)
    terms = (await conn.execute(
        sa.delete(t).where(t.c.customer_key == customer_key).returning(*term_columns))).all()
    feedback = (await conn.execute(
        sa.delete(f).where(f.c.customer_key == customer_key)
        .returning(f.c.sequence, f.c.received_at, f.c.rating, f.c.intent, f.c.plan_id, f.c.segment))).all()
    dims = {row.sequence: (row.intent, row.plan_id, row.segment) for row in feedback}
    with_terms = {row.feedback_sequence for row in terms}
    stragglers = sorted(set(dims) - with_terms)
    for at in range(0, len(stragglers), _IN_CHUNK):
        terms += (await conn.execute(sa.delete(t).where(t.c.feedback_sequence.in_(stragglers[at:at + _IN_CHUNK]))
                                     .returning(*term_columns))).all()
    orphans = sorted({row.feedback_sequence for row in terms} - set(dims))  # terms written beside a kept row
    for at in range(0, len(orphans), _IN_CHUNK):
        dims.update({s: (i, p, g) for s, i, p, g in await conn.execute(
            sa.select(f.c.sequence, f.c.intent, f.c.plan_id, f.c.segment)
            .where(f.c.sequence.in_(orphans[at:at + _IN_CHUNK])))})
    await subtract(conn, deltas(
        [(r.received_at, r.rating, r.intent, r.plan_id, r.segment) for r in feedback],
        [(r.received_at, r.kind, r.term, *dims[r.feedback_sequence]) for r in terms if r.feedback_sequence in dims]))
    return {"feedback": len(feedback), "feedback_terms": len(terms)}


async def rebuild(conn: AsyncConnection) -> None:
    """Recompute every rollup from the raw rows, in SQL (the backfill of migration 0003): for rows written around
    the store (a bulk load, a test moving stored times)."""
    f, t = schema.feedback, schema.feedback_terms
    for table in schema.aggregate_tables():
        await conn.execute(sa.delete(table))
    for dimension in ("", *DIMENSIONS):
        label = sa.literal(dimension, sa.String)
        value = f.c[dimension] if dimension else sa.literal("", sa.String)
        by_value = [value] if dimension else []  # a constant is not grouped by
        for table, unit in ((schema.feedback_hourly, "hour"), (schema.feedback_daily, "day")):
            bucket = _epoch_hours_sql(f.c.received_at)
            if unit == "day":
                bucket = bucket // 24
            select = (sa.select(label, value, bucket, f.c.rating, sa.func.count())
                      .group_by(*by_value, bucket, f.c.rating))
            await conn.execute(sa.insert(table).from_select(
                ["dimension", "value", unit, "rating", "feedback_count"], select))
        day = _epoch_hours_sql(t.c.received_at) // 24
        select = (sa.select(label, value, t.c.kind, day, t.c.term, sa.func.count())
                  .select_from(t.join(f, f.c.sequence == t.c.feedback_sequence))
                  .group_by(*by_value, t.c.kind, day, t.c.term))
        await conn.execute(sa.insert(schema.feedback_terms_daily).from_select(
            ["dimension", "value", "kind", "day", "term", "feedback_count"], select))


# --- reading them -------------------------------------------------------------------------------------------


def _floor(at: datetime, unit: timedelta) -> datetime:
    return EPOCH + (at - EPOCH) // unit * unit


def _ceil(at: datetime, unit: timedelta) -> datetime:
    floor = _floor(at, unit)
    return floor if floor == at else floor + unit


def cover(since: datetime, until: datetime, units: Sequence[str] = ("day", "hour")) -> tuple[list, list]:
    """[since, until) as whole ``units`` (coarsest first) and what is left: ([(unit, first, end)] in units since the
    epoch, end exclusive; [(start, end)] of raw time)."""
    if since >= until:
        return [], []
    if not units:
        return [], [(since, until)]
    size = _UNITS[units[0]]
    first, end = _ceil(since, size), _floor(until, size)
    if first >= end:
        return cover(since, until, units[1:])
    low, high = cover(since, first, units[1:]), cover(end, until, units[1:])
    whole = (units[0], (first - EPOCH) // size, (end - EPOCH) // size)
    return low[0] + [whole] + high[0], _merged(low[1] + high[1])


def _merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if out and out[-1][1] >= start:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _rollup_for(filters: dict[str, str], key: str | None) -> tuple[str, str | None] | None:
    """The rollup rows a figure grouped by ``key`` (a dimension, "period" or None) with ``filters`` can be summed
    from: (dimension, value or None for every value), or None when only the raw rows can answer."""
    if not filters:
        return (key, None) if key in DIMENSIONS else ("", "")
    if len(filters) == 1:
        ((dimension, value),) = filters.items()
        if key in (None, "period", dimension):
            return dimension, value
    return None


# Statements are planned and built apart: a plan (plain Python) decides the shape of a statement (which tables,
# how many ranges) and the values of its bound parameters; the statement of each shape is built once and cached,
# so a call costs SQLAlchemy neither building expressions nor working out their cache key.

#: Raw time ranges in one statement at most (SQLite allows 500 SELECTs in a compound one); past it, one range.
_MAX_RANGES = 400
#: Up to this many raw time ranges are separate SELECTs of a UNION ALL, each planned with its own bounds; more
#: (the hours that period boundaries cut) are one join with a table of them.
_SEPARATE_RANGES = 4


def _raw_selects(select: Callable[[sa.FromClause | None, sa.ColumnElement, sa.ColumnElement], sa.Select],
                 prefix: str, count: int) -> list[sa.Select]:
    """SELECTs of raw rows in one of ``count`` time ranges, bound as ``{prefix}{j}_start`` and ``_end``:
    ``select(ranges, start, end)`` builds one over the range from ``start`` to ``end``, joined to ``ranges`` when
    that is not None. A few ranges are one SELECT each, planned with its own bounds; many (the hours that period
    boundaries cut) are one join with a table of them (a UNION ALL of bound values, not VALUES, whose data
    SQLAlchemy would take for part of the statement), one index search per range on both databases. (An OR of
    ranges beside an equality filter made SQLite scan every row of the filter's value.)"""
    def bound(j: int, side: str) -> sa.BindParameter:
        return sa.bindparam(f"{prefix}{j}_{side}", type_=sa.DateTime())

    if count <= _SEPARATE_RANGES:
        return [select(None, bound(j, "start"), bound(j, "end")) for j in range(count)]
    rows = [sa.select(bound(j, "start").label("start"), bound(j, "end").label("end")) for j in range(count)]
    ranges = sa.union_all(*rows).cte(f"{prefix}ranges")
    return [select(ranges, ranges.c.start, ranges.c.end)]


def _rows_within(table: sa.Table, ranges: sa.FromClause | None, start, end) -> tuple[sa.FromClause, list]:
    """The FROM and WHERE of ``table``'s rows received from ``start`` to ``end`` (columns of ``ranges``, or bound
    values when it is None)."""
    within = [table.c.received_at >= start, table.c.received_at < end]
    if ranges is None:
        return table, within
    return ranges.join(table, sa.and_(*within)), []


def _range_values(prefix: str, ranges: Sequence[tuple[datetime, datetime]]) -> dict[str, datetime]:
    values = {}
    for j, (start, end) in enumerate(ranges):
        values[f"{prefix}{j}_start"], values[f"{prefix}{j}_end"] = start, end
    return values


def _union(parts: list[sa.Select]) -> sa.Subquery:
    return (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("parts")


def _figure_plan(filters: dict[str, str], key: str | None, since: datetime, until: datetime, period_s: int = 0,
                 origin: datetime | None = None) -> tuple[tuple, dict]:
    """The shape and parameters of one satisfaction figure: ``key`` is a dimension, "period" or None (overall).
    Whole days from the daily rollup, whole hours from the hourly one, the rest from the raw rows."""
    values: dict = {f"f_{name}": value for name, value in filters.items()}
    rollup = _rollup_for(filters, key)
    parts: list[tuple] = []
    raw: list[tuple[datetime, datetime]]
    if rollup is None:
        raw = [(since, until)]
    else:
        values["dimension"], value = rollup
        if value is not None:
            values["value"] = value
        if key == "period":
            assert origin is not None
            step, origin_hour = period_s // 3600, epoch_hour(origin)
            values.update(origin_hour=origin_hour, step=step)
            aligned = origin == EPOCH + origin_hour * HOUR
            whole, raw = cover(since, until, ("hour",))
            if whole and not aligned:  # bucket boundaries cut an hour in two every step hours
                (_, first, end), cut = whole[0], whole[0][1] + (origin_hour - whole[0][1]) % step
                raw = _merged(raw + [(EPOCH + h * HOUR, EPOCH + (h + 1) * HOUR) for h in range(cut, end, step)])
            if not whole or (step == 1 and not aligned) or len(raw) > _MAX_RANGES:  # hardly a whole bucket hour
                whole, raw = [], [(since, until)]
            for i, (unit, first, end) in enumerate(whole):
                parts.append(("rollup", unit, value is not None, not aligned))
                values.update({f"{i}_lo": first, f"{i}_hi": end})
        else:
            whole, raw = cover(since, until)
            for i, (unit, first, end) in enumerate(whole):
                parts.append(("rollup", unit, value is not None, False))
                values.update({f"{i}_lo": first, f"{i}_hi": end})
    if raw:
        if key == "period":
            values.update(origin_s=int(origin.replace(tzinfo=UTC).timestamp()), period_s=period_s)
        values.update(_range_values(f"r{len(parts)}_", raw))
        parts.append(("raw", len(raw)))
    return (key, tuple(sorted(filters)), tuple(parts)), values


def _summed(key, n, rating_sum, satisfied) -> sa.Select:
    """One part of a figure, summed per key already (each part small before the union: faster on SQLite)."""
    sums = [sa.func.sum(n).label("n"), sa.func.sum(rating_sum).label("rating_sum"),
            sa.func.sum(satisfied).label("satisfied")]
    if key is None:
        return sa.select(*sums)
    return sa.select(key.label("key"), *sums).group_by(key)


@functools.lru_cache(maxsize=512)
def _figure_statement(shape: tuple) -> sa.Select:
    """The statement of a figure's shape: (key,) count, sum of ratings, count rated 4 or 5, per key in key order
    (one row for overall)."""
    key, filter_names, part_shapes = shape
    f = schema.feedback
    origin_hour, step = (sa.bindparam(name, type_=sa.BigInteger()) for name in ("origin_hour", "step"))
    parts = []
    for i, part in enumerate(part_shapes):
        if part[0] == "rollup":
            _, unit, by_value, cut = part
            table = schema.feedback_hourly if unit == "hour" else schema.feedback_daily
            n, rating = table.c.feedback_count, table.c.rating
            where = [table.c.dimension == sa.bindparam("dimension"), table.c[unit] >= sa.bindparam(f"{i}_lo"),
                     table.c[unit] < sa.bindparam(f"{i}_hi")]
            if by_value:
                where.append(table.c.value == sa.bindparam("value"))
            if cut:  # the hours a bucket boundary cuts come from the raw rows
                where.append((table.c.hour - origin_hour) % step != 0)
            group = {"period": lambda t=table: (t.c.hour - origin_hour) // step, None: lambda: None}.get(
                key, lambda t=table: t.c.value)()
            parts.append(_summed(group, n, rating * n, sa.case((rating >= 4, n), else_=0)).where(*where))
        else:
            if key == "period":
                group = PeriodBucket(f.c.received_at, sa.bindparam("origin_s", type_=sa.BigInteger()),
                                     sa.bindparam("period_s", type_=sa.BigInteger()))
            else:
                group = None if key is None else f.c[key]
            filters = [f.c[name] == sa.bindparam(f"f_{name}") for name in filter_names]

            def select(ranges, start, end, group=group, filters=filters) -> sa.Select:
                source, within = _rows_within(f, ranges, start, end)
                return _summed(group, sa.literal(1), f.c.rating, sa.case((f.c.rating >= 4, 1), else_=0)) \
                    .select_from(source).where(*within, *filters)

            parts += _raw_selects(select, f"r{i}_", part[1])
    union = _union(parts)
    sums = (sa.func.sum(union.c.n), sa.func.sum(union.c.rating_sum), sa.func.sum(union.c.satisfied))
    if key is None:
        return sa.select(*sums)
    return sa.select(union.c.key, *sums).group_by(union.c.key).order_by(union.c.key)


def _terms_plan(kind: str, filters: dict[str, str], since: datetime, until: datetime,
                top_n: int) -> tuple[tuple, dict]:
    """The shape and parameters of the ``top_n`` aspects or keywords named most in [since, until), with their
    counts in the range of equal length before: from the daily term rollup for whole days, from the raw terms for
    the rest (all of it with two filters or more)."""
    values: dict = {"kind": kind, "top_n": top_n, **{f"f_{name}": value for name, value in filters.items()}}
    rollup = _rollup_for(filters, None)
    if rollup:
        values.update(dimension=rollup[0], value=rollup[1])
    windows = []
    for window, (start, end) in (("c", (since, until)), ("p", (since - (until - since), since))):
        whole, raw = cover(start, end, ("day",)) if rollup else ([], [(start, end)])
        if whole:
            values.update({f"{window}_lo": whole[0][1], f"{window}_hi": whole[0][2]})
        values.update(_range_values(f"{window}_r", raw))
        windows.append((bool(whole), len(raw)))
    return (tuple(sorted(filters)), tuple(windows)), values


@functools.lru_cache(maxsize=256)
def _terms_statement(shape: tuple) -> sa.Select:
    """The statement of a term shape: (term, count in the range, count in the range before), the ``top_n``
    terms named in the range, most first (ties by term)."""
    filter_names, windows = shape
    f, t, r = schema.feedback, schema.feedback_terms, schema.feedback_terms_daily
    filters = [f.c[name] == sa.bindparam(f"f_{name}") for name in filter_names]
    parts = []
    for window, (whole, raw) in zip(("c", "p"), windows, strict=True):
        def counted(n, window: str = window) -> list:  # (n, previous) as the window says, summed per term
            n = sa.func.sum(n)
            return [n.label("n"), sa.literal(0).label("previous")] if window == "c" else \
                [sa.literal(0).label("n"), n.label("previous")]

        if whole:
            parts.append(sa.select(r.c.term, *counted(r.c.feedback_count)).where(
                r.c.dimension == sa.bindparam("dimension"), r.c.value == sa.bindparam("value"),
                r.c.kind == sa.bindparam("kind"), r.c.day >= sa.bindparam(f"{window}_lo"),
                r.c.day < sa.bindparam(f"{window}_hi")).group_by(r.c.term))

        def select(ranges: sa.FromClause | None, start, end, counted=counted) -> sa.Select:
            source, within = _rows_within(t, ranges, start, end)
            if filter_names:  # the filters are the feedback's: join only when there are any
                source = source.join(f, f.c.sequence == t.c.feedback_sequence)
                # A term's received_at is its feedback's (add_feedback writes both): the same range on the feedback
                # lets PostgreSQL find it by the filter's index instead of hashing all feedback of that value.
                within += [f.c.received_at >= start, f.c.received_at < end]
            return sa.select(t.c.term, *counted(sa.literal(1))).select_from(source).where(
                *within, t.c.kind == sa.bindparam("kind"), *filters).group_by(t.c.term)

        parts += _raw_selects(select, f"{window}_r", raw) if raw else []
    union = _union(parts)
    n = sa.func.sum(union.c.n).label("n")
    return (sa.select(union.c.term, n, sa.func.sum(union.c.previous)).group_by(union.c.term).having(n > 0)
            .order_by(n.desc(), union.c.term).limit(sa.bindparam("top_n", type_=sa.Integer())))


def _filters(query: InsightsQuery) -> dict[str, str]:
    return {name: value for name, value in (("intent", query.intent), ("plan_id", query.plan_id),
                                            ("segment", query.segment)) if value}


def _satisfaction(key: str, row) -> Satisfaction:
    count, rating_sum, satisfied = (int(x or 0) for x in row)
    return Satisfaction(key, count, rating_sum / count if count else 0.0, satisfied)


async def insights(conn: AsyncConnection, query: InsightsQuery) -> InsightsData:
    """:meth:`~infogap_server.store.base.FeedbackStore.feedback_insights` from the rollups (and the raw rows they
    cannot answer for): the same figures as the raw-row reference in the tests, from a few thousand rows instead
    of every row in the range."""
    filters, length = _filters(query), query.until - query.since
    if conn.dialect.name == "postgresql":
        # PostgreSQL cannot estimate the rows joined to a table of ranges (it guesses a third of the table per
        # range) and then starts parallel workers, which cost more than these small reads: none in this
        # transaction (read only; SET LOCAL ends with it).
        await conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))

    async def figure(key: str | None, since: datetime, until: datetime) -> list[Satisfaction]:
        shape, values = _figure_plan(filters, key, since, until, query.period_s, query.since)
        rows = (await conn.execute(_figure_statement(shape), values)).all()
        return [_satisfaction("" if key is None else str(row[0]), row[-3:]) for row in rows]

    async def top_terms(kind: str) -> list[TermCount]:
        shape, values = _terms_plan(kind, filters, query.since, query.until, query.top_n)
        rows = await conn.execute(_terms_statement(shape), values)
        return [TermCount(term, int(n), int(previous)) for term, n, previous in rows]

    overall = (await figure(None, query.since, query.until))[0]
    previous = (await figure(None, query.since - length, query.since))[0]
    groups = {key: await figure(key, query.since, query.until) for key in (*DIMENSIONS, "period")}
    return InsightsData(overall, previous, groups["intent"], groups["plan_id"], groups["segment"], groups["period"],
                        await top_terms("aspect"), await top_terms("keyword"))
