"""TrackSession as domain logic: a live session as a stream of events in and states out, persisted and resumable.

Per stream (:meth:`SessionService.track`):

1. The first event names the session. A new session needs the customer id; the stream then claims the session
   (a lease in the store, renewed by this process while the stream is open). A session another stream holds is
   ABORTED; a closed one is not claimed and takes only a Resume (or a resent event); an open one past the
   inactivity timeout is closed as expired first.
2. Each event is validated (INVALID_ARGUMENT naming the field ends the stream), read (a customer message goes
   through the text model, through the same micro-batcher as IdentifyNeeds), applied to the session's snapshot
   (:mod:`infogap_server.services.session_state`: constant work, never the history), scored (risks, next best
   action from the policy in service) and stored with the new snapshot in one transaction; only then is the state
   answered (appends of many sessions share a commit: the store's group commit). A resent event (same
   client_event_id) is answered from the store with the state it got the first time, before any other check.
3. A Resume answers the current state and how many events came after the client's last sequence; nothing is
   stored and no history is replayed.
4. The stream ends when the client ends it (after SessionEnd the session is closed and further events are
   FAILED_PRECONDITION), when the inactivity timeout passes with no event (an open session is closed as expired
   and its closed state is the last answer; otherwise the stream just ends), or when the server drains
   (UNAVAILABLE: resume on another replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from infogap_server.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    LimitReached,
    ResourceExhausted,
    Unavailable,
)
from infogap_server.policies.holder import PolicyHolder
from infogap_server.policies.next_action import ActionValue, NextActionPolicy
from infogap_server.privacy.redaction import redact
from infogap_server.services import session_state as st
from infogap_server.services.needs import NeedsQuery, NeedsService, validate_lengths
from infogap_server.services.patterns import CLIENT_ID, CLIENT_ID_RULE
from infogap_server.services.playbook import Playbook
from infogap_server.services.textwork import run_text_work
from infogap_server.settings import Settings
from infogap_server.store.base import (
    Lease,
    SessionEventRow,
    SessionLost,
    SessionRecord,
    SessionStore,
    SessionUpdate,
    encode_allowed,
)
from infogap_server.tasks import cancel_and_wait

log = logging.getLogger("infogap.sessions")

RESUME = "resume"
MAX_WAIT_S = 86400.0
_QUEUE = CLIENT_ID  # queue names: id-shaped


@dataclass(frozen=True)
class SessionEventQuery:
    """One event as the servicer hands it over (protobuf stays in the servicer). ``kind``: one of
    :data:`session_state.EVENT_KINDS`, ``resume``, or "" when the event carried none."""

    session_id: str
    kind: str
    customer_id: str = ""
    time: datetime | None = None  # naive UTC
    client_event_id: str = ""
    from_customer: bool = False
    text: str = ""
    action: str = ""
    plan_id: str = ""
    wait_s: float = 0.0
    to_queue: str = ""
    resolved: bool = False
    last_sequence: int = 0


@dataclass(frozen=True)
class SessionView:
    """The state answered after an event (and stored with it): JSON-ready through :meth:`to_json`."""

    session_id: str
    sequence: int
    stage: str
    events_seen: int
    intent: str
    intent_probability: float
    sentiment_level: float
    sentiment_trend: float
    sla_breach_risk: float
    escalation_risk: float
    elapsed_s: float
    wait_s: float
    transfers: int
    queue: str
    sla_target_s: float
    policy_version: str
    close_reason: str = ""
    next_action: ActionValue | None = None
    runner_up: ActionValue | None = None
    allowed: tuple[str, ...] = ()
    duplicate: bool = False
    missed_events: int = 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["allowed"] = list(self.allowed)
        del data["duplicate"], data["missed_events"]
        return data

    @classmethod
    def from_json(cls, data: dict, **overrides) -> SessionView:
        values = dict(data)
        for name in ("next_action", "runner_up"):
            values[name] = ActionValue(**values[name]) if values.get(name) else None
        values["allowed"] = tuple(values.get("allowed", ()))
        values.update(overrides)
        return cls(**values)


@dataclass
class _Stream:
    """What one open stream holds: its lease and the session's latest record and snapshot."""

    lease: Lease
    record: SessionRecord
    snapshot: st.Snapshot
    claimed: bool = True


class SessionService:
    """Live sessions on the store: validation, the state machine, risks, the next best action, leases, expiry."""

    def __init__(self, settings: Settings, store: SessionStore, playbook: Playbook,
                 policies: PolicyHolder[NextActionPolicy], pseudonym: Callable[[str], str],
                 churn_of: Callable[[str], Awaitable[float | None]] | None = None) -> None:
        self._settings = settings
        self._store = store
        self.playbook = playbook
        self._policies = policies
        self._pseudonym = pseudonym
        self._churn_of = churn_of
        self.needs: NeedsService | None = None
        self.process = uuid.uuid4().hex
        self._open = 0
        self._live: set[str] = set()  # this process's streams that hold a session: the leases it renews
        self._steps = frozenset(step for play in playbook.intents.values() for step in play.steps)
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._renew_leases(), name="session-leases"))
        if self._settings.session_sweep_s > 0:
            self._tasks.append(loop.create_task(self._sweep(), name="session-sweep"))

    async def close(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    async def _renew_leases(self) -> None:
        lease_s = self._settings.session_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            if self._live:
                try:
                    await self._store.renew_session_leases(self.process, sorted(self._live), lease_s)
                except Exception:  # noqa: BLE001 - the next round retries; a lapsed lease is refused at append
                    log.warning("session lease renewal failed")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._settings.session_sweep_s)
            try:
                await self.expire_idle()
            except Exception:  # noqa: BLE001 - the next sweep retries
                log.warning("session sweep failed")

    async def expire_idle(self, now: datetime | None = None) -> int:
        """Close the open sessions past the inactivity timeout that no stream holds; how many it closed."""
        now = now or _utc_now()
        cutoff = now - timedelta(seconds=self._settings.session_inactivity_s)
        closed = 0
        for record in await self._store.idle_sessions(cutoff, limit=500):
            lease = Lease(self.process, "sweep-" + uuid.uuid4().hex[:16], self._settings.session_lease_s)
            record, claimed = await self._store.claim_session(record.session_id, lease)
            if claimed and not record.closed:
                with contextlib.suppress(SessionLost):
                    await self._expire(record, lease)
                    closed += 1
        return closed

    # --- the stream -----------------------------------------------------------------------------------------

    async def track(self, events: AsyncIterator[SessionEventQuery], stopping: asyncio.Event
                    ) -> AsyncIterator[SessionView]:
        """The states answered to ``events`` (module docstring)."""
        if self._open >= self._settings.session_max_streams:
            raise ResourceExhausted(f"{self._open} sessions are being tracked on this server, its limit; retry on "
                                    "another replica or later")
        self._open += 1
        stream: _Stream | None = None
        reader = _Reader(events, stopping)
        try:
            while True:
                # No first event within the inactivity timeout ends the stream: a silent stream must not hold one
                # of the process's session_max_streams places for ever.
                timeout = self._settings.session_inactivity_s if stream is None else self._time_left(stream.record)
                event = await reader.next(timeout)
                if event is _Reader.TIMED_OUT:
                    if stream is None or stream.record.closed:
                        return  # nothing to expire: the stream just ends
                    try:
                        yield await self._expire(stream.record, stream.lease)
                    except SessionLost:
                        raise Aborted("the session was taken over by another stream while this one was idle (its "
                                      "hold lapsed); resume it") from None
                    return
                if event is _Reader.STOPPING:
                    raise Unavailable("the server is shutting down; resume the session on another replica")
                if event is _Reader.END:
                    return
                assert isinstance(event, SessionEventQuery)
                self._check(event, stream)
                if stream is None:
                    stream = await self._begin(event)
                view = await self._handle(stream, event)
                yield view
        finally:
            self._open -= 1
            await reader.close()
            if stream is not None:
                self._live.discard(stream.lease.stream)
                if stream.claimed and not stream.record.closed:
                    # Not renewed from now on, the lease lapses by itself if this release cannot reach the store.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._store.release_session(stream.record.session_id, stream.lease))

    def _time_left(self, record: SessionRecord) -> float:
        idle = (_utc_now() - record.updated_at).total_seconds()
        return max(0.0, self._settings.session_inactivity_s - idle)

    def _check(self, e: SessionEventQuery, stream: _Stream | None) -> None:
        """INVALID_ARGUMENT naming the field, for anything an event may not carry."""
        if not e.session_id:
            raise InvalidArgument("session_id", "is required on every event")
        if not CLIENT_ID.fullmatch(e.session_id):
            raise InvalidArgument("session_id", CLIENT_ID_RULE)
        if stream is not None and e.session_id != stream.record.session_id:
            raise InvalidArgument("session_id", "a stream serves one session: every event must carry the id of its "
                                  "first event")
        if e.client_event_id and not CLIENT_ID.fullmatch(e.client_event_id):
            raise InvalidArgument("client_event_id", CLIENT_ID_RULE)
        if e.customer_id and not CLIENT_ID.fullmatch(e.customer_id):
            raise InvalidArgument("customer_id", CLIENT_ID_RULE)
        if not e.kind:
            raise InvalidArgument("event", "exactly one of message, agent_action, wait, transfer, end, resume is "
                                  "required")
        if e.kind == "message":
            validate_lengths(e.text, e.customer_id, self._settings.max_text_chars)
            if not e.text.strip():
                raise InvalidArgument("message.text", "is required and must not be blank")
        elif e.kind == "action":
            if e.action not in self.playbook.actions:
                raise InvalidArgument("agent_action.action", "is not in the action vocabulary (playbook "
                                      f"{self.playbook.version}; `infogap playbook check` lists it)")
            if e.plan_id and not CLIENT_ID.fullmatch(e.plan_id):
                raise InvalidArgument("agent_action.plan_id", CLIENT_ID_RULE)
        elif e.kind == "wait":
            if not math.isfinite(e.wait_s) or e.wait_s < 0 or e.wait_s > MAX_WAIT_S:
                raise InvalidArgument("wait.duration_s", f"must be a finite number of seconds from 0 to {MAX_WAIT_S:g}")
        elif e.kind == "transfer":
            if not e.to_queue or len(e.to_queue) > 64 or not _QUEUE.fullmatch(e.to_queue):
                raise InvalidArgument("transfer.to_queue", "is required: at most 64 characters, each a letter, a "
                                      "digit or one of . _ : / + = -")
        elif e.kind == RESUME and e.last_sequence < 0:
            raise InvalidArgument("resume.last_sequence", "must be at least 0")
        if e.time is not None and not datetime(2000, 1, 1) <= e.time <= _utc_now() + timedelta(days=1):
            raise InvalidArgument("time", "must be after 2000-01-01 and not more than a day ahead of the server")

    async def _begin(self, e: SessionEventQuery) -> _Stream:
        """Find or create the session and claim it for this stream."""
        lease = Lease(self.process, uuid.uuid4().hex, self._settings.session_lease_s)
        record = await self._store.get_session(e.session_id)
        if record is None:
            if not e.customer_id:
                raise InvalidArgument("customer_id", "is required on the first event of a session")
            if e.kind == RESUME:
                raise FailedPrecondition("the session does not exist: nothing to resume")
            customer_key = self._pseudonym(e.customer_id)
            churn = await self._churn_of(e.customer_id) if self._churn_of is not None else None
            at = e.time or _utc_now()
            snapshot = st.opened(at, churn)
            snapshot = _with_target(snapshot, self._settings.default_sla_target_s)
            record, existed = await self._store.create_session(SessionRecord(
                e.session_id, customer_key, opened_at=at, updated_at=_utc_now(), last_event_at=at, last_sequence=0,
                snapshot=snapshot.to_json(), stage=snapshot.stage, queue=snapshot.queue))
            if existed and record.customer_key != customer_key:  # another stream created it a moment before
                raise InvalidArgument("customer_id", "is not this session's customer")
        elif e.customer_id and self._pseudonym(e.customer_id) != record.customer_key:
            raise InvalidArgument("customer_id", "is not this session's customer")
        if record.closed:  # nothing will be written: no lease (a Resume reads; anything else is refused)
            return _Stream(lease, record, st.Snapshot.from_json(record.snapshot), claimed=False)
        self._live.add(lease.stream)  # renewed from now on, while this stream lives
        try:
            record, claimed = await self._store.claim_session(e.session_id, lease)
        except LookupError:
            self._live.discard(lease.stream)
            raise FailedPrecondition("the session no longer exists (its customer was erased)") from None
        if not claimed:
            self._live.discard(lease.stream)
            until = record.lease_expires_at.isoformat(timespec="seconds") if record.lease_expires_at else "soon"
            raise Aborted(f"the session is being written by another stream (its hold lapses at {until} UTC unless "
                          "renewed); retry once it ends")
        stream = _Stream(lease, record, st.Snapshot.from_json(record.snapshot))
        try:
            if not record.closed and self._time_left(record) <= 0:
                await self._expire(record, lease)
                stream.record = await self._store.get_session(e.session_id) or record
                stream.snapshot = st.Snapshot.from_json(stream.record.snapshot)
        except BaseException:
            self._live.discard(lease.stream)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release_session(e.session_id, lease))
            raise
        return stream

    async def _handle(self, stream: _Stream, e: SessionEventQuery) -> SessionView:
        record = stream.record
        if e.kind == RESUME:
            view = self._view(stream.snapshot, record, sequence=record.last_sequence)
            return SessionView(**{**view.__dict__, "missed_events": max(0, record.last_sequence - e.last_sequence)})
        if e.client_event_id:  # a resend is answered from the store before any check (the session may be closed)
            stored = await self._store.find_session_event(record.session_id, e.client_event_id)
            if stored is not None:
                return SessionView.from_json(dict(stored.state), duplicate=True)
        if record.closed:
            raise FailedPrecondition(f"the session is closed ({record.close_reason}); start a new session")
        if record.last_sequence >= self._settings.session_max_events:
            raise LimitReached(f"the session holds {record.last_sequence} events, the most one session may hold; "
                                    "end it and start a new one")
        reading = await self._read(e)
        before = stream.snapshot
        key, allowed, step = self._decision_state(before)
        at = e.time or _utc_now()
        after, handling = st.apply(before, st.SessionEventInput(
            kind=e.kind, time=at, from_customer=e.from_customer, text="", action=e.action, plan_id=e.plan_id,
            wait_s=e.wait_s, to_queue=e.to_queue, resolved=e.resolved), reading, playbook_steps=self._steps,
            need_threshold=self._settings.session_need_threshold)
        after = _with_target(after, self._target(after.intent, after.queue))
        sequence = record.last_sequence + 1
        view = self._view(after, record, sequence=sequence)
        text = ""
        if e.kind == "message":
            text = await run_text_work(len(e.text), lambda t: redact(t).text, e.text.replace("\x00", ""))
        row = SessionEventRow(
            record.session_id, record.customer_key, sequence, e.kind, datetime.fromisoformat(after.last_time),
            state=view.to_json(), client_event_id=e.client_event_id,
            from_customer=e.from_customer if e.kind == "message" else None, text=text, action=e.action,
            plan_id=e.plan_id, stage=before.stage, intent=before.intent, queue=before.queue, wait_s=e.wait_s,
            handling_s=handling, state_key=key, allowed=encode_allowed(allowed, step),
            risk_features=st.escalation_features(after, after.sla_target_s) if after.stage != "closed" else {})
        update = SessionUpdate(after.to_json(), after.stage, datetime.fromisoformat(after.last_time),
                               intent=after.intent, queue=after.queue, close_reason=after.close_reason,
                               resolved=after.resolved, escalated=after.stage == "escalated" or record.escalated)
        try:
            stored, duplicate = await self._store.append_session_event(row, update, stream.lease)
        except SessionLost:
            raise Aborted("the session was taken over by another stream (this stream's hold lapsed); resume it") \
                from None
        if duplicate:
            return SessionView.from_json(dict(stored.state), duplicate=True)
        now = stored.received_at or _utc_now()
        stream.record = SessionRecord(**{
            **record.__dict__, "last_sequence": sequence, "updated_at": now, "snapshot": update.snapshot,
            "stage": after.stage, "intent": after.intent, "queue": after.queue,
            "closed_at": now if after.close_reason else None, "close_reason": after.close_reason,
            "resolved": after.resolved, "escalated": update.escalated})
        stream.snapshot = after
        return view

    async def _read(self, e: SessionEventQuery) -> st.MessageReading | None:
        if e.kind != "message" or not e.from_customer:
            return None
        needs = self.needs
        if needs is None:
            raise Unavailable("the text model is loading; retry shortly")
        result = await needs.identify(NeedsQuery(text=e.text))
        sentiment = None
        if result.sentiment is not None:
            p = result.sentiment.probabilities
            sentiment = p.get("positive", 0.0) - p.get("negative", 0.0)
        return st.MessageReading(result.intent_probabilities, result.out_of_scope, sentiment, result.urgency.score)

    async def _expire(self, record: SessionRecord, lease: Lease) -> SessionView:
        snapshot = st.Snapshot.from_json(record.snapshot)
        at = record.last_event_at + timedelta(seconds=self._settings.session_inactivity_s)
        after = st.expire(snapshot, at)
        sequence = record.last_sequence + 1
        view = self._view(after, record, sequence=sequence)
        row = SessionEventRow(record.session_id, record.customer_key, sequence, "expired", at, state=view.to_json(),
                              stage=snapshot.stage, intent=snapshot.intent, queue=snapshot.queue)
        await self._store.append_session_event(row, SessionUpdate(
            after.to_json(), "closed", at, intent=after.intent, queue=after.queue, close_reason="expired",
            escalated=record.escalated), lease)
        log.info("session expired", extra={"fields": {"events": sequence}})
        return view

    # --- scoring --------------------------------------------------------------------------------------------

    def _target(self, intent: str, queue: str) -> float:
        by_queue = self._settings.sla_target_by_queue_s.get(queue)
        if by_queue is not None:
            return float(by_queue)
        play = self.playbook.intents.get(intent) if intent else None
        return play.sla_target_s if play is not None else self._settings.default_sla_target_s

    def _decision_state(self, s: st.Snapshot) -> tuple[str, tuple[str, ...], str | None]:
        return st.decision_state(s, self.playbook)

    def _view(self, s: st.Snapshot, record: SessionRecord, *, sequence: int) -> SessionView:
        policy = self._policies.current
        next_action = runner_up = None
        allowed: tuple[str, ...] = ()
        if s.stage != "closed":
            key, allowed, step = self._decision_state(s)
            ranked = policy.rank(key, allowed, self.playbook.always_allowed, step)
            next_action = ranked[0] if ranked else None
            runner_up = ranked[1] if len(ranked) > 1 else None
        target = s.sla_target_s
        return SessionView(
            session_id=record.session_id, sequence=sequence, stage=s.stage, events_seen=s.events,
            intent=s.intent, intent_probability=round(s.intent_probability, 4),
            sentiment_level=round(s.sentiment_level or 0.0, 4), sentiment_trend=round(s.sentiment_trend, 4),
            sla_breach_risk=round(st.sla_breach_risk(s, target), 4),
            escalation_risk=round(st.escalation_risk(s, target, policy.escalation or st.ESCALATION_PRIOR), 4),
            elapsed_s=round(s.elapsed_s(), 3),
            wait_s=round(s.wait_s, 3), transfers=s.transfers, queue=s.queue, sla_target_s=target,
            policy_version=policy.version, close_reason=s.close_reason, next_action=next_action,
            runner_up=runner_up, allowed=allowed)


def _with_target(s: st.Snapshot, target_s: float) -> st.Snapshot:
    return s if s.sla_target_s == target_s else replace(s, sla_target_s=target_s)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class _Reader:
    """The next event of a stream, or why there is none: the client ended it, the inactivity timeout passed, or
    the server is stopping. One read is outstanding at a time and survives a timeout-free wait on ``stopping``."""

    END = object()
    TIMED_OUT = object()
    STOPPING = object()

    def __init__(self, events: AsyncIterator[SessionEventQuery], stopping: asyncio.Event) -> None:
        self._events = events
        self._stopping = stopping
        self._pending: asyncio.Future | None = None
        self._stop_wait: asyncio.Task | None = None

    async def next(self, within_s: float | None) -> object:
        if self._stopping.is_set():
            return self.STOPPING
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self._events, self.END))
        if self._stop_wait is None:
            self._stop_wait = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({self._pending, self._stop_wait}, timeout=within_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._pending in done:
            pending, self._pending = self._pending, None
            return pending.result()
        if self._stop_wait in done:
            return self.STOPPING
        return self.TIMED_OUT

    async def close(self) -> None:
        for future in (self._pending, self._stop_wait):
            if future is not None and not future.done():
                future.cancel()
                with contextlib.suppress(BaseException):
                    await future
