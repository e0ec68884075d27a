"""The commands that call a running server (`infogap identify`, `profile`, `insights`): one set of options, the
answer printed as text or JSON, and a refused call as its code and bad fields on stderr with exit code 1."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.server_process import INFOGAP

from tests.conftest import channel_to


async def infogap(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(str(INFOGAP), *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_commands_print_answers_and_refusals(tiny_server):
    address = f"127.0.0.1:{tiny_server.port}"
    async with channel_to(tiny_server) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        order = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=12, item_count=1)
        order.time.FromDatetime(datetime.now(UTC) - timedelta(days=40))
        await stub.RecordEvents(pb.RecordEventsRequest(events=[pb.CustomerEvent(customer_id="cli", event_id="o1",
                                                                                event=order)]))
        await stub.SubmitFeedback(pb.SubmitFeedbackRequest(feedback_id="f1", customer_id="cli", rating=4,
                                                           intent="track_order"))

    code, out, _ = await infogap("identify", "where is my parcel", "--address", address)
    assert code == 0 and out.startswith("track_order")
    code, out, _ = await infogap("profile", "cli", "--address", address, "--json")
    assert code == 0 and json.loads(out)["rfm"]["frequency"] == 1 and "churnRisk" in json.loads(out)
    code, out, _ = await infogap("insights", "--address", address, "--period", "hour",
                                 "--since", (datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert code == 0 and "intent track_order" in out
    code, out, err = await infogap("identify", "   ", "--address", address, "--token", "unused")
    assert code == 1 and out == "" and err.startswith("error: INVALID_ARGUMENT: text:") and "  text: " in err
    code, _, err = await infogap("insights", "--address", address, "--top-n", "99")
    assert code == 1 and "top_n" in err


async def test_a_closed_pipe_ends_the_command_quietly(tiny_server):
    """`infogap identify ... | head -1`: the reader has gone before the answer is written. The command ends with
    SIGPIPE's status (141) and no traceback, as Unix tools do."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone: every write to the pipe fails with EPIPE
    try:
        process = await asyncio.create_subprocess_exec(
            str(INFOGAP), "identify", "where is my parcel", "--address", f"127.0.0.1:{tiny_server.port}",
            stdout=write_end, stderr=asyncio.subprocess.PIPE)
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 141
    assert err.decode() == ""
