"""``infogap bench --paths session-load``: TrackSession under many concurrent sessions on one gateway process.

``--sessions`` (default 1,000) streams are open at once, each a closed loop: send an event, wait for the state,
send the next. A session holds 20 events, then ends and a new one opens on the same stream slot. Two mixes:

- ``actions``: agent actions (the next action the previous state suggested) and waits: no text model;
- ``messages``: every third event a customer message from the bench's texts, read by the text model through the
  micro-batcher.

Reported per mix: events answered per second, p50/p99 of the time from sending an event to its state, errors by
code, and the gateway's resident memory before and after. The load generator runs in the bench's own process on
the same machine, so its CPU competes with the gateway's: compare mixes within one run.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence

EVENTS_PER_SESSION = 20
SESSIONS_PER_CHANNEL = 100


async def _drive(stub, slot: int, mix: str, texts: Sequence[str], stop: asyncio.Event, latencies: list[float],
                 errors: Counter) -> None:
    import grpc
    from infogap.v1 import infogap_pb2 as pb

    turn = 0
    while not stop.is_set():
        session = f"load-{mix}-{slot}-{turn}"
        turn += 1
        call = stub.TrackSession()
        action = "ask_clarifying_question"
        try:
            for j in range(EVENTS_PER_SESSION):
                event = pb.SessionEvent(session_id=session, customer_id=f"load-{slot}")
                if j == EVENTS_PER_SESSION - 1:
                    event.end.CopyFrom(pb.SessionEnd(resolved=True))
                elif mix == "messages" and j % 3 == 0:
                    event.message.CopyFrom(pb.SessionMessage(text=texts[(slot + j) % len(texts)], from_customer=True))
                elif j % 2:
                    event.agent_action.CopyFrom(pb.AgentAction(action=action))
                else:
                    event.wait.CopyFrom(pb.Wait(duration_s=5.0))
                started = time.perf_counter()
                await call.write(event)
                state = await call.read()
                latencies.append(time.perf_counter() - started)
                action = state.next_action.action or "apologise"
                if stop.is_set():
                    break
            await call.done_writing()
            await call.code()  # the stream has ended on the server too before this slot opens the next one
        except grpc.aio.AioRpcError as error:
            if not stop.is_set():  # calls cut short by the end of the run are not the server's errors
                errors[error.code().name] += 1
        finally:
            call.cancel()


async def _run_mix(port: int, mix: str, sessions: int, seconds: float, texts: Sequence[str]) -> dict:
    import grpc
    from infogap.v1 import infogap_pb2_grpc

    latencies: list[float] = []
    errors: Counter = Counter()
    stop = asyncio.Event()
    # A connection carries at most max_concurrent_streams calls (256 by default): SESSIONS_PER_CHANNEL each, as a
    # calling service with many live sessions would spread them over connections.
    # (Channels with the same target and options share one connection unless each has its own subchannel pool.)
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(math.ceil(sessions / SESSIONS_PER_CHANNEL))]
    try:
        stubs = [infogap_pb2_grpc.InfoGapStub(channel) for channel in channels]
        tasks = [asyncio.create_task(_drive(stubs[slot // SESSIONS_PER_CHANNEL], slot, mix, texts, stop, latencies,
                                            errors))
                 for slot in range(sessions)]
        await asyncio.sleep(min(5.0, seconds / 3))  # warm up: every stream open, the batcher busy
        warm = len(latencies)
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        counted = latencies[warm:]
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.wait(tasks, timeout=60)
    finally:
        for channel in channels:
            await channel.close()
    ordered = sorted(counted)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3, 1) if ordered else 0.0

    return {"events_per_s": round(len(counted) / elapsed, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "events": len(counted), "errors": dict(errors)}


async def session_load_path(settings, args, texts: Sequence[str]) -> dict:
    """The session-load path of ``infogap bench``: prints a table, returns the figures for the report."""
    from infogap_server.bench import start_gateway

    sessions = getattr(args, "sessions", 1000) or 1000
    # The store: INFOGAP_DATABASE_URL when set (PostgreSQL), else the gateway's own SQLite file.
    store = {"database_url": settings.database_url} if settings.database_url else {}
    store_name = "PostgreSQL" if settings.database_url else "SQLite"
    gateway = await start_gateway(settings, backend="embedded", session_max_streams=sessions + 100, **store)
    results: dict = {"sessions": sessions, "events_per_session": EVENTS_PER_SESSION, "store": store_name,
                     "startup_s": round(gateway.startup_s, 2)}
    try:
        results["rss_mib_before"] = round(gateway.rss_mib(), 1)
        for mix in ("actions", "messages"):
            results[mix] = await _run_mix(gateway.port, mix, sessions, args.duration_s, texts)
            results[mix]["rss_mib_after"] = round(gateway.rss_mib(), 1)
    finally:
        gateway.stop()
    print(f"\nsession-load: {sessions:,} concurrent TrackSession streams on one gateway process (embedded backend, "
          f"{store_name} store), {args.duration_s:g} s per mix, the load generator in the bench's process")
    print(f"{'mix':<10}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>10}{'RSS MiB after':>15}")
    for mix in ("actions", "messages"):
        r = results[mix]
        print(f"{mix:<10}{r['events_per_s']:>10}{r['p50_ms']:>9}{r['p99_ms']:>9}{sum(r['errors'].values()):>10}"
              f"{r['rss_mib_after']:>15}")
    print(f"gateway RSS before the load: {results['rss_mib_before']} MiB", flush=True)
    return results
