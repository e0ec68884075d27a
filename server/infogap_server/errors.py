"""Errors that carry their gRPC status code. Raised anywhere below the servicer, mapped to a status in one place
(:func:`to_rpc_status`). Messages never contain customer text."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class InfogapError(Exception):
    """Base error: a gRPC code and a message safe to show a caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def details(self) -> list[any_pb2.Any]:
        """Rich error details (google.rpc.*) packed as Any."""
        return []


class InvalidArgument(InfogapError):
    """A request field is invalid; carries a google.rpc.BadRequest naming the field and the reason."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.reason)]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [packed]


class ResourceExhausted(InfogapError):
    """The server is at capacity (a full queue); the caller should back off and retry."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromMilliseconds(50)
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]


class LimitReached(ResourceExhausted):
    """A fixed limit of one thing (the events one session may hold): unlike a full queue, retrying does not help,
    so no retry delay goes with it."""

    def details(self) -> list[any_pb2.Any]:
        return []


class Aborted(InfogapError):
    """Another writer holds what the call would change (a session another stream writes): retry later."""

    code = grpc.StatusCode.ABORTED


class FailedPrecondition(InfogapError):
    """The call does not fit the state it meets (an event on a closed session); retrying will not help."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(InfogapError):
    """A model or backend is not ready."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(InfogapError):
    """The caller's deadline passed before an answer was ready."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(InfogapError):
    """What the request names does not exist (a customer with no stored events)."""

    code = grpc.StatusCode.NOT_FOUND


class Unimplemented(InfogapError):
    """The RPC exists in the API but is not served yet."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Unauthenticated(InfogapError):
    """The call carries no valid access token (missing, malformed or unknown)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(InfogapError):
    """The caller's token is valid but lacks the scope the RPC needs; carries a google.rpc.ErrorInfo whose
    metadata names the scope (empty when no scope grants the RPC)."""

    code = grpc.StatusCode.PERMISSION_DENIED

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message)
        self.scope = scope

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(reason="MISSING_SCOPE", domain="infogap.v1", metadata={"scope": self.scope})
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]


def to_rpc_status(error: BaseException, request_id: str) -> grpc.Status:
    """The one mapping from an exception to the gRPC status sent to the caller.

    Unknown exceptions become INTERNAL with the request id and nothing else (no traceback, no customer text).
    """
    if isinstance(error, InfogapError):
        code, message, details = error.code, error.message, error.details()
    else:
        code, message, details = grpc.StatusCode.INTERNAL, f"internal error (request_id={request_id})", []
    info = error_details_pb2.RequestInfo(request_id=request_id)
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=_code_number(code), message=message, details=[*details, packed])
    return rpc_status.to_status(status)


def _code_number(code: grpc.StatusCode) -> int:
    number = code.value[0]
    assert code_pb2.Code.Name(number)  # the google.rpc.Code enum mirrors grpc's numbering
    return number
