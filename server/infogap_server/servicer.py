"""The gRPC servicer: protobuf in, protobuf out, nothing else. Conversion functions are the only place protobuf
types meet domain types; errors are mapped to statuses in :func:`infogap_server.errors.to_rpc_status`.

Every RPC of the service, unary or stream, is registered from the service descriptor with raw bytes in, so the
request is decoded here, inside the one failure path: undecodable bytes are INVALID_ARGUMENT with a request id,
counted and logged in one line like any other bad request, never a traceback and UNKNOWN from gRPC's own
deserializer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from infogap.v1 import infogap_pb2 as pb

from infogap_server.backends.base import request_deadline
from infogap_server.errors import (
    DeadlineExceeded,
    InfogapError,
    InvalidArgument,
    Unavailable,
    to_rpc_status,
)
from infogap_server.metrics import Metrics
from infogap_server.services.alerts import Alert, AlertService, WatchRequest
from infogap_server.services.bottlenecks import Bottlenecks, BottleneckService, BottlenecksRequest
from infogap_server.services.customers import CustomerService, IncomingEvent, Profile, RecordResult
from infogap_server.services.feedback import FeedbackReceiptResult, FeedbackService, FeedbackSubmission
from infogap_server.services.insights import Group, Insights, InsightsRequest, InsightsService, TermTrend
from infogap_server.services.needs import (
    EVENT_TYPES,
    BehaviorEvent,
    NeedsQuery,
    NeedsResult,
    NeedsService,
    SentimentResult,
)
from infogap_server.services.patterns import CLIENT_ID, CLIENT_ID_RULE
from infogap_server.services.recommend import RecommendQuery, RecommendResult, RecommendService
from infogap_server.services.sessions import SessionEventQuery, SessionService, SessionView
from infogap_server.settings import Settings
from infogap_server.store.base import ErasureReport, TimeSpread

log = logging.getLogger("infogap.rpc")

SERVICE = pb.DESCRIPTOR.services_by_name["InfoGap"]

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
_EVENT_TYPE_NUMBER = {name: number for number, name in _EVENT_TYPE.items()}


# --- conversions ------------------------------------------------------------------------------------------------


def _optional_time(message: Message, name: str, field: str) -> datetime | None:
    """``message.<name>`` as an aware UTC datetime, None when unset; outside the years 1 to 9999 is
    INVALID_ARGUMENT naming ``field`` (the request path of it)."""
    if not message.HasField(name):
        return None
    try:
        return getattr(message, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is outside the years 1 to 9999") from None


def _history_from_proto(history) -> tuple[BehaviorEvent, ...]:
    return tuple(
        BehaviorEvent(
            type=_EVENT_TYPE.get(e.type, ""),
            time=_optional_time(e, "time", f"history[{i}].time"),
            amount=e.amount,
            item_count=e.item_count,
        )
        for i, e in enumerate(history)
    )


def needs_query_from_proto(request: pb.IdentifyNeedsRequest) -> NeedsQuery:
    return NeedsQuery(
        text=request.text,
        customer_id=request.customer_id,
        language=request.language,
        top_k=request.top_k,
        history=_history_from_proto(request.history),
    )


def recommend_query_from_proto(request: pb.RecommendRequest) -> RecommendQuery:
    return RecommendQuery(
        intent=request.intent, text=request.text, customer_id=request.customer_id,
        history=_history_from_proto(request.history), top_k=request.top_k, channel=request.channel,
        order_age_days=request.order_age_days if request.HasField("order_age_days") else None,
        order_amount=request.order_amount if request.HasField("order_amount") else None, explain=request.explain,
    )


_PLAN_KIND = {"resolution": pb.PLAN_KIND_RESOLUTION, "offer": pb.PLAN_KIND_OFFER, "product": pb.PLAN_KIND_PRODUCT,
              "information": pb.PLAN_KIND_INFORMATION, "contact": pb.PLAN_KIND_CONTACT}


def recommend_result_to_proto(result: RecommendResult, request_id: str) -> pb.RecommendResponse:
    response = pb.RecommendResponse(
        plans=[pb.Plan(plan_id=r.plan.id, kind=_PLAN_KIND[r.plan.kind], title=r.plan.title,
                       expected_satisfaction=r.expected_satisfaction, reasons=list(r.reasons),
                       probability=r.probability, cost=float(r.plan.cost), requires_approval=r.plan.requires_approval,
                       unchecked=list(r.unchecked), description=r.plan.description) for r in result.plans],
        request_id=request_id, decision_id=result.decision_id, policy_version=result.policy_version,
        catalogue_version=result.catalogue_version, out_of_scope=result.out_of_scope,
        excluded=[pb.ExcludedPlan(plan_id=p, reasons=list(reasons)) for p, reasons in result.excluded.items()],
        intent=result.intent, explored=result.explored,
    )
    if result.model is not None:
        response.model.CopyFrom(pb.ModelInfo(name=result.model[0], version=result.model[1]))
    return response


def needs_result_to_proto(result: NeedsResult, request_id: str) -> pb.IdentifyNeedsResponse:
    response = pb.IdentifyNeedsResponse(
        needs=[pb.Need(intent=n.intent, score=n.score) for n in result.needs],
        out_of_scope=result.out_of_scope,
        sentiment=_sentiment_to_proto(result.sentiment) if result.sentiment else None,
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
    if result.behaviour_model is not None:
        name, version = result.behaviour_model
        response.behaviour_model.CopyFrom(pb.ModelInfo(name=name, version=version))
    response.history_events_used = result.history_events_used
    response.history_from_store = result.history_from_store
    return response


def _timestamp(time: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time.replace(tzinfo=UTC) if time.tzinfo is None else time)
    return stamp


def incoming_events_from_proto(request: pb.RecordEventsRequest) -> list[IncomingEvent]:
    events = []
    for e in request.events:
        try:
            time = _optional_time(e.event, "time", "event.time")
        except InvalidArgument:  # outside the years 1 to 9999: cleaning rejects it with its index, not the batch
            time = datetime.min.replace(tzinfo=UTC) if e.event.time.seconds < 0 else datetime.max.replace(tzinfo=UTC)
        events.append(
            IncomingEvent(
                customer_id=e.customer_id,
                event_id=e.event_id,
                type=_EVENT_TYPE.get(e.event.type, ""),
                time=time,
                amount=e.event.amount,
                item_count=e.event.item_count,
                note=e.note,
            )
        )
    return events


def record_result_to_proto(result: RecordResult, request_id: str) -> pb.RecordEventsResponse:
    return pb.RecordEventsResponse(
        stored=result.stored,
        duplicates=result.duplicates,
        rejected=[
            pb.RejectedEvent(index=r.index, field=r.field, reason=r.reason, code=r.code) for r in result.rejected
        ],
        dropped=[pb.DropCount(reason=reason, count=n) for reason, n in result.dropped.items()],
        request_id=request_id,
    )


def profile_to_proto(profile: Profile, currency: str, request_id: str) -> pb.CustomerProfile:
    r = profile.rfm
    rfm = pb.Rfm(
        frequency=r.frequency, monetary=r.monetary, recency_score=r.recency_score,
        frequency_score=r.frequency_score, monetary_score=r.monetary_score,
    )
    if r.recency_days is not None:
        rfm.recency_days = r.recency_days
    response = pb.CustomerProfile(
        as_of=_timestamp(profile.as_of),
        total_events=profile.total_events,
        events_by_type=[
            pb.EventTypeCount(type=_EVENT_TYPE_NUMBER[t.type], count=t.count, amount=t.amount) for t in profile.by_type
        ],
        rfm=rfm,
        segment=profile.segment,
        first_activity=_timestamp(profile.first_activity),
        last_activity=_timestamp(profile.last_activity),
        open_issues=[
            pb.OpenIssue(type=_EVENT_TYPE_NUMBER[i.type], time=_timestamp(i.time), event_id=i.event_id, amount=i.amount)
            for i in profile.open_issues
        ],
        currency=currency,
        request_id=request_id,
    )
    churn = profile.churn
    if churn is not None:
        response.churn_risk = churn.risk
        response.expected_value_90d = churn.value_90d
        response.churn_reasons.extend(
            pb.ChurnReason(signal=r.signal, description=r.description, contribution=r.contribution)
            for r in churn.reasons
        )
        response.behaviour_model.CopyFrom(pb.ModelInfo(name=churn.model_name, version=str(churn.model_version)))
    return response


def feedback_from_proto(request: pb.SubmitFeedbackRequest) -> FeedbackSubmission:
    return FeedbackSubmission(
        feedback_id=request.feedback_id, customer_id=request.customer_id, rating=request.rating, text=request.text,
        session_id=request.session_id, intent=request.intent, plan_id=request.plan_id,
        decision_id=request.decision_id, resolved=request.resolved if request.HasField("resolved") else None,
    )


def _sentiment_to_proto(sentiment: SentimentResult) -> pb.Sentiment:
    return pb.Sentiment(
        label=_SENTIMENT[sentiment.label],
        score=sentiment.score,
        negative=sentiment.probabilities.get("negative", 0.0),
        neutral=sentiment.probabilities.get("neutral", 0.0),
        positive=sentiment.probabilities.get("positive", 0.0),
    )


def receipt_to_proto(receipt: FeedbackReceiptResult, request_id: str) -> pb.FeedbackReceipt:
    response = pb.FeedbackReceipt(
        feedback_id=receipt.feedback_id, duplicate=receipt.duplicate, stored_at=_timestamp(receipt.stored_at),
        request_id=request_id, aspects=[a for a, _ in receipt.aspects], keywords=[k for k, _ in receipt.keywords],
        aspect_scores=[pb.TermScore(term=a, score=p) for a, p in receipt.aspects],
        keyword_scores=[pb.TermScore(term=k, score=r) for k, r in receipt.keywords],
    )
    if receipt.sentiment is not None:
        response.sentiment.CopyFrom(_sentiment_to_proto(receipt.sentiment))
    if receipt.model is not None:
        response.model.CopyFrom(pb.ModelInfo(name=receipt.model[0], version=receipt.model[1]))
    return response


_PERIOD = {pb.INSIGHT_PERIOD_UNSPECIFIED: "day", pb.INSIGHT_PERIOD_HOUR: "hour", pb.INSIGHT_PERIOD_DAY: "day",
           pb.INSIGHT_PERIOD_WEEK: "week"}


def insights_request_from_proto(request: pb.GetInsightsRequest) -> InsightsRequest:
    return InsightsRequest(
        since=_optional_time(request, "since", "since"), until=_optional_time(request, "until", "until"),
        intent=request.intent, plan_id=request.plan_id, segment=request.segment,
        period=_PERIOD.get(request.period, "unknown"), top_n=request.top_n,
    )


def _group_to_proto(g: Group) -> pb.SatisfactionGroup:
    group = pb.SatisfactionGroup(key=g.key, count=g.count, mean_rating=g.mean_rating, csat=g.csat)
    if g.period_start is not None:
        group.period_start.CopyFrom(_timestamp(g.period_start))
    return group


def _trend_to_proto(t: TermTrend) -> pb.TermTrend:
    trend = pb.TermTrend(term=t.term, count=t.count, previous_count=t.previous_count)
    if t.change is not None:
        trend.change = t.change
    return trend


def insights_to_proto(i: Insights, request_id: str) -> pb.InsightsResponse:
    return pb.InsightsResponse(
        since=_timestamp(i.since), until=_timestamp(i.until), overall=_group_to_proto(i.overall),
        previous=_group_to_proto(i.previous), by_intent=[_group_to_proto(g) for g in i.by_intent],
        by_plan=[_group_to_proto(g) for g in i.by_plan], by_segment=[_group_to_proto(g) for g in i.by_segment],
        by_period=[_group_to_proto(g) for g in i.by_period], top_aspects=[_trend_to_proto(t) for t in i.top_aspects],
        top_keywords=[_trend_to_proto(t) for t in i.top_keywords], request_id=request_id,
    )


def bottlenecks_request_from_proto(request: pb.GetSessionBottlenecksRequest) -> BottlenecksRequest:
    return BottlenecksRequest(
        since=_optional_time(request, "since", "since"), until=_optional_time(request, "until", "until"),
        intent=request.intent, queue=request.queue,
    )


def _spread_to_proto(t: TimeSpread) -> pb.TimeSpread:
    return pb.TimeSpread(sessions_with_any=t.count, p50_s=t.p50_s, p90_s=t.p90_s, total_s=t.total_s)


def bottlenecks_to_proto(b: Bottlenecks, request_id: str) -> pb.SessionBottlenecksResponse:
    return pb.SessionBottlenecksResponse(
        since=_timestamp(b.since), until=_timestamp(b.until), sessions=b.sessions,
        groups=[pb.Bottleneck(dimension=g.dimension, value=g.value, sessions=g.sessions,
                              wait=_spread_to_proto(g.wait), handling=_spread_to_proto(g.handling),
                              transfers=g.transfers) for g in b.groups],
        request_id=request_id,
    )


_ALERT_STREAM = {pb.ALERT_STREAM_OVERALL: "overall", pb.ALERT_STREAM_ASPECT: "aspect", pb.ALERT_STREAM_INTENT: "intent"}
_ALERT_STREAM_NUMBER = {name: number for number, name in _ALERT_STREAM.items()}


def watch_request_from_proto(request: pb.WatchAlertsRequest) -> WatchRequest:
    return WatchRequest(
        since=_optional_time(request, "since", "since"),
        kinds=tuple(_ALERT_STREAM.get(kind, "") for kind in request.kinds),  # "": unknown, refused by the service
        keys=tuple(request.keys), follow=request.follow,
    )


def alert_to_proto(a: Alert, alpha: float, request_id: str) -> pb.Alert:
    return pb.Alert(
        alert_id=a.alert_id, kind=_ALERT_STREAM_NUMBER[a.kind], key=a.key,
        window_start_sequence=a.window_start_sequence, window_end_sequence=a.window_end_sequence,
        window_start=_timestamp(a.window_start), window_end=_timestamp(a.window_end), window_events=a.window_events,
        observed_count=a.observed_hits, observed_rate=a.observed_rate, expected_rate=a.expected_rate,
        baseline_events=a.baseline_events, baseline_count=a.baseline_hits, p_value=a.p_value, alpha=alpha,
        example_feedback_ids=list(a.example_feedback_ids), fired_at=_timestamp(a.fired_at), request_id=request_id,
    )


_SESSION_STAGE = {"discovery": pb.SESSION_STAGE_DISCOVERY, "resolving": pb.SESSION_STAGE_RESOLVING,
                  "escalated": pb.SESSION_STAGE_ESCALATED, "closed": pb.SESSION_STAGE_CLOSED}
#: The SessionEvent oneof's members: proto name -> the service's event kind.
_SESSION_EVENT_KIND = {"message": "message", "agent_action": "action", "wait": "wait", "transfer": "transfer",
                       "end": "end", "resume": "resume"}
_SESSION_EVENT_NUMBERS = frozenset(
    pb.SessionEvent.DESCRIPTOR.fields_by_name[name].number for name in _SESSION_EVENT_KIND)


def _wire_field_numbers(raw: bytes) -> list[int]:
    """The field numbers of a message's top-level fields in wire order (``raw`` has already parsed: it is valid)."""
    numbers, i = [], 0

    def varint(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = raw[at]
            value |= (byte & 0x7F) << shift
            at += 1
            if not byte & 0x80:
                return value, at
            shift += 7

    while i < len(raw):
        key, i = varint(i)
        numbers.append(key >> 3)
        wire = key & 7
        if wire == 0:
            _, i = varint(i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            size, i = varint(i)
            i += size
        elif wire == 5:
            i += 4
        else:  # groups: not in this API; stop counting rather than misread
            break
    return numbers


def session_event_from_proto(e: pb.SessionEvent, raw: bytes = b"") -> SessionEventQuery:
    """The domain event; two members of the event oneof on the wire (protobuf would keep the last silently) is
    INVALID_ARGUMENT naming ``event``."""
    given = {n for n in _wire_field_numbers(raw) if n in _SESSION_EVENT_NUMBERS} if raw else set()
    if len(given) > 1:
        raise InvalidArgument("event", f"carries {len(given)} event kinds; exactly one of message, agent_action, "
                              "wait, transfer, end, resume is allowed")
    which = e.WhichOneof("event") or ""
    time = _optional_time(e, "time", "time")
    return SessionEventQuery(
        session_id=e.session_id, kind=_SESSION_EVENT_KIND.get(which, ""), customer_id=e.customer_id,
        time=None if time is None else time.replace(tzinfo=None), client_event_id=e.client_event_id,
        from_customer=e.message.from_customer, text=e.message.text, action=e.agent_action.action,
        plan_id=e.agent_action.plan_id, wait_s=e.wait.duration_s, to_queue=e.transfer.to_queue,
        resolved=e.end.resolved, last_sequence=e.resume.last_sequence,
    )


def _action_value(a) -> pb.ActionValue | None:
    return None if a is None else pb.ActionValue(action=a.action, value=a.value, source=a.source)


def session_view_to_proto(v: SessionView) -> pb.SessionState:
    state = pb.SessionState(
        session_id=v.session_id, stage=_SESSION_STAGE[v.stage], sentiment_trend=v.sentiment_trend,
        sla_breach_risk=v.sla_breach_risk, escalation_risk=v.escalation_risk,
        next_best_action=v.next_action.action if v.next_action else "", events_seen=v.events_seen,
        sequence=v.sequence, duplicate=v.duplicate, next_action=_action_value(v.next_action),
        runner_up=_action_value(v.runner_up), sentiment_level=v.sentiment_level, elapsed_s=v.elapsed_s,
        wait_s=v.wait_s, transfers=v.transfers, queue=v.queue, sla_target_s=v.sla_target_s,
        policy_version=v.policy_version, close_reason=v.close_reason, missed_events=v.missed_events,
        allowed_actions=list(v.allowed),
    )
    if v.intent:
        state.current_need.CopyFrom(pb.Need(intent=v.intent, score=v.intent_probability))
    return state


def erasure_to_proto(report: ErasureReport, request_id: str) -> pb.EraseCustomerResponse:
    return pb.EraseCustomerResponse(
        deleted=[pb.TableCount(table=t, rows=n) for t, n in sorted(report.deleted.items())],
        audit_id=report.audit_id,
        erased_at=_timestamp(report.erased_at),
        request_id=request_id,
    )


# --- servicer ---------------------------------------------------------------------------------------------------


class InfoGapServicer:
    """Thin: decodes and checks the request's size, converts, calls the service, converts back.

    Every call leaves through :meth:`_call`: one place that decodes, sets the request id and the deadline, maps
    errors to statuses, logs one line without customer text and counts the code the caller saw.
    """

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self.needs: NeedsService | None = None  # set once the model is loaded
        self.customers: CustomerService | None = None  # set once the store is open
        self.feedback: FeedbackService | None = None  # set once the store is open
        self.recommend: RecommendService | None = None  # set once the store and the catalogue are open
        self.sessions: SessionService | None = None  # set once the store and the playbook are open
        self.insights: InsightsService | None = None  # set once the store is open
        self.bottlenecks: BottleneckService | None = None  # set once the store is open
        self.alerts: AlertService | None = None  # set once the store is open
        self._draining = False
        self._stopping = asyncio.Event()  # set with draining: ends the server-streaming calls that would go on
        self._in_flight = 0
        self._drain_started = 0.0  # time.monotonic() when draining began
        self._last_arrival = 0.0  # time.monotonic() of the latest call accepted as work (not refused by draining)
        self._shed_log = _ShedLog()

    # --- registration and lifecycle ---------------------------------------------------------------------------

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register every RPC of the service (read from its descriptor) with raw bytes in and protobuf out."""
        handlers = {}
        for method in SERVICE.methods:
            request_class = getattr(pb, method.input_type.name)
            serializer = getattr(pb, method.output_type.name).SerializeToString
            behavior = getattr(self, method.name)
            if method.client_streaming and method.server_streaming:
                handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                    self._stream_behavior(method.name, request_class, behavior), response_serializer=serializer
                )
            elif not method.client_streaming and not method.server_streaming:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._unary_behavior(method.name, request_class, behavior), response_serializer=serializer
                )
            elif method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._unary_stream_behavior(method.name, request_class, behavior), response_serializer=serializer
                )
            else:  # pragma: no cover - the API has no client-streaming RPC; add its wiring with the first one
                raise NotImplementedError(f"{method.name}: client-streaming RPCs are not wired")
        server.add_generic_rpc_handlers((_CountingHandler(SERVICE.full_name, handlers, self._metrics),))

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return self._in_flight

    def start_draining(self) -> None:
        """From now on new calls are answered UNAVAILABLE at once; calls already running go on, except the
        server-streaming ones that would go on indefinitely (a following WatchAlerts): they end with UNAVAILABLE."""
        if not self._draining:
            self._drain_started = time.monotonic()
        self._draining = True
        self._stopping.set()

    async def wait_drained(self, timeout_s: float, quiet_s: float = 0.1, settle_s: float = 0.5) -> bool:
        """Wait until no call accepted before draining is running, none arrived in the last ``quiet_s``, and
        draining has gone on for ``settle_s`` (True), or ``timeout_s`` passes (False).

        Both waits are for calls gRPC had received but not yet handed over when draining began: the transport's
        stop cancels those (the client reads CANCELLED) instead of letting the servicer refuse them. A busy event
        loop hands them over late, so draining lasts at least ``settle_s`` (at most ``timeout_s``) whatever the
        load. Calls refused while draining do not count: clients that keep calling cannot hold the drain open."""
        now = time.monotonic()
        deadline = now + timeout_s
        settled_at = self._drain_started + min(settle_s, timeout_s)
        while True:
            now = time.monotonic()
            if self._in_flight == 0 and now - self._last_arrival >= quiet_s and now >= settled_at:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(0.01, deadline - now))

    # --- the one call path ------------------------------------------------------------------------------------

    def _unary_behavior(self, name: str, request_class: type[Message], behavior: Callable) -> Callable:
        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Message:
            return await self._call(name, context, lambda: _decode(request_class, raw, self._settings), behavior)

        return handle

    def _unary_stream_behavior(self, name: str, request_class: type[Message], behavior: Callable) -> Callable:
        """One request in, a stream out. ``behavior(request, request_id)`` is awaited first and checks the request
        (a bad one fails before anything is sent); it returns the async iterator of responses, which starts once
        the response headers are sent. A caller going away or its deadline cancels the iterator."""

        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> None:
            async def respond(request: Message, request_id: str) -> None:
                responses = await behavior(request, request_id)
                await context.send_initial_metadata(())  # the stream is open: a watcher knows it was accepted
                async with contextlib.aclosing(responses):
                    async for response in responses:
                        await context.write(response)

            await self._call(name, context, lambda: _decode(request_class, raw, self._settings), respond)

        return handle

    def _stream_behavior(self, name: str, request_class: type[Message], behavior: Callable) -> Callable:
        settings = self._settings

        async def requests(raw_iterator: AsyncIterator[bytes]) -> AsyncIterator[tuple[Message, bytes]]:
            async for raw in raw_iterator:  # with its bytes: some checks need the wire (two oneof members)
                yield _decode(request_class, raw, settings), raw

        async def handle(raw_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
            async def respond(request_stream: AsyncIterator[Message], request_id: str) -> None:
                async for response in behavior(request_stream, request_id):
                    await context.write(response)

            await self._call(name, context, lambda: requests(raw_iterator), respond)

        return handle

    async def _call(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        decode: Callable[[], Any],
        handler: Callable[[Any, str], Awaitable[Resp]],
    ) -> Resp:
        started = time.perf_counter()
        request_id = ""
        code = grpc.StatusCode.OK
        working = not self._draining  # calls refused while draining are not work the drain waits for
        if working:
            self._in_flight += 1
            self._last_arrival = time.monotonic()
        try:
            remaining = context.time_remaining()
            request_deadline.set(None if remaining is None else time.monotonic() + remaining)
            if not working:
                raise Unavailable("the server is shutting down; retry on another replica")
            request = decode()
            given_id = getattr(request, "request_id", "")
            # A caller's id goes into every log line of the call, so only an id-shaped one is taken; anything else
            # is rejected and never echoed.
            request_id = given_id if given_id and CLIENT_ID.fullmatch(given_id) else uuid.uuid4().hex
            if given_id and request_id != given_id:
                raise InvalidArgument("request_id", CLIENT_ID_RULE)
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded("the call's deadline passed before the server could start it")
            response = await handler(request, request_id)
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                # gRPC has already told the caller DEADLINE_EXCEEDED; count what the caller saw, not OK.
                code = grpc.StatusCode.DEADLINE_EXCEEDED
            return response
        except asyncio.CancelledError:  # the caller cancelled or its deadline passed: not a success
            remaining = context.time_remaining()
            code = grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else (
                grpc.StatusCode.CANCELLED
            )
            raise
        except Exception as exc:  # every error leaves through the one mapping
            request_id = request_id or uuid.uuid4().hex
            if isinstance(exc, InfogapError):
                code = exc.code
                if code in _SHEDDING_CODES:
                    self._shed_log.log(method, request_id, code, exc.message)
                else:
                    level = logging.WARNING if code not in _QUIET_CODES else logging.INFO
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
            if working:
                self._in_flight -= 1
            if code == grpc.StatusCode.OK and log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "rpc ok",
                    extra={"fields": {"method": method, "request_id": request_id, "latency_ms": elapsed * 1e3}},
                )

    # --- the RPCs ---------------------------------------------------------------------------------------------

    async def IdentifyNeeds(self, request: pb.IdentifyNeedsRequest, request_id: str) -> pb.IdentifyNeedsResponse:
        if self.needs is None:
            raise Unavailable("the text model is loading; retry shortly")
        result = await self.needs.identify(needs_query_from_proto(request))
        return needs_result_to_proto(result, request_id)

    def _customers(self) -> CustomerService:
        if self.customers is None:
            raise Unavailable("the customer store is opening; retry shortly")
        return self.customers

    async def RecordEvents(self, request: pb.RecordEventsRequest, request_id: str) -> pb.RecordEventsResponse:
        result = await self._customers().record(incoming_events_from_proto(request))
        return record_result_to_proto(result, request_id)

    async def GetCustomerProfile(self, request: pb.GetCustomerProfileRequest, request_id: str) -> pb.CustomerProfile:
        as_of = _optional_time(request, "as_of", "as_of")
        profile = await self._customers().profile(request.customer_id, as_of)
        return profile_to_proto(profile, self._settings.currency, request_id)

    async def EraseCustomer(self, request: pb.EraseCustomerRequest, request_id: str) -> pb.EraseCustomerResponse:
        report = await self._customers().erase(request.customer_id, request_id)
        return erasure_to_proto(report, request_id)

    async def GetInsights(self, request: pb.GetInsightsRequest, request_id: str) -> pb.InsightsResponse:
        if self.insights is None:
            raise Unavailable("the customer store is opening; retry shortly")
        result = await self.insights.insights(insights_request_from_proto(request))
        return insights_to_proto(result, request_id)

    async def GetSessionBottlenecks(self, request: pb.GetSessionBottlenecksRequest,
                                    request_id: str) -> pb.SessionBottlenecksResponse:
        if self.bottlenecks is None:
            raise Unavailable("the customer store is opening; retry shortly")
        result = await self.bottlenecks.bottlenecks(bottlenecks_request_from_proto(request))
        return bottlenecks_to_proto(result, request_id)

    async def Recommend(self, request: pb.RecommendRequest, request_id: str) -> pb.RecommendResponse:
        if self.recommend is None:
            raise Unavailable("the plan catalogue and the store are opening; retry shortly")
        result = await self.recommend.recommend(recommend_query_from_proto(request))
        return recommend_result_to_proto(result, request_id)

    async def SubmitFeedback(self, request: pb.SubmitFeedbackRequest, request_id: str) -> pb.FeedbackReceipt:
        if self.feedback is None:
            raise Unavailable("the customer store is opening; retry shortly")
        receipt = await self.feedback.submit(feedback_from_proto(request))
        return receipt_to_proto(receipt, request_id)

    async def WatchAlerts(self, request: pb.WatchAlertsRequest, request_id: str) -> AsyncIterator[pb.Alert]:
        service = self.alerts
        if service is None:
            raise Unavailable("the customer store is opening; retry shortly")
        alerts = service.watch(watch_request_from_proto(request), self._stopping)  # checks the request now
        return _converted(alerts, lambda alert: alert_to_proto(alert, service.rule.alpha, request_id))

    async def TrackSession(
        self, requests: AsyncIterator[tuple[pb.SessionEvent, bytes]], request_id: str
    ) -> AsyncIterator[pb.SessionState]:
        service = self.sessions
        if service is None:
            raise Unavailable("the customer store and the playbook are opening; retry shortly")
        events = _converted(requests, lambda pair: session_event_from_proto(*pair))
        async with contextlib.aclosing(service.track(events, self._stopping)) as states:
            async for view in states:
                yield session_view_to_proto(view)


class _CountingHandler(grpc.GenericRpcHandler):
    """Looks up the method handler and counts the call as received: gRPC asks for the handler before it reads the
    request, so a call whose caller gives up before then is counted here and nowhere else."""

    def __init__(self, service: str, handlers: dict[str, grpc.RpcMethodHandler], metrics: Metrics) -> None:
        prefix = f"/{service}/"
        self._handlers = {prefix + name: handler for name, handler in handlers.items()}
        self._received = {prefix + name: metrics.received.labels(name) for name in handlers}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            self._received[method].inc()
        return handler



#: Codes that answer a caller's own mistake or question (an unknown customer): logged at INFO, not WARNING.
_QUIET_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND})


def _decode(request_class: type[Message], raw: bytes, settings: Settings) -> Message:
    """Parse one request message; too large or undecodable bytes are INVALID_ARGUMENT naming the request."""
    if len(raw) > settings.max_request_bytes:
        raise InvalidArgument("request", f"is {len(raw)} bytes; the maximum is {settings.max_request_bytes}")
    try:
        return request_class.FromString(raw)
    except Exception:  # DecodeError, and whatever else the parser raises on hostile bytes
        raise InvalidArgument(
            "request", f"could not be decoded as {request_class.DESCRIPTOR.full_name}"
        ) from None


async def _converted(source: AsyncIterator[Any], convert: Callable[[Any], Message]) -> AsyncIterator[Message]:
    """``source``'s items through ``convert``; closing this closes ``source``."""
    async with contextlib.aclosing(source):  # type: ignore[type-var]
        async for item in source:
            yield convert(item)


#: Back-pressure and expiry: under overload they come by the thousand, so they are logged at most once a second.
_SHEDDING_CODES = frozenset(
    {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)


class _ShedLog:
    """One WARNING line per method and code per interval for back-pressure answers, with the number of calls it
    stands for (``calls``): a flood of rejections must not become a flood of log lines."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self._interval_s = interval_s
        self._last: dict[tuple[str, grpc.StatusCode], float] = {}
        self._since: dict[tuple[str, grpc.StatusCode], int] = {}

    def log(self, method: str, request_id: str, code: grpc.StatusCode, reason: str) -> None:
        key = (method, code)
        now = time.monotonic()
        self._since[key] = self._since.get(key, 0) + 1
        if now - self._last.get(key, float("-inf")) < self._interval_s:
            return
        self._last[key] = now
        fields: dict[str, object] = dict(_fields(method, request_id, code, reason))
        fields["calls"] = self._since.pop(key)
        log.warning("rpc failed", extra={"fields": fields})


def _fields(method: str, request_id: str, code: grpc.StatusCode, reason: str) -> dict[str, str]:
    return {"method": method, "request_id": request_id, "code": code.name, "reason": reason}
