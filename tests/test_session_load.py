"""TrackSession under pressure: a client that sends without reading its answers is held back by flow control (the
server stops reading once its answers are not taken, so its memory cannot grow without bound), and the limit on
concurrent streams answers RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc

SENT = 10000
#: An agent's message (no text model): 1,900 characters, so 10,000 of them are 19 MB in flight.
AGENT_TEXT = "We are looking into your order now, thank you for waiting. " * 32


async def test_a_client_that_does_not_read_is_held_back_by_flow_control(start_server, tiny_repository):
    """The client sends 10,000 events of 1,900 characters (19 MB) and reads nothing. The server applies them at
    its own pace and holds only what its receive window takes ahead of that (a few MB, whatever the client
    sends): the client's writes advance no faster than the server applies, so the gap between the two stays where
    it was. Reading then gets the answers in order."""
    server = await start_server(tiny_repository, session_max_events=SENT + 10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = infogap_pb2_grpc.InfoGapStub(channel).TrackSession()
        written = 0

        async def writer() -> None:
            nonlocal written
            for i in range(SENT):
                await call.write(pb.SessionEvent(session_id="bp-1", customer_id="c", client_event_id=f"e{i}",
                                                 message=pb.SessionMessage(text=AGENT_TEXT, from_customer=False)))
                written += 1

        task = asyncio.create_task(writer())
        gaps = []
        for second in (2, 4, 6):
            await asyncio.sleep(2.0)
            applied = (await server.store.get_session("bp-1")).last_sequence
            gaps.append(written - applied)
            print(f"\nafter {second} s unread: {written} events written, {applied} applied, {gaps[-1]} held")
        assert written < SENT, "every write went through: nothing held the client back"
        assert gaps[-1] <= gaps[0] * 1.1 + 50, f"the backlog held by the server grew: {gaps}"
        for i in range(100):  # reading now: the answers come in order
            assert (await call.read()).sequence == i + 1
        task.cancel()
        call.cancel()


async def test_streams_beyond_the_limit_are_resource_exhausted(start_server, tiny_repository):
    server = await start_server(tiny_repository, session_max_streams=2)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        open_calls = []
        for n in range(2):
            call = stub.TrackSession()
            await call.write(pb.SessionEvent(session_id=f"lim-{n}", customer_id="c", wait=pb.Wait(duration_s=1)))
            await call.read()
            open_calls.append(call)
        third = stub.TrackSession()
        await third.write(pb.SessionEvent(session_id="lim-3", customer_id="c", wait=pb.Wait(duration_s=1)))
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await third.read()
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await open_calls[0].done_writing()
        assert await open_calls[0].read() == grpc.aio.EOF
        await asyncio.sleep(0.1)
        fourth = stub.TrackSession()  # a stream that ended frees its place
        await fourth.write(pb.SessionEvent(session_id="lim-4", customer_id="c", wait=pb.Wait(duration_s=1)))
        assert (await fourth.read()).sequence == 1
        for call in (open_calls[1], fourth):
            call.cancel()


async def test_a_reduced_session_load_run_answers_every_event(start_server, tiny_repository):
    """The session-load bench's load generator, briefly, on a tiny server: both mixes run without an error."""
    from infogap_server.bench_tracking import _run_mix

    server = await start_server(tiny_repository)
    for mix in ("actions", "messages"):
        result = await _run_mix(server.port, mix, 20, 1.0, ["where is my parcel", "I want my money back"])
        assert result["events"] > 20 and result["errors"] == {}, (mix, result)
