"""The holder of a published policy in service on one replica, for any learning loop (Recommend's bandit,
TrackSession's next best action): it polls the store for the newest version of its kind and swaps atomically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from infogap_server.tasks import cancel_and_wait

log = logging.getLogger("infogap.policies")


class Versioned(Protocol):
    version: str


P = TypeVar("P", bound=Versioned)


class PolicyHolder(Generic[P]):
    """The policy in service on this replica: ``initial`` (the prior) until a version of ``kind`` is published,
    then the newest one.

    :meth:`start` reads the newest published version; a task then asks the store every ``poll_s`` seconds for
    the newest version's name (a small query) and, when it changed, fetches the payload, loads it with ``load`` in
    a worker thread and swaps it in with one reference assignment: a call holds one whole version from start to
    end. A version that does not load (``load`` raises ValueError) is logged and skipped; the one in service stays.
    An unreachable store is retried at the next poll."""

    def __init__(self, store, *, kind: str, initial: P, load: Callable[[bytes], P], poll_s: float) -> None:
        self._store = store
        self._kind = kind
        self._load = load
        self._poll_s = poll_s
        self.current: P = initial
        self._failed: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.check()
        except Exception:  # noqa: BLE001 - the store may be down at start: serve the prior meanwhile
            log.warning("policy store not reachable; serving the prior policy meanwhile",
                        extra={"fields": {"kind": self._kind}})
        if self._poll_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name=f"policy-poll-{self._kind}")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def check(self) -> bool:
        """Swap to the newest published version if it is not the one in service; True when it swapped."""
        latest = await self._store.latest_policy(kind=self._kind, with_payload=False)
        if latest is None or latest.version in (self.current.version, self._failed):
            return False
        row = await self._store.latest_policy(kind=self._kind, with_payload=True)
        if row is None or row.version == self.current.version:
            return False
        try:
            policy = await asyncio.to_thread(self._load, row.payload)
        except ValueError as exc:
            self._failed = row.version
            log.error("published policy not loaded; keeping the one in service",
                      extra={"fields": {"kind": self._kind, "version": row.version, "serving": self.current.version,
                                        "error": str(exc)}})
            return False
        previous, self.current = self.current, policy
        log.info("policy swapped", extra={"fields": {"kind": self._kind, "version": policy.version,
                                                     "previous": previous.version}})
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - never let the poller die; the next poll may reach the store
                log.warning("policy poll failed; keeping the policy in service",
                            extra={"fields": {"kind": self._kind, "serving": self.current.version}})
