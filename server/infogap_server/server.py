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
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from infogap.v1 import infogap_pb2

from infogap_server import signals
from infogap_server.backends import create_backend
from infogap_server.errors import InfogapError, Unavailable
from infogap_server.interceptors import AccessInterceptor, check_exposure, is_loopback
from infogap_server.logs import configure_logging
from infogap_server.metrics import Metrics
from infogap_server.models.behaviour import BehaviourModelInfo
from infogap_server.models.registry import ModelRegistry
from infogap_server.models.repository import TextModelInfo
from infogap_server.policies.holder import PolicyHolder
from infogap_server.policies.next_action import NextActionPolicy
from infogap_server.policies.ranking import ranking_holder
from infogap_server.privacy.pseudonyms import pseudonymizer_for
from infogap_server.servicer import InfoGapServicer
from infogap_server.services.alerts import Alert, AlertService, FirstSeen
from infogap_server.services.behaviour_model import BehaviourModel
from infogap_server.services.bottlenecks import BottleneckService
from infogap_server.services.catalogue import CatalogueError, CatalogueHolder
from infogap_server.services.churn import ChurnService
from infogap_server.services.customers import CustomerService
from infogap_server.services.feedback import FeedbackService
from infogap_server.services.insights import InsightsService
from infogap_server.services.needs import NeedsService
from infogap_server.services.playbook import PlaybookError, load_playbook, missing_intents
from infogap_server.services.recommend import RecommendService
from infogap_server.services.sessions import SessionService
from infogap_server.services.text_model import TextModel
from infogap_server.settings import Settings
from infogap_server.store import Store, StoreConfigError, create_store
from infogap_server.store.base import FeedbackRow
from infogap_server.tls import server_credentials

log = logging.getLogger("infogap.server")

SERVICE_NAME = infogap_pb2.DESCRIPTOR.services_by_name["InfoGap"].full_name


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


def model_health_name(model: str) -> str:
    """The health-checking service name that reports one served model's readiness (``infogap.model/<name>``)."""
    return f"infogap.model/{model}"


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
        self._started_utc = datetime.now(UTC).replace(tzinfo=None)
        self._alerts_sent = FirstSeen()  # alert ids this process has counted
        self._backend = create_backend(settings)
        self.models = ModelRegistry(settings, self._backend)
        self.store: Store | None = None
        self.customers: CustomerService | None = None
        self.feedback: FeedbackService | None = None
        self.catalogue: CatalogueHolder | None = None
        self.sessions: SessionService | None = None
        self.session_policies: PolicyHolder[NextActionPolicy] | None = None
        self.policies: PolicyHolder | None = None
        self.recommend: RecommendService | None = None
        self._learner: asyncio.subprocess.Process | None = None
        self._text_model: TextModel | None = None
        self._churn: ChurnService | None = None
        self._store_ready = 1
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
            # A peer that vanished without closing its connection (a dropped network) is found within 80 s: its
            # streams end, and a TrackSession stream's hold on its session is released for the client's reconnect.
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
        ]
        # Without tokens (loopback only, see start_listening) no interceptor runs: calls pay nothing for it.
        interceptors = [AccessInterceptor(settings.auth_tokens, self.metrics)] if settings.auth_tokens else []
        self._server = grpc.aio.server(options=options, interceptors=interceptors)
        self._servicer.add_to_server(self._server)
        self.metrics.in_flight.set_function(lambda: self._servicer.in_flight)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    async def start_listening(self) -> int:
        """Bind and serve; health reports NOT_SERVING until :meth:`load_models` finishes. Raises StartupError
        when a port cannot be bound, when authentication is off on a non-loopback address, or when a TLS file is
        missing or invalid (before anything is served)."""
        try:
            check_exposure(self.settings)
            credentials = server_credentials(self.settings)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        if not self.settings.auth_tokens:
            log.warning(
                "authentication is off: every caller on this host may call every RPC",
                extra={"fields": {"host": self.settings.host, "hint": "set INFOGAP_AUTH_TOKENS to require tokens"}},
            )
        elif credentials is None and not is_loopback(self.settings.host):
            log.warning(
                "access tokens travel in plain text: set INFOGAP_TLS_CERT_FILE and INFOGAP_TLS_KEY_FILE unless a "
                "proxy or mesh encrypts the traffic",
                extra={"fields": {"host": self.settings.host}},
            )
        models = [self.settings.text_model] + ([self.settings.behaviour_model] if self.settings.behaviour_model else [])
        for name in ("", SERVICE_NAME, *map(model_health_name, models)):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{self.settings.host}:{self.settings.port}"
        if self.settings.port:
            check_port_free(self.settings.host, self.settings.port, reuse_port=self.settings.workers > 1)
        try:
            if credentials is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, credentials)
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
            extra={
                "fields": {
                    "port": self.port,
                    "metrics_port": self.metrics_port,
                    "backend": self._backend.name,
                    "auth": bool(self.settings.auth_tokens),
                    "tls": "mutual" if self.settings.tls_client_ca_file else "on" if credentials else "off",
                }
            },
        )
        return self.port

    async def open_store(self) -> None:
        """Open the customer store (migrating it when the settings say so) and the services standing on it."""
        self.store, self.customers = await open_customer_layer(self.settings, self.metrics)
        self.feedback = FeedbackService(self.settings, self.store, self.customers.pseudonym,
                                        self.customers.current_segment, on_stored=self._count_feedback)
        self._servicer.customers = self.customers
        self._servicer.feedback = self.feedback
        self._servicer.insights = InsightsService(self.store)
        self._servicer.bottlenecks = BottleneckService(self.store)
        self._servicer.alerts = AlertService(self.settings, self.store, on_alert=self._count_alert)
        self.policies = ranking_holder(self.store, epsilon=self.settings.recommend_epsilon,
                                     poll_s=self.settings.policy_poll_s)
        await self.policies.start()
        self._wire_services()
        self.metrics.store_ready.set(1)
        log.info("store open", extra={"fields": {"store": self.store.name}})

    def _count_feedback(self, row: FeedbackRow, aspects: Sequence[str]) -> None:
        self.metrics.feedback.labels(str(row.rating), row.sentiment or "none").inc()
        for aspect in aspects:
            self.metrics.feedback_aspects.labels(aspect).inc()

    def _count_alert(self, alert: Alert) -> None:
        """infogap_alerts_total: once per alert id and process, for alerts that fired since the process started."""
        if alert.fired_at >= self._started_utc and self._alerts_sent.add(alert.alert_id):
            self.metrics.alerts.labels(alert.kind, alert.key).inc()

    async def load_models(self) -> None:
        """Open the store, load and warm the served models (the behaviour model, when one is named, and the text
        model) through the model registry, then report SERVING, overall and per model."""
        s = self.settings
        if self.store is None:
            await self.open_store()
        if s.behaviour_model:
            self.models.register(
                s.behaviour_model, self._build_behaviour_model, version=s.behaviour_model_version,
                on_serve=self._serve_behaviour_model,
            )
        self.models.register(
            s.text_model, self._build_text_model, version=s.text_model_version, on_serve=self._serve_text_model
        )
        await self.models.load_all()
        await self.open_catalogue()
        self.metrics.queue_depth.set_function(self.models.queue_depth)
        for name in self.models.names:
            self.metrics.model_ready.labels(name).set(1)
            await self._health.set(model_health_name(name), health_pb2.HealthCheckResponse.SERVING)
        await self._set_serving(True)
        self._monitor = asyncio.get_running_loop().create_task(self._watch_readiness(), name="readiness")
        log.info(
            "serving",
            extra={
                "fields": {
                    "models": {name: self.models.version(name) for name in self.models.names},
                    "startup_s": round(time.perf_counter() - self.started_at, 3),
                }
            },
        )

    async def open_catalogue(self) -> None:
        """Load the plan catalogue (an invalid file fails the start), keep it reloading, and serve Recommend on it.
        A plan may name an intent the text model lacks (a caller may name it); a model intent no plan serves is
        logged, and Recommend answers it with no plan."""
        assert self._text_model is not None and self.store is not None and self.customers is not None
        self.catalogue = CatalogueHolder(self.settings.catalogue_path, reload_s=self.settings.catalogue_reload_s)
        try:
            catalogue = await self.catalogue.start()
        except CatalogueError as exc:
            raise StartupError(exc.message) from None
        unserved = sorted(set(self._text_model.info.intents) - catalogue.intents - {"out_of_scope"})
        if unserved:
            log.warning("intents of the text model that no plan serves", extra={"fields": {"intents": unserved}})
        assert self.policies is not None
        self.recommend = RecommendService(self.settings, self.catalogue, self.policies, self.store,
                                          self.customers.pseudonym, self.customers.history)
        self._servicer.recommend = self.recommend
        await self.open_sessions()
        self._wire_services()
        if self.settings.learner_interval_s > 0:
            self._learner = await start_learner(self.settings)

    async def open_sessions(self) -> None:
        """Load the playbook (an invalid file fails the start) and serve TrackSession on it, with the
        next-best-action policy published for it (the playbook's prior until one is)."""
        assert self._text_model is not None and self.store is not None and self.customers is not None
        try:
            playbook = load_playbook(self.settings.playbook_path)
        except PlaybookError as exc:
            raise StartupError(exc.message) from None
        missing = missing_intents(playbook, self._text_model.info.intents)
        if missing:
            log.warning("intents of the text model the playbook has no steps for", extra={"fields": {
                "intents": missing}})
        self.session_policies = PolicyHolder(self.store, kind="session", initial=NextActionPolicy(),
                                             load=NextActionPolicy.from_payload, poll_s=self.settings.policy_poll_s)
        await self.session_policies.start()
        self.sessions = SessionService(self.settings, self.store, playbook, self.session_policies,
                                       self.customers.pseudonym, churn_of=self._churn_of)
        await self.sessions.start()
        self._servicer.sessions = self.sessions

    async def _churn_of(self, customer_id: str) -> float | None:
        """The customer's churn risk from their stored events, None without events or a behaviour model."""
        churn, customers = self._churn, self.customers
        if churn is None or customers is None:
            return None
        history = await customers.history(customer_id)
        if not history:
            return None
        assessment = await churn.assess(history, datetime.now(UTC))
        return None if assessment is None else assessment.risk

    def _build_text_model(self, name: str, version: int) -> TextModel:
        info = TextModelInfo.read(self.settings.model_repository, name, version)
        return TextModel(info, self._backend, self.settings, on_batch=self.metrics.batch_observer(name))

    def _build_behaviour_model(self, name: str, version: int) -> BehaviourModel:
        info = BehaviourModelInfo.read(self.settings.model_repository, name, version)
        return BehaviourModel(info, self._backend, self.settings, on_batch=self.metrics.batch_observer(name))

    def _serve_text_model(self, model: TextModel) -> None:
        self._text_model = model
        self._wire_services()

    def _serve_behaviour_model(self, model: BehaviourModel) -> None:
        self._churn = ChurnService(model)
        self._wire_services()

    def _wire_services(self) -> None:
        """The services on the models serving now. Calls already running finish on the versions they started
        with; new calls get these."""
        if self.customers is not None:
            self.customers.churn = self._churn
        if self.feedback is not None:
            self.feedback.text_model = self._text_model
        if self._text_model is not None:
            self._servicer.needs = NeedsService(
                self.settings, self._text_model, self.customers.history if self.customers is not None else None,
                self._churn,
            )
        if self.recommend is not None:
            self.recommend.needs, self.recommend.text_model = self._servicer.needs, self._text_model
            self.recommend.churn = self._churn
        if self.sessions is not None:
            self.sessions.needs = self._servicer.needs

    async def _set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    async def _watch_readiness(self) -> None:
        """Health follows the backend: NOT_SERVING while a served model is unreachable (Triton down), SERVING
        again once every one is back, without restarting the gateway."""
        while True:
            await asyncio.sleep(self.settings.readiness_poll_interval_s)
            changed = await self.models.poll_readiness()
            if self.store is not None:
                await self._check_store()
            for model, ready in changed.items():
                self.metrics.model_ready.labels(model).set(1 if ready else 0)
                status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
                await self._health.set(model_health_name(model), status)
                log.warning("backend readiness changed", extra={"fields": {"model": model, "ready": ready}})
            if changed:
                await self._set_serving(self.models.ready)

    async def _check_store(self) -> None:
        """The store's reachability as a metric and one log line per change; calls meanwhile answer UNAVAILABLE
        by themselves, so health stays with the models."""
        try:
            await self.store.check()
            ready = 1
        except Unavailable:
            ready = 0
        if ready != self._store_ready:
            fields = {"store": self.store.name, "ready": bool(ready)}
            log.warning("store reachability changed", extra={"fields": fields})
        self._store_ready = ready
        self.metrics.store_ready.set(ready)

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
        await stop_learner(self._learner)
        for holder in (self.catalogue, self.policies, self.session_policies, self.sessions):
            if holder is not None:
                await holder.close()
        await self.models.close()
        await self._backend.close()
        if self.store is not None:
            await self.store.close()
        self.metrics.close()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


async def start_learner(settings: Settings) -> asyncio.subprocess.Process:
    """``infogap learn --every learner_interval_s`` as a child process with this server's settings: training runs
    beside the event loop, never in it, and the serving process imports nothing of the learner. The child ends
    when this process stops it, or by itself once this process is gone (even killed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOGAP_")}
    env.update(settings.as_environment())
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infogap_server.cli", "learn", "--every", str(settings.learner_interval_s),
        "--parent-pid", str(os.getpid()), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL)
    log.info("learner started", extra={"fields": {"pid": process.pid, "every_s": settings.learner_interval_s}})
    return process


async def stop_learner(process: asyncio.subprocess.Process | None) -> None:
    if process is None or process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def open_customer_layer(
    settings: Settings, metrics: Metrics | None = None
) -> tuple[Store, CustomerService]:
    """The store (opened, migrated when the settings say so, key checked) and the customer service on it: the
    server's wiring, shared with ``infogap data import``."""
    try:
        pseudonymizer = pseudonymizer_for(settings)
    except ValueError as exc:
        raise StoreConfigError(str(exc)) from None
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = create_store(settings.store_url, timeout_s=settings.store_timeout_s, migrate=settings.migrate_on_start)
    try:
        await store.open(key_fingerprint=pseudonymizer.fingerprint())
    except BaseException:
        await store.close()
        raise
    hooks = {}
    if metrics is not None:
        hooks = dict(on_dropped=lambda reason, n: metrics.events_dropped.labels(reason).inc(n),
                     on_stored=metrics.events_stored.inc)
    return store, CustomerService(settings, store, pseudonymizer, **hooks)


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
        known = isinstance(error, InfogapError | StoreConfigError | StartupError)
        reason = error.message if isinstance(error, InfogapError) else (
            str(error) if known else f"{type(error).__name__}: {error}"
        )
        log.error("cannot start", extra={"fields": {"reason": reason}}, exc_info=None if known else error)
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
