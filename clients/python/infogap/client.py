"""Sync and async clients with a default deadline; failures raise :class:`InfoGapError` carrying the real
``grpc.StatusCode`` and the server's rich error details (field violations, request id).

Security options of both clients: ``token`` is sent as ``authorization: Bearer <token>`` on every call of the
channel (every RPC, including ones the client has no method for yet); ``tls=True``, ``root_certificates`` (the CA
that signed the server's certificate; default: the system's roots) or ``client_certificate`` with ``client_key``
(mutual TLS) make the channel TLS. PEM values are bytes, or a path to a file."""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 5.0

#: PEM data (bytes) or the path of a PEM file.
Pem = bytes | str | os.PathLike


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


def _pem(value: Pem | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def _channel_credentials(tls: bool, root_certificates: Pem | None, client_certificate: Pem | None,
                         client_key: Pem | None) -> grpc.ChannelCredentials | None:
    """TLS credentials when any TLS option is given, else None (plain text)."""
    if (client_certificate is None) != (client_key is None):
        raise ValueError("client_certificate and client_key go together (mutual TLS)")
    if not (tls or root_certificates is not None or client_certificate is not None):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates), private_key=_pem(client_key),
        certificate_chain=_pem(client_certificate),
    )


def _check_channel_options(channel: object, token: str | None, credentials: object) -> None:
    if channel is not None and (token is not None or credentials is not None):
        raise ValueError("give either a channel or the token and TLS options, not both: a channel brings its own")


def _with_token(details: grpc.ClientCallDetails, token_metadata: tuple[str, str]) -> list[tuple[str, str]]:
    return [*(details.metadata or ()), token_metadata]


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = details.wait_for_ready
        self.compression = getattr(details, "compression", None)


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                        grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call of a blocking channel."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details, _with_token(details, self._metadata))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


class _AsyncToken:
    """Adds ``authorization: Bearer <token>`` to every call of a grpc.aio channel. grpc.aio files an interceptor
    under one kind of RPC only, so there is one class per kind."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return details._replace(metadata=grpc.aio.Metadata(*_with_token(details, self._metadata)))


class _AsyncTokenUnaryUnary(_AsyncToken, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)


class _AsyncTokenUnaryStream(_AsyncToken, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)


class _AsyncTokenStreamUnary(_AsyncToken, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(self._details(client_call_details), request_iterator)


class _AsyncTokenStreamStream(_AsyncToken, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(self._details(client_call_details), request_iterator)


def _async_token_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    kinds = (_AsyncTokenUnaryUnary, _AsyncTokenUnaryStream, _AsyncTokenStreamUnary, _AsyncTokenStreamStream)
    return [kind(token) for kind in kinds]


def customer_event(customer_id: str, event_id: str, event_type: str | int, time: datetime, *, amount: float = 0.0,
                   item_count: int = 0, note: str = "") -> pb.CustomerEvent:
    """One event for :meth:`InfoGapClient.record_events`. ``event_type``: "order", "contact", "return", "complaint",
    "cancellation", "refund" (or the enum value); ``time``: aware, or naive meaning UTC."""
    if isinstance(event_type, str):
        event_type = pb.BehaviorEventType.Value(f"BEHAVIOR_EVENT_TYPE_{event_type.upper()}")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(time if time.tzinfo else time.replace(tzinfo=UTC))
    return pb.CustomerEvent(customer_id=customer_id, event_id=event_id, note=note,
                            event=pb.BehaviorEvent(type=event_type, time=stamp, amount=amount, item_count=item_count))


def _profile_request(customer_id: str, as_of: datetime | None, request_id: str) -> pb.GetCustomerProfileRequest:
    request = pb.GetCustomerProfileRequest(customer_id=customer_id, request_id=request_id)
    if as_of is not None:
        request.as_of.FromDatetime(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    return request


def _recommend_request(intent: str, text: str, customer_id: str, top_k: int, history: Iterable[pb.BehaviorEvent],
                       channel: str, order_age_days: float | None, order_amount: float | None, explain: bool,
                       request_id: str) -> pb.RecommendRequest:
    """The optional figures are set only when known: unset means unknown to the eligibility rules."""
    request = pb.RecommendRequest(intent=intent, text=text, customer_id=customer_id, top_k=top_k,
                                  history=list(history), channel=channel, explain=explain, request_id=request_id)
    if order_age_days is not None:
        request.order_age_days = order_age_days
    if order_amount is not None:
        request.order_amount = order_amount
    return request


def _feedback_request(feedback_id: str, customer_id: str, rating: int, text: str, session_id: str, intent: str,
                      plan_id: str, decision_id: str, resolved: bool | None,
                      request_id: str) -> pb.SubmitFeedbackRequest:
    request = pb.SubmitFeedbackRequest(feedback_id=feedback_id, customer_id=customer_id, rating=rating, text=text,
                                       session_id=session_id, intent=intent, plan_id=plan_id,
                                       decision_id=decision_id, request_id=request_id)
    if resolved is not None:  # unset: the customer was not asked
        request.resolved = resolved
    return request


_PERIODS = {"hour": pb.INSIGHT_PERIOD_HOUR, "day": pb.INSIGHT_PERIOD_DAY, "week": pb.INSIGHT_PERIOD_WEEK}


def _insights_request(since: datetime | None, until: datetime | None, intent: str, plan_id: str, segment: str,
                      period: str, top_n: int, request_id: str) -> pb.GetInsightsRequest:
    if period not in _PERIODS:
        raise ValueError(f"period must be one of {', '.join(_PERIODS)}")
    request = pb.GetInsightsRequest(intent=intent, plan_id=plan_id, segment=segment, period=_PERIODS[period],
                                    top_n=top_n, request_id=request_id)
    if since is not None:
        request.since.FromDatetime(since)
    if until is not None:
        request.until.FromDatetime(until)
    return request


def _bottlenecks_request(since: datetime | None, until: datetime | None, intent: str, queue: str,
                         request_id: str) -> pb.GetSessionBottlenecksRequest:
    """Times: aware, or naive meaning UTC."""
    request = pb.GetSessionBottlenecksRequest(intent=intent, queue=queue, request_id=request_id)
    if since is not None:
        request.since.FromDatetime(since if since.tzinfo else since.replace(tzinfo=UTC))
    if until is not None:
        request.until.FromDatetime(until if until.tzinfo else until.replace(tzinfo=UTC))
    return request


def _watch_request(since: datetime | None, kinds: Iterable[str | int], keys: Iterable[str], follow: bool,
                   request_id: str) -> pb.WatchAlertsRequest:
    """``kinds``: "overall", "aspect", "intent" (or the enum values)."""
    numbers = []
    for kind in kinds:
        if isinstance(kind, str):
            if kind not in ("overall", "aspect", "intent"):
                raise ValueError(f"unknown alert stream kind {kind!r}; the kinds are overall, aspect, intent")
            kind = pb.AlertStream.Value(f"ALERT_STREAM_{kind.upper()}")
        numbers.append(kind)
    request = pb.WatchAlertsRequest(kinds=numbers, keys=list(keys), follow=follow, request_id=request_id)
    if since is not None:
        request.since.FromDatetime(since if since.tzinfo else since.replace(tzinfo=UTC))
    return request


#: Deadline of a WatchAlerts replay (without follow) when none is given: starting a watch reads up to 2 x the
#: server's alerts_lookback_rows stored rows before the replay (seconds on a large store), longer than a unary call.
REPLAY_TIMEOUT_S = 300.0


def _session_event(session_id: str, customer_id: str, kind: str, value: object, event_id: str,
                   time: datetime | None) -> pb.SessionEvent:
    event = pb.SessionEvent(session_id=session_id, customer_id=customer_id, client_event_id=event_id)
    getattr(event, kind).CopyFrom(value)
    if time is not None:
        event.time.FromDatetime(time.astimezone(UTC))
    return event


class _SessionEvents:
    """The event builders both session classes share: each returns the SessionEvent for one call."""

    session_id: str
    customer_id: str

    def _message(self, text: str, from_customer: bool, event_id: str, time: datetime | None) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "message",
                              pb.SessionMessage(text=text, from_customer=from_customer), event_id, time)

    def _action(self, name: str, plan_id: str, event_id: str, time: datetime | None) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "agent_action",
                              pb.AgentAction(action=name, plan_id=plan_id), event_id, time)

    def _wait(self, duration_s: float, event_id: str, time: datetime | None) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "wait", pb.Wait(duration_s=duration_s), event_id,
                              time)

    def _transfer(self, to_queue: str, event_id: str, time: datetime | None) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "transfer", pb.Transfer(to_queue=to_queue),
                              event_id, time)

    def _end(self, resolved: bool, event_id: str, time: datetime | None) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "end", pb.SessionEnd(resolved=resolved), event_id,
                              time)

    def _resume(self, last_sequence: int) -> pb.SessionEvent:
        return _session_event(self.session_id, self.customer_id, "resume", pb.Resume(last_sequence=last_sequence),
                              "", None)


class AsyncSession(_SessionEvents):
    """One TrackSession stream for one session (:meth:`AsyncInfoGapClient.track_session`): each method sends one
    event and returns the state the server answered after storing it. Pass ``event_id`` to make an event safe to
    resend (after a reconnect the server answers the first answer again, ``duplicate`` set). After a broken stream
    open a new one with the same session id and call :meth:`resume`. Errors raise InfoGapError and end the
    stream."""

    def __init__(self, stub: pb_grpc.InfoGapStub, session_id: str, customer_id: str) -> None:
        self.session_id, self.customer_id = session_id, customer_id
        self._call = stub.TrackSession(timeout=None)

    async def send(self, event: pb.SessionEvent) -> pb.SessionState:
        """Send any event and return the state after it."""
        try:
            await self._call.write(event)
            state = await self._call.read()
        except grpc.aio.AioRpcError as error:
            raise InfoGapError.from_rpc_error(error) from None
        if state is grpc.aio.EOF:  # the server ended the stream: its status says why
            code, details = await self._call.code(), await self._call.details()
            raise InfoGapError(code, details or "the stream ended", [], None)
        return state

    async def message(self, text: str, *, from_customer: bool = True, event_id: str = "",
                      time: datetime | None = None) -> pb.SessionState:
        return await self.send(self._message(text, from_customer, event_id, time))

    async def action(self, name: str, *, plan_id: str = "", event_id: str = "",
                     time: datetime | None = None) -> pb.SessionState:
        return await self.send(self._action(name, plan_id, event_id, time))

    async def wait(self, duration_s: float, *, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return await self.send(self._wait(duration_s, event_id, time))

    async def transfer(self, to_queue: str, *, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return await self.send(self._transfer(to_queue, event_id, time))

    async def end(self, *, resolved: bool, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return await self.send(self._end(resolved, event_id, time))

    async def resume(self, last_sequence: int = 0) -> pb.SessionState:
        return await self.send(self._resume(last_sequence))

    async def close(self) -> None:
        """End the stream from this side (the session stays open until SessionEnd or the inactivity timeout)."""
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            await self._call.done_writing()
        self._call.cancel()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Session(_SessionEvents):
    """The blocking form of :class:`AsyncSession` (:meth:`InfoGapClient.track_session`)."""

    def __init__(self, stub: pb_grpc.InfoGapStub, session_id: str, customer_id: str) -> None:
        self.session_id, self.customer_id = session_id, customer_id
        self._outbox: queue.Queue[pb.SessionEvent | None] = queue.Queue()
        self._responses = stub.TrackSession(iter(self._outbox.get, None))

    def send(self, event: pb.SessionEvent) -> pb.SessionState:
        self._outbox.put(event)
        try:
            return next(self._responses)
        except grpc.RpcError as error:
            raise InfoGapError.from_rpc_error(error) from None
        except StopIteration:
            raise InfoGapError(grpc.StatusCode.UNKNOWN, "the stream ended", [], None) from None

    def message(self, text: str, *, from_customer: bool = True, event_id: str = "",
                time: datetime | None = None) -> pb.SessionState:
        return self.send(self._message(text, from_customer, event_id, time))

    def action(self, name: str, *, plan_id: str = "", event_id: str = "",
               time: datetime | None = None) -> pb.SessionState:
        return self.send(self._action(name, plan_id, event_id, time))

    def wait(self, duration_s: float, *, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return self.send(self._wait(duration_s, event_id, time))

    def transfer(self, to_queue: str, *, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return self.send(self._transfer(to_queue, event_id, time))

    def end(self, *, resolved: bool, event_id: str = "", time: datetime | None = None) -> pb.SessionState:
        return self.send(self._end(resolved, event_id, time))

    def resume(self, last_sequence: int = 0) -> pb.SessionState:
        return self.send(self._resume(last_sequence))

    def close(self) -> None:
        self._outbox.put(None)
        self._responses.cancel()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _watch_timeout(follow: bool, timeout_s: float | None) -> float | None:
    """A replay gets REPLAY_TIMEOUT_S; a watch that follows no deadline; unless one is given."""
    if timeout_s is not None:
        return timeout_s
    return None if follow else REPLAY_TIMEOUT_S


class InfoGapClient:
    """Blocking client. Use as a context manager or call :meth:`close`.

    ``token``: access token sent with every call. ``tls``, ``root_certificates``, ``client_certificate`` and
    ``client_key`` (bytes or a path): any of them makes the channel TLS; the last two together for mutual TLS.
    ``channel``: a ready channel instead of all of these."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: grpc.Channel | None = None, token: str | None = None, tls: bool = False,
                 root_certificates: Pem | None = None, client_certificate: Pem | None = None,
                 client_key: Pem | None = None) -> None:
        credentials = _channel_credentials(tls, root_certificates, client_certificate, client_key)
        _check_channel_options(channel, token, credentials)
        if channel is None:
            channel = grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(
                address, credentials)
            if token is not None:
                channel = grpc.intercept_channel(channel, _TokenInterceptor(token))
        self._channel = channel
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

    def _invoke(self, method, request, timeout_s: float | None):
        try:
            return method(request, timeout=self.timeout_s if timeout_s is None else timeout_s)
        except grpc.RpcError as error:
            raise InfoGapError.from_rpc_error(error) from None

    def record_events(self, events: Iterable[pb.CustomerEvent], *, request_id: str = "",
                      timeout_s: float | None = None) -> pb.RecordEventsResponse:
        """Store behaviour events (see :func:`customer_event`); safe to retry as a whole."""
        return self._invoke(self._stub.RecordEvents, pb.RecordEventsRequest(events=list(events),
                                                                            request_id=request_id), timeout_s)

    def get_customer_profile(self, customer_id: str, *, as_of: datetime | None = None, request_id: str = "",
                             timeout_s: float | None = None) -> pb.CustomerProfile:
        return self._invoke(self._stub.GetCustomerProfile, _profile_request(customer_id, as_of, request_id),
                            timeout_s)

    def erase_customer(self, customer_id: str, *, request_id: str = "",
                       timeout_s: float | None = None) -> pb.EraseCustomerResponse:
        return self._invoke(self._stub.EraseCustomer,
                            pb.EraseCustomerRequest(customer_id=customer_id, request_id=request_id), timeout_s)

    def recommend(self, *, intent: str = "", text: str = "", customer_id: str = "", top_k: int = 0,
                  history: Iterable[pb.BehaviorEvent] = (), channel: str = "", order_age_days: float | None = None,
                  order_amount: float | None = None, explain: bool = False, request_id: str = "",
                  timeout_s: float | None = None) -> pb.RecommendResponse:
        """Service plans for a need, best first: give ``intent`` (for example the top need from
        :meth:`identify_needs`), ``text``, or both. ``channel`` (chat, email, phone, app, web, social),
        ``order_age_days`` and ``order_amount`` feed the eligibility rules; left out they are unknown, and the rules
        that need them are listed in each plan's ``unchecked``. ``explain`` also answers the excluded plans with the
        reasons. Send the answer's ``decision_id`` back with :meth:`submit_feedback`."""
        request = _recommend_request(intent, text, customer_id, top_k, history, channel, order_age_days,
                                     order_amount, explain, request_id)
        return self._invoke(self._stub.Recommend, request, timeout_s)

    def submit_feedback(self, feedback_id: str, customer_id: str, rating: int, *, text: str = "",
                        session_id: str = "", intent: str = "", plan_id: str = "", decision_id: str = "",
                        resolved: bool | None = None, request_id: str = "",
                        timeout_s: float | None = None) -> pb.FeedbackReceipt:
        """Store the customer's feedback once per ``feedback_id``: safe to retry (a resubmission answers the
        original receipt with ``duplicate`` set). ``decision_id``: the :meth:`recommend` answer rated;
        ``resolved``: whether the customer says the need was resolved (None: not asked)."""
        request = _feedback_request(feedback_id, customer_id, rating, text, session_id, intent, plan_id, decision_id,
                                    resolved, request_id)
        return self._invoke(self._stub.SubmitFeedback, request, timeout_s)

    def get_insights(self, *, since: datetime | None = None, until: datetime | None = None, intent: str = "",
                     plan_id: str = "", segment: str = "", period: str = "day", top_n: int = 0,
                     request_id: str = "", timeout_s: float | None = None) -> pb.InsightsResponse:
        """Satisfaction, aspects and keywords of the feedback stored in [since, until) (default: the last 30
        days), optionally of one intent, plan or segment; ``period`` is hour, day or week."""
        request = _insights_request(since, until, intent, plan_id, segment, period, top_n, request_id)
        return self._invoke(self._stub.GetInsights, request, timeout_s)

    def get_session_bottlenecks(self, *, since: datetime | None = None, until: datetime | None = None,
                                intent: str = "", queue: str = "", request_id: str = "",
                                timeout_s: float | None = None) -> pb.SessionBottlenecksResponse:
        """Where service time goes in the TrackSession sessions opened in [since, until) (default: the last 7
        days), optionally of one intent and of sessions that passed through one queue: per stage, queue and intent,
        the wait and handling seconds per session (how many spent any, p50, p90, total) and the transfers."""
        request = _bottlenecks_request(since, until, intent, queue, request_id)
        return self._invoke(self._stub.GetSessionBottlenecks, request, timeout_s)

    def watch_alerts(self, *, since: datetime | None = None, kinds: Iterable[str | int] = (),
                     keys: Iterable[str] = (), follow: bool = False, request_id: str = "",
                     timeout_s: float | None = None) -> Iterator[pb.Alert]:
        """Alerts on spikes of negative feedback, oldest first: those that fired on the feedback stored since
        ``since`` (default: the server's alerts_default_replay_s), then, with ``follow``, new ones as they fire
        (the generator blocks between them; closing it cancels the watch). ``kinds``: "overall", "aspect",
        "intent" (default all); ``keys``: aspect or intent names (default all). Without ``follow`` the call has
        a deadline of REPLAY_TIMEOUT_S (300 s); with it none; unless ``timeout_s`` is given. Raises InfoGapError
        (a watch that follows ends with UNAVAILABLE when the server shuts down: watch again from the last alert's
        fired_at)."""
        request = _watch_request(since, kinds, keys, follow, request_id)
        call = self._stub.WatchAlerts(request, timeout=_watch_timeout(follow, timeout_s))
        try:
            yield from call
        except grpc.RpcError as error:
            raise InfoGapError.from_rpc_error(error) from None
        finally:
            call.cancel()  # a no-op once the stream has ended

    def track_session(self, session_id: str, customer_id: str = "") -> Session:
        """A TrackSession stream for ``session_id`` (created by its first event, which needs ``customer_id``);
        use as a context manager. See :class:`AsyncSession`."""
        return Session(self._stub, session_id, customer_id)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> InfoGapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInfoGapClient:
    """asyncio client (grpc.aio). Use as an async context manager or await :meth:`close`. Options as for
    :class:`InfoGapClient`."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: grpc.aio.Channel | None = None, token: str | None = None, tls: bool = False,
                 root_certificates: Pem | None = None, client_certificate: Pem | None = None,
                 client_key: Pem | None = None) -> None:
        credentials = _channel_credentials(tls, root_certificates, client_certificate, client_key)
        _check_channel_options(channel, token, credentials)
        if channel is None:
            interceptors = _async_token_interceptors(token) if token is not None else None
            if credentials is None:
                channel = grpc.aio.insecure_channel(address, interceptors=interceptors)
            else:
                channel = grpc.aio.secure_channel(address, credentials, interceptors=interceptors)
        self._channel = channel
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

    async def _invoke(self, method, request, timeout_s: float | None):
        try:
            return await method(request, timeout=self.timeout_s if timeout_s is None else timeout_s)
        except grpc.aio.AioRpcError as error:
            raise InfoGapError.from_rpc_error(error) from None

    async def record_events(self, events: Iterable[pb.CustomerEvent], *, request_id: str = "",
                            timeout_s: float | None = None) -> pb.RecordEventsResponse:
        """Store behaviour events (see :func:`customer_event`); safe to retry as a whole."""
        return await self._invoke(self._stub.RecordEvents, pb.RecordEventsRequest(events=list(events),
                                                                                  request_id=request_id), timeout_s)

    async def get_customer_profile(self, customer_id: str, *, as_of: datetime | None = None, request_id: str = "",
                                   timeout_s: float | None = None) -> pb.CustomerProfile:
        return await self._invoke(self._stub.GetCustomerProfile, _profile_request(customer_id, as_of, request_id),
                                  timeout_s)

    async def erase_customer(self, customer_id: str, *, request_id: str = "",
                             timeout_s: float | None = None) -> pb.EraseCustomerResponse:
        return await self._invoke(self._stub.EraseCustomer,
                                  pb.EraseCustomerRequest(customer_id=customer_id, request_id=request_id), timeout_s)

    async def recommend(self, *, intent: str = "", text: str = "", customer_id: str = "", top_k: int = 0,
                        history: Iterable[pb.BehaviorEvent] = (), channel: str = "",
                        order_age_days: float | None = None, order_amount: float | None = None,
                        explain: bool = False, request_id: str = "",
                        timeout_s: float | None = None) -> pb.RecommendResponse:
        """Service plans for a need, best first (see :meth:`InfoGapClient.recommend`)."""
        request = _recommend_request(intent, text, customer_id, top_k, history, channel, order_age_days,
                                     order_amount, explain, request_id)
        return await self._invoke(self._stub.Recommend, request, timeout_s)

    async def submit_feedback(self, feedback_id: str, customer_id: str, rating: int, *, text: str = "",
                              session_id: str = "", intent: str = "", plan_id: str = "", decision_id: str = "",
                              resolved: bool | None = None, request_id: str = "",
                              timeout_s: float | None = None) -> pb.FeedbackReceipt:
        """Store the customer's feedback once per ``feedback_id`` (see :meth:`InfoGapClient.submit_feedback`)."""
        request = _feedback_request(feedback_id, customer_id, rating, text, session_id, intent, plan_id, decision_id,
                                    resolved, request_id)
        return await self._invoke(self._stub.SubmitFeedback, request, timeout_s)

    async def get_insights(self, *, since: datetime | None = None, until: datetime | None = None, intent: str = "",
                           plan_id: str = "", segment: str = "", period: str = "day", top_n: int = 0,
                           request_id: str = "", timeout_s: float | None = None) -> pb.InsightsResponse:
        """See :meth:`InfoGapClient.get_insights`."""
        request = _insights_request(since, until, intent, plan_id, segment, period, top_n, request_id)
        return await self._invoke(self._stub.GetInsights, request, timeout_s)

    async def get_session_bottlenecks(self, *, since: datetime | None = None, until: datetime | None = None,
                                      intent: str = "", queue: str = "", request_id: str = "",
                                      timeout_s: float | None = None) -> pb.SessionBottlenecksResponse:
        """See :meth:`InfoGapClient.get_session_bottlenecks`."""
        request = _bottlenecks_request(since, until, intent, queue, request_id)
        return await self._invoke(self._stub.GetSessionBottlenecks, request, timeout_s)

    async def watch_alerts(self, *, since: datetime | None = None, kinds: Iterable[str | int] = (),
                           keys: Iterable[str] = (), follow: bool = False, request_id: str = "",
                           timeout_s: float | None = None) -> AsyncIterator[pb.Alert]:
        """See :meth:`InfoGapClient.watch_alerts` (an async generator here)."""
        request = _watch_request(since, kinds, keys, follow, request_id)
        call = self._stub.WatchAlerts(request, timeout=_watch_timeout(follow, timeout_s))
        try:
            async for alert in call:
                yield alert
        except grpc.aio.AioRpcError as error:
            raise InfoGapError.from_rpc_error(error) from None
        finally:
            call.cancel()

    def track_session(self, session_id: str, customer_id: str = "") -> AsyncSession:
        """A TrackSession stream for ``session_id`` (see :meth:`InfoGapClient.track_session`)."""
        return AsyncSession(self._stub, session_id, customer_id)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncInfoGapClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
