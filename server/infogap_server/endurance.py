"""Endurance: a mixed load of customer contacts, for ``infogap soak`` and ``infogap faults``.

A contact is what a calling service does for one customer: IdentifyNeeds on the customer's message, Recommend for
the need found, a short TrackSession session on one stream (the message, an agent action, the end), and
SubmitFeedback afterwards, with the decision and the session it is about. :class:`ContactLoad` runs contacts from
``concurrency`` callers, counts every call by RPC and status code, and keeps what the server acknowledged as
written (decision ids, feedback ids, session events), so that what a store holds afterwards can be checked
against it: an acknowledged write missing from the store is *lost*.

- ``infogap soak`` runs the load on one gateway for a given time (10 minutes by default) and prints, every minute,
  throughput, errors by code, p50/p99 per RPC and the gateway's resident memory; it fails when memory grows.
- ``infogap faults`` runs the load through three faults: SIGKILL of the gateway (a new one takes over the port and
  the store), a restart of Triton, a restart of PostgreSQL. For each it prints the calls answered, failed (by code)
  and lost; it fails unless lost is 0 and every failure carries a code that tells the caller to retry.

Development tools: nothing in the serving path imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infogap_server.bench import _error_kind as _code  # one naming of outcomes for every measured load
from infogap_server.settings import Settings

#: Seconds a caller waits after a failed contact before the next.
BACKOFF_S = 0.2
RPCS = ("IdentifyNeeds", "Recommend", "TrackSession", "SubmitFeedback")
#: Codes a caller retries (the work did not happen, or may be resent with its id): the "clear" failures of a fault.
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED", "CANCELLED"})
#: Feedback wording for the load (the project's own).
FEEDBACK_TEXTS = ("", "quick and friendly, thank you", "the parcel came a week late and nobody told me",
                  "the agent sorted it out but it took three calls", "")


def contact_texts() -> list[str]:
    """The customers' messages: the project's hand-written test set, shuffled once."""
    from infogap_server.training.build import DEFAULT_TEST, read_corpus

    texts = [e.text for e in read_corpus(DEFAULT_TEST)]
    random.Random(0).shuffle(texts)
    return texts


@dataclass
class Acknowledged:
    """Writes the server answered: they must be in the store afterwards."""

    decisions: set[str] = field(default_factory=set)
    feedback: set[str] = field(default_factory=set)
    session_events: set[tuple[str, int]] = field(default_factory=set)

    def total(self) -> int:
        return len(self.decisions) + len(self.feedback) + len(self.session_events)


@dataclass
class Window:
    """What one stretch of the load saw: calls by (rpc, code), and the latencies of the OK ones."""

    calls: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    contacts: int = 0

    def add(self, rpc: str, code: str, seconds: float) -> None:
        self.calls[(rpc, code)] += 1
        if code == "OK":
            self.latencies.setdefault(rpc, []).append(seconds)

    def summary(self, seconds: float) -> dict:
        per_rpc = {}
        for rpc in RPCS:
            lat = np.array(self.latencies.get(rpc, [])) * 1e3
            codes = {code: n for (r, code), n in sorted(self.calls.items()) if r == rpc}
            per_rpc[rpc] = {"ok": codes.pop("OK", 0), "failed": codes,
                            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
                            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None}
        return {"seconds": round(seconds, 1), "contacts": self.contacts,
                "contacts_per_s": round(self.contacts / seconds, 2) if seconds else 0.0,
                "calls_per_s": round(sum(self.calls.values()) / seconds, 1) if seconds else 0.0, "rpcs": per_rpc}


class ContactLoad:
    """Contacts from ``concurrency`` callers against whatever gateway ``address()`` names now (a restarted gateway
    may come back on the same address: callers reconnect)."""

    def __init__(self, address, concurrency: int, seed: int = 0, timeout_s: float = 10.0) -> None:
        self._address = address
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.texts = contact_texts()
        self.rng = random.Random(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.acknowledged = Acknowledged()
        self.window = Window()
        self.total = Window()
        self._channels: dict[str, object] = {}
        self._n = 0

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window

    def _stub(self):
        import grpc
        from infogap.v1 import infogap_pb2_grpc

        address = self._address()
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        return infogap_pb2_grpc.InfoGapStub(channel)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def _count(self, rpc: str, code: str, seconds: float) -> None:
        """One call's outcome, in the current window and in the run's total."""
        self.window.add(rpc, code, seconds)
        self.total.add(rpc, code, seconds)

    async def _timed(self, rpc: str, call):
        started = time.perf_counter()
        try:
            result = await call()
        except Exception as exc:  # counted by code: the outcomes are the measurement
            self._count(rpc, _code(exc), 0.0)
            return None
        seconds = time.perf_counter() - started
        self._count(rpc, "OK", seconds)
        return result

    async def contact(self) -> bool:
        """One customer contact; a failed step ends it (as a caller would give up on this contact): False."""
        from infogap.v1 import infogap_pb2 as pb

        n = self._n = self._n + 1
        stub = self._stub()
        text = self.texts[n % len(self.texts)]
        customer = f"soak-{self.run_id}-{n % 500}"
        needs = await self._timed("IdentifyNeeds", lambda: stub.IdentifyNeeds(
            pb.IdentifyNeedsRequest(text=text, customer_id=customer), timeout=self.timeout_s))
        if needs is None:
            return False
        intent = "" if needs.out_of_scope or not needs.needs else needs.needs[0].intent
        request = pb.RecommendRequest(customer_id=customer, channel="chat", top_k=3)
        if intent:
            request.intent = intent
        else:
            request.text = text
        plans = await self._timed("Recommend", lambda: stub.Recommend(request, timeout=self.timeout_s))
        if plans is None:
            return False
        if plans.decision_id:  # none when no plan was answered (out of scope, nothing eligible): nothing logged
            self.acknowledged.decisions.add(plans.decision_id)
        session_id = f"soak-{self.run_id}-{n}"
        if not await self._session(stub, session_id, customer, text):
            return False
        feedback_id = f"soak-fb-{self.run_id}-{n}"
        receipt = await self._timed("SubmitFeedback", lambda: stub.SubmitFeedback(pb.SubmitFeedbackRequest(
            feedback_id=feedback_id, customer_id=customer, session_id=session_id, rating=1 + n % 5,
            text=FEEDBACK_TEXTS[n % len(FEEDBACK_TEXTS)], intent=intent, decision_id=plans.decision_id,
            plan_id=plans.plans[0].plan_id if plans.plans else ""), timeout=self.timeout_s))
        if receipt is None:
            return False
        self.acknowledged.feedback.add(feedback_id)
        self.window.contacts += 1
        self.total.contacts += 1
        return True

    async def caller(self, until) -> None:
        """Contacts one after another until ``until()``; after a failed one the caller waits a moment, as a client
        backs off before trying again (a gateway that is down would otherwise be hammered by a spinning loop)."""
        while not until():
            if not await self.contact():
                await asyncio.sleep(BACKOFF_S)

    async def _session(self, stub, session_id: str, customer: str, text: str) -> bool:
        """A short session on one stream; each state answered is one TrackSession call in the counts."""
        import grpc
        from infogap.v1 import infogap_pb2 as pb

        events = [pb.SessionEvent(session_id=session_id, customer_id=customer,
                                  message=pb.SessionMessage(text=text, from_customer=True)),
                  None,  # the agent's action: the one the server suggests
                  pb.SessionEvent(session_id=session_id, end=pb.SessionEnd(resolved=self.rng.random() < 0.8))]
        call = stub.TrackSession(timeout=self.timeout_s * 3)
        state = None
        try:
            for event in events:
                if event is None:
                    event = pb.SessionEvent(session_id=session_id,
                                            agent_action=pb.AgentAction(
                                                action=state.next_action.action or "apologise"))
                started = time.perf_counter()
                try:
                    await call.write(event)
                    state = await call.read()
                except Exception as exc:  # counted by code
                    self._count("TrackSession", _code(exc), 0.0)
                    return False
                if state is grpc.aio.EOF:  # the stream ended without an answer
                    self._count("TrackSession", await _stream_code(call), 0.0)
                    return False
                seconds = time.perf_counter() - started
                self._count("TrackSession", "OK", seconds)
                self.acknowledged.session_events.add((session_id, state.sequence))
            await call.done_writing()
            return True
        finally:
            call.cancel()

    async def run(self, until: float) -> None:
        """Contacts from every caller until ``time.monotonic() >= until``."""

        await asyncio.gather(*(self.caller(lambda: time.monotonic() >= until) for _ in range(self.concurrency)))


async def _stream_code(call) -> str:
    """The status code of a stream that ended without the answer awaited."""
    try:
        code = await call.code()
    except Exception as exc:  # noqa: BLE001 - whatever ended it is the outcome
        return _code(exc)
    return "ENDED_WITHOUT_ANSWER" if code is None or code.name == "OK" else code.name


async def stored_writes(url: str) -> Acknowledged:
    """What the store holds of the writes a contact load makes."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from infogap_server.store import schema

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            decisions = {r[0] for r in await conn.execute(sa.select(schema.decisions.c.decision_id))}
            feedback = {r[0] for r in await conn.execute(sa.select(schema.feedback.c.feedback_id))}
            events = {(r[0], r[1]) for r in await conn.execute(
                sa.select(schema.session_events.c.session_id, schema.session_events.c.event_sequence))}
    finally:
        await engine.dispose()
    return Acknowledged(decisions, feedback, events)


def lost_writes(acknowledged: Acknowledged, stored: Acknowledged) -> dict[str, int]:
    return {"decisions": len(acknowledged.decisions - stored.decisions),
            "feedback": len(acknowledged.feedback - stored.feedback),
            "session_events": len(acknowledged.session_events - stored.session_events)}


# --- soak --------------------------------------------------------------------------------------------------------


async def soak(settings: Settings, minutes: float, concurrency: int, backend: str, database: str,
               max_growth_mib: float, report_every_s: float = 60.0) -> dict:
    """The mixed load on one gateway for ``minutes``; a row per ``report_every_s``. Memory is judged flat when the
    last row's resident memory is within ``max_growth_mib`` of the first row's (the first minute warms caches)."""
    from infogap_server.bench import start_gateway

    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="infogap-soak-"))
        overrides: dict[str, object] = {"backend": backend, "data_dir": data_dir, "log_level": "INFO"}
        if database == "postgresql":
            from infogap_server.local_postgres import LocalPostgres

            postgres = stack.enter_context(LocalPostgres())
            overrides["database_url"] = postgres.url
        gateway = await start_gateway(settings, **overrides)
        stack.callback(gateway.stop)
        load = ContactLoad(lambda: f"127.0.0.1:{gateway.port}", concurrency)
        started = time.monotonic()
        until = started + minutes * 60
        runner = asyncio.ensure_future(load.run(until))
        rows = []
        print(f"soak: {minutes:g} min of contacts from {concurrency} callers on the {backend} backend, {database} "
              f"store; a row every {report_every_s:g} s", flush=True)
        print(f"{'min':>5} {'contacts/s':>10} {'calls/s':>8} {'rss MiB':>8}  p50/p99 ms by RPC, failures by code",
              flush=True)
        mark = started
        while not runner.done():
            await asyncio.wait({runner}, timeout=max(0.0, mark + report_every_s - time.monotonic()))
            now = time.monotonic()
            if now - mark < report_every_s * 0.5 and runner.done():
                break
            window = load.take_window().summary(now - mark)
            window["minute"] = round((now - started) / 60, 2)
            window["rss_mib"] = round(gateway.rss_mib(), 1)
            rows.append(window)
            mark = now
            latency = " ".join(f"{rpc} {r['p50_ms']}/{r['p99_ms']}" for rpc, r in window["rpcs"].items())
            failures = {f"{rpc}:{c}": n for rpc, r in window["rpcs"].items() for c, n in r["failed"].items()}
            print(f"{window['minute']:>5.1f} {window['contacts_per_s']:>10.1f} {window['calls_per_s']:>8.1f} "
                  f"{window['rss_mib']:>8.1f}  {latency}  {failures or 'no failures'}", flush=True)
        await runner
        await load.close()
        stored = await stored_writes(Settings(data_dir=data_dir, database_url=overrides.get("database_url"))
                                     .store_url)
    total = load.total.summary(time.monotonic() - started)
    growth = rows[-1]["rss_mib"] - rows[0]["rss_mib"] if rows else 0.0
    lost = lost_writes(load.acknowledged, stored)
    failures = {f"{rpc}:{c}": n for rpc, r in total["rpcs"].items() for c, n in r["failed"].items()}
    result = {"minutes": minutes, "concurrency": concurrency, "backend": backend, "database": database,
              "rows": rows, "total": total, "rss_growth_mib": round(growth, 1), "max_growth_mib": max_growth_mib,
              "memory_flat": growth <= max_growth_mib, "acknowledged_writes": load.acknowledged.total(),
              "lost": lost, "failures": failures}
    print(f"soak: {total['contacts']} contacts ({total['contacts_per_s']}/s), failures {failures or 'none'}; "
          f"memory {rows[0]['rss_mib'] if rows else '-'} -> {rows[-1]['rss_mib'] if rows else '-'} MiB "
          f"({growth:+.1f}, limit {max_growth_mib:g}); acknowledged writes {load.acknowledged.total()}, lost {lost}",
          flush=True)
    return result


# --- faults ------------------------------------------------------------------------------------------------------


@dataclass
class FaultResult:
    fault: str
    answered: int
    failed: dict[str, int]
    acknowledged_writes: int
    lost: dict[str, int]
    per_rpc: dict
    recovered: bool
    notes: str = ""

    @property
    def unclear_failures(self) -> dict[str, int]:
        return {k: n for k, n in self.failed.items() if k.split(":")[1] not in RETRYABLE}

    @property
    def ok(self) -> bool:
        return not sum(self.lost.values()) and not self.unclear_failures and self.recovered


def _fault_result(fault: str, load: ContactLoad, stored: Acknowledged, after: Window, notes: str) -> FaultResult:
    total = load.total.summary(1.0)
    failed = {f"{rpc}:{c}": n for rpc, r in total["rpcs"].items() for c, n in r["failed"].items()}
    # Recovered: after the fault every RPC was answered OK again.
    recovered = all(after.calls.get((rpc, "OK"), 0) > 0 for rpc in RPCS)
    return FaultResult(fault, sum(r["ok"] for r in total["rpcs"].values()), failed, load.acknowledged.total(),
                       lost_writes(load.acknowledged, stored), total["rpcs"], recovered, notes)


async def _run_load(load: ContactLoad, before_s: float, fault, after_s: float) -> Window:
    until_box: dict[str, float] = {}

    def over() -> bool:
        return time.monotonic() >= until_box.get("until", float("inf"))

    runner = asyncio.ensure_future(asyncio.gather(*(load.caller(over) for _ in range(load.concurrency))))
    try:
        await asyncio.sleep(before_s)
        await fault()
        load.take_window()
        await asyncio.sleep(after_s)
    except BaseException:  # the fault itself failed: stop the callers rather than leave them running
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        raise
    until_box["until"] = time.monotonic()
    await runner
    return load.take_window()


async def fault_gateway_kill(settings: Settings, concurrency: int, before_s: float, after_s: float,
                             database_url: str | None) -> FaultResult:
    """SIGKILL of the gateway under the load; a new gateway on the same port and store takes over."""
    from infogap_server.bench import _free_port, start_gateway

    with tempfile.TemporaryDirectory(prefix="infogap-faults-") as data_dir:
        port = _free_port()
        common = {"data_dir": data_dir, "database_url": database_url, "port": port}
        gateways = [await start_gateway(settings, **common)]
        load = ContactLoad(lambda: f"127.0.0.1:{port}", concurrency)

        async def kill_and_restart() -> None:
            gateways[0].signal(signal.SIGKILL)
            await asyncio.to_thread(gateways[0].wait, 10)
            gateways.append(await start_gateway(settings, **common))

        try:
            after = await _run_load(load, before_s, kill_and_restart, after_s)
        finally:
            await load.close()
            for gateway in gateways:
                gateway.stop()
        stored = await stored_writes(Settings(data_dir=data_dir, database_url=database_url).store_url)
    return _fault_result("gateway SIGKILL", load, stored, after,
                         f"restart took {gateways[-1].startup_s:.1f} s" if len(gateways) > 1 else "")


async def _restart_under_load(what: str, gateway, stop, start, store_url: str, concurrency: int, before_s: float,
                              after_s: float) -> FaultResult:
    """``stop()`` then ``start()`` (blocking calls) of a dependency of ``gateway`` under the contact load; the gateway
    stays up. Stops the gateway afterwards and counts what the store at ``store_url`` lost."""
    load = ContactLoad(lambda: f"127.0.0.1:{gateway.port}", concurrency)
    outage: dict[str, float] = {}

    async def restart() -> None:
        started = time.monotonic()
        await asyncio.to_thread(stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(start)
        outage["s"] = time.monotonic() - started

    try:
        after = await _run_load(load, before_s, restart, after_s)
    finally:
        await load.close()
        gateway.stop()
    stored = await stored_writes(store_url)
    return _fault_result(f"{what} restart", load, stored, after, f"{what} down {outage.get('s', 0):.1f} s")


async def fault_triton_restart(settings: Settings, concurrency: int, before_s: float, after_s: float,
                               database_url: str | None) -> FaultResult:
    """Triton stopped and started again under the load; the gateway stays up."""
    from infogap_server.bench import start_gateway
    from infogap_server.triton.local import LocalTriton

    with tempfile.TemporaryDirectory(prefix="infogap-faults-") as data_dir, \
            LocalTriton(settings.model_repository) as triton:
        triton.start()
        gateway = await start_gateway(settings, backend="triton", triton_address=triton.grpc_address,
                                      data_dir=data_dir, database_url=database_url, readiness_poll_interval_s=0.2)
        return await _restart_under_load("Triton", gateway, triton.stop, triton.start,
                                         Settings(data_dir=data_dir, database_url=database_url).store_url,
                                         concurrency, before_s, after_s)


async def fault_postgres_restart(settings: Settings, concurrency: int, before_s: float, after_s: float,
                                 postgres) -> FaultResult:
    """PostgreSQL stopped (fast shutdown) and started again under the load; the gateway stays up."""
    from infogap_server.bench import start_gateway

    database = f"faults_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(database)
    with tempfile.TemporaryDirectory(prefix="infogap-faults-") as data_dir:
        gateway = await start_gateway(settings, data_dir=data_dir, database_url=url)
        return await _restart_under_load("PostgreSQL", gateway, lambda: postgres.stop("fast"), postgres.start, url,
                                         concurrency, before_s, after_s)


async def faults(settings: Settings, which: list[str], concurrency: int, before_s: float, after_s: float) -> list:
    """The faults in ``which`` (gateway-kill, triton-restart, postgres-restart), each under its own load."""
    from infogap_server.local_postgres import LocalPostgres

    results: list[FaultResult] = []
    with LocalPostgres() as postgres:
        for fault in which:
            if fault == "gateway-kill":
                results.append(await fault_gateway_kill(settings, concurrency, before_s, after_s,
                                                        postgres.create_database(f"kill_{uuid.uuid4().hex[:8]}")))
            elif fault == "triton-restart":
                results.append(await fault_triton_restart(settings, concurrency, before_s, after_s, None))
            elif fault == "postgres-restart":
                results.append(await fault_postgres_restart(settings, concurrency, before_s, after_s, postgres))
            else:
                raise ValueError(f"unknown fault {fault!r}")
            print_fault(results[-1])
    return results


def print_fault(r: FaultResult) -> None:
    failed = ", ".join(f"{k} {n}" for k, n in sorted(r.failed.items())) or "none"
    print(f"{r.fault}: answered {r.answered}, failed {sum(r.failed.values())} ({failed}), acknowledged writes "
          f"{r.acknowledged_writes}, lost {sum(r.lost.values())} {r.lost}; recovered {r.recovered}"
          f"{'; ' + r.notes if r.notes else ''}{'' if r.ok else '  <- NOT OK'}", flush=True)


def write_json(path: Path, report: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=lambda o: o.__dict__), encoding="utf-8")


def soak_main(args) -> int:
    """``infogap soak``: exit 0 when memory stayed flat, nothing acknowledged was lost and no call failed."""
    settings = Settings()
    result = asyncio.run(soak(settings, args.minutes, args.concurrency, args.backend, args.database,
                              args.max_growth_mib, args.report_every_s))
    out = Path(args.out) / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(out, result)
    print(f"wrote {out}", flush=True)
    return 0 if result["memory_flat"] and not sum(result["lost"].values()) and not result["failures"] else 1


def faults_main(args) -> int:
    """``infogap faults``: exit 0 when, after every fault, nothing acknowledged was lost, every failure carried a
    code a caller retries on, and every RPC was answered OK again."""
    settings = Settings()
    results = asyncio.run(faults(settings, args.faults.split(","), args.concurrency, args.before_s, args.after_s))
    out = Path(args.out) / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(out, [r.__dict__ for r in results])
    print(f"wrote {out}", flush=True)
    return 0 if all(r.ok for r in results) else 1
