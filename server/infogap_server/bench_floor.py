"""``infogap bench --paths floor``: what the gateway costs per call against gRPC itself.

The floor is a bare grpc.aio server (this module run as its own process: ``python -m infogap_server.bench_floor``)
that registers the same service and answers every call with a fixed response built once: the least any Python
grpc.aio server can spend on a call. The gateway is ``infogap serve`` on the no-op backend (no model, so what is
measured is everything around the model: gRPC, decoding, checks, tokenization, batching, text analysis, the store,
conversion). Both get the same load, and the figure compared is calls answered per CPU-second of the server's
process tree, which does not depend on how fast the load generator is.

- IdentifyNeeds and Recommend: h2load (a C HTTP/2 load generator) sending the same request frame, so the client
  costs the server's cores little. Recommend is given the intent, as a caller does after IdentifyNeeds.
- SubmitFeedback and TrackSession: every call needs ids of its own (a feedback id; a session id), which a fixed
  h2load body cannot give, so a grpc.aio client in the benchmark's process drives both servers. A TrackSession
  call is a short session on one stream: a customer message, an agent action, a wait, the end (4 events).

The gateway's share of OK answers is read from its metrics; a path whose answers were not all OK says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

#: The RPCs of the floor, in the order they are reported.
FLOOR_RPCS = ("IdentifyNeeds", "Recommend", "SubmitFeedback", "TrackSession")
SESSION_EVENTS = 4


def fixed_responses() -> dict[str, bytes]:
    """One plausible serialized response per RPC, the size of a real one."""
    from infogap.v1 import infogap_pb2 as pb

    identify = pb.IdentifyNeedsResponse(
        needs=[pb.Need(intent="track_order", score=0.91), pb.Need(intent="delivery_delay", score=0.05),
               pb.Need(intent="complaint", score=0.02)],
        sentiment=pb.Sentiment(label=pb.SENTIMENT_LABEL_NEGATIVE, score=0.8),
        urgency=pb.Urgency(level=pb.URGENCY_LEVEL_HIGH, score=0.7, signals=["deadline"]),
        entities=[pb.Entity(type="order_id", text="A12345", start=9, end=15, normalized="A12345")],
        model=pb.ModelInfo(name="infogap_text", version="1"), request_id=uuid.uuid4().hex)
    recommend = pb.RecommendResponse(
        plans=[pb.Plan(plan_id=f"plan_{i}", kind=pb.PLAN_KIND_RESOLUTION, title="Send the parcel again",
                       expected_satisfaction=0.7, reasons=["fits the intent"], probability=0.5, cost=5.0,
                       description="A new parcel goes out today.") for i in range(3)],
        request_id=uuid.uuid4().hex, decision_id=uuid.uuid4().hex, policy_version="1", catalogue_version="1",
        intent="track_order")
    receipt = pb.FeedbackReceipt(feedback_id="fb-1", request_id=uuid.uuid4().hex)
    state = pb.SessionState(session_id="s-1", stage=pb.SESSION_STAGE_DISCOVERY, next_best_action="apologise",
                            next_action=pb.ActionValue(action="apologise", value=0.5, source="policy"),
                            events_seen=1, sequence=1, allowed_actions=["apologise", "ask_order_number"])
    return {"IdentifyNeeds": identify.SerializeToString(), "Recommend": recommend.SerializeToString(),
            "SubmitFeedback": receipt.SerializeToString(), "TrackSession": state.SerializeToString()}


async def serve_floor(port: int) -> None:
    """The floor server: every RPC of the service, raw bytes in, a fixed response out; stops on SIGTERM."""
    import grpc
    from infogap.v1 import infogap_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["InfoGap"]
    responses = fixed_responses()
    handlers = {}
    for method in service.methods:
        request_class = getattr(pb, method.input_type.name)
        body = responses.get(method.name, b"")
        if method.client_streaming and method.server_streaming:
            async def stream(requests, _context, request_class=request_class, body=body):
                async for raw in requests:
                    request_class.FromString(raw)
                    yield body

            handlers[method.name] = grpc.stream_stream_rpc_method_handler(stream)
        elif not method.client_streaming and not method.server_streaming:
            async def unary(raw, _context, request_class=request_class, body=body):
                request_class.FromString(raw)  # decoded, as any server must
                return body

            handlers[method.name] = grpc.unary_unary_rpc_method_handler(unary)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(json.dumps({"port": bound}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


class FloorProcess:
    """The floor server in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "infogap_server.bench_floor"],
                                        stdout=subprocess.PIPE, text=True)
        self.port = json.loads(self.process.stdout.readline())["port"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def request_frames() -> dict[str, bytes]:
    """The h2load bodies: one gRPC frame (uncompressed flag, length, message) per read-only RPC."""
    from infogap.v1 import infogap_pb2 as pb

    messages = {
        "IdentifyNeeds": pb.IdentifyNeedsRequest(
            text="my order #A12345 never arrived and I'm really angry, I need it by tomorrow!"),
        "Recommend": pb.RecommendRequest(intent="track_order", customer_id="bench-customer-1", channel="chat"),
    }
    return {name: b"\x00" + struct.pack(">I", m.ByteSize())
            + m.SerializeToString() for name, m in messages.items()}


def h2load(port: int, method: str, frame: bytes, seconds: float, connections: int, streams: int) -> dict:
    """h2load against one RPC for ``seconds``: calls completed (HTTP 200; gRPC status checked by the caller)."""
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "request.bin"
        body.write_bytes(frame)
        done = subprocess.run(
            ["h2load", "-D", str(max(1, round(seconds))), "-c", str(connections), "-m", str(streams),
             "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
             f"http://127.0.0.1:{port}/infogap.v1.InfoGap/{method}"],
            check=True, capture_output=True, text=True)
    found = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", done.stdout)
    if not found:
        raise RuntimeError(f"h2load printed no request counts:\n{done.stdout[-2000:]}")
    return {"done": int(found.group(1)), "succeeded": int(found.group(2))}


def ok_counts(metrics_port: int) -> dict[str, float]:
    """The gateway's answers so far, by ``method/code``."""
    raw = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    found = re.findall(r'^infogap_requests_total\{code="(\w+)",method="(\w+)"\} (\S+)$', raw, re.M)
    return {f"{method}/{code}": float(n) for code, method, n in found}


async def python_load(port: int, method: str, seconds: float, concurrency: int) -> tuple[int, dict[str, int]]:
    """``concurrency`` grpc.aio callers of SubmitFeedback or TrackSession with fresh ids; (calls OK, errors)."""
    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc

    from infogap_server.bench import _error_kind

    ok, errors = 0, {}
    stop_at = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)

        async def feedback(n: int) -> None:
            await stub.SubmitFeedback(pb.SubmitFeedbackRequest(
                feedback_id=f"floor-{run}-{n}", customer_id=f"bench-customer-{n % 50}", rating=1 + n % 5,
                text="the parcel came a week late" if n % 2 else "", intent="track_order"), timeout=30)

        async def session(n: int) -> None:
            sid = f"floor-{run}-{n}"
            events = [pb.SessionEvent(session_id=sid, customer_id=f"bench-customer-{n % 50}",
                                      message=pb.SessionMessage(text="where is my parcel", from_customer=True)),
                      pb.SessionEvent(session_id=sid, agent_action=pb.AgentAction(action="apologise")),
                      pb.SessionEvent(session_id=sid, wait=pb.Wait(duration_s=20.0)),
                      pb.SessionEvent(session_id=sid, end=pb.SessionEnd(resolved=True))]
            states = [s async for s in stub.TrackSession(iter(events), timeout=30)]
            if len(states) != SESSION_EVENTS:
                raise RuntimeError(f"{len(states)} states for {SESSION_EVENTS} events")

        call = feedback if method == "SubmitFeedback" else session

        async def caller(worker: int) -> None:
            nonlocal ok
            n = worker
            while time.perf_counter() < stop_at:
                try:
                    await call(n)
                    ok += 1
                except Exception as exc:  # counted: errors are part of the measurement
                    kind = _error_kind(exc)
                    errors[kind] = errors.get(kind, 0) + 1
                n += concurrency

        await asyncio.gather(*(caller(w) for w in range(concurrency)))
    return ok, errors


async def measure(server: str, pids: list[int], port: int, method: str, seconds: float, concurrency: int,
                  metrics_port: int | None = None) -> dict:
    """One RPC against one server: calls OK, per second, per server CPU-second."""
    from infogap_server.bench import _process_tree_cpu_s

    frames = request_frames()
    connections = 4
    before = ok_counts(metrics_port) if metrics_port else {}
    cpu0, t0 = _process_tree_cpu_s(pids), time.perf_counter()
    errors: dict[str, int] = {}
    if method in frames:
        counts = await asyncio.to_thread(h2load, port, method, frames[method], seconds, connections,
                                         max(1, concurrency // connections))
        calls = counts["succeeded"]
    else:
        calls, errors = await python_load(port, method, seconds, concurrency)
    wall, cpu = time.perf_counter() - t0, _process_tree_cpu_s(pids) - cpu0
    if metrics_port:  # HTTP 200 is not gRPC OK: the gateway's own counts say how many answers were OK
        after = ok_counts(metrics_port)
        delta = {k: after[k] - before.get(k, 0.0) for k in after if k.startswith(f"{method}/")}
        ok_calls = int(delta.pop(f"{method}/OK", 0))
        errors.update({k.split("/")[1]: int(v) for k, v in delta.items() if v})
        if method in frames:
            calls = ok_calls
    # h2load stops with calls in flight, which the server counts CANCELLED: the cut-off, not failures.
    cut_off = errors.pop("CANCELLED", 0) if method in frames else 0
    return {"server": server, "rpc": method, "calls_ok": calls, "calls_per_s": round(calls / wall, 1),
            "server_cpu_s": round(cpu, 2), "calls_per_cpu_s": round(calls / cpu, 1) if cpu else None,
            "errors": errors, "cut_off": cut_off}


async def floor_path(settings, args) -> dict:
    """The floor and the no-op gateway, each RPC in turn, in one run; the gateway's share of the floor."""
    from infogap_server.bench import start_gateway

    if shutil.which("h2load") is None:
        reason = "h2load is not installed (apt-get install nghttp2-client; the set-up installs it)"
        print(f"floor: skipped: {reason}", flush=True)
        return {"skipped": reason}
    rows: dict[str, dict[str, dict]] = {}
    print(f"floor: calls per server CPU-second, {args.floor_seconds:.0f} s per RPC, {args.concurrency} in flight",
          flush=True)
    print(f"{'rpc':<16} {'server':<10} {'calls/s':>9} {'cpu s':>7} {'calls/cpu-s':>12} {'errors':>8}", flush=True)
    floor = FloorProcess()
    try:
        for rpc in FLOOR_RPCS:
            await measure("floor", [floor.process.pid], floor.port, rpc, 2.0, args.concurrency)  # warm-up
            rows.setdefault(rpc, {})["floor"] = await measure("floor", [floor.process.pid], floor.port, rpc,
                                                              args.floor_seconds, args.concurrency)
            _print_row(rows[rpc]["floor"])
    finally:
        floor.stop()
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = await start_gateway(settings, backend="noop", intra_op_threads=1, data_dir=data_dir)
        try:
            for rpc in FLOOR_RPCS:
                await measure("gateway", [gateway.process.pid], gateway.port, rpc, 2.0, args.concurrency,
                              gateway.metrics_port)
                rows[rpc]["gateway"] = await measure("gateway", [gateway.process.pid], gateway.port, rpc,
                                                     args.floor_seconds, args.concurrency, gateway.metrics_port)
                _print_row(rows[rpc]["gateway"])
        finally:
            gateway.stop()
    ratios = {}
    for rpc, pair in rows.items():
        g, f = pair["gateway"]["calls_per_cpu_s"], pair["floor"]["calls_per_cpu_s"]
        if g and f:
            ratios[rpc] = round(g / f, 3)
    print("floor: gateway (no-op backend) over the floor, calls per server CPU-second: "
          + ", ".join(f"{rpc} {r}" for rpc, r in ratios.items()), flush=True)
    return {"seconds": args.floor_seconds, "concurrency": args.concurrency, "rows": rows,
            "gateway_over_floor": ratios}


def _print_row(row: dict) -> None:
    errors = sum(row["errors"].values())
    print(f"{row['rpc']:<16} {row['server']:<10} {row['calls_per_s']:>9.1f} {row['server_cpu_s']:>7.2f} "
          f"{row['calls_per_cpu_s'] or 0:>12.1f} {errors:>8}", flush=True)



def rpc_calls(stub, run: str) -> dict:
    """One ``call(text)`` per job for the latency paths, each with fresh ids where the job needs them. A TrackSession
    call is a short session on one stream (the message, an agent action, the end), timed whole."""
    from infogap.v1 import infogap_pb2 as pb

    counter = iter(range(10**9))

    async def identify(text: str) -> None:
        await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=30)

    async def recommend(text: str) -> None:
        n = next(counter)
        await stub.Recommend(pb.RecommendRequest(intent="track_order", customer_id=f"tail-{n % 200}",
                                                 channel="chat"), timeout=30)

    async def feedback(text: str) -> None:
        n = next(counter)
        await stub.SubmitFeedback(pb.SubmitFeedbackRequest(
            feedback_id=f"tail-{run}-{n}", customer_id=f"tail-{n % 200}", rating=1 + n % 5,
            text="the parcel came a week late" if n % 3 == 0 else ""), timeout=30)

    async def session(text: str) -> None:
        n = next(counter)
        sid = f"tail-{run}-{n}"
        events = [pb.SessionEvent(session_id=sid, customer_id=f"tail-{n % 200}",
                                  message=pb.SessionMessage(text=text, from_customer=True)),
                  pb.SessionEvent(session_id=sid, agent_action=pb.AgentAction(action="apologise")),
                  pb.SessionEvent(session_id=sid, end=pb.SessionEnd(resolved=True))]
        states = [s async for s in stub.TrackSession(iter(events), timeout=30)]
        if len(states) != len(events):
            raise RuntimeError(f"{len(states)} states for {len(events)} events")

    return {"IdentifyNeeds": identify, "Recommend": recommend, "SubmitFeedback": feedback, "TrackSession": session}


async def tail_path(settings, args, texts: list[str], fraction: float = 0.7) -> dict:
    """Every job on the embedded gateway (its SQLite store): the peak (closed loop, ``args.concurrency`` callers),
    then Poisson arrivals at ``fraction`` of that peak; p50, p99 and p99/p50 there."""
    import grpc
    from infogap.v1 import infogap_pb2_grpc

    from infogap_server.bench import _summary, closed_loop, open_loop, start_gateway

    rows = {}
    print(f"tail: each job at its peak ({args.concurrency} callers) and at {fraction:.0%} of it (Poisson arrivals), "
          f"{args.tail_seconds:.0f} s each, embedded backend, SQLite store", flush=True)
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = await start_gateway(settings, backend="embedded", data_dir=data_dir)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                calls = rpc_calls(infogap_pb2_grpc.InfoGapStub(channel), uuid.uuid4().hex[:8])
                for rpc, call in calls.items():
                    await closed_loop(call, texts, args.concurrency, 2.0, 0.0)  # warm-up
                    lat, err = await closed_loop(call, texts, args.concurrency, args.tail_seconds, 0.0)
                    peak = _summary(rpc, lat, err, args.tail_seconds, concurrency=args.concurrency)
                    rate = peak.requests_per_s * fraction
                    lat, err = await open_loop(call, texts, rate, args.tail_seconds)
                    at = _summary(rpc, lat, err, args.tail_seconds, offered=rate)
                    ratio = round(at.p99_ms / at.p50_ms, 2) if at.p50_ms else None
                    rows[rpc] = {"peak_calls_per_s": peak.requests_per_s, "offered_per_s": round(rate, 1),
                                 "answered_per_s": at.requests_per_s, "p50_ms": at.p50_ms, "p99_ms": at.p99_ms,
                                 "p99_over_p50": ratio, "errors": {**peak.errors, **at.errors}}
                    print(f"{rpc:<16} peak {peak.requests_per_s:>8.1f}/s  at {fraction:.0%}: {rate:>7.1f}/s offered, "
                          f"p50 {at.p50_ms:>7.1f} ms, p99 {at.p99_ms:>7.1f} ms, p99/p50 {ratio}, errors "
                          f"{sum(rows[rpc]['errors'].values())}", flush=True)
        finally:
            gateway.stop()
    return {"fraction_of_peak": fraction, "seconds": args.tail_seconds, "rows": rows}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the floor server of `infogap bench --paths floor`")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve_floor(parser.parse_args().port))
