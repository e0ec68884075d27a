"""TrackSession on a real server over a real channel, on SQLite and a real PostgreSQL: a whole session (stages,
risks, the playbook's next action), resent events, resume without replay, bad events, inactivity expiry, one writer
per session across replicas, and a SIGKILL mid-session with nothing answered lost."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from infogap.client import AsyncInfoGapClient, InfoGapError
from infogap.v1 import infogap_pb2 as pb

KEY = "ab" * 32


def client_for(server) -> AsyncInfoGapClient:
    return AsyncInfoGapClient(f"127.0.0.1:{server.port}")


def database(store_url: str) -> dict:
    return {"database_url": store_url} if store_url.startswith("postgresql") else {}


async def test_a_whole_session_moves_through_its_stages_and_follows_the_playbook(start_server, tiny_repository,
                                                                                   store_url):
    server = await start_server(tiny_repository, **database(store_url))
    async with client_for(server) as client, client.track_session("s-1", "cust-1") as session:
        first = await session.message("hello there")  # no keyword: out of scope, need not known
        assert first.stage == pb.SESSION_STAGE_DISCOVERY and first.sequence == 1 and not first.HasField("current_need")
        assert first.next_action.action == "ask_clarifying_question" and first.next_action.source == "playbook"
        assert first.policy_version == "playbook" and first.queue == "front"
        calm = await session.message("where is my parcel please")
        assert calm.stage == pb.SESSION_STAGE_RESOLVING and calm.current_need.intent == "track_order"
        steps = server.sessions.playbook.intents["track_order"].steps
        assert calm.next_best_action == calm.next_action.action == steps[0]  # the playbook's first step
        assert calm.sla_target_s == server.sessions.playbook.intents["track_order"].sla_target_s
        after_step = await session.action(steps[0])
        assert after_step.next_action.action == steps[1] and steps[0] not in after_step.allowed_actions
        # Waits and an unhappy customer: both risks go up, the trend goes down, an apology comes first.
        waited = await session.wait(0.5 * calm.sla_target_s)
        assert waited.sla_breach_risk > after_step.sla_breach_risk and waited.wait_s == 0.5 * calm.sla_target_s
        angry = await session.message("where is it, I am so angry angry angry")
        assert angry.sentiment_level < 0 and angry.sentiment_trend < 0
        assert angry.escalation_risk > after_step.escalation_risk
        assert angry.next_action.action == "apologise" and angry.runner_up.action
        moved = await session.transfer("billing")
        assert moved.stage == pb.SESSION_STAGE_ESCALATED and moved.transfers == 1 and moved.queue == "billing"
        assert moved.sla_breach_risk >= waited.sla_breach_risk
        done = await session.end(resolved=True)
        assert done.stage == pb.SESSION_STAGE_CLOSED and done.close_reason == "ended" and done.sequence == 7
        assert done.next_best_action == "" and done.events_seen == 7
        with pytest.raises(InfoGapError) as closed:
            await session.message("one more thing")
        assert closed.value.code == grpc.StatusCode.FAILED_PRECONDITION
    record = await server.store.get_session("s-1")
    assert record.closed and record.resolved is True and record.escalated and record.last_sequence == 7
    assert record.customer_key != "cust-1" and len(record.customer_key) == 64  # the pseudonym only


async def test_a_resent_event_is_applied_once_and_a_reconnect_resumes_without_replay(start_server, tiny_repository,
                                                                                      store_url):
    server = await start_server(tiny_repository, **database(store_url))
    async with client_for(server) as client:
        async with client.track_session("s-2", "cust-2") as session:
            one = await session.message("I want my money back", event_id="e1")
            two = await session.action("pull_up_account", event_id="e2")
        async with client.track_session("s-2") as again:  # a new stream: the customer id is not needed again
            resumed = await again.resume(last_sequence=1)
            assert resumed.sequence == 2 and resumed.missed_events == 1 and not resumed.duplicate
            assert resumed.next_action.action == two.next_action.action
            resent = await again.action("pull_up_account", event_id="e2")
            assert resent.duplicate and resent.sequence == 2 and resent.next_action == two.next_action
            three = await again.wait(30, event_id="e3")
            assert three.sequence == 3 and not three.duplicate
    assert one.current_need.intent == "get_refund"
    assert (await server.store.get_session("s-2")).last_sequence == 3


@pytest.mark.parametrize(("event", "field"), [
    (pb.SessionEvent(customer_id="c", message=pb.SessionMessage(text="hi", from_customer=True)), "session_id"),
    (pb.SessionEvent(session_id="s-3", customer_id="c"), "event"),
    (pb.SessionEvent(session_id="s-3", message=pb.SessionMessage(text="hi", from_customer=True)), "customer_id"),
    (pb.SessionEvent(session_id="s-3", customer_id="c", agent_action=pb.AgentAction(action="dance")),
     "agent_action.action"),
    (pb.SessionEvent(session_id="s-3", customer_id="c", wait=pb.Wait(duration_s=-1)), "wait.duration_s"),
    (pb.SessionEvent(session_id="s-3", customer_id="c", wait=pb.Wait(duration_s=float("nan"))), "wait.duration_s"),
    (pb.SessionEvent(session_id="s-3", customer_id="c", transfer=pb.Transfer()), "transfer.to_queue"),
    (pb.SessionEvent(session_id="bad id!", customer_id="c", wait=pb.Wait(duration_s=1)), "session_id"),
    (pb.SessionEvent(session_id="s-3", customer_id="c", message=pb.SessionMessage(text="x" * 2001)), "text"),
])
async def test_a_bad_event_is_invalid_argument_naming_the_field_and_ends_the_stream(start_server, tiny_repository,
                                                                                    event, field):
    server = await start_server(tiny_repository)
    async with client_for(server) as client, client.track_session("unused") as session:
        with pytest.raises(InfoGapError) as error:
            await session.send(event)
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in error.value.field_violations] == [field]


async def test_two_event_kinds_on_the_wire_are_refused(start_server, tiny_repository):
    server = await start_server(tiny_repository)
    raw = (pb.SessionEvent(session_id="s-4", customer_id="c", wait=pb.Wait(duration_s=1)).SerializeToString()
           + pb.SessionEvent(end=pb.SessionEnd(resolved=True)).SerializeToString())  # protobuf keeps the last
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    call = channel.stream_stream("/infogap.v1.InfoGap/TrackSession", request_serializer=lambda b: b,
                                 response_deserializer=pb.SessionState.FromString)()
    await call.write(raw)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call.read()
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "event" in error.value.details()
    await channel.close()
    assert await server.store.get_session("s-4") is None


async def test_inactivity_closes_the_session_and_ends_its_stream(start_server, tiny_repository):
    server = await start_server(tiny_repository, session_inactivity_s=0.6, session_sweep_s=0.2)
    async with client_for(server) as client:
        async with client.track_session("s-5", "c") as session:
            await session.message("where is my parcel")
            expired = await session._call.read()  # nothing sent: the server closes the session and says so
            assert expired.stage == pb.SESSION_STAGE_CLOSED and expired.close_reason == "expired"
            assert await session._call.read() == grpc.aio.EOF
        # A session left open by a client that went away is closed by the sweep.
        async with client.track_session("s-6", "c") as session:
            await session.wait(1)
        await asyncio.sleep(1.2)
        record = await server.store.get_session("s-6")
        assert record.closed and record.close_reason == "expired"
        async with client.track_session("s-6") as late:
            with pytest.raises(InfoGapError) as error:
                await late.wait(1)
            assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION and "expired" in error.value.message


async def test_two_replicas_on_postgresql_contend_for_one_session(start_server, tiny_repository, postgres_url):
    shared = dict(database_url=postgres_url, pseudonym_key=KEY, session_lease_s=30)
    a = await start_server(tiny_repository, **shared)
    b = await start_server(tiny_repository, **shared)
    async with client_for(a) as ca, client_for(b) as cb:
        async with ca.track_session("s-7", "c") as first:
            await first.message("where is my parcel")
            async with cb.track_session("s-7", "c") as second:
                with pytest.raises(InfoGapError) as error:
                    await second.action("pull_up_account")
                assert error.value.code == grpc.StatusCode.ABORTED
            await first.action("pull_up_account")
        # Once the first stream ends, the other replica takes the session and goes on from where it was.
        async with cb.track_session("s-7") as second:
            state = await second.resume()
            assert state.sequence == 2
            assert (await second.wait(5)).sequence == 3
    record = await a.store.get_session("s-7")
    assert record.last_sequence == 3 and record.snapshot["events"] == 3


SESSIONS, EVENTS_PER_SESSION = 6, 30


def _event(session: str, i: int) -> pb.SessionEvent:
    """The i-th event of a session: mostly actions and waits, a customer message now and then, each with an id."""
    event = pb.SessionEvent(session_id=session, customer_id=f"cust-{session}", client_event_id=f"{session}-e{i}")
    if i % 5 == 0:
        event.message.CopyFrom(pb.SessionMessage(text=f"where is my parcel {i}", from_customer=True))
    elif i % 2:
        event.agent_action.CopyFrom(pb.AgentAction(action="ask_clarifying_question"))
    else:
        event.wait.CopyFrom(pb.Wait(duration_s=float(i)))
    return event


def _drive(address: str, session: str, start: int, acked: dict, lock) -> None:
    """Send the session's events from ``start`` on one stream until the stream breaks; record each answer."""
    from infogap.client import InfoGapClient

    with InfoGapClient(address) as client, client.track_session(session) as stream:
        for i in range(start, EVENTS_PER_SESSION):
            try:
                state = stream.send(_event(session, i))
            except InfoGapError:
                return
            with lock:
                acked[(session, i)] = state.sequence


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_session_resumes_after_sigkill_with_no_answered_event_lost_or_applied_twice(database, tiny_repository,
                                                                                      tmp_path, request):
    import random
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from infogap.client import InfoGapClient
    from infogap_server.server_process import ServerProcess

    from tests.conftest import stored_rows
    from tests.test_durability import store_settings

    settings, store_url = store_settings(database, tmp_path, request)
    settings.update(session_lease_s=1.0, pseudonym_key=KEY)
    sessions = [f"kill-{n}" for n in range(SESSIONS)]
    acked: dict = {}
    lock = threading.Lock()
    kill_after = random.Random().randint(20, SESSIONS * EVENTS_PER_SESSION // 2)
    with ServerProcess(tiny_repository, **settings) as first:
        first.start()
        with InfoGapClient(first.address) as client:
            for session in sessions:  # each session created with its customer before the load
                with client.track_session(session, f"cust-{session}") as stream:
                    acked[(session, -1)] = stream.send(pb.SessionEvent(
                        session_id=session, customer_id=f"cust-{session}", client_event_id=f"{session}-open",
                        wait=pb.Wait(duration_s=0))).sequence

        def killer() -> None:
            while len(acked) < SESSIONS + kill_after and first.process.poll() is None:
                threading.Event().wait(0.001)
            first.signal(signal.SIGKILL)

        threading.Thread(target=killer, daemon=True).start()
        with ThreadPoolExecutor(SESSIONS) as pool:
            for session in sessions:
                pool.submit(_drive, first.address, session, 0, acked, lock)
        assert first.wait(10) == -signal.SIGKILL
    before = dict(acked)
    assert SESSIONS + kill_after <= len(before) < SESSIONS * (EVENTS_PER_SESSION + 1), "the kill did not land mid-run"

    with ServerProcess(tiny_repository, **settings) as second:
        second.start()
        with InfoGapClient(second.address) as client:
            for session in sessions:
                answered = [i for (s, i) in before if s == session and i >= 0]
                last_seen = max((before[(session, i)] for i in answered), default=1)
                next_event = max(answered, default=-1) + 1
                for _ in range(50):  # the dead process's lease lapses after session_lease_s
                    try:
                        with client.track_session(session) as stream:
                            state = stream.resume(last_sequence=last_seen)
                            # An event sent but not answered may have committed: resend it with its id either way.
                            for i in range(next_event, EVENTS_PER_SESSION):
                                resent = stream.send(_event(session, i))
                                assert resent.duplicate == (i == next_event and state.missed_events > 0)
                        break
                    except InfoGapError as error:
                        assert error.code == grpc.StatusCode.ABORTED
                        threading.Event().wait(0.2)
                else:
                    pytest.fail(f"session {session} was never released")
    rows = stored_rows(store_url)["session_events"]
    for session in sessions:
        ids = [r["client_event_id"] for r in sorted(rows, key=lambda r: r["event_sequence"])
               if r["session_id"] == session]
        assert ids == [f"{session}-open"] + [f"{session}-e{i}" for i in range(EVENTS_PER_SESSION)]
        for i in range(EVENTS_PER_SESSION):  # what was answered before the kill is stored at the sequence answered
            if (session, i) in before:
                assert ids[before[(session, i)] - 1] == f"{session}-e{i}"
    print(f"\n{database}: killed after {len(before) - SESSIONS} answered events of {SESSIONS} sessions; "
          f"{len(rows)} rows after the resumes, each event once")


async def test_a_playbook_step_that_is_an_always_allowed_action_comes_in_its_turn(start_server, tiny_repository):
    """complaint's sequence is pull_up_account, record_reason, apologise, notify_team, offer_plan: apologise and
    offer_plan are steps of it as well as actions allowed at any time."""
    server = await start_server(tiny_repository)
    steps = server.sessions.playbook.intents["complaint"].steps
    async with client_for(server) as client, client.track_session("s-8", "c") as session:
        state = await session.message("I want to complain about this")
        assert state.current_need.intent == "complaint"
        for step in steps:
            assert state.next_action.action == step, (step, state.next_action, state.runner_up)
            state = await session.action(step)
        assert state.next_action.action != "offer_plan"  # done: the plan was offered, nothing asks for it again


async def test_a_session_at_its_event_limit_is_resource_exhausted_without_a_retry_hint(start_server,
                                                                                       tiny_repository):
    server = await start_server(tiny_repository, session_max_events=3)
    async with client_for(server) as client, client.track_session("s-9", "c") as session:
        for _ in range(3):
            await session.wait(1)
        with pytest.raises(InfoGapError) as error:
            await session.wait(1)
        assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "most one session" in error.value.message
    assert (await server.store.get_session("s-9")).last_sequence == 3


async def test_a_closed_session_resumes_without_a_hold_and_a_resent_end_is_answered_again(start_server,
                                                                                         tiny_repository):
    server = await start_server(tiny_repository, session_inactivity_s=0.5, session_sweep_s=0)
    async with client_for(server) as client:
        async with client.track_session("s-10", "c") as session:
            await session.wait(1, event_id="w1")
            end = await session.end(resolved=True, event_id="end")
        async with client.track_session("s-10") as first, client.track_session("s-10") as second:
            assert (await first.resume(last_sequence=2)).stage == pb.SESSION_STAGE_CLOSED  # two readers at once
            assert (await second.resume()).missed_events == 2
            again = await second.end(resolved=True, event_id="end")  # a resend of the last event, after the close
            assert again.duplicate and again.sequence == end.sequence and again.close_reason == "ended"
            await asyncio.sleep(0.8)  # idle past the timeout on a closed session: the stream just ends
            assert await first._call.read() == grpc.aio.EOF
            assert await first._call.code() == grpc.StatusCode.OK


async def test_a_stream_that_never_sends_ends_after_the_inactivity_timeout(start_server, tiny_repository):
    server = await start_server(tiny_repository, session_inactivity_s=0.5)
    async with client_for(server) as client, client.track_session("s-11", "c") as session:
        assert await asyncio.wait_for(session._call.read(), 5) == grpc.aio.EOF
        assert await session._call.code() == grpc.StatusCode.OK


async def test_a_transfer_to_a_queue_with_a_target_measures_the_session_against_it(start_server, tiny_repository):
    server = await start_server(tiny_repository, sla_target_by_queue_s={"billing": 120.0})
    async with client_for(server) as client, client.track_session("s-12", "c") as session:
        assert (await session.message("where is my parcel")).sla_target_s != 120.0
        moved = await session.transfer("billing")
        assert moved.sla_target_s == 120.0 and moved.queue == "billing"


async def test_two_replicas_claiming_one_session_at_the_same_moment_leave_one_writer(start_server, tiny_repository,
                                                                                     postgres_url):
    shared = dict(database_url=postgres_url, pseudonym_key=KEY)
    replicas = [await start_server(tiny_repository, **shared) for _ in range(2)]
    async with client_for(replicas[0]) as ca, client_for(replicas[1]) as cb:
        async with ca.track_session("s-13", "c") as opener:
            await opener.wait(1)
        streams = [ca.track_session("s-13"), cb.track_session("s-13"), ca.track_session("s-13"),
                   cb.track_session("s-13")]
        results = await asyncio.gather(*(s.wait(2) for s in streams), return_exceptions=True)
        written = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, InfoGapError)]
        assert len(written) == 1 and written[0].sequence == 2
        assert len(refused) == 3 and {r.code for r in refused} == {grpc.StatusCode.ABORTED}
        for s in streams:
            await s.close()
    record = await replicas[0].store.get_session("s-13")
    assert record.last_sequence == 2
