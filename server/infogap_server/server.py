"""The gateway process: a grpc.aio server with the InfoGap service, health checking, reflection and metrics.

Start-up order: bind the ports (a busy port is one JSON log line and exit code 1), listen (health says NOT_SERVING),
load and warm the model, then report SERVING. Shutdown order (SIGTERM/SIGINT): report NOT_SERVING, answer new calls
UNAVAILABLE at once, let the calls already running finish within the grace period, then stop gRPC (which ends
open health Watch streams) and release the model.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from infogap.v1 import infogap_pb2

from infogap_server import signals
from infogap_server.backends import create_backend
from infogap_server.errors import InfogapError
from infogap_server.logs import configure_logging
from infogap_server.metrics import Metrics
from infogap_server.model_repository import TextModelInfo, resolve_version
from infogap_server.servicer import InfoGapServicer
from infogap_server.services.needs import NeedsService
from infogap_server.services.text_model import TextModel
from infogap_server.settings import Settings

log = logging.getLogger("infogap.server")

SERVICE_NAME = infogap_pb2.DESCRIPTOR.services_by_name["InfoGap"].full_name
WARMUP_TEXTS = (
    "hi",
    "I want to cancel my last order please",
    "my parcel still has not arrived after two weeks and nobody answers my emails, what is going on with order 1234",
)


class _HealthServicer(health.aio.HealthServicer):
    """grpc's health servicer, whose Watch streams end (OK) once shutdown has told them NOT_SERVING: an open Watch
    would otherwise hold the process for the whole grace period."""

    def __init__(self) -> None:
        super().__init__()
        self._ending = asyncio.Event()

    def end_watches(self) -> None:
        self._ending.set()

    async def Watch(self, request, context) -> None:  # noqa: N802 - gRPC method name
        if self._ending.is_set():  # shutting down: tell the watcher once and end
            await context.write(health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING))
            return
        watching = asyncio.ensure_future(super().Watch(request, context))
        ending = asyncio.ensure_future(self._ending.wait())
        try:
            await asyncio.wait({watching, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, ending):
                task.cancel()
            results = await asyncio.gather(watching, ending, return_exceptions=True)
        error = results[0]
        if isinstance(error, Exception):
            raise error


class StartupError(Exception):
    """The server cannot start (a port is taken); the message says which and why."""


class InfoGapServer:
    """One gateway server. ``await start()`` then ``await stop()``; ``port`` is the bound port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.started_at = time.perf_counter()
        self._backend = create_backend(settings)
        self._text_model: TextModel | None = None
        self._stopped = False
        self._monitor: asyncio.Task[None] | None = None
        self._health = _HealthServicer()
        self._servicer = InfoGapServicer(settings, self.metrics)
        options = [
            ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
            ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
            # Several worker processes share the port only when asked to; otherwise a second server on the same
            # port is an error, not a silent split of the traffic.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # Load shedding at the transport: streams beyond this per connection are refused (RST_STREAM
            # REFUSED_STREAM: the caller sees UNAVAILABLE, and knows nothing ran), before they cost the event loop
            # anything. Without it, gRPC core queues calls the loop cannot take and past 1,000 waiting ones
            # answers them a bare CANCELLED.
            ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        ]
        self._server = grpc.aio.server(options=options)
        self._servicer.add_to_server(self._server)
        self.metrics.in_flight.set_function(lambda: self._servicer.in_flight)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    async def start_listening(self) -> int:
        """Bind and serve; health reports NOT_SERVING until :meth:`load_models` finishes. Raises StartupError
        when a port cannot be bound (before anything is served)."""
        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{self.settings.host}:{self.settings.port}"
        if self.settings.port:
            check_port_free(self.settings.host, self.settings.port, reuse_port=self.settings.workers > 1)
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise StartupError(f"could not bind the gRPC address {address}: the port is in use or not permitted")
        if self.settings.metrics_port is not None:
            try:
                self.metrics_port = self.metrics.serve_http(self.settings.host, self.settings.metrics_port)
            except OSError as exc:
                raise StartupError(
                    f"could not bind the metrics address {self.settings.host}:{self.settings.metrics_port}: "
                    f"{exc.strerror or exc}"
                ) from None
        await self._server.start()
        log.info(
            "listening",
            extra={"fields": {"port": self.port, "metrics_port": self.metrics_port, "backend": self._backend.name}},
        )
        return self.port

    async def load_models(self) -> None:
        """Load and warm the text model, then report SERVING."""
        s = self.settings
        version = resolve_version(s.model_repository, s.text_model, s.text_model_version)
        info = TextModelInfo.read(s.model_repository, s.text_model, version)
        await self._backend.load(info.name, version)
        model = TextModel(info, self._backend, s, on_batch=self.metrics.observe_batch)
        # Warm-up runs the backend directly (not through the batcher) so the first calls pay no one-off costs
        # and the batch-size metric counts only real traffic.
        for size in (1, len(WARMUP_TEXTS)):
            await model.predict_batch(list(WARMUP_TEXTS[:size]))
        model.start()
        self._text_model = model
        self._servicer.needs = NeedsService(s, model)
        self.metrics.queue_depth.set_function(lambda: model.queue_depth)
        self.metrics.model_ready.labels(info.name).set(1)
        await self._set_serving(True)
        self._monitor = asyncio.get_running_loop().create_task(self._watch_readiness(info.name), name="readiness")
        log.info(
            "serving",
            extra={
                "fields": {
                    "model": info.name,
                    "version": version,
                    "startup_s": round(time.perf_counter() - self.started_at, 3),
                }
            },
        )

    async def _set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    async def _watch_readiness(self, model: str) -> None:
        """Health follows the backend: NOT_SERVING while its model is unreachable (Triton down), SERVING again
        once it is back, without restarting the gateway."""
        serving = True
        while True:
            await asyncio.sleep(self.settings.readiness_poll_interval_s)
            ready = await self._backend.is_ready(model)
            if ready != serving:
                serving = ready
                await self._set_serving(ready)
                self.metrics.model_ready.labels(model).set(1 if ready else 0)
                log.warning("backend readiness changed", extra={"fields": {"model": model, "ready": ready}})

    async def start(self) -> int:
        port = await self.start_listening()
        await self.load_models()
        return port

    async def stop(self, grace_s: float | None = None) -> None:
        """Idempotent graceful stop: NOT_SERVING, new calls UNAVAILABLE, running calls finish (at most the grace
        period), then gRPC stops, cancelling what is left (open health Watch streams, calls past the grace)."""
        if self._stopped:
            return
        self._stopped = True
        if self._monitor is not None:
            self._monitor.cancel()
        grace = self.settings.grace_period_s if grace_s is None else grace_s
        started = time.monotonic()
        await self._health.enter_graceful_shutdown()  # NOT_SERVING for every service, and it stays so
        self._servicer.start_draining()
        if not await self._servicer.wait_drained(grace):
            log.warning("grace period over with calls still running", extra={"fields": {"grace_period_s": grace}})
        self._health.end_watches()  # watchers have seen NOT_SERVING; their streams would hold the grace period
        # gRPC's own graceful stop: no new streams (GOAWAY), the calls it has accepted meanwhile are answered
        # (UNAVAILABLE, by the draining servicer) instead of being cancelled.
        await self._server.stop(max(0.0, grace - (time.monotonic() - started)))
        if self._text_model is not None:
            await self._text_model.stop()
        await self._backend.close()
        self.metrics.close()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


def check_port_free(host: str, port: int, *, reuse_port: bool) -> None:
    """Raise StartupError when ``host:port`` cannot be bound, before gRPC tries (its failure is a C-level log line
    and an exception without the reason). Binds as gRPC does (SO_REUSEADDR; SO_REUSEPORT for several workers)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"could not resolve the gRPC host {host!r}: {exc.strerror}") from None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise StartupError(f"could not bind the gRPC address {host}:{port}: {reason}") from None


async def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully. Returns the process exit code."""
    server = InfoGapServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals.STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if signals.received:  # a signal came before these handlers existed
        stop.set()
    try:
        await server.start_listening()
    except StartupError as exc:
        log.error("cannot start", extra={"fields": {"reason": str(exc)}})
        await server.stop(0)
        return 1
    # A SIGTERM while the model loads (Triton may take minutes to come up) stops the server too.
    loading = asyncio.ensure_future(server.load_models())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not loading.done():
        loading.cancel()
        log.info("stopped during start-up")
        await server.stop(0)
        return 0
    stopping.cancel()
    if loading.exception() is not None:
        error = loading.exception()
        # One line that says why; a traceback only for what the server did not anticipate.
        reason = error.message if isinstance(error, InfogapError) else f"{type(error).__name__}: {error}"
        log.error("cannot start", extra={"fields": {"reason": reason}},
                  exc_info=None if isinstance(error, InfogapError) else error)
        await server.stop(0)
        return 1
    await stop.wait()
    log.info("shutting down", extra={"fields": {"grace_period_s": settings.grace_period_s}})
    await server.stop()
    return 0


def run(settings: Settings) -> int:
    configure_logging(settings.log_level)
    return asyncio.run(serve(settings))


def worker_settings(settings: Settings, index: int) -> Settings:
    """Settings of worker ``index``: its own metrics port, and its share of the cores for ONNX Runtime."""
    update: dict[str, object] = {}
    if settings.metrics_port:
        update["metrics_port"] = settings.metrics_port + index
    if settings.intra_op_threads == 0:
        update["intra_op_threads"] = max(1, (os.cpu_count() or 1) // settings.workers)
    return settings.model_copy(update=update)


def run_workers(settings: Settings) -> int:
    """``settings.workers`` gateway processes on one port (SO_REUSEPORT), forked before any gRPC object exists;
    the parent forwards SIGTERM/SIGINT and exits non-zero if a worker failed."""
    if settings.workers == 1:
        return run(settings)
    if settings.port == 0:
        raise SystemExit("several workers need a fixed port (INFOGAP_PORT), not 0")
    configure_logging(settings.log_level)
    children: list[int] = []
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # the worker: from here on it is a single-process server
            code = 0
            try:
                code = run(worker_settings(settings, index))
            except BaseException:
                log.exception("worker failed", extra={"fields": {"worker": index}})
                code = 1
            os._exit(code)
        children.append(pid)
    log.info("workers started", extra={"fields": {"workers": settings.workers, "pids": children}})

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for signum in signals.received:  # arrived while forking
        forward(signum, None)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return 1 if failed else 0
