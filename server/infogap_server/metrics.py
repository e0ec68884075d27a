"""Prometheus metrics of one server instance (its own registry, so several servers can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "infogap_requests", "RPCs answered, by method and status code.", ["method", "code"], registry=self.registry
        )
        self.received = Counter(
            "infogap_requests_received",
            "RPCs handed to the server by gRPC, by method, counted before the request is read: received minus "
            "answered (infogap_requests_total) minus in flight are calls whose caller gave up before the server "
            "read them.",
            ["method"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "infogap_requests_in_flight", "RPCs the server is working on now.", registry=self.registry
        )
        self.latency = Histogram(
            "infogap_request_latency_seconds",
            "Server-side RPC latency.",
            ["method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "infogap_batch_size",
            "Requests per batch formed by the gateway's micro-batcher, per model.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.batch_latency = Histogram(
            "infogap_batch_latency_seconds",
            "Time to prepare and run one batch (tokenize, pad, infer), per model.",
            ["model"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "infogap_queue_depth", "Requests waiting for the micro-batcher.", registry=self.registry
        )
        self.model_ready = Gauge(
            "infogap_model_ready", "1 when the model is loaded and warmed.", ["model"], registry=self.registry
        )
        self.events_stored = Counter(
            "infogap_events_stored", "Behaviour events stored by RecordEvents and imports.", registry=self.registry
        )
        self.events_dropped = Counter(
            "infogap_events_dropped",
            "Behaviour events not stored, by reason code (duplicates and every cleaning rule).",
            ["reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "infogap_feedback",
            "Feedback stored by SubmitFeedback (first submissions only), by rating (1-5) and sentiment of its text "
            "(none without text).",
            ["rating", "sentiment"],
            registry=self.registry,
        )
        self.feedback_aspects = Counter(
            "infogap_feedback_aspects",
            "Complaint aspects found in stored feedback, by aspect.",
            ["aspect"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "infogap_alerts",
            "Alerts of WatchAlerts, by stream kind (overall, aspect, intent) and key (the aspect or intent; empty for "
            "overall). Each alert is counted once per server process, the first time it sends it to a watcher, and "
            "only if it fired after the process started: several watchers, or replays of older alerts, add nothing. "
            "Every replica counts the alerts its own watchers get, with the same ids: across replicas take the max, "
            "not the sum.",
            ["kind", "key"],
            registry=self.registry,
        )
        self.store_ready = Gauge(
            "infogap_store_ready", "1 when the customer store answered its last check.", registry=self.registry
        )
        self._http = None
        self._call_children: dict[tuple[str, str], tuple] = {}

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        """Count one RPC; the labelled children are looked up once per (method, code), not on every call."""
        key = (method, code)
        child = self._call_children.get(key)
        if child is None:
            child = self._call_children[key] = (self.requests.labels(method, code), self.latency.labels(method))
        child[0].inc()
        child[1].observe(seconds)

    def batch_observer(self, model: str):
        """``on_batch(size, seconds)`` for one model's micro-batcher."""
        sizes, latencies = self.batch_size.labels(model), self.batch_latency.labels(model)

        def observe(size: int, seconds: float) -> None:
            sizes.observe(size)
            latencies.observe(seconds)

        return observe

    def serve_http(self, host: str, port: int) -> int:
        """Start the /metrics endpoint; returns the bound port (useful with port 0)."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
