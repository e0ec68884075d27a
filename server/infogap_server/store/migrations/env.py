"""Alembic environment. Runs on a connection handed over by :mod:`infogap_server.store.migrate` (the server's
own async engine, at start) or, from the ``alembic`` command line, on a new async engine for ``sqlalchemy.url``.

On PostgreSQL the upgrade holds an advisory lock, so replicas starting together migrate one after the other
instead of racing to create the same tables."""

from __future__ import annotations

import asyncio

from alembic import context
from infogap_server.store.schema import metadata
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

#: An arbitrary, fixed 64-bit number naming infogap's migration lock.
MIGRATION_LOCK = 4_610_117_204


def run_on(connection: Connection) -> None:
    """Migrate and COMMIT while holding the lock: a replica waiting on it must find the finished schema, not
    tables another transaction has not committed yet. (The advisory lock belongs to the session, so it outlives
    the commit.)"""
    locked = connection.dialect.name == "postgresql"
    if locked:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        if connection.in_transaction():
            connection.commit()
    finally:
        if locked:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


async def run_with_new_engine(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    asyncio.run(run_with_new_engine(context.config.get_main_option("sqlalchemy.url")))
