"""Access control on the real gateway (port 0, real channel): bearer tokens configured as SHA-256 digests with
scopes, one scope per RPC, health and reflection open, and the refusal to start unauthenticated on a public
address."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from infogap import AsyncInfoGapClient, InfoGapClient, InfoGapError
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.interceptors import METHOD_SCOPES, AccessInterceptor, check_exposure, is_loopback, token_digest
from infogap_server.server import StartupError
from infogap_server.server_process import ServerProcess
from infogap_server.settings import AUTH_SCOPES, Settings
from pydantic import ValidationError

from tests.conftest import channel_to

IDENTIFY_TOKEN = "identify-token-4b1f"
FEEDBACK_TOKEN = "feedback-token-9c2e"
ADMIN_TOKEN = "admin-token-77d0"
TOKENS = {
    token_digest(IDENTIFY_TOKEN): ["identify"],
    token_digest(FEEDBACK_TOKEN): ["feedback"],
    token_digest(ADMIN_TOKEN): ["admin"],
}
SERVICE = pb.DESCRIPTOR.services_by_name["InfoGap"]


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info
    return None


@pytest.fixture
async def auth_server(start_server, tiny_repository):
    return await start_server(tiny_repository, auth_tokens=TOKENS)


@pytest.fixture
async def stub(auth_server):
    async with channel_to(auth_server) as channel:
        yield infogap_pb2_grpc.InfoGapStub(channel)


async def identify(stub, metadata=None):
    return await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text="please cancel my order"), metadata=metadata,
                                    timeout=5)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "missing access token"),
        (bearer("not-a-configured-token"), "unknown access token"),
        ((("authorization", f"Basic {IDENTIFY_TOKEN}"),), "malformed authorization"),
        ((("authorization", "Bearer "),), "malformed authorization"),
        ((("authorization", IDENTIFY_TOKEN),), "malformed authorization"),
        (bearer(IDENTIFY_TOKEN) + bearer(ADMIN_TOKEN), "malformed authorization"),
    ],
    ids=["none", "unknown", "basic", "empty", "no-scheme", "two"],
)
async def test_missing_malformed_or_unknown_token_is_unauthenticated_with_a_request_id(stub, metadata, message):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identify(stub, metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message in caught.value.details()
    assert IDENTIFY_TOKEN not in caught.value.details()
    assert len(InfoGapError.from_rpc_error(caught.value).request_id) == 32


async def test_token_without_the_scope_is_permission_denied_naming_the_scope(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identify(stub, bearer(FEEDBACK_TOKEN))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'identify'" in caught.value.details() and "IdentifyNeeds" in caught.value.details()
    info = error_info(caught.value)
    assert info is not None and info.reason == "MISSING_SCOPE" and info.metadata["scope"] == "identify"
    assert InfoGapError.from_rpc_error(caught.value).request_id


async def test_token_with_the_scope_is_served(stub):
    response = await identify(stub, bearer(IDENTIFY_TOKEN))
    assert response.needs[0].intent == "cancel_order"
    # The bearer scheme is case-insensitive (RFC 6750 follows HTTP authentication schemes).
    response = await identify(stub, (("authorization", f"bearer  {IDENTIFY_TOKEN}"),))
    assert response.needs[0].intent == "cancel_order"


async def test_admin_token_may_call_every_rpc(stub):
    assert (await identify(stub, bearer(ADMIN_TOKEN))).needs
    for call in (
        stub.Recommend(pb.RecommendRequest(intent="get_refund"), metadata=bearer(ADMIN_TOKEN), timeout=5),
        stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="f1", rating=5), metadata=bearer(ADMIN_TOKEN),
                            timeout=5),
    ):
        try:
            await call
        except grpc.aio.AioRpcError as error:  # served or not yet: either way past access control
            assert error.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


async def test_streaming_rpc_is_checked_too(stub):
    events = [pb.SessionEvent(session_id="s1")]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.TrackSession(iter(events), metadata=bearer(IDENTIFY_TOKEN), timeout=5):
            pass
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).metadata["scope"] == "track"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.TrackSession(iter(events), timeout=5):
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_server_streaming_rpc_needs_its_scope(stub):
    """WatchAlerts (one request in, a stream out) is refused without the 'alerts' scope, and served with admin."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchAlerts(pb.WatchAlertsRequest(), metadata=bearer(FEEDBACK_TOKEN), timeout=5):
            pass
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).metadata["scope"] == "alerts"
    assert [a async for a in stub.WatchAlerts(pb.WatchAlertsRequest(), metadata=bearer(ADMIN_TOKEN), timeout=5)] == []


async def test_health_and_reflection_are_open_without_a_token(auth_server):
    async with channel_to(auth_server) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service="infogap.v1.InfoGap"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names = []
        async for reply in reflection.ServerReflectionInfo(iter([request]), timeout=5):
            names = [s.name for s in reply.list_services_response.service]
    assert "infogap.v1.InfoGap" in names


async def test_python_clients_send_their_token_on_every_call(auth_server):
    address = f"127.0.0.1:{auth_server.port}"
    async with AsyncInfoGapClient(address, token=IDENTIFY_TOKEN) as client:
        assert (await client.identify_needs("where is my parcel")).needs[0].intent == "track_order"
        # The token rides on the channel, so RPCs the client has no method for get it too (a stream here).
        stream = infogap_pb2_grpc.InfoGapStub(client._channel).TrackSession(
            iter([pb.SessionEvent(session_id="s1")]), timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stream:
                pass
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # authenticated, lacks 'track'
    async with AsyncInfoGapClient(address, token="wrong") as client:
        with pytest.raises(InfoGapError) as caught:
            await client.identify_needs("where is my parcel")
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED and caught.value.request_id

    def use_sync_client() -> tuple[str, grpc.StatusCode]:
        with InfoGapClient(address, token=IDENTIFY_TOKEN) as client:
            intent = client.identify_needs("please send my money back").needs[0].intent
            stream = infogap_pb2_grpc.InfoGapStub(client._channel).TrackSession(
                iter([pb.SessionEvent(session_id="s1")]), timeout=5
            )
            with pytest.raises(grpc.RpcError) as streamed:
                list(stream)
            assert streamed.value.code() == grpc.StatusCode.PERMISSION_DENIED  # the stream carried the token
        with InfoGapClient(address, token=FEEDBACK_TOKEN) as client:
            with pytest.raises(InfoGapError) as caught:
                client.identify_needs("please send my money back")
        return intent, caught.value.code

    assert await asyncio.to_thread(use_sync_client) == ("get_refund", grpc.StatusCode.PERMISSION_DENIED)


async def test_rejections_are_counted_and_logged_without_the_token(auth_server, stub, caplog):
    caplog.set_level(logging.WARNING, logger="infogap.rpc")
    for metadata in (None, bearer("guessed-token-1234"), bearer(FEEDBACK_TOKEN)):
        with pytest.raises(grpc.aio.AioRpcError):
            await identify(stub, metadata)
    await identify(stub, bearer(IDENTIFY_TOKEN))
    url = f"http://127.0.0.1:{auth_server.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'infogap_requests_total{code="UNAUTHENTICATED",method="IdentifyNeeds"} 2.0' in body
    assert 'infogap_requests_total{code="PERMISSION_DENIED",method="IdentifyNeeds"} 1.0' in body
    assert 'infogap_requests_total{code="OK",method="IdentifyNeeds"} 1.0' in body
    rejected = [r for r in caplog.records if r.getMessage() == "rpc rejected"]
    assert {r.fields["code"] for r in rejected} == {"UNAUTHENTICATED", "PERMISSION_DENIED"}
    logged = json.dumps([r.fields for r in caplog.records if hasattr(r, "fields")])
    for secret in ("guessed-token-1234", FEEDBACK_TOKEN, IDENTIFY_TOKEN, token_digest("guessed-token-1234")[:12]):
        assert secret not in logged
    assert token_digest(FEEDBACK_TOKEN)[:12] in logged  # a known token is named by its digest's prefix


def test_every_rpc_of_the_service_has_a_scope():
    assert {m.name for m in SERVICE.methods} <= set(METHOD_SCOPES)
    assert set(METHOD_SCOPES.values()) <= set(AUTH_SCOPES)
    assert "admin" in AUTH_SCOPES


async def test_an_rpc_missing_from_the_table_is_denied_even_to_admin():
    interceptor = AccessInterceptor({token_digest(ADMIN_TOKEN): ["admin"]})
    served = grpc.unary_unary_rpc_method_handler(lambda request, context: b"")

    async def continuation(details):
        return served

    details = _CallDetails("/infogap.v1.InfoGap/NotInTheTable", bearer(ADMIN_TOKEN))
    handler = await interceptor.intercept_service(continuation, details)
    assert handler is not served and not handler.request_streaming and not handler.response_streaming
    context = _AbortContext()
    with pytest.raises(_Aborted):
        await handler.unary_unary(b"", context)
    assert context.code == grpc.StatusCode.PERMISSION_DENIED
    assert "no scope in the access table" in context.details
    # A listed one goes through untouched; so does health, without a token.
    details = _CallDetails("/infogap.v1.InfoGap/IdentifyNeeds", bearer(ADMIN_TOKEN))
    assert await interceptor.intercept_service(continuation, details) is served
    assert await interceptor.intercept_service(continuation, _CallDetails("/grpc.health.v1.Health/Check", ())) is served


class _CallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str, metadata) -> None:
        self.method = method
        self.invocation_metadata = metadata


class _Aborted(Exception):
    pass


class _AbortContext:
    code: grpc.StatusCode | None = None
    details = ""

    async def abort(self, code, details, trailing_metadata=()):
        self.code, self.details = code, details
        raise _Aborted


# --- settings and start-up -----------------------------------------------------------------------------------


def test_tokens_are_read_as_json_from_the_environment(monkeypatch):
    digest = token_digest("t")
    monkeypatch.setenv("INFOGAP_AUTH_TOKENS", json.dumps({digest: ["identify", "admin", "identify"]}))
    assert Settings().auth_tokens == {digest: ("admin", "identify")}
    monkeypatch.delenv("INFOGAP_AUTH_TOKENS")
    assert Settings().auth_tokens == {}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ({"my-secret-token": ["identify"]}, "SHA-256 hex digest"),
        ({token_digest("t").upper(): ["identify"]}, "SHA-256 hex digest"),
        ({token_digest("t")[:63]: ["identify"]}, "SHA-256 hex digest"),
        ({token_digest("t"): []}, "at least one scope"),
        ({token_digest("t"): ["identify", "root"]}, "unknown scope 'root'"),
        ({"my-secret-token": "identify"}, "SHA-256 hex digest"),
        ({token_digest("t"): "identify"}, "list of strings"),
        (["identify"], "JSON object"),
    ],
)
def test_bad_token_settings_are_refused_without_quoting_a_key(tokens, message):
    with pytest.raises(ValidationError) as caught:
        Settings(auth_tokens=tokens)
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("auth_tokens",)]  # the CLI turns loc into the variable name
    assert message in errors[0]["msg"]
    assert "my-secret-token" not in errors[0]["msg"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.internal", False), ("", False)],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_authentication_off_is_refused_on_a_public_address():
    with pytest.raises(ValueError, match="set INFOGAP_AUTH_TOKENS or bind to loopback"):
        check_exposure(Settings(host="0.0.0.0"))
    check_exposure(Settings(host="0.0.0.0", auth_tokens=TOKENS))
    check_exposure(Settings(host="127.0.0.1"))


async def test_server_does_not_start_unauthenticated_on_a_public_address(start_server, tiny_repository):
    with pytest.raises(StartupError, match="INFOGAP_HOST=0.0.0.0 is not a loopback address"):
        await start_server(tiny_repository, host="0.0.0.0", load=False)


async def test_server_without_tokens_on_loopback_warns_loudly(start_server, tiny_repository, caplog):
    caplog.set_level(logging.WARNING, logger="infogap.server")
    await start_server(tiny_repository, load=False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "authentication is off" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == "authentication is off: every caller on this host may call every RPC"


def test_serve_exits_1_with_one_log_line_when_unauthenticated_on_a_public_address(tiny_repository):
    with ServerProcess(tiny_repository, host="0.0.0.0") as server:
        assert server.wait(60) == 1
        records = server.records()
    failures = [r for r in records if r["msg"] == "cannot start"]
    assert len(failures) == 1 and failures[0]["level"] == "error"
    assert "set INFOGAP_AUTH_TOKENS or bind to loopback" in failures[0]["reason"]
    assert not any(r["msg"] == "listening" for r in records)
