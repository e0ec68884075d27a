"""Fixtures: a tiny model repository, the real model repository, real servers on port 0, and a throwaway
PostgreSQL cluster with a fresh database per test."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from infogap.v1 import infogap_pb2_grpc
from infogap_server.local_postgres import LocalPostgres
from infogap_server.local_postgres import available as postgres_available
from infogap_server.models.repository import versions
from infogap_server.server import InfoGapServer
from infogap_server.settings import PROJECT_ROOT, Settings

from tests.tiny_model import build_tiny_behaviour_model, build_tiny_model

REAL_REPOSITORY = PROJECT_ROOT / "model_repository"


@pytest.fixture(scope="session")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("tiny_repository")
    build_tiny_model(repository)
    build_tiny_behaviour_model(repository)
    return repository


@pytest.fixture(scope="session")
def real_repository() -> Path:
    if not versions(REAL_REPOSITORY, "infogap_text"):
        pytest.fail("the default model is not built: run `make models` (make test does it first)")
    return REAL_REPOSITORY


def settings_for(repository: Path, **overrides) -> Settings:
    base = dict(port=0, metrics_port=0, model_repository=repository, grace_period_s=2.0, log_level="WARNING",
                data_dir=Path(tempfile.mkdtemp(prefix="infogap-data-")))
    base.update(overrides)
    return Settings(**base)


@pytest_asyncio.fixture
async def start_server() -> AsyncIterator[Callable[..., contextlib.AbstractAsyncContextManager[InfoGapServer]]]:
    """``async with start_server(repository, **settings) as server`` starts a real server on port 0."""
    running: list[InfoGapServer] = []

    async def start(repository: Path, *, load: bool = True, **overrides) -> InfoGapServer:
        server = InfoGapServer(settings_for(repository, **overrides))
        running.append(server)
        if load:
            await server.start()
        else:
            await server.start_listening()
        return server

    yield start
    for server in running:
        await server.stop(0)


@pytest_asyncio.fixture
async def tiny_server(start_server, tiny_repository) -> InfoGapServer:
    return await start_server(tiny_repository)


@contextlib.asynccontextmanager
async def channel_to(server: InfoGapServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest_asyncio.fixture
async def tiny_stub(tiny_server) -> AsyncIterator[infogap_pb2_grpc.InfoGapStub]:
    async with channel_to(tiny_server) as channel:
        yield infogap_pb2_grpc.InfoGapStub(channel)


_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A started throwaway PostgreSQL cluster for the whole session (removed at the end).

    Missing binaries fail the test (CI must never skip these); INFOGAP_TEST_SKIP_POSTGRES=1 skips instead."""
    reason = postgres_available()
    if reason is not None:
        if os.environ.get("INFOGAP_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"INFOGAP_TEST_SKIP_POSTGRES=1: {reason}")
        pytest.fail(
            f"{reason}: run `make postgres` (make test does it first), or set INFOGAP_TEST_SKIP_POSTGRES=1 to skip"
        )
    cluster = LocalPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def postgres_url(postgres: LocalPostgres) -> str:
    """A fresh, empty database per test: ``postgresql+asyncpg://postgres@127.0.0.1:PORT/test_N_xxxxxxxx``."""
    postgres.start()  # a no-op unless an earlier test stopped the cluster and did not start it again
    return postgres.create_database(f"test_{next(_database_numbers)}_{uuid.uuid4().hex[:8]}")


def stored_rows(url: str) -> dict[str, list[dict]]:
    """Every row of every store table, read through an engine of its own (no migration, no key check), for tests
    that look at what a server process stored."""
    import asyncio

    import sqlalchemy as sa
    from infogap_server.store import schema
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> dict[str, list[dict]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return {table.name: [dict(row) for row in (await conn.execute(sa.select(table))).mappings()]
                        for table in schema.metadata.sorted_tables}
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """A fresh store database: a SQLite file, then a database on the session's throwaway PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(store_url):
    """An open store (migrated) on ``store_url``, used directly, without a server."""
    from infogap_server.store import create_store

    s = create_store(store_url, timeout_s=20, migrate=True)
    await s.open(key_fingerprint="f" * 64)
    yield s
    await s.close()


@contextlib.asynccontextmanager
async def store_migrated_from(store_url: str, revision: str, fill):
    """A database at migration ``revision`` holding what ``await fill(conn)`` writes, then upgraded to the head
    and opened as a store (for the tests of a migration that must carry existing rows forward)."""
    from infogap_server.store import create_store
    from infogap_server.store.migrate import upgrade_on
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(upgrade_on, revision)
        async with engine.begin() as conn:
            await fill(conn)
        async with engine.connect() as conn:
            await conn.run_sync(upgrade_on)
    finally:
        await engine.dispose()
    store = create_store(store_url, timeout_s=10, migrate=False)
    await store.open(key_fingerprint="f" * 64)
    try:
        yield store
    finally:
        await store.close()
