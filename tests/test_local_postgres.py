"""The throwaway PostgreSQL cluster used by the store tests: start, databases, asyncpg through SQLAlchemy, an
outage (stop) and a restart on the same data and port."""

from __future__ import annotations

import pytest
from infogap_server.local_postgres import LocalPostgres
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine


async def select_one(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT 1"))).scalar_one()
    finally:
        await engine.dispose()


async def test_cluster_databases_outage_and_restart(postgres: LocalPostgres) -> None:
    first = postgres.create_database("lp_first")
    second = postgres.create_database("lp_second")
    assert first == f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/lp_first"
    assert second.endswith("/lp_second") and first != second
    assert postgres.url.endswith("/infogap")
    for url in (first, second, postgres.url):
        assert await select_one(url) == 1

    # Data written before the outage survives it.
    engine = create_async_engine(first)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (v integer)"))
        await connection.execute(text("INSERT INTO t VALUES (42)"))
    await engine.dispose()

    port = postgres.port
    postgres.stop()
    assert not postgres.is_running()
    with pytest.raises((OSError, DBAPIError)):  # connection refused
        await select_one(first)

    postgres.start()
    assert postgres.port == port
    assert await select_one(first) == 1
    engine = create_async_engine(first)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalar_one() == 42
    await engine.dispose()


async def test_postgres_url_is_a_fresh_database(postgres_url: str, postgres: LocalPostgres) -> None:
    assert postgres_url.startswith(f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/test_")
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            tables = (await connection.execute(query)).scalar_one()
    finally:
        await engine.dispose()
    assert tables == 0


def test_close_removes_everything(postgres: LocalPostgres) -> None:  # the fixture fails/skips without binaries
    cluster = LocalPostgres()
    with cluster:
        assert cluster.is_running()
        workdir = cluster.workdir
    assert not workdir.exists()


def test_database_names_are_checked(postgres: LocalPostgres) -> None:
    with pytest.raises(ValueError):
        postgres.create_database("bad name; DROP")
