"""Inference backends behind one interface (:class:`~infogap_server.backends.base.Backend`)."""

from __future__ import annotations

from infogap_server.backends.base import Backend
from infogap_server.settings import Settings


def create_backend(settings: Settings) -> Backend:
    """The backend the settings ask for."""
    if settings.backend == "embedded":
        from infogap_server.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(settings)
    if settings.backend == "triton":
        from infogap_server.backends.triton import TritonBackend

        return TritonBackend(settings)
    if settings.backend == "noop":
        from infogap_server.backends.noop import NoopBackend

        return NoopBackend(settings)
    raise ValueError(f"unknown backend {settings.backend!r}")
