"""Access control: bearer tokens with scopes, checked for every call before it reaches the servicer.

A caller sends ``authorization: Bearer <token>``. The server keeps only SHA-256 digests of its tokens
(``INFOGAP_AUTH_TOKENS``: digest -> scopes), so the configuration holds no secret that works as a token. Each RPC of
``infogap.v1.InfoGap`` needs one scope (:data:`METHOD_SCOPES`); ``admin`` grants every RPC in that table. Health
checking and reflection stay open. Everything else fails closed: an RPC missing from the table is denied to every
token, so a new RPC is unreachable until it is given a scope (a test holds the table to the service descriptor).

A rejected call is answered like every other failure of the server (:func:`infogap_server.errors.to_rpc_status`:
the code, a message, a generated request id), counted in ``infogap_requests_total{method,code}`` and logged at most
once a second per method and code. The token is never logged; neither is its digest unless the token is known.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping

import grpc

from infogap_server.errors import InfogapError, PermissionDenied, Unauthenticated, to_rpc_status
from infogap_server.metrics import Metrics
from infogap_server.settings import Settings

log = logging.getLogger("infogap.rpc")

#: The guarded service and the scope each of its RPCs needs. ``admin`` grants every RPC listed here.
SERVICE = "infogap.v1.InfoGap"
ADMIN_SCOPE = "admin"
METHOD_SCOPES: dict[str, str] = {
    "IdentifyNeeds": "identify",
    "GetCustomerProfile": "identify",
    "Recommend": "recommend",
    "TrackSession": "track",
    "SubmitFeedback": "feedback",
    # Aggregates over every customer's feedback: for whoever reads the service's performance, not its producers.
    "GetInsights": "insights",
    # Where the service's time goes, in aggregate (no customer, no text): the same readers as the insights.
    "GetSessionBottlenecks": "insights",
    # Alerts on spikes of negative feedback, with example feedback ids: for whoever watches the service's health;
    # a separate scope, so that a dashboard's token need not read insights, nor an alerting bridge's every RPC.
    "WatchAlerts": "alerts",
    # Recording what customers did is tracking them; a producer of events must not be able to erase customers.
    "RecordEvents": "track",
    "EraseCustomer": ADMIN_SCOPE,
}

#: Services any caller may use without a token: load balancers probe health, tools list services.
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                 "grpc.reflection.v1.ServerReflection")

_OPEN_PREFIXES = tuple(f"/{service}/" for service in OPEN_SERVICES)
_PATH_SCOPES = {f"/{SERVICE}/{name}": scope for name, scope in METHOD_SCOPES.items()}

_MISSING = Unauthenticated("missing access token: send the metadata 'authorization: Bearer <token>'")
_MALFORMED = Unauthenticated("malformed authorization metadata: expected one 'authorization: Bearer <token>'")
_UNKNOWN = Unauthenticated("unknown access token")


def token_digest(token: str) -> str:
    """The form in which ``INFOGAP_AUTH_TOKENS`` names a token: its SHA-256 as lowercase hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # another host name: it may resolve to anything
        return False


def check_exposure(settings: Settings) -> None:
    """Raise ValueError when authentication is off and the server would bind more than loopback."""
    if not settings.auth_tokens and not is_loopback(settings.host):
        raise ValueError(
            f"authentication is off and INFOGAP_HOST={settings.host} is not a loopback address: set "
            "INFOGAP_AUTH_TOKENS or bind to loopback (INFOGAP_HOST=127.0.0.1); INFOGAP_AUTH_TOKENS maps the "
            "SHA-256 digest of each token to its scopes"
        )


class AccessInterceptor(grpc.aio.ServerInterceptor):
    """Checks the bearer token of every call against the configured digests and the method's scope.

    The work per call is one SHA-256 of the token and two dictionary look-ups: for each digest, the set of method
    paths it may call is computed here, once. An allowed call goes on to its handler untouched; a rejected one
    gets a handler of the same kind (unary or streaming) that aborts with the status.
    """

    def __init__(self, tokens: Mapping[str, Iterable[str]], metrics: Metrics | None = None) -> None:
        self._allowed: dict[str, frozenset[str]] = {}
        for digest, scopes in tokens.items():
            granted = set(scopes)
            self._allowed[digest] = frozenset(
                path for path, scope in _PATH_SCOPES.items() if scope in granted or ADMIN_SCOPE in granted
            )
        self._metrics = metrics
        self._log = _RejectionLog()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(_OPEN_PREFIXES):
            return await continuation(handler_call_details)
        started = time.perf_counter()
        digest = _bearer_digest(handler_call_details.invocation_metadata)
        allowed = self._allowed.get(digest) if isinstance(digest, str) else None
        if allowed is not None and method in allowed:
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # no such method: gRPC answers UNIMPLEMENTED, as it would to anyone
        if isinstance(digest, InfogapError):
            error: InfogapError = digest
        elif allowed is None:
            error = _UNKNOWN
        else:
            error = _permission_error(method)
        return self._reject(handler, method, error, digest if allowed is not None else None, started)

    def _reject(
        self, handler: grpc.RpcMethodHandler, method: str, error: InfogapError, known_digest: str | None,
        started: float,
    ) -> grpc.RpcMethodHandler:
        request_id = uuid.uuid4().hex
        status = to_rpc_status(error, request_id)
        name = method.rpartition("/")[2]
        if self._metrics is not None:
            self._metrics.observe_call(name, error.code.name, time.perf_counter() - started)
        # A digest prefix tells operators which known token lacked a scope; an unknown token leaves no trace.
        self._log.log(name, request_id, error, known_digest[:12] if known_digest else None)

        async def abort(_request: object, context: grpc.aio.ServicerContext) -> None:
            await context.abort(status.code, status.details, status.trailing_metadata)

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(abort)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(abort)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(abort)
        return grpc.unary_unary_rpc_method_handler(abort)


def _bearer_digest(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | Unauthenticated:
    """The SHA-256 digest of the call's bearer token, or the error saying what is wrong with its metadata."""
    value: str | bytes | None = None
    for key, item in metadata or ():
        if key == "authorization":
            if value is not None:
                return _MALFORMED  # two tokens: refuse rather than guess which one counts
            value = item
    if value is None:
        return _MISSING
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _MALFORMED
    return token_digest(token)


def _permission_error(method: str) -> PermissionDenied:
    scope = _PATH_SCOPES.get(method)
    name = method.lstrip("/")
    if scope is None:
        return PermissionDenied(f"{name} has no scope in the access table, so no token may call it", scope="")
    return PermissionDenied(f"the access token lacks the scope '{scope}' that {name} needs", scope=scope)


class _RejectionLog:
    """One WARNING line per method and code per interval, with the number of rejections it stands for
    (``calls``): a caller hammering with a bad token must not become a flood of log lines."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self._interval_s = interval_s
        self._last: dict[tuple[str, grpc.StatusCode], float] = {}
        self._since: dict[tuple[str, grpc.StatusCode], int] = {}

    def log(self, method: str, request_id: str, error: InfogapError, token: str | None) -> None:
        key = (method, error.code)
        now = time.monotonic()
        self._since[key] = self._since.get(key, 0) + 1
        if now - self._last.get(key, float("-inf")) < self._interval_s:
            return
        self._last[key] = now
        fields: dict[str, object] = {
            "method": method, "request_id": request_id, "code": error.code.name, "reason": error.message,
            "calls": self._since.pop(key),
        }
        if token is not None:
            fields["token_sha256_prefix"] = token
        log.warning("rpc rejected", extra={"fields": fields})
