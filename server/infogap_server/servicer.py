"""The gRPC servicer: protobuf in, protobuf out, nothing else. Conversion functions are the only place protobuf
types meet domain types; errors are mapped to statuses in :func:`infogap_server.errors.to_rpc_status`."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc as pb_grpc

from infogap_server.backends.base import request_deadline
from infogap_server.errors import InfogapError, InvalidArgument, Unavailable, Unimplemented, to_rpc_status
from infogap_server.metrics import Metrics
from infogap_server.services.needs import EVENT_TYPES, BehaviorEvent, NeedsQuery, NeedsResult, NeedsService
from infogap_server.settings import Settings

log = logging.getLogger("infogap.rpc")

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_SENTIMENT = {
    "negative": pb.SENTIMENT_LABEL_NEGATIVE,
    "neutral": pb.SENTIMENT_LABEL_NEUTRAL,
    "positive": pb.SENTIMENT_LABEL_POSITIVE,
}
_URGENCY = {"low": pb.URGENCY_LEVEL_LOW, "medium": pb.URGENCY_LEVEL_MEDIUM, "high": pb.URGENCY_LEVEL_HIGH}
_EVENT_TYPE = {
    getattr(pb, f"BEHAVIOR_EVENT_TYPE_{name.upper()}"): name for name in EVENT_TYPES
}


# --- conversions ------------------------------------------------------------------------------------------------


def _event_time(event: pb.BehaviorEvent, index: int):
    if not event.HasField("time"):
        return None
    try:
        return event.time.ToDatetime()
    except (ValueError, OverflowError):
        raise InvalidArgument(f"history[{index}].time", "is outside the years 1 to 9999") from None


def needs_query_from_proto(request: pb.IdentifyNeedsRequest) -> NeedsQuery:
    history = tuple(
        BehaviorEvent(
            type=_EVENT_TYPE.get(e.type, ""),
            time=_event_time(e, i),
            amount=e.amount,
            item_count=e.item_count,
        )
        for i, e in enumerate(request.history)
    )
    return NeedsQuery(
        text=request.text,
        customer_id=request.customer_id,
        language=request.language,
        top_k=request.top_k,
        history=history,
    )


def needs_result_to_proto(result: NeedsResult, request_id: str) -> pb.IdentifyNeedsResponse:
    response = pb.IdentifyNeedsResponse(
        needs=[pb.Need(intent=n.intent, score=n.score) for n in result.needs],
        out_of_scope=result.out_of_scope,
        sentiment=pb.Sentiment(
            label=_SENTIMENT[result.sentiment.label],
            score=result.sentiment.score,
            negative=result.sentiment.probabilities.get("negative", 0.0),
            neutral=result.sentiment.probabilities.get("neutral", 0.0),
            positive=result.sentiment.probabilities.get("positive", 0.0),
        )
        if result.sentiment
        else None,
        urgency=pb.Urgency(
            level=_URGENCY[result.urgency.level], score=result.urgency.score, signals=list(result.urgency.signals)
        ),
        entities=[
            pb.Entity(type=e.type, text=e.text, start=e.start, end=e.end, normalized=e.normalized)
            for e in result.entities
        ],
        model=pb.ModelInfo(name=result.model_name, version=result.model_version),
        request_id=request_id,
    )
    if result.churn_risk is not None:
        response.churn_risk = result.churn_risk
    return response


# --- servicer ---------------------------------------------------------------------------------------------------


class InfoGapServicer(pb_grpc.InfoGapServicer):
    """Thin: checks the request's size, converts, calls the service, converts back."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self.needs: NeedsService | None = None  # set once the model is loaded

    async def _call(
        self,
        method: str,
        request: Req,
        context: grpc.aio.ServicerContext,
        handler: Callable[[Req, str], Awaitable[Resp]],
    ) -> Resp:
        given_id = getattr(request, "request_id", "")
        # An over-long caller id is rejected, never echoed: it would not fit in the status or the log line.
        request_id = given_id if 0 < len(given_id) <= 128 else uuid.uuid4().hex
        started = time.perf_counter()
        remaining = context.time_remaining()
        request_deadline.set(None if remaining is None else time.monotonic() + remaining)
        code = grpc.StatusCode.OK
        try:
            size = request.ByteSize()  # type: ignore[attr-defined]
            if size > self._settings.max_request_bytes:
                raise InvalidArgument(
                    "request", f"is {size} bytes; the maximum is {self._settings.max_request_bytes}"
                )
            if len(given_id) > 128:
                raise InvalidArgument("request_id", "is longer than 128 characters")
            return await handler(request, request_id)
        except asyncio.CancelledError:  # the caller cancelled or its deadline passed: not a success
            remaining = context.time_remaining()
            code = grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else (
                grpc.StatusCode.CANCELLED
            )
            raise
        except Exception as exc:  # every error leaves through the one mapping
            if isinstance(exc, InfogapError):
                code = exc.code
                level = logging.WARNING if code != grpc.StatusCode.INVALID_ARGUMENT else logging.INFO
                log.log(level, "rpc failed", extra={"fields": _fields(method, request_id, code, exc.message)})
            else:
                code = grpc.StatusCode.INTERNAL
                # Where it failed, not the exception's message: that may quote the customer's text.
                fields = _fields(method, request_id, code, type(exc).__name__)
                fields["trace"] = "".join(traceback.format_tb(exc.__traceback__))
                log.error("rpc failed unexpectedly", extra={"fields": fields})
            status = to_rpc_status(exc, request_id)
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise  # unreachable: abort raises
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.observe_call(method, code.name, elapsed)
            if code == grpc.StatusCode.OK and log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "rpc ok",
                    extra={"fields": {"method": method, "request_id": request_id, "latency_ms": elapsed * 1e3}},
                )

    async def IdentifyNeeds(self, request, context):
        async def handle(req: pb.IdentifyNeedsRequest, request_id: str) -> pb.IdentifyNeedsResponse:
            if self.needs is None:
                raise Unavailable("the text model is loading; retry shortly")
            result = await self.needs.identify(needs_query_from_proto(req))
            return needs_result_to_proto(result, request_id)

        return await self._call("IdentifyNeeds", request, context, handle)

    async def Recommend(self, request, context):
        return await self._call("Recommend", request, context, _unimplemented("Recommend"))

    async def SubmitFeedback(self, request, context):
        return await self._call("SubmitFeedback", request, context, _unimplemented("SubmitFeedback"))

    async def TrackSession(self, request_iterator, context):
        request_id = uuid.uuid4().hex
        self._metrics.observe_call("TrackSession", grpc.StatusCode.UNIMPLEMENTED.name, 0.0)
        status = to_rpc_status(_unimplemented_error("TrackSession"), request_id)
        await context.abort(status.code, status.details, status.trailing_metadata)


def _unimplemented_error(method: str) -> Unimplemented:
    return Unimplemented(f"{method} is part of the infogap.v1 API but is not served by this version yet")


def _unimplemented(method: str) -> Callable[[object, str], Awaitable[object]]:
    async def handle(request: object, request_id: str) -> object:
        raise _unimplemented_error(method)

    return handle


def _fields(method: str, request_id: str, code: grpc.StatusCode, reason: str) -> dict[str, str]:
    return {"method": method, "request_id": request_id, "code": code.name, "reason": reason}
