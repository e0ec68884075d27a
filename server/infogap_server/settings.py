"""The one settings object of the server, read once at start from the environment (prefix ``INFOGAP_``).

Every field is documented here and in the README's settings table; names carry their units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Repository root when running from a checkout (server/infogap_server/settings.py -> ../..).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Scopes an access token may carry; which RPC needs which is in ``interceptors.METHOD_SCOPES``.
AUTH_SCOPES = ("identify", "recommend", "track", "feedback", "insights", "alerts", "admin")

_HEX_DIGITS = frozenset("0123456789abcdef")


class Settings(BaseSettings):
    """Server settings. Frozen: build once with ``Settings()`` and pass it down."""

    model_config = SettingsConfigDict(env_prefix="INFOGAP_", frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address the gRPC server binds to; 0.0.0.0 for all interfaces.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    metrics_port: int | None = Field(
        9464, ge=0, le=65535, description="Prometheus /metrics HTTP port; 0 picks a free port; unset disables it."
    )
    backend: Literal["embedded", "triton", "noop"] = Field(
        "embedded",
        description="Inference backend: 'embedded' runs ONNX Runtime in the gateway process; 'triton' calls Triton; "
        "'noop' answers zeros without a model (to measure the gateway alone).",
    )
    triton_address: str = Field("127.0.0.1:8001", description="Triton's gRPC address (host:port) for backend=triton.")
    triton_request_timeout_s: float = Field(
        10.0, gt=0, description="Timeout of a Triton call when the caller set no deadline."
    )
    triton_startup_timeout_s: float = Field(
        600.0, gt=0, description="How long start-up waits for Triton to serve the model before giving up."
    )
    triton_sequence_bucket_tokens: int = Field(
        16,
        ge=1,
        description="With Triton, token sequences are padded to a multiple of this so that more requests share a "
        "shape (Triton's dynamic batcher only batches requests of equal shape).",
    )
    readiness_poll_interval_s: float = Field(
        1.0, gt=0, description="How often the gateway checks its backend's model readiness for health checking."
    )
    model_repository: Path = Field(
        PROJECT_ROOT / "model_repository", description="Triton-layout model repository the backends serve from."
    )
    text_model: str = Field("infogap_text", description="Name of the text model (intent, sentiment, embedding).")
    text_model_version: int | None = Field(
        None, ge=1, description="Version of the text model to serve; unset serves the highest version present."
    )
    behaviour_model: str = Field(
        "infogap_behaviour",
        description="Name of the behaviour model (churn risk and 90-day value from a customer's event history); "
        "empty serves none, and churn_risk is then absent from every answer.",
    )
    behaviour_model_version: int | None = Field(
        None, ge=1, description="Version of the behaviour model to serve; unset serves the highest version present."
    )
    triton_history_bucket_events: int = Field(
        16,
        ge=1,
        description="On Triton, event sequences are padded to a multiple of this many events so that its dynamic "
        "batcher can join histories of similar length (the embedded backend pads each batch to its longest).",
    )
    default_language: str = Field("en", description="Language assumed when a request leaves `language` empty.")
    supported_languages: tuple[str, ...] = Field(
        ("en",), description="Language codes the loaded models understand; others are INVALID_ARGUMENT."
    )
    max_text_chars: int = Field(2000, ge=1, description="Longest accepted message text, in characters.")
    max_sequence_tokens: int = Field(
        128, ge=8, le=512, description="Token budget per message; longer messages are truncated after tokenization."
    )
    default_top_k: int = Field(3, ge=1, description="Ranked needs returned when a request leaves top_k at 0.")
    max_top_k: int = Field(10, ge=1, description="Largest accepted top_k.")
    max_history_events: int = Field(500, ge=0, description="Most behaviour events accepted in one request.")
    max_request_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest accepted serialized request; larger is INVALID_ARGUMENT."
    )
    grpc_max_message_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Transport limit for one gRPC message; above it gRPC itself answers RESOURCE_EXHAUSTED.",
    )
    out_of_scope_threshold: float | None = Field(
        None,
        description="Threshold on the model's out-of-scope score (labels.json names it: max_prob, energy or "
        "centroid); a message scoring under it is out of scope. Unset uses the model's own.",
    )
    feedback_keywords: int = Field(
        5, ge=0, le=20, description="Keywords kept per feedback text (YAKE, on the redacted text); 0 keeps none."
    )
    max_batch_size: int = Field(32, ge=1, description="Largest batch the embedded micro-batcher forms.")
    max_batch_delay_ms: float = Field(
        2.0, ge=0.0, description="How long the micro-batcher waits for more requests after the first one."
    )
    max_queue_size: int = Field(
        512, ge=1, description="Requests waiting for the micro-batcher; beyond it calls get RESOURCE_EXHAUSTED."
    )
    max_queue_wait_ms: float = Field(
        500.0,
        gt=0.0,
        description="Longest a call may expect to wait for the micro-batcher (estimated from the queue and the recent "
        "batch time); beyond it, or beyond the call's own deadline, calls get RESOURCE_EXHAUSTED at once.",
    )
    length_aware_batching: bool = Field(
        True, description="Split each gateway batch into runs of similar token length instead of padding all."
    )
    run_overhead_tokens: int = Field(
        40,
        ge=0,
        description="Fixed cost of one model run in token-equivalents, for length-aware batching (measured: "
        "a run of one message costs about as much as 40 extra tokens of a batched run on 2 cores).",
    )
    max_concurrent_streams: int = Field(
        256,
        ge=1,
        description="Calls one client connection may have in flight; more are refused at once by the transport "
        "(UNAVAILABLE, nothing ran: safe to retry).",
    )
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 lets it use every core.")
    intra_op_spinning: bool = Field(
        False,
        description="Let ONNX Runtime's threads spin between batches; off leaves the cores to gRPC and tokenization.",
    )
    workers: int = Field(
        1, ge=1, le=64, description="Gateway processes sharing the port (SO_REUSEPORT), each with its own backend."
    )
    grace_period_s: float = Field(10.0, ge=0.0, description="On SIGTERM, how long in-flight calls may finish.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    # --- the customer store ---
    data_dir: Path = Field(
        PROJECT_ROOT / "var",
        description="Folder for the embedded SQLite database and the pseudonym key file (made when missing).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store: sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DB. "
        "Unset: SQLite in data_dir/infogap.db.",
    )
    migrate_on_start: bool = Field(
        True, description="Apply the store's schema migrations (Alembic) at start; off: start only on a migrated one."
    )
    store_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait to connect to the store, for a pooled connection, for SQLite's write lock or for "
        "one PostgreSQL statement; then UNAVAILABLE.",
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Secret key (hex, at least 32 characters) of the HMAC-SHA256 customer pseudonyms. Unset: the key "
        "in data_dir/pseudonym.key, made on first start. Replicas sharing a database must share it.",
    )
    max_record_events: int = Field(1000, ge=1, description="Most events accepted in one RecordEvents call.")
    clock_skew_s: float = Field(
        300.0, ge=0, description="How far in the future an event time may be (client clocks drift); later is rejected."
    )
    duplicate_window_s: float = Field(
        60.0,
        ge=0,
        description="Events of one customer with the same type, amount and item count within this many seconds are "
        "one event sent twice (stored once); 0 turns the content check off.",
    )
    open_issue_window_days: int = Field(
        90, ge=1, description="How far back a complaint, return or refund without a later order is an open issue."
    )
    currency: str = Field(
        "GBP", min_length=3, max_length=3, description="ISO 4217 code of the shop's currency (all amounts)."
    )
    # --- alerts (WatchAlerts; the rule is in services/alerts.py and the README) ---
    alerts_window_events: int = Field(
        300, ge=10, le=5000,
        description="W: the events of a stream (every feedback for overall and aspects, the intent's feedback for an "
        "intent) in the window an alert is tested on.",
    )
    alerts_baseline_events: int = Field(
        3000, ge=10, le=100_000,
        description="B: the events before the window whose negative rate is the stream's expected rate (a stream is "
        "tested once it has W of them).",
    )
    alerts_alpha: float = Field(
        1e-5, gt=0, lt=0.5,
        description="Per-test level of the one-sided beta-binomial test of the window's negatives against the "
        "expected rate (every stream is tested at each of its events, so this is strict).",
    )
    alerts_min_hits: int = Field(
        5, ge=1, description="Fewest negative events in the window for an alert, however unlikely they are."
    )
    alerts_lookback_rows: int = Field(
        50_000, ge=20,
        description="L: streams forget events more than this many feedback rows old (at least W + B); a watch reads "
        "2 x L rows before its replay so that every watch and replica computes the same alerts.",
    )
    alerts_poll_interval_s: float = Field(
        1.0, gt=0, le=3600, description="How often a following WatchAlerts reads the store for new feedback."
    )
    alerts_settle_s: float = Field(
        10.0, ge=0, le=600,
        description="WatchAlerts reads feedback stored at least this long ago, so that a row still committing with a "
        "lower sequence number (PostgreSQL, several writers) is not passed over; keep it above the slowest feedback "
        "write (a few statements of at most store_timeout_s each).",
    )
    alerts_max_watches: int = Field(
        8, ge=1, description="WatchAlerts calls one server runs at once; more are RESOURCE_EXHAUSTED (each replays "
        "up to 2 x alerts_lookback_rows rows on its own)."
    )
    alerts_default_replay_s: float = Field(
        3600.0, ge=0, description="How far back WatchAlerts replays when the request sets no since."
    )
    alerts_max_replay_days: int = Field(
        31, ge=1, le=400, description="The earliest since WatchAlerts accepts, in days before now."
    )
    # --- Recommend (the plan catalogue: services/catalogue.py and the README) ---
    catalogue_path: Path = Field(
        Path(__file__).resolve().parent / "services" / "data" / "plans.yaml",
        description="The plan catalogue (YAML) Recommend chooses from; the default is the one shipped with the server.",
    )
    catalogue_reload_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How often the catalogue file is checked for changes and reloaded without a restart (an invalid "
        "file is logged and the previous catalogue kept); 0 turns reloading off.",
    )
    recommend_epsilon: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Recommend's exploration rate: the share of answers whose first plan is drawn at random among the "
        "eligible ones instead of the policy's best guess (epsilon-greedy), so that the learner sees every plan's "
        "outcome. 0 turns exploration off (and with it learning about plans the policy never puts first).",
    )
    policy_poll_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="How often each replica asks the store for a newer published Recommend policy; 0: only at start.",
    )
    reward_wait_s: float = Field(
        7 * 86400.0,
        gt=0,
        description="How long a Recommend decision waits for feedback before the learner gives it the default reward.",
    )
    default_satisfaction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The satisfaction part of the default reward (a decision without feedback after reward_wait_s), "
        "on the reward's 0 to 1 scale (README: Recommend, the reward).",
    )
    reward_cost_weight: float = Field(
        0.2,
        ge=0,
        le=1,
        description="How much a plan's cost takes off its reward: weight x cost / (cost + 50).",
    )
    learner_interval_s: float = Field(
        0.0,
        ge=0,
        description="Run the Recommend learner (infogap learn) as a child process of this server every so many "
        "seconds; 0: off (run `infogap learn` from a scheduler, or turn it on in one replica only).",
    )
    learner_min_rewards: int = Field(
        200,
        ge=10,
        description="Rewarded decisions the learner needs before it may publish a learned policy.",
    )
    nba_min_sessions: int = Field(
        200, ge=1, description="Closed sessions the learner needs before it publishes a next-best-action policy."
    )
    nba_min_visits: int = Field(
        5,
        ge=1,
        description="Logged visits of a (state, action) pair before serving uses its learned value instead of the "
        "playbook's prior.",
    )
    nba_learner_window: int = Field(
        50000, ge=1, description="The most recently closed sessions the next-best-action learner reads per run."
    )
    playbook_path: Path = Field(
        Path(__file__).resolve().parent / "services" / "data" / "playbook.yaml",
        description="TrackSession's action vocabulary and playbook (YAML); the default is derived from the ABCD "
        "policy files.",
    )
    session_inactivity_s: float = Field(
        1800.0,
        gt=0,
        description="A session with no event for this long is closed as expired (its stream ends; a later event "
        "on it is FAILED_PRECONDITION).",
    )
    session_lease_s: float = Field(
        15.0,
        gt=0,
        description="How long a stream's hold on its session lasts without renewal: the process renews it while the "
        "stream is open; after a crash another stream may take the session over this long after the last renewal.",
    )
    session_sweep_s: float = Field(
        30.0,
        ge=0,
        description="How often the server closes sessions past the inactivity timeout that no stream holds; 0: "
        "never (an event or a resume on such a session still closes it).",
    )
    session_max_events: int = Field(
        5000, ge=1, description="Most events one session may hold; more is RESOURCE_EXHAUSTED."
    )
    session_max_streams: int = Field(
        5000, ge=1, description="Most TrackSession streams open at once on one process; more is RESOURCE_EXHAUSTED."
    )
    default_sla_target_s: float = Field(
        900.0,
        gt=0,
        description="The service-level target of a session whose need is not known yet or whose intent the playbook "
        "gives no target.",
    )
    sla_target_by_queue_s: dict[str, float] = Field(
        default_factory=dict,
        description="Service-level targets by queue, as a JSON object (queue -> seconds): once a transfer puts a "
        "session in a listed queue, its target is that queue's (otherwise its need's, from the playbook).",
    )
    session_need_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Mean intent probability at which a session's need counts as known (discovery -> resolving).",
    )
    auth_tokens: dict[str, tuple[str, ...]] = Field(
        {},
        description="Access tokens as a JSON object: the SHA-256 hex digest of each token -> its scopes (identify, "
        "recommend, track, feedback, insights, alerts, admin; admin may call every RPC). Empty turns authentication "
        "off, which is allowed only when the server binds a loopback address.",
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain of the server; with tls_key_file, the gRPC port speaks TLS only."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key (unencrypted) of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA certificates for client certificates; when set, every client must present a certificate "
        "signed by one of them (mutual TLS). Needs tls_cert_file.",
    )

    @field_validator("auth_tokens", mode="before")
    @classmethod
    def _check_auth_tokens(cls, tokens: object) -> dict[str, tuple[str, ...]]:
        # Checked here, before pydantic's own validation, whose errors would name the offending key in their
        # location: someone may have pasted a token where its digest belongs, and no message may quote it.
        if not isinstance(tokens, dict):
            raise ValueError("must be a JSON object: SHA-256 hex digest of a token -> list of scopes")
        checked: dict[str, tuple[str, ...]] = {}
        for digest, scopes in tokens.items():
            if not isinstance(digest, str) or len(digest) != 64 or not _HEX_DIGITS.issuperset(digest):
                raise ValueError(
                    "every key must be the SHA-256 hex digest of a token (64 lowercase hex characters), never the "
                    "token itself"
                )
            if not isinstance(scopes, (list, tuple)) or not all(isinstance(s, str) for s in scopes):
                raise ValueError("every token's scopes must be a list of strings")
            if not scopes:
                raise ValueError("every token needs at least one scope")
            unknown = sorted(set(scopes) - set(AUTH_SCOPES))
            if unknown:
                raise ValueError(f"unknown scope {unknown[0][:32]!r}; the scopes are {', '.join(AUTH_SCOPES)}")
            checked[digest] = tuple(sorted(set(scopes)))
        return checked

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        if self.default_top_k > self.max_top_k:
            raise ValueError("default_top_k must not exceed max_top_k")
        if self.default_language not in self.supported_languages:
            raise ValueError("default_language must be one of supported_languages")
        if any(not (isinstance(v, (int, float)) and v > 0) for v in self.sla_target_by_queue_s.values()):
            raise ValueError("sla_target_by_queue_s: every target must be a positive number of seconds")
        if self.alerts_lookback_rows < self.alerts_window_events + self.alerts_baseline_events:
            raise ValueError("alerts_lookback_rows must be at least alerts_window_events + alerts_baseline_events")
        return self

    def as_environment(self) -> dict[str, str]:
        """These settings as ``INFOGAP_*`` environment variables (secrets included): what a child process of
        the server (the learner) reads to run with the same settings. Unset (None) settings are left out."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, (dict, list, tuple)):
                value = json.dumps(value)
            env[f"INFOGAP_{name.upper()}"] = str(value)
        return env

    @property
    def store_url(self) -> str:
        """The store's database URL: the setting, or the embedded SQLite file in data_dir."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'infogap.db'}"
