"""The one SQL implementation of the store, on SQLAlchemy 2 Core with asyncio. The URL picks the engine:
``sqlite+aiosqlite`` (embedded default: one file, WAL, synchronous=FULL) or ``postgresql+asyncpg`` (several
gateway replicas sharing state). Statements are built with SQLAlchemy's expression language, never from strings
with values in them. Connection failures become Unavailable: there is no in-memory fallback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from infogap_server.errors import Unavailable
from infogap_server.store import rollups, schema
from infogap_server.store.base import (
    AppendResult,
    Bottleneck,
    BottleneckData,
    BottleneckQuery,
    Candidate,
    ContentWindow,
    DecisionRow,
    ErasureReport,
    EventRow,
    FeedbackRow,
    FeedbackSignal,
    InsightsData,
    InsightsQuery,
    Lease,
    LoggedSession,
    PolicyRow,
    ReplayStart,
    RewardedDecision,
    RewardRow,
    SessionEventRow,
    SessionLost,
    SessionRecord,
    SessionUpdate,
    StoreConfigError,
    TimeSpread,
    TypeSummary,
    check_decision,
    check_policy,
    check_reward,
    decode_allowed,
)
from infogap_server.store.migrate import current_revision, head_revision, upgrade_on

log = logging.getLogger("infogap.store")

_EVENT_COLUMNS = ("customer_key", "event_id", "type", "occurred_at", "amount_minor", "item_count", "note")
_FEEDBACK_COLUMNS = tuple(f.name for f in dataclasses.fields(FeedbackRow))
_DECISION_COLUMNS = ("sequence", "decision_id", "customer_key", "policy_version", "catalogue_version", "intent",
                     "seed", "context", "candidates", "chosen", "decided_at")
_REWARD_COLUMNS = ("sequence", "decision_id", "customer_key", "reward", "source", "rewarded_at")
#: Grouped writes (session appends, decisions, feedback) committed in one transaction at most.
_WRITE_BATCH = 256
#: Values per IN (...) list: under SQLite's and asyncpg's limits on bound parameters.
_IN_CHUNK = 500
_KEY_FINGERPRINT = "pseudonym_key_fingerprint"
#: SQLSTATE classes that mean "try again": connection exceptions (08), transaction rollback such as a deadlock or
#: a serialization failure (40), insufficient resources (53), operator intervention such as a shutdown, a database
#: still starting up or a cancelled statement (57).
_RETRYABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})


#: Alembic's migration context is process-wide state: two stores of one process migrating at once (greenlets
#: interleaving on one loop) would share it. Processes are kept apart by the database's lock (migrations/env.py).
_IN_PROCESS_MIGRATION = asyncio.Lock()


def utc_now() -> datetime:
    """Now in UTC, naive: the form every stored time takes."""
    return datetime.now(UTC).replace(tzinfo=None)


class _Unreachable(Unavailable):
    """The database could not be reached, or stayed locked past the store timeout (not a deadlock or a
    serialization failure, which a smaller transaction can get past)."""


#: Store calls whose callers were cancelled, still running to their end (a strong reference keeps each alive).
_DETACHED: set[asyncio.Task] = set()


def _forget_detached(task: asyncio.Task) -> None:
    _DETACHED.discard(task)
    if task.cancelled():
        return
    error = task.exception()  # retrieved: nobody awaits it any more
    if error is not None and not isinstance(error, Unavailable | SessionLost | LookupError):
        # Unavailable was logged by _guard; anything else would otherwise vanish with the caller.
        log.error("store write failed after its caller went away", exc_info=error,
                  extra={"fields": {"error": type(error).__name__}})


def _runs_to_end(method):
    """The store call runs to its end (commit or rollback, the connection back in the pool) even when its caller is
    cancelled: a caller that hangs up (an RPC cancelled when its connection drops) must not interrupt a transaction
    half-way. Interrupted, the connection can be left holding SQLite's write lock, and every later write then waits
    out the busy timeout and fails (measured: a load generator cut off mid-Recommend locked the store until the
    process ended)."""

    @functools.wraps(method)
    async def call(self, *args, **kwargs):
        task = asyncio.ensure_future(method(self, *args, **kwargs))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                _DETACHED.add(task)
                task.add_done_callback(_forget_detached)
            raise

    return call


class SqlStore:
    """Implements :class:`~infogap_server.store.base.Store` for SQLite and PostgreSQL."""

    def __init__(self, url: str, *, timeout_s: float, migrate: bool, pool_size: int = 5) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._migrate = migrate
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self.dialect = sa.engine.make_url(url).get_dialect().name
        self.name = self.dialect
        self._failures = 0
        self._last_failure_log = float("-inf")
        #: SQLite: this process's write transactions take turns, first come first served (see _begin).
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writes: list = []  # grouped writes waiting for the next group commit: (work, future)
        self._write_task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def _create_engine(self) -> AsyncEngine:
        if self.dialect == "sqlite":
            engine = create_async_engine(
                self.url, pool_timeout=self._timeout_s, connect_args={"timeout": self._timeout_s}
            )
            sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            return engine
        return create_async_engine(
            self.url,
            pool_pre_ping=True,  # a connection the database dropped (restart, failover) is replaced, not used
            pool_size=self._pool_size,
            pool_timeout=self._timeout_s,
            connect_args={"timeout": self._timeout_s, "command_timeout": self._timeout_s},
        )

    async def open(self, *, key_fingerprint: str) -> None:
        self._engine = self._create_engine()
        async with self._guard():
            if self._migrate:
                async with _IN_PROCESS_MIGRATION, self._migration_lock(), self.engine.connect() as conn:
                    await conn.run_sync(upgrade_on)  # commits (see migrations/env.py)
            async with self.engine.begin() as conn:
                found, head = await conn.run_sync(current_revision), head_revision()
                if found != head:
                    raise StoreConfigError(
                        f"the database schema is at revision {found or 'none'}, this server needs {head}: run "
                        "`infogap db upgrade` (or set INFOGAP_MIGRATE_ON_START=true)"
                    )
                await self._check_key(conn, key_fingerprint)

    @contextlib.asynccontextmanager
    async def _migration_lock(self) -> AsyncIterator[None]:
        """Several processes on one SQLite file (``--workers N``) migrate one after the other: an exclusive lock
        on a file beside the database. (PostgreSQL takes an advisory lock in migrations/env.py instead.)"""
        database = sa.engine.make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        path = Path(database).with_name(Path(database).name + ".migrate-lock")
        handle = path.open("a")
        try:
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # releases the lock

    async def _check_key(self, conn: AsyncConnection, fingerprint: str) -> None:
        await conn.execute(
            self._insert(schema.store_meta).on_conflict_do_nothing(index_elements=["name"]),
            {"name": _KEY_FINGERPRINT, "value": fingerprint},
        )
        stored = await conn.scalar(
            sa.select(schema.store_meta.c.value).where(schema.store_meta.c.name == _KEY_FINGERPRINT)
        )
        if stored != fingerprint:
            raise StoreConfigError(
                "the pseudonym key differs from the one this database was written with: every replica must use "
                "the same INFOGAP_PSEUDONYM_KEY (or the same data directory's pseudonym.key)"
            )

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise Unavailable("the store is not open")
        return self._engine

    async def check(self) -> None:
        async with self._guard(), self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        if _DETACHED:  # writes whose callers went away finish (or fail) before the engine goes
            await asyncio.wait(set(_DETACHED), timeout=self._timeout_s)
        if self._write_task is not None and not self._write_task.done():
            with contextlib.suppress(Exception):  # writes already queued commit (or fail) before the engine goes
                await asyncio.wait_for(asyncio.shield(self._write_task), self._timeout_s)
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Database unreachable (refused, timed out, shutting down, locked) -> Unavailable: safe to retry, since
        every retryable write is idempotent."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, OSError, TimeoutError) as exc:
            self._log_failure(type(exc).__name__)
            raise _Unreachable(f"the {self.name} store cannot be reached; retry shortly") from None
        except sa.exc.DBAPIError as exc:
            state = str(getattr(exc.orig, "sqlstate", "") or getattr(exc.orig, "pgcode", "") or "")
            if not (exc.connection_invalidated or state[:2] in _RETRYABLE_SQLSTATE_CLASSES):
                raise
            self._log_failure(f"{type(exc).__name__} {state}".strip())
            raise Unavailable(f"the {self.name} store could not complete the call ({state or 'connection lost'}); "
                              "retry shortly") from None

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write. SQLite admits one writer at a time, and connections left to its busy
        handler retry with growing sleeps, in no order: under 32 concurrent writers some waited past the busy
        timeout (UNAVAILABLE) while later ones went first, and p99 latency was many times p50. So on SQLite this
        process's writers queue on one lock (FIFO), held until the commit; waiting for it is bounded by the store
        timeout like the busy handler was. Other processes (replicas, the learner) still meet the busy handler."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with asyncio.timeout(self._timeout_s):  # TimeoutError: UNAVAILABLE (_guard)
            await self._write_lock.acquire()
        try:
            async with self.engine.begin() as conn:
                yield conn
        finally:
            self._write_lock.release()

    def _log_failure(self, error: str) -> None:
        """One WARNING line per second at most, with the number of failures it stands for: an outage must not
        flood the log with one line per call."""
        self._failures += 1
        now = time.monotonic()
        if now - self._last_failure_log >= 1.0:
            log.warning("store unreachable", extra={"fields": {"store": self.name, "error": error,
                                                               "failures": self._failures}})
            self._last_failure_log, self._failures = now, 0

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- events ---------------------------------------------------------------------------------------------

    async def append_events(self, rows: Sequence[EventRow], *, duplicate_window_s: float) -> AppendResult:
        if not rows:
            return AppendResult((), (), ())
        e = schema.events
        keys = sorted({r.customer_key for r in rows})
        async with self._guard(), self._begin() as conn:
            stored_ids = {
                (k, i)
                for k, i in await conn.execute(
                    sa.select(e.c.customer_key, e.c.event_id).where(
                        e.c.customer_key.in_(keys), e.c.event_id.in_(sorted({r.event_id for r in rows}))
                    )
                )
            }
            window = timedelta(seconds=duplicate_window_s)
            content = ContentWindow(window)
            if duplicate_window_s > 0:
                nearby = await conn.execute(
                    sa.select(e.c.customer_key, e.c.type, e.c.amount_minor, e.c.item_count, e.c.occurred_at).where(
                        e.c.customer_key.in_(keys),
                        e.c.occurred_at.between(
                            min(r.occurred_at for r in rows) - window, max(r.occurred_at for r in rows) + window
                        ),
                    )
                )
                for key, kind, amount, count, at in nearby:
                    content.add((key, kind, amount, count), at)
            to_insert, duplicate_ids, duplicate_content = [], [], []
            for index, row in enumerate(rows):
                ident = (row.customer_key, row.event_id)
                signature = (row.customer_key, row.type, row.amount_minor, row.item_count)
                if ident in stored_ids:
                    duplicate_ids.append(index)
                elif duplicate_window_s > 0 and content.seen(signature, row.occurred_at):
                    duplicate_content.append(index)
                else:
                    stored_ids.add(ident)
                    content.add(signature, row.occurred_at)
                    to_insert.append(index)
            inserted: set[tuple[str, str]] = set()
            if to_insert:
                received = utc_now()
                # In key order: two writers inserting overlapping batches take their row locks in the same order
                # and cannot deadlock.
                values = [
                    {**{c: getattr(rows[i], c) for c in _EVENT_COLUMNS}, "received_at": received}
                    for i in sorted(to_insert, key=lambda i: (rows[i].customer_key, rows[i].event_id))
                ]
                statement = (
                    self._insert(e)
                    .on_conflict_do_nothing(index_elements=["customer_key", "event_id"])
                    .returning(e.c.customer_key, e.c.event_id)
                )
                inserted = {(k, i) for k, i in await conn.execute(statement, values)}
            # A row another replica committed between our read and our insert was not inserted: a duplicate id.
            stored = [i for i in to_insert if (rows[i].customer_key, rows[i].event_id) in inserted]
            raced = [i for i in to_insert if (rows[i].customer_key, rows[i].event_id) not in inserted]
        return AppendResult(tuple(stored), tuple(sorted(duplicate_ids + raced)), tuple(duplicate_content))

    # --- feedback -------------------------------------------------------------------------------------------

    async def feedback_terms(self, sequence: int) -> list[tuple[str, str, float]]:
        t = schema.feedback_terms
        async with self._guard(), self.engine.connect() as conn:
            rows = await conn.execute(sa.select(t.c.kind, t.c.term, t.c.score)
                                      .where(t.c.feedback_sequence == sequence)
                                      .order_by(t.c.kind, t.c.score.desc(), t.c.term))
            return [(kind, term, float(score)) for kind, term, score in rows]

    async def add_feedback(
        self, row: FeedbackRow, terms: Sequence[tuple[str, str, float]] = ()
    ) -> tuple[FeedbackRow, bool]:
        f = schema.feedback
        values = {c: getattr(row, c) for c in _FEEDBACK_COLUMNS if c not in ("received_at", "sequence")}
        values["received_at"] = received = utc_now()
        statement = (
            self._insert(f).on_conflict_do_nothing(index_elements=["customer_key", "feedback_id"])
            .returning(*[f.c[c] for c in _FEEDBACK_COLUMNS])
        )

        async def insert(conn: AsyncConnection, _now: datetime) -> tuple[FeedbackRow, bool]:
            returned = (await conn.execute(statement, values)).first()
            inserted = returned is not None
            sequence = returned.sequence if inserted else None
            if inserted and terms:  # in the same transaction: the feedback and its terms, or neither
                await conn.execute(sa.insert(schema.feedback_terms), [
                    {"feedback_sequence": sequence, "customer_key": row.customer_key, "kind": kind, "term": term,
                     "score": score, "received_at": received} for kind, term, score in terms])
            if inserted:  # and the rollups that count them; a duplicate changes nothing
                dims = (row.intent, row.plan_id, row.segment)
                await rollups.add(conn, self._insert, rollups.deltas(
                    [(received, row.rating, *dims)], [(received, kind, term, *dims) for kind, term, _ in terms]))
            # Inserted, the insert returned the row; else (an earlier submission, or another replica's a moment
            # ago) the stored row answers.
            stored = returned if inserted else (await conn.execute(
                sa.select(*[f.c[c] for c in _FEEDBACK_COLUMNS])
                .where(f.c.customer_key == row.customer_key, f.c.feedback_id == row.feedback_id)
            )).one()
            return FeedbackRow(**stored._mapping), not inserted

        return await self._grouped(insert)

    async def feedback_insights(self, query: InsightsQuery) -> InsightsData:
        async with self._guard(), self.engine.connect() as conn:
            return await rollups.insights(conn, query)

    async def rebuild_rollups(self) -> None:
        """Recompute the feedback rollups from the raw rows in one transaction (the SQL of migration 0003's
        backfill): after rows were written around :meth:`add_feedback`, by a bulk load or a test."""
        async with self._guard(), self._begin() as conn:
            await rollups.rebuild(conn)

    async def feedback_since(self, after_sequence: int, *, limit: int) -> list[FeedbackSignal]:
        f, t = schema.feedback, schema.feedback_terms
        query = (sa.select(f.c.sequence, f.c.feedback_id, f.c.received_at, f.c.rating, f.c.sentiment, f.c.intent)
                 .where(f.c.sequence > after_sequence).order_by(f.c.sequence).limit(limit))
        aspects: dict[int, list[str]] = {}
        async with self._guard(), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            if rows:  # the terms' primary key leads with the feedback's sequence: a range scan
                found = await conn.execute(
                    sa.select(t.c.feedback_sequence, t.c.term)
                    .where(t.c.feedback_sequence > after_sequence, t.c.feedback_sequence <= rows[-1].sequence,
                           t.c.kind == "aspect")
                    .order_by(t.c.feedback_sequence, t.c.term))
                for sequence, term in found:
                    aspects.setdefault(sequence, []).append(term)
        return [FeedbackSignal(r.sequence, r.feedback_id, r.received_at, r.rating, r.sentiment, r.intent,
                               tuple(aspects.get(r.sequence, ()))) for r in rows]

    async def feedback_replay_start(self, since: datetime, *, rows_before: int) -> ReplayStart:
        f = schema.feedback
        async with self._guard(), self.engine.connect() as conn:
            first = await conn.scalar(sa.select(f.c.sequence).where(f.c.received_at >= since)
                                      .order_by(f.c.received_at, f.c.sequence).limit(1))
            if first is None:
                first = (await conn.scalar(sa.select(sa.func.max(f.c.sequence))) or 0) + 1
            after = await conn.scalar(sa.select(f.c.sequence).where(f.c.sequence < first)
                                      .order_by(f.c.sequence.desc()).offset(rows_before).limit(1))
        return ReplayStart(after=after or 0, first=first)

    async def recent_events(
        self, customer_key: str, *, limit: int, until: datetime | None = None, types: Sequence[str] | None = None,
    ) -> list[EventRow]:
        e = schema.events
        query = _event_rows().where(e.c.customer_key == customer_key)
        if until is not None:
            query = query.where(e.c.occurred_at <= until)
        if types is not None:
            query = query.where(e.c.type.in_(list(types)))
        query = query.order_by(e.c.occurred_at.desc(), e.c.sequence.desc()).limit(limit)
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(query)).all()
        return [EventRow(**row._mapping) for row in reversed(found)]

    async def summarize_events(self, customer_key: str, *, until: datetime) -> dict[str, TypeSummary]:
        e = schema.events
        query = (
            sa.select(
                e.c.type, sa.func.count(), sa.func.sum(e.c.amount_minor), sa.func.min(e.c.occurred_at),
                sa.func.max(e.c.occurred_at),
            )
            .where(e.c.customer_key == customer_key, e.c.occurred_at <= until)
            .group_by(e.c.type)
        )
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(query)).all()
        return {kind: TypeSummary(int(n), int(total or 0), first, last) for kind, n, total, first, last in found}

    async def events_between(
        self, customer_key: str, *, types: Sequence[str], since: datetime, until: datetime
    ) -> list[EventRow]:
        e = schema.events
        query = (
            _event_rows()
            .where(
                e.c.customer_key == customer_key, e.c.type.in_(list(types)), e.c.occurred_at > since,
                e.c.occurred_at <= until,
            )
            .order_by(e.c.occurred_at, e.c.sequence)
        )
        async with self._guard(), self.engine.connect() as conn:
            return [EventRow(**row._mapping) for row in await conn.execute(query)]

    # --- decisions ------------------------------------------------------------------------------------------

    async def add_decision(self, row: DecisionRow) -> tuple[DecisionRow, bool]:
        check_decision(row)
        d = schema.decisions
        values = _decision_values(row)
        values["decided_at"] = utc_now()
        statement = (self._insert(d).on_conflict_do_nothing(index_elements=["decision_id"])
                     .returning(*[d.c[c] for c in _DECISION_COLUMNS]))

        async def insert(conn: AsyncConnection, _now: datetime) -> tuple[DecisionRow, bool]:
            # The new row comes back from the insert itself; only a conflict (a retry, or another replica's a
            # moment ago) needs a second statement to read the stored row, which answers.
            stored = (await conn.execute(statement, values)).first()
            inserted = stored is not None
            if not inserted:
                stored = (await conn.execute(_decision_select().where(d.c.decision_id == row.decision_id))).one()
            return _decision_from(stored._mapping), not inserted

        return await self._grouped(insert)

    async def get_decision(self, decision_id: str) -> DecisionRow | None:
        d = schema.decisions
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(_decision_select().where(d.c.decision_id == decision_id))).first()
        return None if found is None else _decision_from(found._mapping)

    async def add_reward(self, row: RewardRow) -> tuple[RewardRow, bool]:
        check_reward(row)
        d, r = schema.decisions, schema.decision_rewards
        statement = (self._insert(r).on_conflict_do_nothing(index_elements=["decision_id"])
                     .returning(r.c.sequence))
        async with self._guard(), self._begin() as conn:
            key = await conn.scalar(sa.select(d.c.customer_key).where(d.c.decision_id == row.decision_id))
            if key is None:
                raise LookupError(f"no decision {row.decision_id} is stored")
            try:
                inserted = (await conn.execute(statement, {
                    "decision_id": row.decision_id, "customer_key": key, "reward": float(row.reward),
                    "source": row.source, "rewarded_at": utc_now()})).scalar() is not None
            except sa.exc.IntegrityError:  # the decision was erased since it was read
                raise LookupError(f"no decision {row.decision_id} is stored") from None
            stored = (await conn.execute(sa.select(*[r.c[c] for c in _REWARD_COLUMNS])
                                         .where(r.c.decision_id == row.decision_id))).one()
        return RewardRow(**stored._mapping), not inserted

    async def rewards_since(self, after_sequence: int, *, limit: int) -> list[RewardedDecision]:
        d, f, r, t = schema.decisions, schema.feedback, schema.decision_rewards, schema.feedback_terms
        earlier = f.alias("earlier")
        # The first feedback of the decision's own customer: another customer naming the same id is not joined.
        first_feedback = (sa.select(sa.func.min(earlier.c.sequence))
                          .where(earlier.c.decision_id == d.c.decision_id,
                                 earlier.c.customer_key == d.c.customer_key)
                          .correlate(d).scalar_subquery())
        query = (
            sa.select(*[d.c[c] for c in _DECISION_COLUMNS],
                      f.c.sequence.label("feedback_sequence"), f.c.feedback_id, f.c.rating, f.c.sentiment,
                      f.c.sentiment_negative, f.c.sentiment_neutral, f.c.sentiment_positive, f.c.resolved,
                      *[r.c[c].label(f"reward_{c}") for c in _REWARD_COLUMNS])
            .select_from(d.outerjoin(f, f.c.sequence == first_feedback)
                         .outerjoin(r, r.c.decision_id == d.c.decision_id))
            .where(d.c.sequence > after_sequence)
            .order_by(d.c.sequence)
            .limit(limit)
        )
        aspects: dict[int, list[str]] = {}
        async with self._guard(), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            with_feedback = sorted({row.feedback_sequence for row in rows if row.feedback_sequence is not None})
            for at in range(0, len(with_feedback), _IN_CHUNK):
                found = await conn.execute(
                    sa.select(t.c.feedback_sequence, t.c.term)
                    .where(t.c.feedback_sequence.in_(with_feedback[at:at + _IN_CHUNK]), t.c.kind == "aspect")
                    .order_by(t.c.feedback_sequence, t.c.term))
                for sequence, term in found:
                    aspects.setdefault(sequence, []).append(term)
        return [_rewarded_from(row._mapping, tuple(aspects.get(row.feedback_sequence, ()))) for row in rows]

    async def decisions_without_feedback(self, older_than: datetime, *, limit: int) -> list[DecisionRow]:
        d, f, r = schema.decisions, schema.feedback, schema.decision_rewards
        query = (
            _decision_select()
            .where(d.c.decided_at < older_than,
                   ~sa.exists().where(f.c.decision_id == d.c.decision_id, f.c.customer_key == d.c.customer_key),
                   ~sa.exists().where(r.c.decision_id == d.c.decision_id))
            .order_by(d.c.decided_at, d.c.sequence)
            .limit(limit)
        )
        async with self._guard(), self.engine.connect() as conn:
            return [_decision_from(row._mapping) for row in await conn.execute(query)]

    # --- policies -------------------------------------------------------------------------------------------

    async def publish_policy(self, row: PolicyRow) -> tuple[PolicyRow, bool]:
        check_policy(row)
        p = schema.policies
        values = {"version": row.version, "payload": bytes(row.payload), "summary": _json(dict(row.summary)),
                  "trained_decisions": row.trained_decisions, "published_at": utc_now(), "kind": row.kind}
        statement = self._insert(p).on_conflict_do_nothing(index_elements=["version"]).returning(p.c.sequence)
        async with self._guard(), self._begin() as conn:
            inserted = (await conn.execute(statement, values)).scalar() is not None
            stored = (await conn.execute(_policy_select(True).where(p.c.version == row.version))).one()
        return _policy_from(stored._mapping, True), not inserted

    async def latest_policy(self, *, kind: str = "recommend", with_payload: bool = True) -> PolicyRow | None:
        p = schema.policies
        query = _policy_select(with_payload).where(p.c.kind == kind).order_by(p.c.sequence.desc()).limit(1)
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(query)).first()
        return None if found is None else _policy_from(found._mapping, with_payload)

    # --- sessions -------------------------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> SessionRecord | None:
        s = schema.sessions
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(sa.select(s).where(s.c.session_id == session_id))).first()
        return None if found is None else _session_from(found._mapping)

    async def create_session(self, record: SessionRecord) -> tuple[SessionRecord, bool]:
        s = schema.sessions
        values = _session_values(record)
        statement = self._insert(s).on_conflict_do_nothing(index_elements=["session_id"]).returning(s.c.sequence)
        async with self._guard(), self._begin() as conn:
            inserted = (await conn.execute(statement, values)).scalar() is not None
            stored = (await conn.execute(sa.select(s).where(s.c.session_id == record.session_id))).one()
        return _session_from(stored._mapping), not inserted

    async def claim_session(self, session_id: str, lease: Lease) -> tuple[SessionRecord, bool]:
        s = schema.sessions
        now = utc_now()
        free = sa.or_(s.c.lease_process == "", s.c.lease_expires_at.is_(None), s.c.lease_expires_at < now,
                      sa.and_(s.c.lease_process == lease.process, s.c.lease_stream == lease.stream))
        async with self._guard(), self._begin() as conn:
            # One conditional UPDATE: on PostgreSQL it takes the row lock, so of two streams claiming at once one
            # matches and the other sees the winner's lease.
            claimed = (await conn.execute(
                sa.update(s).where(s.c.session_id == session_id, free)
                .values(lease_process=lease.process, lease_stream=lease.stream,
                        lease_expires_at=now + timedelta(seconds=lease.lease_s)))).rowcount == 1
            found = (await conn.execute(sa.select(s).where(s.c.session_id == session_id))).first()
        if found is None:
            raise LookupError(session_id)
        return _session_from(found._mapping), claimed

    async def append_session_event(
        self, row: SessionEventRow, update: SessionUpdate, lease: Lease
    ) -> tuple[SessionEventRow, bool]:
        async def append(conn: AsyncConnection, now: datetime) -> tuple[SessionEventRow, bool] | SessionLost:
            try:
                return await self._append_one(conn, row, update, lease, now)
            except SessionLost as exc:  # this append only: the others of its transaction stand
                return exc

        result = await self._grouped(append)
        if isinstance(result, SessionLost):
            raise result
        return result

    async def _grouped(self, work: Callable[[AsyncConnection, datetime], Awaitable[Any]]) -> Any:
        """Group commit, for the writes every call makes (session appends, decisions, feedback): writes that
        arrive while a transaction is committing go together in the next one, in arrival order (one commit, one
        fsync on SQLite, one BEGIN and COMMIT on PostgreSQL for all of them); each is answered only after that
        commit. With one writer, the group is that one write and nothing waits. ``work(conn, now)`` runs inside
        the transaction; if one raises, the group's transaction is rolled back and each of its writes runs again
        in a transaction of its own, so one write's fault (or a deadlock) fails only that write."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._writes.append((work, future))
        if self._write_task is None or self._write_task.done():
            self._write_task = asyncio.get_running_loop().create_task(self._commit_writes(), name="group-commit")
        return await future

    async def _commit_writes(self) -> None:
        while self._writes:
            batch, self._writes = self._writes[:_WRITE_BATCH], self._writes[_WRITE_BATCH:]
            try:
                results = await self._write_group(batch)
            except asyncio.CancelledError:  # the store is closing: nothing of this batch is known to be committed
                for _, future in batch + self._writes:
                    if not future.done():
                        future.set_exception(Unavailable(f"the {self.name} store is closing; retry shortly"))
                self._writes = []
                raise
            except Exception as exc:  # noqa: BLE001 - handed to the callers
                if len(batch) == 1 or isinstance(exc, _Unreachable):
                    # The database cannot be reached (or locked past the timeout): every write of the group gets
                    # that answer now, instead of each waiting out the timeout again on its own. A deadlock or a
                    # serialization failure (several writes of a group against another replica's) is retried below.
                    results = [exc] * len(batch)
                else:  # one write's fault (or a deadlock) must not fail the others: each in its own transaction
                    results = []
                    for item in batch:
                        try:
                            results.extend(await self._write_group([item]))
                        except Exception as one:  # noqa: BLE001 - handed to that write's caller
                            results.append(one)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller went away; the write stands (a resend with its id finds it)
                    continue
                if isinstance(result, BaseException) and not isinstance(result, SessionLost):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _write_group(self, batch: list) -> list:
        out: list = []
        async with self._guard(), self._begin() as conn:
            now = utc_now()
            for work, _ in batch:
                out.append(await work(conn, now))
        return out

    async def _append_one(self, conn: AsyncConnection, row: SessionEventRow, update: SessionUpdate, lease: Lease,
                          now: datetime) -> tuple[SessionEventRow, bool]:
        """One append inside the batch's transaction: the conditional UPDATE either holds the session (its lease,
        its sequence) or matches nothing and nothing of this append is written."""
        s, e = schema.sessions, schema.session_events
        held = (await conn.execute(
            sa.update(s)
            .where(s.c.session_id == row.session_id, s.c.lease_process == lease.process,
                   s.c.lease_stream == lease.stream, s.c.last_sequence == row.event_sequence - 1,
                   s.c.closed_at.is_(None))
            .values(lease_expires_at=now + timedelta(seconds=lease.lease_s)))).rowcount == 1
        if row.client_event_id:
            found = (await conn.execute(sa.select(e).where(
                e.c.session_id == row.session_id, e.c.client_event_id == row.client_event_id))).first()
            if found is not None:
                return _session_event_from(found._mapping), True
        if not held:
            raise SessionLost(row.session_id)
        values = _session_event_values(row)
        values["received_at"] = now
        sequence = (await conn.execute(sa.insert(e).returning(e.c.sequence), values)).scalar_one()
        await conn.execute(
            sa.update(s).where(s.c.session_id == row.session_id)
            .values(last_sequence=row.event_sequence, updated_at=now, last_event_at=update.last_event_at,
                    snapshot=_json(dict(update.snapshot)), stage=update.stage, intent=update.intent,
                    queue=update.queue, escalated=update.escalated, resolved=update.resolved,
                    close_reason=update.close_reason, closed_at=now if update.close_reason else None,
                    **({"lease_process": "", "lease_stream": "", "lease_expires_at": None}
                       if update.close_reason else {})))
        return dataclasses.replace(row, received_at=now, sequence=sequence), False

    async def release_session(self, session_id: str, lease: Lease) -> None:
        s = schema.sessions
        async with self._guard(), self._begin() as conn:
            await conn.execute(
                sa.update(s).where(s.c.session_id == session_id, s.c.lease_process == lease.process,
                                   s.c.lease_stream == lease.stream)
                .values(lease_process="", lease_stream="", lease_expires_at=None))

    async def renew_session_leases(self, process: str, streams: Sequence[str], lease_s: float) -> int:
        s = schema.sessions
        renewed = 0
        async with self._guard(), self._begin() as conn:
            for at in range(0, len(streams), _IN_CHUNK):
                result = await conn.execute(
                    sa.update(s).where(s.c.lease_process == process, s.c.lease_stream.in_(streams[at:at + _IN_CHUNK]),
                                       s.c.closed_at.is_(None))
                    .values(lease_expires_at=utc_now() + timedelta(seconds=lease_s)))
                renewed += result.rowcount
        return renewed

    async def find_session_event(self, session_id: str, client_event_id: str) -> SessionEventRow | None:
        e = schema.session_events
        async with self._guard(), self.engine.connect() as conn:
            found = (await conn.execute(sa.select(e).where(
                e.c.session_id == session_id, e.c.client_event_id == client_event_id))).first()
        return None if found is None else _session_event_from(found._mapping)

    async def idle_sessions(self, updated_before: datetime, *, limit: int) -> list[SessionRecord]:
        s = schema.sessions
        query = (sa.select(s).where(s.c.closed_at.is_(None), s.c.updated_at < updated_before)
                 .order_by(s.c.updated_at).limit(limit))
        async with self._guard(), self.engine.connect() as conn:
            return [_session_from(r._mapping) for r in await conn.execute(query)]

    async def closed_sessions(self, *, limit: int) -> list[LoggedSession]:
        s, e, f = schema.sessions, schema.session_events, schema.feedback
        async with self._guard(), self.engine.connect() as conn:
            rows = list(reversed((await conn.execute(
                sa.select(s).where(s.c.closed_at.is_not(None)).order_by(s.c.closed_at.desc(), s.c.sequence.desc())
                .limit(limit))).all()))
            ids = [r.session_id for r in rows]
            actions: dict[str, list[tuple[str, str, tuple[str, ...], str | None]]] = {}
            features: dict[str, list[dict]] = {}
            ratings: dict[tuple[str, str], int] = {}
            for at in range(0, len(ids), _IN_CHUNK):
                chunk = ids[at:at + _IN_CHUNK]
                for session_id, kind, key, action, allowed, risk in await conn.execute(
                        sa.select(e.c.session_id, e.c.kind, e.c.state_key, e.c.action, e.c.allowed, e.c.risk_features)
                        .where(e.c.session_id.in_(chunk))
                        .order_by(e.c.session_id, e.c.event_sequence)):
                    if kind == "action":
                        actions.setdefault(session_id, []).append((key, action, *decode_allowed(allowed)))
                    if risk:
                        features.setdefault(session_id, []).append(json.loads(risk))
                for session_id, customer, rating in await conn.execute(
                        sa.select(f.c.session_id, f.c.customer_key, f.c.rating)
                        .where(f.c.session_id.in_(chunk)).order_by(f.c.sequence)):
                    ratings.setdefault((session_id, customer), rating)
        return [LoggedSession(session, tuple(actions.get(session.session_id, ())),
                              ratings.get((session.session_id, session.customer_key)),
                              tuple(features.get(session.session_id, ())))
                for session in (_session_from(r._mapping) for r in rows)]

    async def session_bottlenecks(self, query: BottleneckQuery) -> BottleneckData:
        s, e = schema.sessions, schema.session_events
        in_range = [s.c.opened_at >= query.since, s.c.opened_at < query.until]
        if query.intent:
            in_range.append(s.c.intent == query.intent)
        if query.queue:
            # An alias: the grouped statements select from session_events too, and an EXISTS on the table itself
            # would correlate to their rows (no FROM left) instead of looking at every event of the session.
            seen = e.alias("queue_seen")
            in_range.append(sa.exists().where(seen.c.session_id == s.c.session_id, seen.c.queue == query.queue))
        groups: list[Bottleneck] = []
        async with self._guard(), self.engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.count()).select_from(s).where(*in_range))
            for dimension, column in (("stage", e.c.stage), ("queue", e.c.queue), ("intent", s.c.intent)):
                statement = _bottleneck_statement(column, in_range)
                for r in await conn.execute(statement):
                    groups.append(Bottleneck(
                        dimension, r.value, int(r.sessions),
                        TimeSpread(int(r.wait_count), float(r.wait_p50 or 0), float(r.wait_p90 or 0),
                                   float(r.wait_total or 0)),
                        TimeSpread(int(r.handling_count), float(r.handling_p50 or 0), float(r.handling_p90 or 0),
                                   float(r.handling_total or 0)),
                        int(r.transfers or 0)))
        return BottleneckData(int(total or 0), groups)

    # --- customers ------------------------------------------------------------------------------------------

    async def erase_customer(self, customer_key: str, *, request_id: str) -> ErasureReport:
        erased_at = utc_now()
        audit_id = uuid.uuid4().hex
        deleted: dict[str, int] = {}
        async with self._guard(), self._begin() as conn:
            # Feedback and its terms first, taken off the rollups by what the deletes return; then the rest.
            counted = await rollups.erase_feedback(conn, customer_key)
            for table in schema.customer_tables():
                if table.name in counted:
                    deleted[table.name] = counted[table.name]
                    continue
                result = await conn.execute(sa.delete(table).where(table.c[schema.CUSTOMER_KEY] == customer_key))
                deleted[table.name] = result.rowcount
            await conn.execute(
                sa.insert(schema.erasures),
                {"audit_id": audit_id, "erased_at": erased_at, "request_id": request_id,
                 "deleted": json.dumps(deleted, sort_keys=True)},
            )
        return ErasureReport(audit_id=audit_id, erased_at=erased_at, deleted=deleted)


def _event_rows() -> sa.Select:
    """SELECT of every column an EventRow holds, the sequence number included."""
    e = schema.events
    return sa.select(*[e.c[c] for c in _EVENT_COLUMNS], e.c.sequence)


def _decision_select() -> sa.Select:
    """SELECT of every column a DecisionRow is read from."""
    d = schema.decisions
    return sa.select(*[d.c[c] for c in _DECISION_COLUMNS])


def _policy_select(with_payload: bool) -> sa.Select:
    p = schema.policies
    columns = ["sequence", "version", "summary", "trained_decisions", "published_at", "kind"]
    return sa.select(*[p.c[c] for c in columns + (["payload"] if with_payload else [])])


def _policy_from(m, with_payload: bool) -> PolicyRow:
    return PolicyRow(version=m["version"], payload=bytes(m["payload"]) if with_payload else b"",
                     summary=json.loads(m["summary"]), trained_decisions=int(m["trained_decisions"]),
                     published_at=m["published_at"], sequence=int(m["sequence"]), kind=m["kind"])


_SESSION_VALUE_COLUMNS = ("session_id", "customer_key", "opened_at", "updated_at", "last_event_at", "last_sequence",
                          "stage", "intent", "queue", "closed_at", "close_reason", "resolved", "escalated",
                          "lease_process", "lease_stream", "lease_expires_at")
_SESSION_EVENT_COLUMNS = ("session_id", "customer_key", "event_sequence", "kind", "occurred_at", "from_customer",
                          "text", "action", "plan_id", "stage", "intent", "queue", "wait_s", "handling_s",
                          "state_key", "allowed", "received_at", "sequence")


def _session_values(record: SessionRecord) -> dict:
    values = {c: getattr(record, c) for c in _SESSION_VALUE_COLUMNS}
    values["snapshot"] = _json(dict(record.snapshot))
    return values


def _session_from(m) -> SessionRecord:
    values = {c: m[c] for c in _SESSION_VALUE_COLUMNS}
    values["resolved"] = None if m["resolved"] is None else bool(m["resolved"])
    values["escalated"] = bool(m["escalated"])
    return SessionRecord(**values, snapshot=json.loads(m["snapshot"]))


def _session_event_values(row: SessionEventRow) -> dict:
    values = {c: getattr(row, c) for c in _SESSION_EVENT_COLUMNS if c not in ("received_at", "sequence")}
    values["client_event_id"] = row.client_event_id or None  # NULLs never collide in the unique key
    values["state"] = _json(dict(row.state))
    values["risk_features"] = _json(dict(row.risk_features)) if row.risk_features else ""
    return values


def _session_event_from(m) -> SessionEventRow:
    values = {c: m[c] for c in _SESSION_EVENT_COLUMNS}
    values["from_customer"] = None if m["from_customer"] is None else bool(m["from_customer"])
    return SessionEventRow(**values, client_event_id=m["client_event_id"] or "", state=json.loads(m["state"]),
                           risk_features=json.loads(m["risk_features"]) if m["risk_features"] else {})


def _bottleneck_statement(column, in_range: list) -> sa.Select:
    """Per value of ``column``: the sessions with events there, and the nearest-rank p50 and p90 and the total of
    each session's wait and handling seconds there, and its transfers. Window functions rank the sessions (both
    SQLite and PostgreSQL have them; neither dialect's percentile function is needed)."""
    s, e = schema.sessions, schema.session_events
    per_session = (
        sa.select(column.label("value"), e.c.session_id,
                  sa.func.sum(e.c.wait_s).label("wait"), sa.func.sum(e.c.handling_s).label("handling"),
                  sa.func.sum(sa.case((e.c.kind == "transfer", 1), else_=0)).label("transfers"))
        .select_from(e.join(s, s.c.session_id == e.c.session_id))
        .where(*in_range)
        .group_by(column, e.c.session_id)
    ).subquery("per_session")
    value = per_session.c.value
    ranked = sa.select(
        value, per_session.c.wait, per_session.c.handling, per_session.c.transfers,
        sa.func.row_number().over(partition_by=value, order_by=per_session.c.wait).label("wait_rank"),
        sa.func.row_number().over(partition_by=value, order_by=per_session.c.handling).label("handling_rank"),
        sa.func.count().over(partition_by=value).label("n"),
    ).subquery("ranked")
    r = ranked.c

    def nearest(measure, rank, share: float):
        return sa.func.min(sa.case((rank * 1.0 >= r.n * share, measure)))

    return (
        sa.select(r.value.label("value"), sa.func.count().label("sessions"),
                  sa.func.sum(sa.case((r.wait > 0, 1), else_=0)).label("wait_count"),
                  nearest(r.wait, r.wait_rank, 0.5).label("wait_p50"),
                  nearest(r.wait, r.wait_rank, 0.9).label("wait_p90"),
                  sa.func.sum(r.wait).label("wait_total"),
                  sa.func.sum(sa.case((r.handling > 0, 1), else_=0)).label("handling_count"),
                  nearest(r.handling, r.handling_rank, 0.5).label("handling_p50"),
                  nearest(r.handling, r.handling_rank, 0.9).label("handling_p90"),
                  sa.func.sum(r.handling).label("handling_total"),
                  sa.func.sum(r.transfers).label("transfers"))
        .group_by(r.value).order_by(r.value)
    )


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _decision_values(row: DecisionRow) -> dict:
    return {
        "decision_id": row.decision_id, "customer_key": row.customer_key, "policy_version": row.policy_version,
        "catalogue_version": row.catalogue_version, "intent": row.intent, "seed": row.seed,
        "context": _json(dict(row.context)),
        "candidates": _json([{"plan_id": c.plan_id, "probability": float(c.probability), "score": float(c.score),
                              **({"features": dict(c.features)} if c.features else {})} for c in row.candidates]),
        "chosen": _json(list(row.chosen)), "top_plan_id": row.top_plan_id,
    }


def _decision_from(m) -> DecisionRow:
    return DecisionRow(
        decision_id=m["decision_id"], customer_key=m["customer_key"], policy_version=m["policy_version"],
        catalogue_version=m["catalogue_version"], seed=int(m["seed"]),
        candidates=tuple(Candidate(c["plan_id"], c["probability"], c["score"], c.get("features", {}))
                         for c in json.loads(m["candidates"])),
        chosen=tuple(json.loads(m["chosen"])), intent=m["intent"], context=json.loads(m["context"]),
        decided_at=m["decided_at"], sequence=m["sequence"],
    )


def _rewarded_from(m, aspects: tuple[str, ...]) -> RewardedDecision:
    reward = None
    if m["reward_sequence"] is not None:
        reward = RewardRow(**{c: m[f"reward_{c}"] for c in _REWARD_COLUMNS})
    return RewardedDecision(
        decision=_decision_from(m), feedback_id=m["feedback_id"], rating=m["rating"], sentiment=m["sentiment"],
        sentiment_negative=m["sentiment_negative"], sentiment_neutral=m["sentiment_neutral"],
        sentiment_positive=m["sentiment_positive"], aspects=aspects, reward=reward,
        resolved=None if m["resolved"] is None else bool(m["resolved"]),
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Every SQLite connection: WAL (readers do not block the writer), synchronous=FULL (a committed transaction
    survives power loss, not only a crash of the process), and waits instead of failing when another connection
    holds the write lock."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Every write runs to its end whatever its caller does (see _runs_to_end). Reads stay cancellable: a caller that
# gives up on a long read (insights, bottlenecks) frees its connection at once.
_WRITES = ("append_events", "add_feedback", "rebuild_rollups", "add_decision", "add_reward", "publish_policy",
           "create_session", "claim_session", "append_session_event", "release_session", "renew_session_leases",
           "erase_customer")
for _name in _WRITES:
    setattr(SqlStore, _name, _runs_to_end(getattr(SqlStore, _name)))
