"""Sync and async clients with a default deadline; failures raise :class:`InfoGapError` carrying the real
``grpc.StatusCode`` and the server's rich error details (field violations, request id)."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.rpc import error_details_pb2, status_pb2

from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 5.0


class InfoGapError(Exception):
    """An RPC failed. ``code`` is the grpc.StatusCode; ``field_violations`` lists (field, reason) pairs."""

    def __init__(self, code: grpc.StatusCode, message: str, field_violations: list[tuple[str, str]],
                 request_id: str | None) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field_violations = field_violations
        self.request_id = request_id

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> InfoGapError:
        violations: list[tuple[str, str]] = []
        request_id = None
        raw = None
        for key, value in _metadata_items(error.trailing_metadata()):
            if key == "grpc-status-details-bin":
                raw = value
        if raw is not None:
            status = status_pb2.Status.FromString(raw)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    violations += [(v.field, v.description) for v in bad.field_violations]
                elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
                    info = error_details_pb2.RequestInfo()
                    detail.Unpack(info)
                    request_id = info.request_id
        return cls(error.code(), error.details() or "", violations, request_id)


def _metadata_items(metadata: object) -> list[tuple[str, bytes]]:
    """Trailing metadata as pairs, for the sync API (tuples) and grpc.aio (a Metadata object)."""
    if metadata is None:
        return []
    if hasattr(metadata, "keys") and hasattr(metadata, "get_all"):
        return [(k, v) for k in metadata.keys() for v in metadata.get_all(k)]
    return list(metadata)


def _request(text: str, top_k: int, language: str, customer_id: str, request_id: str,
             history: Iterable[pb.BehaviorEvent]) -> pb.IdentifyNeedsRequest:
    return pb.IdentifyNeedsRequest(text=text, top_k=top_k, language=language, customer_id=customer_id,
                                   request_id=request_id, history=list(history))


class InfoGapClient:
    """Blocking client. Use as a context manager or call :meth:`close`."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: grpc.Channel | None = None) -> None:
        self._channel = channel or grpc.insecure_channel(address)
        self._stub = pb_grpc.InfoGapStub(self._channel)
        self.timeout_s = timeout_s

    def identify_needs(self, text: str, *, top_k: int = 0, language: str = "", customer_id: str = "",
                       request_id: str = "", history: Iterable[pb.BehaviorEvent] = (),
                       timeout_s: float | None = None) -> pb.IdentifyNeedsResponse:
        try:
            return self._stub.IdentifyNeeds(
                _request(text, top_k, language, customer_id, request_id, history),
                timeout=self.timeout_s if timeout_s is None else timeout_s,
            )
        except grpc.RpcError as error:
            raise InfoGapError.from_rpc_error(error) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> InfoGapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInfoGapClient:
    """asyncio client (grpc.aio). Use as an async context manager or await :meth:`close`."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: grpc.aio.Channel | None = None) -> None:
        self._channel = channel or grpc.aio.insecure_channel(address)
        self._stub = pb_grpc.InfoGapStub(self._channel)
        self.timeout_s = timeout_s

    async def identify_needs(self, text: str, *, top_k: int = 0, language: str = "", customer_id: str = "",
                             request_id: str = "", history: Iterable[pb.BehaviorEvent] = (),
                             timeout_s: float | None = None) -> pb.IdentifyNeedsResponse:
        try:
            return await self._stub.IdentifyNeeds(
                _request(text, top_k, language, customer_id, request_id, history),
                timeout=self.timeout_s if timeout_s is None else timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            raise InfoGapError.from_rpc_error(error) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncInfoGapClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
