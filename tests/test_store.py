"""The store's contract, on SQLite and on a real PostgreSQL through the same code: idempotent appends, content
duplicates, reads, erasure of every customer table, the key check, migrations, and UNAVAILABLE when the database
cannot be reached."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from infogap_server.errors import Unavailable
from infogap_server.store import SUPPORTED_URLS, StoreConfigError, create_store, schema
from infogap_server.store.base import Candidate, DecisionRow, EventRow, FeedbackRow, RewardRow

from tests.test_session_store import LEASE, add_session

T0 = datetime(2024, 3, 1, 12, 0, 0)


def event(key: str, event_id: str, minutes: float = 0, *, kind: str = "order", amount: int = 1000,
          items: int = 1, note: str = "") -> EventRow:
    return EventRow(key, event_id, kind, T0 + timedelta(minutes=minutes), amount, items, note)


async def rollup_rows(store, *, rebuilt: bool = False) -> dict[str, dict[tuple, int]]:
    """Every rollup row (primary key -> count); with ``rebuilt``, after recomputing them from the raw rows."""
    if rebuilt:
        await store.rebuild_rollups()
    found = {}
    async with store.engine.connect() as conn:
        for table in schema.aggregate_tables():
            key = list(table.primary_key.columns)
            found[table.name] = {tuple(row[:-1]): row[-1] for row in
                                 await conn.execute(sa.select(*key, table.c.feedback_count))}
    return found


async def count_rows(store, table: sa.Table, **where) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with store.engine.connect() as conn:
        return await conn.scalar(query)


async def test_append_is_idempotent_per_customer_and_event_id(store):
    rows = [event("a", f"e{i}", i * 10, amount=100 + i) for i in range(5)]
    first = await store.append_events(rows, duplicate_window_s=60)
    assert first.stored == (0, 1, 2, 3, 4) and not first.duplicate_ids
    again = await store.append_events(rows, duplicate_window_s=60)
    assert again.stored == () and again.duplicate_ids == (0, 1, 2, 3, 4)
    # The same event id of another customer is another event.
    other = await store.append_events([event("b", "e0")], duplicate_window_s=60)
    assert other.stored == (0,)
    # Within one batch, the second copy of an id is a duplicate.
    batch = await store.append_events([event("c", "x", 0), event("c", "x", 500, amount=7)], duplicate_window_s=60)
    assert batch.stored == (0,) and batch.duplicate_ids == (1,)
    assert await count_rows(store, schema.events) == 7


async def test_same_content_within_the_window_is_stored_once(store):
    await store.append_events([event("a", "first", 0)], duplicate_window_s=60)
    result = await store.append_events(
        [
            event("a", "resent-with-new-id", 0.5),  # 30 s later, same content: a duplicate
            event("a", "two-minutes-later", 2),  # outside the window: a new event
            event("a", "other-amount", 0.5, amount=999),  # different content
            event("a", "in-batch-copy", 2.5),  # 30 s after the batch's own "two-minutes-later"
        ],
        duplicate_window_s=60,
    )
    assert result.stored == (1, 2) and result.duplicate_content == (0, 3)
    off = await store.append_events([event("a", "window-off", 0.1)], duplicate_window_s=0)
    assert off.stored == (0,)


async def test_reads_are_ordered_and_bounded_by_time(store):
    rows = [event("a", f"o{i}", i * 60 * 24, amount=1000 * (i + 1)) for i in range(4)]
    rows += [event("a", "r1", 2.5 * 60 * 24, kind="refund", amount=500), event("b", "o0", 0)]
    await store.append_events(rows, duplicate_window_s=0)
    recent = await store.recent_events("a", limit=3)
    assert [r.event_id for r in recent] == ["o2", "r1", "o3"]
    assert recent[0].sequence is not None
    until_day_1 = await store.recent_events("a", limit=10, until=T0 + timedelta(days=1))
    assert [r.event_id for r in until_day_1] == ["o0", "o1"]
    summary = await store.summarize_events("a", until=T0 + timedelta(days=10))
    assert summary["order"].count == 4 and summary["order"].amount_minor == 10_000
    assert summary["order"].first == T0 and summary["order"].last == T0 + timedelta(days=3)
    assert summary["refund"].count == 1
    between = await store.events_between("a", types=["refund"], since=T0, until=T0 + timedelta(days=3))
    assert [r.event_id for r in between] == ["r1"]
    assert await store.summarize_events("nobody", until=T0) == {}


async def test_erasure_reaches_every_customer_table_and_leaves_an_anonymous_audit(store):
    key = "k" * 64
    await store.append_events([event(key, f"e{i}", i) for i in range(3)] + [event("other", "e0")],
                              duplicate_window_s=0)
    for customer in (key, "other"):
        await store.add_feedback(FeedbackRow(customer, "f1", 2, text="late parcel", intent="track_order"),
                                 [("aspect", "delivery_delay", 0.9), ("keyword", "late", 0.5)])
    await store.add_feedback(FeedbackRow(key, "f2", 5, plan_id="planA", segment="new"))
    for customer, decision_id in ((key, "a" * 32), (key, "b" * 32), ("other", "c" * 32)):
        await store.add_decision(DecisionRow(decision_id, customer, "p1", "c1", 7, (Candidate("planA", 1.0, 0.5),),
                                             ("planA",), intent="track_order"))
        await store.add_reward(RewardRow(decision_id, 0.0, "default"))
    for customer, session_id in ((key, "s1"), (key, "s2"), ("other", "s3")):
        await add_session(store, session_id, customer, events=2, lease=LEASE)
    stored = {t.name: await count_rows(store, t, customer_key=key) for t in schema.customer_tables()}
    # A table added later must be given rows here: erasure is only shown to reach the tables this test fills.
    assert all(stored.values()), f"no rows of the customer in {[n for n, c in stored.items() if not c]}"
    report = await store.erase_customer(key, request_id="erase-1")
    assert report.deleted == stored == {"events": 3, "feedback": 2, "feedback_terms": 2, "decisions": 2,
                                        "decision_rewards": 2, "sessions": 2, "session_events": 4}
    for table in schema.customer_tables():
        assert await count_rows(store, table, customer_key=key) == 0
    assert await count_rows(store, schema.events, customer_key="other") == 1
    assert await count_rows(store, schema.decisions) == await count_rows(store, schema.decision_rewards) == 1
    # The rollups lost exactly the erased feedback: what is left counts the other customer's row alone.
    assert await rollup_rows(store) == await rollup_rows(store, rebuilt=True)
    assert await count_rows(store, schema.feedback_daily, dimension="") == 1
    async with store.engine.connect() as conn:
        audits = (await conn.execute(sa.select(schema.erasures))).mappings().all()
    assert len(audits) == 1 and json.loads(audits[0]["deleted"])["events"] == 3
    assert key not in json.dumps({k: str(v) for k, v in audits[0].items()})
    assert (await store.erase_customer(key, request_id="erase-2")).deleted["events"] == 0


def test_every_table_with_customer_data_is_keyed_by_the_pseudonym():
    """Erasure finds customer tables by their customer_key column; a table with customer data and another key
    column would escape it. The rollups are the exception: counts per bucket and dimension value, nothing that
    points at a customer (erasure subtracts from them instead)."""
    aggregates = {t.name for t in schema.aggregate_tables()}
    assert aggregates == {"feedback_hourly", "feedback_daily", "feedback_terms_daily"}
    for table in schema.metadata.sorted_tables:
        names = set(table.c.keys())
        assert "customer_id" not in names, f"{table.name} stores raw customer ids"
        if table.name in aggregates:
            assert names <= {"dimension", "value", "hour", "day", "rating", "kind", "term", "feedback_count"}, \
                f"{table.name} holds more than counts"
        elif table.name not in ("erasures", "store_meta", "policies"):  # policies: learned weights, per-segment
            # ratings of plans (counts and means over many customers), nothing that points at one customer
            assert schema.CUSTOMER_KEY in names, f"{table.name} holds no customer_key: erasure would miss it"


async def test_a_different_pseudonym_key_is_refused(store_url, store):
    other = create_store(store_url, timeout_s=5, migrate=True)
    with pytest.raises(StoreConfigError, match="pseudonym key differs"):
        await other.open(key_fingerprint="0" * 64)
    await other.close()


async def test_an_unmigrated_database_is_refused_without_migrate_on_start(store_url):
    s = create_store(store_url, timeout_s=5, migrate=False)
    with pytest.raises(StoreConfigError, match="infogap db upgrade"):
        await s.open(key_fingerprint="f" * 64)
    await s.close()


async def test_migrations_build_exactly_the_schema_the_code_uses(store):
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), schema.metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_writers_store_each_event_once(store_url, store):
    """Two store instances (as two replicas would hold) append overlapping batches at the same time."""
    second = create_store(store_url, timeout_s=10, migrate=False)
    await second.open(key_fingerprint="f" * 64)
    rows = [event(f"c{i % 7}", f"e{i}", i, amount=i) for i in range(300)]
    try:
        results = await asyncio.gather(
            *[s.append_events(rows[j:j + 100], duplicate_window_s=0)
              for s in (store, second) for j in (0, 100, 200)]
        )
    finally:
        await second.close()
    assert sum(len(r.stored) for r in results) == 300
    assert sum(len(r.duplicate_ids) for r in results) == 300
    assert await count_rows(store, schema.events) == 300


async def test_unknown_database_schemes_are_refused():
    with pytest.raises(StoreConfigError, match="not supported"):
        create_store("mysql://x/y", timeout_s=1, migrate=True)
    assert SUPPORTED_URLS == ("sqlite+aiosqlite", "postgresql+asyncpg")


async def test_sqlite_that_cannot_be_opened_is_unavailable(tmp_path):
    s = create_store(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}", timeout_s=1, migrate=True)
    with pytest.raises(Unavailable):
        await s.open(key_fingerprint="f" * 64)
    await s.close()


async def test_postgresql_going_down_is_unavailable_then_recovers(postgres, postgres_url):
    s = create_store(postgres_url, timeout_s=2, migrate=True)
    await s.open(key_fingerprint="f" * 64)
    try:
        await s.append_events([event("a", "before")], duplicate_window_s=0)
        postgres.stop(mode="fast")
        with pytest.raises(Unavailable):
            await s.append_events([event("a", "during")], duplicate_window_s=0)
        with pytest.raises(Unavailable):
            await s.check()
        postgres.start()
        result = await s.append_events([event("a", "during")], duplicate_window_s=0)
        assert result.stored == (0,)
        assert [r.event_id for r in await s.recent_events("a", limit=5)] == ["before", "during"]
    finally:
        postgres.start()
        await s.close()


async def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    s = create_store(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", timeout_s=1, migrate=True)
    await s.open(key_fingerprint="f" * 64)
    async with s.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    await s.close()


async def test_replicas_migrating_an_empty_database_together_all_start(store_url):
    """Replicas (or workers) starting at once on a fresh database: one migrates under the lock and commits before
    releasing it; the others find the finished schema."""
    stores = [create_store(store_url, timeout_s=10, migrate=True) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open(key_fingerprint="f" * 64) for s in stores))
        result = await stores[-1].append_events([event("a", "after-migration")], duplicate_window_s=0)
        assert result.stored == (0,)
    finally:
        for s in stores:
            await s.close()


async def test_a_note_with_nul_characters_is_stored_without_them(store_url, tmp_path):
    """PostgreSQL's text cannot hold NUL: the service drops it before storing (here, through the service)."""
    from infogap_server.privacy.pseudonyms import Pseudonymizer
    from infogap_server.services.customers import CustomerService, IncomingEvent
    from infogap_server.settings import Settings

    store = create_store(store_url, timeout_s=5, migrate=True)
    await store.open(key_fingerprint="f" * 64)
    try:
        service = CustomerService(Settings(data_dir=tmp_path), store, Pseudonymizer(b"k" * 32))
        result = await service.record([
            IncomingEvent("c", "e1", "complaint", T0, 0.0, 0, note="broken\x00 lid"),
            IncomingEvent("c", "e2", "order", T0, 5.0, 1),
        ])
        assert result.stored == 2 and not result.rejected
        assert [r.note for r in await store.recent_events(service.pseudonym("c"), limit=5)] == ["broken lid", ""]
    finally:
        await store.close()


def test_workers_starting_together_share_one_pseudonym_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from infogap_server.privacy.pseudonyms import KEY_FILE, load_or_create_key

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_or_create_key(tmp_path), range(32)))
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary files left


async def test_sqlite_writers_of_one_process_commit_in_arrival_order(tmp_path):
    """SQLite has one writer at a time: the store's writers queue first come first served instead of racing in
    SQLite's busy handler (which retries with growing sleeps in no order, so that under load some writers waited
    past the timeout while later ones went first). 48 concurrent event batches (writes that are not grouped)
    commit in the order they were made."""
    from infogap_server.store import create_store

    s = create_store(f"sqlite+aiosqlite:///{tmp_path / 'order.db'}", timeout_s=20, migrate=True)
    await s.open(key_fingerprint="f" * 64)
    try:
        batches = [[event(f"k{b % 5}", f"e{b:03d}-{i}", b * 10 + i) for i in range(5)] for b in range(48)]
        await asyncio.gather(*(s.append_events(batch, duplicate_window_s=0) for batch in batches))
        async with s.engine.connect() as conn:
            rows = (await conn.execute(sa.select(schema.events.c.event_id).order_by(schema.events.c.sequence))).all()
    finally:
        await s.close()
    assert [r[0] for r in rows] == [e.event_id for batch in batches for e in batch]


def test_every_store_write_runs_to_its_end_when_its_caller_goes_away():
    """Each method that opens a write transaction (or joins the group commit) is shielded from its caller's
    cancellation: a new write method cannot be left out by mistake."""
    import inspect

    from infogap_server.store import sql

    writers = {name for name, member in vars(sql.SqlStore).items()
               if not name.startswith("_") and callable(member)
               and any(call in inspect.getsource(inspect.unwrap(member))
                       for call in ("self._begin()", "self._grouped("))}
    assert writers == set(sql._WRITES)
    assert all(getattr(sql.SqlStore, name) is not inspect.unwrap(getattr(sql.SqlStore, name)) for name in sql._WRITES)
