"""The models the gateway serves: which version of each is serving, loaded and warmed, and whether each is ready.

Models are registered by name, each with a factory that builds its serving object (the text model today, the
behaviour model later) once the backend has loaded a version. A new version is loaded beside the one serving and
warmed; only then does it take over, and the old one is released after the calls it is answering have finished
(MLServer's reload order). A version that fails to load or warm is released again and the version serving goes on
serving: callers see neither a gap nor a half-loaded model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from infogap_server.backends.base import Backend
from infogap_server.errors import Unavailable
from infogap_server.models.repository import resolve_version
from infogap_server.settings import Settings

log = logging.getLogger("infogap.models")


class ServedModel(Protocol):
    """One loaded version of a model, as the services use it."""

    @property
    def queue_depth(self) -> int:
        """Calls waiting in the gateway for this model (0 when the backend batches by itself)."""
        ...

    async def warm(self) -> None:
        """Run the model so the first real calls pay no one-off costs; raises when this version cannot serve."""

    def start(self) -> None:
        """Start serving (the gateway's micro-batcher, where there is one)."""

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop serving; calls in flight get up to ``drain_s`` seconds to be answered first."""


M = TypeVar("M", bound=ServedModel)


@dataclass
class _Entry:
    """A registered model and the version of it that is serving (None before the first load)."""

    factory: Callable[[str, int], Any]
    pinned: int | None
    on_serve: Callable[[Any], None] | None
    model: ServedModel | None = None
    version: int | None = None
    ready: bool = False
    #: One load at a time per model: two concurrent swaps would release each other's versions.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ModelRegistry:
    """Loads, warms, swaps and releases the served models through one backend, and tracks their readiness.

    ``register`` each model, ``await load_all()`` at start-up, ``get(name)`` for the version serving now,
    ``await swap(name, version)`` for a new version, ``await close()`` at shutdown (the backend itself belongs to
    the caller, which closes it afterwards).
    """

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self._settings = settings
        self._backend = backend
        self._entries: dict[str, _Entry] = {}

    def register(
        self,
        name: str,
        factory: Callable[[str, int], M],
        *,
        version: int | None = None,
        on_serve: Callable[[M], None] | None = None,
    ) -> None:
        """Declare a model to serve. ``factory(name, version)`` builds its serving object once the backend has
        loaded that version; ``version`` pins one (None: the highest in the model repository); ``on_serve(model)``
        is called each time a version takes over, before the version it replaces is released."""
        if name in self._entries:
            raise ValueError(f"model {name} is registered already")
        self._entries[name] = _Entry(factory=factory, pinned=version, on_serve=on_serve)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered models, in registration order."""
        return tuple(self._entries)

    async def load_all(self) -> None:
        """Load and warm every registered model that is not serving yet, in registration order."""
        for name, entry in self._entries.items():
            if entry.model is None:
                await self.load(name)

    async def load(self, name: str, version: int | None = None) -> int:
        """Serve ``version`` of ``name`` (None: the registered choice, pinned or the highest present) and return
        the version now serving.

        The new version is loaded into the backend and warmed while the old one (if any) goes on serving; then it
        takes over and the old one is released, after its calls in flight are answered (at most the grace
        period). If loading or warming fails, the new version is released, the old one keeps serving and the error
        is raised. Version folders never change once written, so asking for the version serving does nothing.
        """
        entry = self._entry(name)
        async with entry.lock:
            requested = entry.pinned if version is None else version
            chosen = resolve_version(self._settings.model_repository, name, requested)
            if entry.model is not None and chosen == entry.version:
                return chosen
            started = time.perf_counter()
            model: ServedModel | None = None
            try:
                await self._backend.load(name, chosen)
                model = entry.factory(name, chosen)
                await model.warm()
            except BaseException as exc:
                if model is not None:
                    await model.stop()
                await self._backend.unload(name, chosen)  # never the version serving: that one is != chosen
                if isinstance(exc, Exception) and entry.model is not None:
                    log.warning(
                        "new model version not served",
                        extra={"fields": {"model": name, "version": chosen, "serving": entry.version,
                                          "error": type(exc).__name__}},
                    )
                raise
            model.start()
            old, old_version = entry.model, entry.version
            entry.model, entry.version, entry.ready = model, chosen, True
            if entry.on_serve is not None:
                entry.on_serve(model)
            log.info(
                "model serving",
                extra={"fields": {"model": name, "version": chosen, "replaced": old_version,
                                  "load_s": round(time.perf_counter() - started, 3)}},
            )
            if old is not None and old_version is not None:
                await old.stop(drain_s=self._settings.grace_period_s)
                await self._backend.unload(name, old_version)
            return chosen

    async def swap(self, name: str, version: int | None = None) -> int:
        """:meth:`load` for a model that is serving already (raises Unavailable when it is not): the new version
        takes over only once loaded and warmed; a version that fails leaves the old one serving."""
        if self._entry(name).model is None:
            raise Unavailable(f"model {name} is not serving; nothing to swap")
        return await self.load(name, version)

    def get(self, name: str) -> ServedModel:
        """The serving version of ``name`` (raises Unavailable before its first load)."""
        model = self._entry(name).model
        if model is None:
            raise Unavailable(f"model {name} is not loaded yet")
        return model

    def version(self, name: str) -> int | None:
        """The version of ``name`` serving now, or None."""
        return self._entry(name).version

    def is_ready(self, name: str) -> bool:
        """Whether ``name`` is serving and its backend could serve it at the last check."""
        entry = self._entry(name)
        return entry.model is not None and entry.ready

    @property
    def ready(self) -> bool:
        """Whether every registered model is ready (what health checking reports)."""
        return all(self.is_ready(name) for name in self._entries)

    def queue_depth(self) -> int:
        """Calls waiting in the gateway, over all models."""
        return sum(e.model.queue_depth for e in self._entries.values() if e.model is not None)

    async def poll_readiness(self) -> dict[str, bool]:
        """Ask the backend whether each serving model can serve now (Triton may go away and come back); returns
        the models whose readiness changed, with their readiness now."""
        changed: dict[str, bool] = {}
        for name, entry in self._entries.items():
            version = entry.version
            if entry.model is None or version is None:
                continue
            ready = await self._backend.is_ready(name, version)
            if entry.version == version and ready != entry.ready:  # not swapped meanwhile
                entry.ready = ready
                changed[name] = ready
        return changed

    async def close(self) -> None:
        """Stop every model (calls still queued fail UNAVAILABLE: graceful shutdown has drained them before) and
        release its version in the backend."""
        for name, entry in self._entries.items():
            async with entry.lock:
                model, version = entry.model, entry.version
                entry.model, entry.version, entry.ready = None, None, False
                if model is not None and version is not None:
                    await model.stop()
                    await self._backend.unload(name, version)

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise Unavailable(f"model {name} is not served by this gateway") from None
