"""The store: customer data on a real database. Services see the Protocols of :mod:`.base`; the one SQL
implementation lives in :mod:`.sql`, picked by the database URL (see :func:`create_store`)."""

from __future__ import annotations

from infogap_server.store.base import Store, StoreConfigError

#: The engines the store runs on (URL schemes); anything else is refused at start with this list.
SUPPORTED_URLS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def create_store(url: str, *, timeout_s: float, migrate: bool) -> Store:
    """The store for ``url``; the SQL implementation is imported only here (lazily), as backends are."""
    scheme = url.split("://", 1)[0]
    if scheme not in SUPPORTED_URLS:
        raise StoreConfigError(
            f"database URL scheme {scheme!r} is not supported; use one of {', '.join(SUPPORTED_URLS)}"
        )
    from infogap_server.store.sql import SqlStore

    return SqlStore(url, timeout_s=timeout_s, migrate=migrate)


__all__ = ["SUPPORTED_URLS", "Store", "StoreConfigError", "create_store"]
