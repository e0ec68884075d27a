"""``infogap bench``: how fast IdentifyNeeds is, against the physical limit, all paths in one run.

Same machine, same model, same messages (the project's hand-written test set: varied lengths):

a. the model alone: ONNX Runtime on pre-tokenized batches, at each batch size; the best is this machine's limit;
b. IdentifyNeeds end to end through the gateway (a separate ``infogap serve`` process) on the embedded backend;
c. IdentifyNeeds through the gateway and a real Triton, and Triton called directly with tritonclient.

The behaviour path measures churn scoring the same way: the behaviour model alone on the test period's customer
histories, GetCustomerProfile on those customers with and without the model (alternated), and the latency a history
adds to IdentifyNeeds (one caller, with and without a history in turn).

For each: requests/s, p50/p95/p99 latency, mean batch size and CPU use; then the ratios b/a and
gateway-over-Triton against Triton direct, and a latency-against-offered-load sweep (open loop, Poisson
arrivals) drawn as a PNG. Load generators run in this process and share the machine with the servers, as a
caller on the same host would; ratios from one run are the figures to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from infogap_server.models.repository import CARD_FILE, TextModelInfo, model_file, resolve_version, version_dir
from infogap_server.models.tensors import ASPECTS, TEXT_INPUTS, TEXT_OUTPUTS
from infogap_server.server_process import ServerProcess
from infogap_server.services.text_model import pad_batch, plan_runs
from infogap_server.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their children (Triton's backend stubs are children)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class LoadResult:
    path: str
    concurrency: int | None
    offered_rps: float | None
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    mean_batch_size: float | None = None
    batch_sizes: dict[int, int] | None = None
    server_cpu_cores: float | None = None

    def row(self) -> str:
        batch = f"{self.mean_batch_size:.1f}" if self.mean_batch_size else "-"
        cpu = f"{self.server_cpu_cores:.2f}" if self.server_cpu_cores is not None else "-"
        return (f"{self.path:<28} {self.requests_per_s:>9.1f} {self.p50_ms:>8.1f} {self.p95_ms:>8.1f} "
                f"{self.p99_ms:>8.1f} {batch:>6} {cpu:>6} {sum(self.errors.values()):>6}")


def _summary(path: str, latencies: list[float], errors: dict[str, int], duration_s: float,
             concurrency: int | None = None, offered: float | None = None) -> LoadResult:
    lat = np.array(latencies or [float("nan")]) * 1e3
    return LoadResult(
        path=path, concurrency=concurrency, offered_rps=offered, duration_s=duration_s, requests=len(latencies),
        requests_per_s=round(len(latencies) / duration_s, 1),
        p50_ms=round(float(np.percentile(lat, 50)), 2), p95_ms=round(float(np.percentile(lat, 95)), 2),
        p99_ms=round(float(np.percentile(lat, 99)), 2), errors=errors,
    )


def _error_kind(exc: BaseException) -> str:
    """A gRPC status code name where there is one, else the exception's type."""
    code = getattr(exc, "code", None)
    if callable(code):
        code = code()
    return getattr(code, "name", None) or type(exc).__name__


async def closed_loop(call, texts: list[str], concurrency: int, duration_s: float, warmup_s: float):
    """``concurrency`` callers, each sending its next request when the last is answered."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup_s, start + warmup_s + duration_s

    async def caller(worker: int) -> None:
        i = worker
        while (t0 := time.perf_counter()) < stop_at:
            try:
                await call(texts[i % len(texts)])
                if t0 >= measure_from:
                    latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # counted, not raised: a benchmark reports errors
                kind = _error_kind(exc)
                errors[kind] = errors.get(kind, 0) + 1
            i += concurrency

    await asyncio.gather(*(caller(w) for w in range(concurrency)))
    return latencies, errors


async def open_loop(call, texts: list[str], rate_per_s: float, duration_s: float, seed: int = 0):
    """Poisson arrivals at ``rate_per_s`` for ``duration_s``, whatever the server's speed (bounded in count)."""
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    tasks = []

    async def one(text: str) -> None:
        t0 = time.perf_counter()
        try:
            await call(text)
            latencies.append(time.perf_counter() - t0)
        except Exception as exc:
            kind = _error_kind(exc)
            errors[kind] = errors.get(kind, 0) + 1

    start = time.perf_counter()
    next_at, i = start, 0
    while next_at < start + duration_s and i < int(rate_per_s * duration_s * 2) + 10:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(texts[i % len(texts)])))
        i += 1
        next_at += rng.expovariate(rate_per_s)
    await asyncio.gather(*tasks)
    return latencies, errors



def _spinning_sessions(path: str, settings: Settings) -> list:
    """The model in two ONNX Runtime sessions, threads spinning and not: the limit is the better of the two,
    whichever the gateway uses."""
    import onnxruntime as ort

    sessions = []
    for spinning in ("1", "0"):
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        sessions.append(ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]))
    return sessions

def model_alone(settings: Settings, texts: list[str], batch_sizes: tuple[int, ...], seconds_each: float,
                path: Path | None = None) -> dict:
    """ONNX Runtime throughput on pre-tokenized batches of the same messages, per batch size (of the served
    model file, or of ``path``: another precision of the same version)."""
    from tokenizers import Tokenizer

    version = resolve_version(settings.model_repository, settings.text_model, settings.text_model_version)
    info = TextModelInfo.read(settings.model_repository, settings.text_model, version)
    tok = Tokenizer.from_file(str(info.tokenizer_path))
    tok.enable_truncation(max_length=min(settings.max_sequence_tokens, info.max_sequence_tokens))
    tok.no_padding()
    path = str(path or model_file(settings.model_repository, settings.text_model, version))
    sessions = _spinning_sessions(path, settings)
    overhead = settings.run_overhead_tokens
    rng = random.Random(1)
    results: dict[str, dict[int, float]] = {"padded": {}, "length_aware": {}}
    for size in batch_sizes:
        samples = [rng.sample(texts, size) if size <= len(texts) else rng.choices(texts, k=size) for _ in range(16)]
        ids = [[e.ids for e in tok.encode_batch(sample)] for sample in samples]
        plans = {
            "padded": [[pad_batch(batch)] for batch in ids],
            "length_aware": [
                [pad_batch([batch[i] for i in run]) for run in plan_runs([len(x) for x in batch], overhead)]
                for batch in ids
            ],
        }
        for kind, batches in plans.items():
            for session in sessions:
                for run in batches[0]:
                    session.run(None, run)
                done, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds_each / 2:
                    for run in batches[done % len(batches)]:
                        session.run(None, run)
                    done += 1
                rate = round(done * size / (time.perf_counter() - started), 1)
                results[kind][size] = max(results[kind].get(size, 0.0), rate)
    return results


def quantization_speed(settings: Settings, texts: list[str], seconds_each: float) -> dict:
    """Model-alone throughput of the served version in fp32 and in int8 (the build keeps both beside the model
    repository), with what the build measured of their accuracy: the speed int8 would buy, and what it costs."""
    from infogap_server.training.build import fp32_path

    version = resolve_version(settings.model_repository, settings.text_model, settings.text_model_version)
    card = json.loads((version_dir(settings.model_repository, settings.text_model, version) / CARD_FILE)
                      .read_text(encoding="utf-8"))
    folder = fp32_path(settings.model_repository, version, settings.text_model).parent
    files = {"fp32": folder / "model.fp32.onnx", "int8": folder / "model.int8.onnx"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        print(f"quantization: skipped, the build's files are missing: {', '.join(missing)}", flush=True)
        return {"skipped": f"missing {', '.join(missing)}"}
    speed = {name: model_alone(settings, texts, (1, 32), seconds_each, path)["length_aware"]
             for name, path in files.items()}
    quant = card.get("quantization", {})
    report = {"served": quant.get("served", "int8"), "why": quant.get("why"),
              "sequences_per_s": speed,
              "int8_speedup": {b: round(speed["int8"][b] / speed["fp32"][b], 2) for b in speed["fp32"]},
              "validation_top1_fp32": quant.get("fp32"), "int8_candidates": quant.get("candidates")}
    for b, ratio in report["int8_speedup"].items():
        print(f"q. batch {b}: fp32 {speed['fp32'][b]} seq/s, int8 {speed['int8'][b]} seq/s: int8/fp32 {ratio}x",
              flush=True)
    print(f"q. serves {report['served']}: {report['why']}", flush=True)
    return report


class GatewayProcess(ServerProcess):
    """``infogap serve`` in its own process, as in production, with what the benchmark reads of it."""

    startup_s: float | None = None

    def batch_stats(self) -> tuple[float, float]:
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        count = re.search(r"^infogap_batch_size_count\{model=\"infogap_text\"\} (\S+)$", body, re.M)
        total = re.search(r"^infogap_batch_size_sum\{model=\"infogap_text\"\} (\S+)$", body, re.M)
        return (float(count.group(1)), float(total.group(1))) if count and total else (0.0, 0.0)

    def rss_mib(self) -> float:
        """Resident memory of the gateway and its worker processes."""
        import psutil

        root = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            self.wait(30)
        self.kill()


async def start_gateway(settings: Settings, **overrides: object) -> GatewayProcess:
    """A gateway process with these settings (INFOGAP_* names in lower case), once it serves. Several workers need a
    fixed port; one worker gets a free one."""
    overrides.setdefault("port", _free_port() if overrides.get("workers", 1) != 1 else 0)
    gateway = GatewayProcess(settings.model_repository, **overrides)
    started = time.perf_counter()
    await asyncio.to_thread(gateway.start, 180.0)
    gateway.startup_s = time.perf_counter() - started
    return gateway


def _triton_batches(stats: dict) -> dict[int, int]:
    rows = stats["model_stats"][0].get("batch_stats", []) if stats.get("model_stats") else []
    return {int(r["batch_size"]): int(r["compute_infer"]["count"]) for r in rows}


def pattern_passes(max_chars: int, repeats: int = 3) -> dict:
    """The slowest pass of each pattern applied to caller text over ``max_chars`` characters of adversarial text
    (best of ``repeats``, in ms), and the slowest whole text analysis (entities and urgency)."""
    from infogap_server.services import needs  # noqa: F401  (registers the request patterns)
    from infogap_server.services.entities import extract_entities
    from infogap_server.services.patterns import PATTERNS, adversarial_texts
    from infogap_server.services.urgency import assess_urgency

    def best_ms(fn) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times) * 1e3

    texts = adversarial_texts(max_chars)
    per_pattern = {}
    for name, pattern in PATTERNS.items():
        ms, text = max((best_ms(lambda t=t, p=pattern: sum(1 for _ in p.finditer(t))), n) for n, t in texts.items())
        per_pattern[name] = {"ms": round(ms, 3), "text": text}
    analysis_ms, analysis_text = max(
        (best_ms(lambda t=t: (extract_entities(t), assess_urgency(t, 0.5))), n) for n, t in texts.items()
    )
    slowest = max(per_pattern, key=lambda n: per_pattern[n]["ms"])
    return {"chars": max_chars, "texts": len(texts), "per_pattern": per_pattern, "slowest_pattern": slowest,
            "slowest_pattern_ms": per_pattern[slowest]["ms"], "text_analysis_ms": round(analysis_ms, 3),
            "text_analysis_text": analysis_text}


async def overload(call, texts: list[str], in_flight: int, deadline_s: float, duration_s: float) -> dict:
    """Sustained overload: ``in_flight`` callers, each sending again as soon as it is answered, every call with a
    ``deadline_s`` deadline. Returns the share of each outcome and its latency (p50/p99 ms)."""
    latencies: dict[str, list[float]] = {}
    stop_at = time.perf_counter() + duration_s

    async def caller(worker: int) -> None:
        i = worker
        while (t0 := time.perf_counter()) < stop_at:
            try:
                await call(texts[i % len(texts)], deadline_s)
                kind = "OK"
            except Exception as exc:  # counted: the outcomes are the measurement
                kind = _error_kind(exc)
            latencies.setdefault(kind, []).append(time.perf_counter() - t0)
            i += in_flight

    await asyncio.gather(*(caller(w) for w in range(in_flight)))
    total = sum(len(v) for v in latencies.values())
    outcomes = {}
    for kind, values in sorted(latencies.items()):
        ms = np.array(values) * 1e3
        outcomes[kind] = {"calls": len(values), "share": round(len(values) / total, 4),
                          "p50_ms": round(float(np.percentile(ms, 50)), 1),
                          "p99_ms": round(float(np.percentile(ms, 99)), 1)}
    return {"in_flight": in_flight, "deadline_s": deadline_s, "duration_s": duration_s, "calls": total,
            "outcomes": outcomes}


def h2load_overload(port: int, metrics_port: int, text: str, in_flight: int, deadline_s: float,
                    duration_s: float, connections: int = 4) -> dict | None:
    """The same overload from h2load (a C HTTP/2 load generator: no Python client lag in the latencies), with the
    outcome of each call: refused by the transport (h2load sees the stream reset), or answered, split by the
    gateway's own counts per status code. None when h2load is not installed."""
    import shutil
    import struct
    import tempfile

    from infogap.v1 import infogap_pb2 as pb

    if shutil.which("h2load") is None:
        return None
    body = pb.IdentifyNeedsRequest(text=text).SerializeToString()

    def counts() -> dict[str, float]:
        raw = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        found = re.findall(r'^infogap_requests_total\{code="(\w+)",method="IdentifyNeeds"\} (\S+)$', raw, re.M)
        return {code: float(n) for code, n in found}

    with tempfile.TemporaryDirectory() as tmp:
        frame, log = Path(tmp) / "request.bin", Path(tmp) / "requests.log"
        frame.write_bytes(b"\x00" + struct.pack(">I", len(body)) + body)  # gRPC framing: uncompressed, length
        before = counts()
        subprocess.run(
            ["h2load", "-D", str(int(duration_s)), "-c", str(connections), "-m", str(in_flight // connections),
             "-d", str(frame), "--log-file", str(log), "-H", "content-type: application/grpc", "-H", "te: trailers",
             "-H", f"grpc-timeout: {int(deadline_s * 1000)}m",
             f"http://127.0.0.1:{port}/infogap.v1.InfoGap/IdentifyNeeds"],
            check=True, capture_output=True,
        )
        after = counts()
        rows = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") == 2]
    refused = np.array([int(d) for _, status, d in rows if status != "200"]) / 1e3
    answered = np.array([int(d) for _, status, d in rows if status == "200"]) / 1e3
    total = len(rows)
    codes = {code: int(after.get(code, 0) - before.get(code, 0)) for code in after}
    codes = {code: n for code, n in codes.items() if n}
    # Answered by gRPC itself without reaching the gateway's handler: the deadline passed while the call waited.
    codes["DEADLINE_EXCEEDED_BEFORE_HANDLER"] = max(0, len(answered) - sum(codes.values()))

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 1) if len(values) else None

    return {"calls": total, "calls_per_s": round(total / duration_s, 1),
            "refused_by_transport": {"share": round(len(refused) / total, 4), "p50_ms": pct(refused, 50),
                                     "p99_ms": pct(refused, 99)},
            "answered": {"share": round(len(answered) / total, 4), "p50_ms": pct(answered, 50),
                         "p99_ms": pct(answered, 99),
                         "share_by_code": {c: round(n / total, 4) for c, n in sorted(codes.items())}}}


async def run(args) -> dict:
    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc

    from infogap_server.training.build import DEFAULT_TEST, read_corpus

    settings = Settings()
    texts = [e.text for e in read_corpus(DEFAULT_TEST)]
    random.Random(0).shuffle(texts)
    paths = set(args.paths.split(","))
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                    "messages": len(texts), "concurrency": args.concurrency, "duration_s": args.duration_s}
    loads: list[LoadResult] = []
    print(f"messages: {len(texts)} hand-written test messages, {args.concurrency} concurrent callers, "
          f"{args.duration_s:.0f}s per path", flush=True)

    if "patterns" in paths:  # linear-time patterns: the worst pass over max_text_chars of adversarial text
        passes = pattern_passes(settings.max_text_chars)
        report["patterns"] = passes
        print(f"patterns: slowest pass over {passes['chars']} characters of adversarial text "
              f"({passes['texts']} texts x {len(passes['per_pattern'])} patterns): {passes['slowest_pattern_ms']} ms "
              f"({passes['slowest_pattern']}); whole entity and urgency analysis at most "
              f"{passes['text_analysis_ms']} ms", flush=True)

    if "model" in paths:
        per_batch = model_alone(settings, texts, (1, 8, 16, 32, 64), args.model_seconds)
        kind, best = max(((k, b) for k in per_batch for b in per_batch[k]), key=lambda kb: per_batch[kb[0]][kb[1]])
        report["model_alone"] = {"sequences_per_s_by_batch": per_batch, "best_batch": best, "best_batching": kind,
                                 "best_sequences_per_s": per_batch[kind][best]}
        for k, rates in per_batch.items():
            print(f"a. model alone, {k} batches (ONNX Runtime seq/s by batch size): {rates}", flush=True)
        print(f"a. model alone: best {per_batch[kind][best]} seq/s ({kind}, batch {best})", flush=True)

    if "quantization" in paths:  # the served version's fp32 and int8 files, same messages, same run
        report["quantization"] = quantization_speed(settings, texts, args.model_seconds)

    async def triton_batches_around(client, measure):
        """Run ``measure()``; return its result and the batch sizes Triton formed meanwhile."""
        before = _triton_batches(await client.get_inference_statistics(settings.text_model, as_json=True))
        result = await measure()
        after = _triton_batches(await client.get_inference_statistics(settings.text_model, as_json=True))
        return result, {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0) > 0}

    def set_batches(result: LoadResult, formed: dict[int, int]) -> None:
        n = sum(formed.values())
        result.batch_sizes = formed
        result.mean_batch_size = round(sum(k * v for k, v in formed.items()) / n, 2) if n else None

    async def measured(name: str, call, pids: list[int], concurrency: int, duration_s: float, triton_client=None,
                       gateway: GatewayProcess | None = None) -> LoadResult:
        """Warm up, then a closed loop with CPU, batch sizes (gateway metrics or Triton statistics) and latency."""
        await closed_loop(call, texts, concurrency, 2.0, 0.0)
        b0 = gateway.batch_stats() if gateway else (0.0, 0.0)
        cpu0, t0 = _process_tree_cpu_s(pids), time.perf_counter()

        async def measure():
            return await closed_loop(call, texts, concurrency, duration_s, 0.0)

        if triton_client is not None:
            (lat, err), formed = await triton_batches_around(triton_client, measure)
        else:
            (lat, err), formed = await measure(), None
        wall = time.perf_counter() - t0
        result = _summary(name, lat, err, duration_s, concurrency=concurrency)
        result.server_cpu_cores = round((_process_tree_cpu_s(pids) - cpu0) / wall, 2)
        if formed is not None:
            set_batches(result, formed)
        elif gateway:
            b1 = gateway.batch_stats()
            if b1[0] > b0[0]:
                result.mean_batch_size = round((b1[1] - b0[1]) / (b1[0] - b0[0]), 2)
        loads.append(result)
        print(result.row(), flush=True)
        return result

    def gateway_call(stub):
        async def call(text: str) -> None:
            await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=30)

        return call

    header = (f"{'path':<28} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'batch':>6} {'cpu':>6} "
              f"{'errors':>6}")
    print(header, flush=True)
    if "embedded" in paths:
        gateway = await start_gateway(settings, backend="embedded")
        report["embedded_gateway"] = {"startup_s": round(gateway.startup_s, 2), "rss_mib": round(gateway.rss_mib(), 1)}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                call = gateway_call(infogap_pb2_grpc.InfoGapStub(channel))
                peak = await measured("b. gateway (embedded)", call, [gateway.process.pid], args.concurrency,
                                      args.duration_s, gateway=gateway)
                for fraction in args.sweep:
                    rate = peak.requests_per_s * fraction
                    lat, err = await open_loop(call, texts, rate, args.sweep_seconds)
                    point = _summary(f"b. embedded @{fraction:.0%} of peak", lat, err, args.sweep_seconds,
                                     offered=rate)
                    loads.append(point)
                    print(point.row(), flush=True)
        finally:
            gateway.stop()

    if "overload" in paths:  # far more calls than the server can answer in time: rejected fast, none cancelled
        gateway = await start_gateway(settings, backend="embedded")
        try:
            channels = [grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}",
                                                  options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(4)]
            stubs = [infogap_pb2_grpc.InfoGapStub(c) for c in channels]
            turn = iter(range(10**9))

            async def with_deadline(text: str, deadline_s: float, stubs=stubs, turn=turn) -> None:
                stub = stubs[next(turn) % len(stubs)]
                await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=deadline_s)

            result = await overload(with_deadline, texts, args.overload_in_flight, args.overload_deadline_s,
                                    args.overload_seconds)
            for channel in channels:
                await channel.close()
            c_client = await asyncio.to_thread(
                h2load_overload, gateway.port, gateway.metrics_port, texts[0], args.overload_in_flight,
                args.overload_deadline_s, args.overload_seconds)
        finally:
            gateway.stop()
        report["overload"] = {"python_client": result, "h2load": c_client}
        print(f"overload: {result['in_flight']} calls in flight, {result['deadline_s']} s deadlines, "
              f"{result['duration_s']:.0f} s each", flush=True)
        print(f"  Python grpc.aio client (its own loop lag is in these latencies): {result['calls']} calls",
              flush=True)
        for kind, o in result["outcomes"].items():
            print(f"    {kind:<20} {o['share']:>7.1%} of calls  p50 {o['p50_ms']:>8.1f} ms  p99 {o['p99_ms']:>8.1f} ms",
                  flush=True)
        if c_client:
            r, a = c_client["refused_by_transport"], c_client["answered"]
            print(f"  h2load: {c_client['calls']} calls ({c_client['calls_per_s']}/s)", flush=True)
            print(f"    refused by the transport (UNAVAILABLE) {r['share']:>7.1%}  p50 {r['p50_ms']} ms  "
                  f"p99 {r['p99_ms']} ms", flush=True)
            print(f"    answered by the gateway              {a['share']:>7.1%}  p50 {a['p50_ms']} ms  "
                  f"p99 {a['p99_ms']} ms", flush=True)
            for code, share in a["share_by_code"].items():
                print(f"      {code:<34} {share:>7.1%} of calls", flush=True)
        else:
            print("  h2load not installed (apt-get install nghttp2-client): C-client figures skipped", flush=True)

    if "workers" in paths:  # 1 vs 2 gateway processes on the embedded backend
        for workers in (1, 2):
            gateway = await start_gateway(settings, backend="embedded", workers=workers)
            await asyncio.sleep(1.0)  # every worker warmed up, not only the first to answer health
            report[f"embedded_{workers}_workers_rss_mib"] = round(gateway.rss_mib(), 1)
            try:
                # One channel per caller, so that connections (and calls) spread over the workers.
                channels = [grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}",
                                                      options=[("grpc.use_local_subchannel_pool", 1)])
                            for _ in range(args.concurrency)]
                stubs = [infogap_pb2_grpc.InfoGapStub(c) for c in channels]
                turn = iter(range(10**9))

                async def spread(text: str, stubs=stubs, turn=turn) -> None:
                    await stubs[next(turn) % len(stubs)].IdentifyNeeds(pb.IdentifyNeedsRequest(text=text), timeout=30)

                await measured(f"b. embedded, {workers} worker(s)", spread, [gateway.process.pid], args.concurrency,
                               args.duration_s)
                for channel in channels:
                    await channel.close()
            finally:
                gateway.stop()
        one, two = report["embedded_1_workers_rss_mib"], report["embedded_2_workers_rss_mib"]
        print(f"gateway resident memory: {one:.0f} MiB with 1 worker, {two:.0f} MiB with 2 "
              f"({two - one:.0f} MiB per extra worker)", flush=True)

    if "floor" in paths:  # the no-op gateway against a bare grpc.aio server: calls per server CPU-second, all four jobs
        from infogap_server.bench_floor import floor_path

        report["floor"] = await floor_path(settings, args)

    if "tail" in paths:  # every job at 70% of its peak on the embedded gateway: p99 against p50
        from infogap_server.bench_floor import tail_path

        report["tail"] = await tail_path(settings, args, texts)

    if "noop" in paths:  # the gateway alone: gRPC, validation, tokenization, batching, conversion; no model
        gateway = await start_gateway(settings, backend="noop", intra_op_threads=1)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                call = gateway_call(infogap_pb2_grpc.InfoGapStub(channel))
                noop = await measured("gateway, no-op backend", call, [gateway.process.pid], args.concurrency,
                                      args.duration_s, gateway=gateway)
            if noop.server_cpu_cores:
                report["noop_calls_per_s_per_server_core"] = round(noop.requests_per_s / noop.server_cpu_cores, 1)
                print(f"no-op gateway: {report['noop_calls_per_s_per_server_core']} calls/s per core of the "
                      f"gateway process ({noop.server_cpu_cores} cores busy)", flush=True)
        finally:
            gateway.stop()

    if "store" in paths:  # the customer store: RecordEvents ingest and GetCustomerProfile, SQLite and PostgreSQL
        report["store"] = await store_paths(settings, args, measured)

    if "insights" in paths:  # GetInsights over 100,000 feedback rows loaded into the store, SQLite and PostgreSQL
        report["insights"] = await insights_paths(settings, args, loads)

    if "alerts" in paths:  # WatchAlerts' rule: delay to a planted spike, false alerts on steady traffic
        from infogap_server.bench_alerts import alerts_path

        report["alerts"] = await alerts_path(settings, args, bench_databases)

    if "behaviour" in paths:  # churn scoring: the behaviour model alone, in GetCustomerProfile, in IdentifyNeeds
        report["behaviour"] = await behaviour_paths(settings, args, texts, loads)

    if "recommend-speed" in paths:  # Recommend through a gateway at the bench's concurrency: intent given, and text
        from infogap_server.learning.bench_recommend import recommend_speed_path

        report["recommend_speed"] = await recommend_speed_path(settings, args, texts, measured)

    if "open-bandit" in paths:  # the bandit learner on real logged recommendations, against random and Thompson
        report["open_bandit"] = await asyncio.to_thread(open_bandit_path, args)

    if "recommend-sim" in paths:  # SIMULATION: the learned ranking against the prior and random, by feedbacks
        from infogap_server.learning.bench_recommend import recommend_sim_path

        report["recommend_sim"] = await asyncio.to_thread(recommend_sim_path, args)

    if "session-load" in paths:  # TrackSession: many concurrent sessions on one gateway, with and without text
        from infogap_server.bench_tracking import session_load_path

        report["session_load"] = await session_load_path(settings, args, texts)

    if "session-sim" in paths:  # SIMULATION: the learned next best action against the playbook and random
        from infogap_server.learning.bench_sessions import session_sim_path

        report["session_sim"] = await asyncio.to_thread(session_sim_path, args)

    if "triton" in paths:
        import tritonclient.grpc.aio as triton_grpc
        from tokenizers import Tokenizer

        from infogap_server.triton.local import LocalTriton

        triton = LocalTriton(settings.model_repository).start()
        try:
            gateway = await start_gateway(settings, backend="triton",
                                          triton_address=triton.grpc_address)
            client = triton_grpc.InferenceServerClient(triton.grpc_address)
            try:
                version = resolve_version(settings.model_repository, settings.text_model, settings.text_model_version)
                info = TextModelInfo.read(settings.model_repository, settings.text_model, version)
                tok = Tokenizer.from_file(str(info.tokenizer_path))
                tok.enable_truncation(max_length=min(settings.max_sequence_tokens, info.max_sequence_tokens))
                tok.enable_padding(pad_id=0, pad_token="[PAD]",
                                   pad_to_multiple_of=settings.triton_sequence_bucket_tokens)
                outputs = [triton_grpc.InferRequestedOutput(n) for n in TEXT_OUTPUTS]

                async def direct(text: str) -> None:
                    enc = tok.encode(text)  # the same tokenization and padding bucket as the gateway's
                    inputs = []
                    for name, values in zip(TEXT_INPUTS, (enc.ids, enc.attention_mask), strict=True):
                        array = np.array([values], dtype=np.int64)
                        tensor = triton_grpc.InferInput(name, list(array.shape), "INT64")
                        tensor.set_data_from_numpy(array)
                        inputs.append(tensor)
                    await client.infer(settings.text_model, inputs, outputs=outputs, client_timeout=30)

                async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                    call = gateway_call(infogap_pb2_grpc.InfoGapStub(channel))
                    tpid = triton.process.pid
                    for concurrency, seconds, tag in ((args.concurrency, args.duration_s, ""),
                                                      (1, args.latency_seconds, " x1")):
                        await measured(f"c. gateway -> Triton{tag}", call, [tpid, gateway.process.pid],
                                       concurrency, seconds, triton_client=client)
                        await measured(f"c. Triton direct{tag}", direct, [tpid], concurrency, seconds,
                                       triton_client=client)
            finally:
                await client.close()
                gateway.stop()
        finally:
            triton.close()

    locust = read_locust_summary(Path(args.out) / "locust_stats.csv")
    if locust:
        report["locust"] = locust
        print(f"locust ({locust['file']}, {locust['age_s']:.0f}s old): {locust['requests']} requests, "
              f"{locust['failures']} failures, {locust['requests_per_s']} req/s, p50 {locust['p50_ms']} ms, "
              f"p99 {locust['p99_ms']} ms", flush=True)
    report["loads"] = [asdict(r) for r in loads]
    by_path = {r.path: r for r in loads}
    ratios = {}
    best = report.get("model_alone", {}).get("best_sequences_per_s")
    if best and "b. gateway (embedded)" in by_path:
        embedded = by_path["b. gateway (embedded)"]
        ratios["embedded_gateway_over_model_alone_rps"] = round(embedded.requests_per_s / best, 3)
    w1, w2 = by_path.get("b. embedded, 1 worker(s)"), by_path.get("b. embedded, 2 worker(s)")
    if w1 and w2:
        ratios["two_workers_over_one_rps"] = round(w2.requests_per_s / w1.requests_per_s, 3)
    for tag in ("", " x1"):
        g, d = by_path.get(f"c. gateway -> Triton{tag}"), by_path.get(f"c. Triton direct{tag}")
        if g and d:
            suffix = "_1_caller" if tag else f"_{args.concurrency}_callers"
            ratios[f"triton_gateway_over_direct_rps{suffix}"] = round(g.requests_per_s / d.requests_per_s, 3)
            ratios[f"triton_gateway_added_p50_ms{suffix}"] = round(g.p50_ms - d.p50_ms, 2)
            ratios[f"triton_gateway_added_p99_ms{suffix}"] = round(g.p99_ms - d.p99_ms, 2)
    report["ratios"] = ratios
    print("ratios:", json.dumps(ratios), flush=True)
    return report


def open_bandit_path(args) -> dict:
    """The open-bandit path: the learner trained on the Open Bandit Dataset's uniform-random log and judged off
    policy on the rest (``learning/open_bandit.py``); skipped, with the reason, when the data is not there."""
    from infogap_server.learning.open_bandit import DEFAULT_DATA, data_missing, print_report, run_benchmark

    data = Path(args.open_bandit_data) if args.open_bandit_data else DEFAULT_DATA
    if reason := data_missing(data, args.open_bandit_campaign):
        print(f"open-bandit: skipped: {reason}", flush=True)
        return {"skipped": reason}
    result = run_benchmark(data, campaign=args.open_bandit_campaign, rows=args.open_bandit_rows,
                           resamples=args.open_bandit_resamples)
    print_report(result)
    return result


#: Events per RecordEvents call in the ingest benchmark, and customers they are spread over.
INGEST_BATCH, INGEST_CUSTOMERS = 100, 2000


@contextlib.contextmanager
def bench_databases(path: str, database: str, results: dict):
    """SQLite, and a database in a throwaway PostgreSQL cluster when PostgreSQL is installed (otherwise the reason
    goes into ``results["postgresql"]``): yields ([(name, URL, None for SQLite)], the cluster or None), and removes
    the cluster afterwards."""
    from infogap_server.local_postgres import LocalPostgres
    from infogap_server.local_postgres import available as postgres_missing

    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    postgres = None
    if (reason := postgres_missing()) is None:
        postgres = LocalPostgres()
        postgres.start()
        databases.append(("postgresql", postgres.create_database(database)))
    else:
        results["postgresql"] = {"skipped": reason}
        print(f"{path} on PostgreSQL: skipped ({reason})", flush=True)
    try:
        yield databases, postgres
    finally:
        if postgres is not None:
            postgres.close()


async def store_paths(settings: Settings, args, measured) -> dict:
    """Ingest (events/s through RecordEvents at ``concurrency`` callers) and GetCustomerProfile latency on the
    customers just written, on SQLite and on a throwaway PostgreSQL, each behind a gateway on the no-op backend
    (no model work: the store is what is measured)."""
    import itertools

    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc


    results: dict = {}
    start = time.time() - 300 * 86400
    with bench_databases("store", "bench", results) as (databases, _):
        for name, url in databases:
            gateway = await start_gateway(settings, backend="noop", intra_op_threads=1, database_url=url,
                                          behaviour_model="")  # the store alone: no churn scoring
            counter = itertools.count()
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                    stub = infogap_pb2_grpc.InfoGapStub(channel)

                    async def ingest(_text: str, stub=stub, counter=counter) -> None:
                        b = next(counter)
                        events = []
                        for i in range(b * INGEST_BATCH, (b + 1) * INGEST_BATCH):
                            event = pb.BehaviorEvent(type=pb.BEHAVIOR_EVENT_TYPE_ORDER, amount=5 + i % 97,
                                                     item_count=1 + i % 4)
                            event.time.FromSeconds(int(start + i * 60))
                            events.append(pb.CustomerEvent(customer_id=f"bench-{i % INGEST_CUSTOMERS}",
                                                           event_id=f"e{i}", event=event))
                        response = await stub.RecordEvents(pb.RecordEventsRequest(events=events), timeout=30)
                        if response.stored != INGEST_BATCH:
                            raise RuntimeError(f"stored {response.stored} of {INGEST_BATCH}")

                    rng = random.Random(0)

                    async def profile(_text: str, stub=stub, rng=rng) -> None:
                        customer = f"bench-{rng.randrange(INGEST_CUSTOMERS)}"
                        await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=customer), timeout=30)

                    pids = [gateway.process.pid]
                    ingested = await measured(f"store ingest ({name}, x{INGEST_BATCH})", ingest, pids,
                                              args.concurrency, args.duration_s)
                    profiled = await measured(f"store profile ({name})", profile, pids, args.concurrency,
                                              args.duration_s)
                results[name] = {
                    "ingest_events_per_s": round(ingested.requests_per_s * INGEST_BATCH, 1),
                    "ingest_call_p50_ms": ingested.p50_ms, "ingest_call_p99_ms": ingested.p99_ms,
                    "profile_per_s": profiled.requests_per_s,
                    "profile_p50_ms": profiled.p50_ms, "profile_p99_ms": profiled.p99_ms,
                    "events_stored": next(counter) * INGEST_BATCH, "customers": INGEST_CUSTOMERS,
                }
                print(f"store ({name}): ingest {results[name]['ingest_events_per_s']:,.0f} events/s; profile p50 "
                      f"{profiled.p50_ms} ms, p99 {profiled.p99_ms} ms at {args.concurrency} callers", flush=True)
            finally:
                gateway.stop()
    if "postgresql" in results and "sqlite" in results and "skipped" not in results["postgresql"]:
        results["postgresql_over_sqlite_ingest"] = round(
            results["postgresql"]["ingest_events_per_s"] / results["sqlite"]["ingest_events_per_s"], 3)
    return results


#: The insights path: feedback rows loaded straight into the store (SubmitFeedback takes one call a row), the
#: customers who gave them, the days they cover (up to now), the rows per INSERT, and the issue's target for
#: GetInsights' p99.
INSIGHTS_ROWS, INSIGHTS_CUSTOMERS, INSIGHTS_DAYS, INSIGHTS_CHUNK = 100_000, 20_000, 60, 5000
INSIGHTS_P99_TARGET_MS = 100.0
#: The served text model's intents, most asked first (feedback follows the contact mix).
INSIGHTS_INTENTS = (
    "track_order", "get_refund", "cancel_order", "delivery_period", "track_refund", "change_order", "complaint",
    "payment_issue", "contact_customer_service", "check_refund_policy", "place_order", "change_shipping_address",
    "get_invoice", "check_invoice", "delivery_options", "contact_human_agent", "check_payment_methods",
    "recover_password", "check_cancellation_fee", "edit_account", "registration_problems", "create_account",
    "delete_account", "switch_account", "set_up_shipping_address", "newsletter_subscription", "review",
)
INSIGHTS_SEGMENTS = ("champion", "loyal", "new", "promising", "at_risk", "hibernating", "lost", "prospect", "")
INSIGHTS_PLANS = tuple(f"{tier}-{term}-v{n}" for tier in ("basic", "standard", "premium", "family", "business")
                       for term in ("monthly", "annual") for n in (1, 2, 3))
INSIGHTS_KEYWORDS = tuple(dict.fromkeys("""
    late delayed slow fast quick arrived parcel package courier tracking tracking_number driver delivery shipping
    postage box packaging broken damaged cracked dented scratched torn leaking missing wrong size colour refund
    refunded money back charged twice overcharged invoice bill payment card declined paypal voucher coupon discount
    price expensive cheap return returned label exchange replacement warranty repair faulty defect quality flimsy
    sturdy excellent great good bad terrible awful poor amazing perfect fine okay decent helpful rude friendly polite
    unhelpful agent staff manager support chat phone email call hold wait waiting queue hours days weeks minutes
    response reply answer ignored resolved unresolved escalated complaint ticket website app login password account
    checkout basket cart crash error bug page search filter order ordered cancel cancelled cancellation address
    postcode store shop branch collection pickup locker weekend monday saturday christmas sale promotion newsletter
    subscription unsubscribe points loyalty reward member membership plan upgrade downgrade contract fee hidden
    instructions manual assembly fit small large tight loose fabric material battery charger screen cable shoes
    jacket sofa mattress laptop kettle fridge fresh expired stale melted grocery substitute item product stock
    backorder preorder estimate update notification confusing clear easy difficult smooth hassle disappointed happy
    satisfied unhappy frustrated angry pleased impressed recommend again never
""".split()))
#: The request mix of the insights path (one of each in turn, shuffled): name -> (days back, period, filter).
INSIGHTS_REQUESTS = {
    "30d/day": (30, "day", ""),
    "7d/hour": (7, "hour", ""),
    "30d/day, intent": (30, "day", "intent"),
    "30d/day, segment": (30, "day", "segment"),
    "30d/day, plan": (30, "day", "plan"),
    "60d/week": (60, "week", ""),
}


def synthetic_feedback(first_sequence: int, now: datetime, seed: int = 0, rows: int = INSIGHTS_ROWS,
                       customers: int = INSIGHTS_CUSTOMERS, days: int = INSIGHTS_DAYS, chunk: int = INSIGHTS_CHUNK):
    """Feedback rows as SubmitFeedback stores them, ``chunk`` at a time with their terms (``(rows, terms)``),
    deterministic for a seed: received over the ``days`` before ``now`` (naive UTC, in sequence order as the store
    numbers them), ratings skewed to 4 and 5, a few intents and plans most of it, complaint aspects mostly on low
    ratings, keywords from a vocabulary of a few hundred words (some far more used than others), a sentiment that
    mostly agrees with the rating; feedback without text has no sentiment and no terms."""
    rng = random.Random(seed)
    keys = [f"{rng.getrandbits(256):064x}" for _ in range(customers)]
    intent_weights = [1 / (rank + 1) for rank in range(len(INSIGHTS_INTENTS))]
    plans = (*INSIGHTS_PLANS, "")  # "": feedback on a contact that offered no plan
    plan_weights = [*(1 / (rank + 1) ** 0.7 for rank in range(len(INSIGHTS_PLANS))), 2.0]
    segment_weights = (6, 10, 12, 8, 9, 7, 5, 4, 8)
    aspect_weights = (12, 8, 6, 5, 7, 6, 4, 5, 6, 7, 5, 4)
    keyword_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(INSIGHTS_KEYWORDS))]
    aspects_named = {1: (1, 4, 4, 2), 2: (2, 5, 3, 1), 3: (5, 4, 1, 0.3), 4: (12, 3, 0.5, 0), 5: (20, 2, 0.2, 0)}
    leaning = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
    labels = ("negative", "neutral", "positive")
    times = sorted(now - timedelta(seconds=rng.random() * days * 86400) for _ in range(rows))

    def distinct(population, weights, k: int) -> list[str]:
        picked: list[str] = []
        while len(picked) < k:
            term = rng.choices(population, weights)[0]
            if term not in picked:
                picked.append(term)
        return picked

    for start in range(0, rows, chunk):
        feedback_rows, term_rows = [], []
        for i in range(start, min(start + chunk, rows)):
            sequence, received = first_sequence + i, times[i]
            key = keys[int(customers * rng.random() ** 1.5)]  # some customers give far more feedback than others
            rating = rng.choices((1, 2, 3, 4, 5), (12, 8, 14, 30, 36))[0]
            plan = rng.choices(plans, plan_weights)[0]
            row = {
                "sequence": sequence, "customer_key": key, "feedback_id": f"fb-{i:06d}", "rating": rating,
                "text": "", "session_id": f"s-{rng.getrandbits(48):012x}",
                "intent": rng.choices(INSIGHTS_INTENTS, intent_weights)[0] if rng.random() < 0.95 else "",
                "plan_id": plan, "decision_id": f"{rng.getrandbits(128):032x}" if plan else "",
                "sentiment": "", "sentiment_negative": None, "sentiment_neutral": None, "sentiment_positive": None,
                "segment": rng.choices(INSIGHTS_SEGMENTS, segment_weights)[0], "model": "", "received_at": received,
            }
            if rng.random() < 0.85:  # with text: a sentiment, aspects and keywords
                named = rng.choices((0, 1, 2, 3), aspects_named[rating])[0]
                aspects = distinct(ASPECTS, aspect_weights, named)
                keywords = distinct(INSIGHTS_KEYWORDS, keyword_weights, rng.randint(2, 4))
                label = leaning[rating] if rng.random() < 0.88 else rng.choice(labels)  # the model disagrees at times
                top, split = rng.uniform(0.5, 0.97), rng.random()
                others = [x for x in labels if x != label]
                probabilities = {label: top, others[0]: (1 - top) * split, others[1]: (1 - top) * (1 - split)}
                row.update(text=" ".join(keywords), sentiment=label, model="infogap_text:1",
                           **{f"sentiment_{x}": round(p, 4) for x, p in probabilities.items()})
                term_rows += [{"feedback_sequence": sequence, "customer_key": key, "kind": kind, "term": term,
                               "score": round(rng.uniform(*bounds), 4), "received_at": received}
                              for kind, terms, bounds in (("aspect", aspects, (0.5, 0.99)),
                                                          ("keyword", keywords, (0.1, 0.9)))
                              for term in terms]
            feedback_rows.append(row)
        yield feedback_rows, term_rows


async def load_feedback(settings: Settings, seed: int = 0) -> dict:
    """The synthetic feedback and its terms, inserted straight into the store, opened as the server opens it
    (migrated, pseudonym key checked), in one transaction with explicit sequence numbers (the terms name them), and
    the rollups computed from them in the same transaction, by the SQL of migration 0003's backfill (``rollup_s``).
    On PostgreSQL the id sequence is then moved past them and the tables vacuumed and analysed, as autovacuum would
    after such a load; SQLite is left as the server leaves it (no ANALYZE)."""
    import sqlalchemy as sa

    from infogap_server.server import open_customer_layer
    from infogap_server.store import rollups, schema

    store, _customers = await open_customer_layer(settings)
    counts = {"feedback_rows": 0, "term_rows": 0}
    insert_s = 0.0  # of load_s, the time in the database (the rest makes the rows)
    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        started = time.perf_counter()
        async with store.engine.begin() as conn:
            first = (await conn.scalar(sa.select(sa.func.max(schema.feedback.c.sequence))) or 0) + 1
            for rows, terms in synthetic_feedback(first, now, seed):
                t0 = time.perf_counter()
                await conn.execute(sa.insert(schema.feedback), rows)
                for at in range(0, len(terms), INSIGHTS_CHUNK):
                    await conn.execute(sa.insert(schema.feedback_terms), terms[at:at + INSIGHTS_CHUNK])
                insert_s += time.perf_counter() - t0
                counts["feedback_rows"] += len(rows)
                counts["term_rows"] += len(terms)
            t0 = time.perf_counter()
            await rollups.rebuild(conn)
            rollup_s = time.perf_counter() - t0
            if conn.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('feedback', 'sequence'), :last)"),
                                   {"last": first + counts["feedback_rows"] - 1})
        load_s = time.perf_counter() - started
        analyse_s = None
        if store.engine.dialect.name == "postgresql":
            # VACUUM as well: autovacuum would start on the new rows during the measurement otherwise (a minute
            # after the load) and change the plans in the middle of it (index-only scans once pages are visible).
            started = time.perf_counter()
            async with store.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside one
                for table in (schema.feedback, schema.feedback_terms, *schema.aggregate_tables()):
                    await conn.execute(sa.text(f"VACUUM (ANALYZE) {table.name}"))
            analyse_s = round(time.perf_counter() - started, 2)
    finally:
        await store.close()
    return {**counts, "load_s": round(load_s, 2), "insert_s": round(insert_s, 2), "rollup_s": round(rollup_s, 2),
            "rows_per_s": round(counts["feedback_rows"] / load_s, 1), "analyse_s": analyse_s}


def _postgres_pids(postgres) -> list[int]:
    """The postmaster's pid (its backends, which run the queries, are its children), to count their CPU."""
    try:
        return [int((postgres.datadir / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def _cpu_with_exited_s(pids: list[int]) -> float:
    """``_process_tree_cpu_s`` and the CPU of children that have exited meanwhile (a PostgreSQL backend of a
    connection the pool opened beyond its size exits when it is given back)."""
    import psutil

    total = _process_tree_cpu_s(pids)
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


async def insights_paths(settings: Settings, args, loads: list[LoadResult]) -> dict:
    """GetInsights over INSIGHTS_ROWS stored feedback rows (the issue's target: p99 under 100 ms), on SQLite and on a
    throwaway PostgreSQL, each behind a gateway on the no-op backend: the rows loaded straight into the store (load
    time reported), then a shuffled mix of INSIGHTS_REQUESTS in a closed loop at ``concurrency`` callers (throughput;
    its p99 is mostly time queued behind the other callers) and at one caller (the latency of a call on its own),
    overall and by request."""
    import secrets
    import tempfile

    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc
    from pydantic import SecretStr


    periods = {"hour": pb.INSIGHT_PERIOD_HOUR, "day": pb.INSIGHT_PERIOD_DAY, "week": pb.INSIGHT_PERIOD_WEEK}
    filters = {"intent": INSIGHTS_INTENTS, "segment": [s for s in INSIGHTS_SEGMENTS if s], "plan": INSIGHTS_PLANS}

    def request(kind: str, n: int) -> pb.GetInsightsRequest:
        days, period, by = INSIGHTS_REQUESTS[kind]
        r = pb.GetInsightsRequest(period=periods[period])
        if days != 30:  # 30 days up to now is the server's default range
            r.since.FromDatetime(datetime.now(UTC) - timedelta(days=days))
        if by:
            values = filters[by]
            setattr(r, "plan_id" if by == "plan" else by, values[n % len(values)])
        return r

    items = [(kind, n) for n in range(100) for kind in INSIGHTS_REQUESTS]
    random.Random(0).shuffle(items)

    results: dict = {"feedback_rows": INSIGHTS_ROWS, "customers": INSIGHTS_CUSTOMERS, "days": INSIGHTS_DAYS,
                     "requests": {k: {"days": d, "period": p, "filter": f or None}
                                  for k, (d, p, f) in INSIGHTS_REQUESTS.items()},
                     "target_p99_ms": INSIGHTS_P99_TARGET_MS}
    with bench_databases("insights", "bench_insights", results) as (databases, postgres), \
            tempfile.TemporaryDirectory(prefix="infogap-bench-insights-") as data:
        for name, url in databases:
            data_dir, key = Path(data) / name, secrets.token_hex(32)
            loaded = await load_feedback(settings.model_copy(update={
                "data_dir": data_dir, "database_url": url, "pseudonym_key": SecretStr(key)}))
            analysed = f", VACUUM ANALYZE {loaded['analyse_s']} s" if loaded["analyse_s"] is not None else ""
            print(f"insights ({name}): loaded {loaded['feedback_rows']:,} feedback rows and "
                  f"{loaded['term_rows']:,} term rows in {loaded['load_s']} s ({loaded['rows_per_s']:,.0f} "
                  f"feedback rows/s; {loaded['insert_s']} s of it inserting, {loaded['rollup_s']} s computing the "
                  f"rollups, the rest making rows){analysed}",
                  flush=True)
            gateway = await start_gateway(settings, backend="noop", intra_op_threads=1, database_url=url,
                                          data_dir=data_dir, pseudonym_key=key, behaviour_model="")
            pids = [gateway.process.pid, *(_postgres_pids(postgres) if url else [])]
            tally: dict[str, list[float]] = {kind: [] for kind in INSIGHTS_REQUESTS}
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                    stub = infogap_pb2_grpc.InfoGapStub(channel)

                    async def call(item, stub=stub, tally=tally) -> None:
                        kind, n = item
                        t0 = time.perf_counter()
                        await stub.GetInsights(request(kind, n), timeout=30)
                        tally[kind].append(time.perf_counter() - t0)

                    first: dict = {}
                    for kind in INSIGHTS_REQUESTS:  # each kind once, cold: it answers, over the rows loaded
                        t0 = time.perf_counter()
                        answer = await stub.GetInsights(request(kind, 0), timeout=60)
                        first[kind] = {"ms": round((time.perf_counter() - t0) * 1e3, 1),
                                       "rows": answer.overall.count, "periods": len(answer.by_period)}
                        if not answer.overall.count:
                            raise RuntimeError(f"GetInsights {kind} on {name} found no feedback")

                    async def loop(label: str, concurrency: int, seconds: float, call=call, tally=tally,
                                   pids=pids) -> dict:
                        """Warm up, then a closed loop: overall (in loads) and by request."""
                        await closed_loop(call, items, concurrency, 2.0, 0.0)
                        for latencies in tally.values():
                            latencies.clear()
                        cpu0, t0 = _cpu_with_exited_s(pids), time.perf_counter()
                        lat, err = await closed_loop(call, items, concurrency, seconds, 0.0)
                        wall = time.perf_counter() - t0
                        result = _summary(label, lat, err, seconds, concurrency=concurrency)
                        result.server_cpu_cores = round((_cpu_with_exited_s(pids) - cpu0) / wall, 2)
                        loads.append(result)
                        print(result.row(), flush=True)
                        by_request = {}
                        for kind, latencies in tally.items():
                            s = _summary(kind, latencies, {}, seconds)
                            by_request[kind] = {"calls": s.requests, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms}
                        return {"callers": concurrency, "calls_per_s": result.requests_per_s,
                                "p50_ms": result.p50_ms, "p95_ms": result.p95_ms, "p99_ms": result.p99_ms,
                                "p99_under_target": result.p99_ms < INSIGHTS_P99_TARGET_MS,
                                "server_cpu_cores": result.server_cpu_cores, "errors": result.errors,
                                "by_request": by_request}

                    concurrent = await loop(f"insights ({name})", args.concurrency, args.duration_s)
                    alone = await loop(f"insights ({name}) x1", 1, args.latency_seconds)
            finally:
                gateway.stop()
            results[name] = {"load": loaded, "first_calls": first, "concurrent": concurrent, "one_caller": alone}
            for tag, r in ((f"{args.concurrency} callers, throughput (p99 mostly queueing)", concurrent),
                           ("1 caller, latency of a call on its own", alone)):
                verdict = "yes" if r["p99_under_target"] else "NO"
                print(f"insights ({name}), {tag}: {r['calls_per_s']} calls/s, p50 {r['p50_ms']} ms, p95 "
                      f"{r['p95_ms']} ms, p99 {r['p99_ms']} ms; p99 < {INSIGHTS_P99_TARGET_MS:.0f} ms: "
                      f"{verdict}", flush=True)
                print("  by request (p50/p99 ms): " + ", ".join(
                    f"{kind} {b['p50_ms']}/{b['p99_ms']}" for kind, b in r["by_request"].items()), flush=True)
    return results


#: Customers of the test period loaded into the store for the behaviour path (their histories also go with
#: IdentifyNeeds), the behaviour model's batch sizes measured alone, and the days between the last event of a
#: history sent with IdentifyNeeds and now.
BEHAVIOUR_CUSTOMERS, BEHAVIOUR_BATCH_SIZES, HISTORY_LAST_EVENT_DAYS = 500, (1, 8, 32, 64), 3


def behaviour_examples():
    """The behaviour model's test examples (Online Retail customers' histories before the test cut-off)."""
    from infogap_server.training.behaviour.data import DEFAULT_EVENTS, TEST_CUTOFF, examples_at, read_events

    return examples_at(read_events(DEFAULT_EVENTS), TEST_CUTOFF)


def behaviour_model_alone(settings: Settings, examples: list, batch_sizes: tuple[int, ...],
                          seconds_each: float) -> dict:
    """ONNX Runtime throughput of the behaviour model on the test-period histories, encoded at their cut-off as the
    gateway encodes them and padded per batch to the longest (as on the embedded backend), per batch size."""

    from infogap_server.models.behaviour import BehaviourModelInfo, encode_history, pad_histories

    repository = settings.model_repository
    version = resolve_version(repository, settings.behaviour_model, settings.behaviour_model_version)
    info = BehaviourModelInfo.read(repository, settings.behaviour_model, version)
    histories = [h for x in examples if (h := encode_history(x.history, x.cutoff, info.type_index, info.max_events))]
    path = str(model_file(repository, settings.behaviour_model, version))
    sessions = _spinning_sessions(path, settings)
    rng = random.Random(1)
    rates: dict[int, float] = {}
    for size in batch_sizes:
        batches = [pad_histories(rng.sample(histories, size) if size <= len(histories)
                                 else rng.choices(histories, k=size)) for _ in range(16)]
        for session in sessions:
            session.run(None, batches[0])
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds_each / 2:
                session.run(None, batches[done % len(batches)])
                done += 1
            rates[size] = max(rates.get(size, 0.0), round(done * size / (time.perf_counter() - started), 1))
    best = max(rates, key=lambda size: rates[size])
    return {"model": f"{info.name} v{info.version} ({info.served})", "histories": len(histories),
            "mean_events": round(sum(len(h) for h in histories) / len(histories), 2),
            "histories_per_s_by_batch": rates, "best_batch": best, "best_histories_per_s": rates[best]}


async def alternating(calls: dict[str, tuple], texts: list[str], concurrency: int, duration_s: float,
                      rounds: int = 2) -> dict[str, LoadResult]:
    """Closed loops on each of ``calls`` (name: (call, server pids)) in turn, ``rounds`` times, the order reversed
    every other round (A B, B A), ``duration_s`` in all for each: a slow spell of a shared machine hits them alike.
    Latencies, errors and server CPU pooled per call."""
    for call, _ in calls.values():
        await closed_loop(call, texts, concurrency, 2.0, 0.0)  # warm-up
    pooled: dict[str, tuple[list[float], dict[str, int], list[float]]] = {name: ([], {}, [0.0, 0.0]) for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            call, pids = calls[name]
            latencies, errors, cpu = pooled[name]
            cpu0, t0 = _process_tree_cpu_s(pids), time.perf_counter()
            lat, err = await closed_loop(call, texts, concurrency, duration_s / rounds, 0.0)
            cpu[0] += _process_tree_cpu_s(pids) - cpu0
            cpu[1] += time.perf_counter() - t0
            latencies.extend(lat)
            for kind, n in err.items():
                errors[kind] = errors.get(kind, 0) + n
    results = {}
    for name, (latencies, errors, (cpu_s, wall_s)) in pooled.items():
        results[name] = _summary(name, latencies, errors, duration_s, concurrency=concurrency)
        results[name].server_cpu_cores = round(cpu_s / wall_s, 2)
    return results


async def paired_latency(first, second, items: list, duration_s: float) -> tuple[tuple, tuple]:
    """One caller sending ``first(item)`` and ``second(item)`` in turn for ``duration_s`` in all (which one goes
    first alternates): the latencies and errors of each, taken in the same moments of the machine's noise."""
    measured_calls = ((first, [], {}), (second, [], {}))
    stop_at, i = time.perf_counter() + duration_s, 0
    while time.perf_counter() < stop_at:
        for call, latencies, errors in measured_calls if i % 2 == 0 else measured_calls[::-1]:
            t0 = time.perf_counter()
            try:
                await call(items[i % len(items)])
                latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # counted, not raised: a benchmark reports errors
                kind = _error_kind(exc)
                errors[kind] = errors.get(kind, 0) + 1
        i += 1
    return (measured_calls[0][1], measured_calls[0][2]), (measured_calls[1][1], measured_calls[1][2])


async def behaviour_paths(settings: Settings, args, texts: list[str], loads: list[LoadResult]) -> dict:
    """The behaviour model's cost, in one run: churn scoring alone (ONNX Runtime, histories/s by batch size);
    GetCustomerProfile on Online Retail customers' stored histories, with churn scoring (and its what-if
    explanations) and without (a gateway serving no behaviour model), alternated; and the latency IdentifyNeeds adds
    when the request carries a history (one caller, with and without a history in turn)."""
    import itertools
    import tempfile
    from datetime import UTC, datetime, timedelta

    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc

    from infogap_server.training.behaviour.data import TEST_CUTOFF

    examples = behaviour_examples()
    alone = behaviour_model_alone(settings, examples, BEHAVIOUR_BATCH_SIZES, args.model_seconds)
    print(f"behaviour, model alone ({alone['model']}, {alone['histories']} test histories, mean "
          f"{alone['mean_events']} events; ONNX Runtime histories/s by batch size): "
          f"{alone['histories_per_s_by_batch']}; best {alone['best_histories_per_s']} (batch {alone['best_batch']})",
          flush=True)

    customers = random.Random(0).sample(examples, min(BEHAVIOUR_CUSTOMERS, len(examples)))
    types = {"order": pb.BEHAVIOR_EVENT_TYPE_ORDER, "cancellation": pb.BEHAVIOR_EVENT_TYPE_CANCELLATION}

    def behavior_event(e, shift: timedelta = timedelta(0)) -> pb.BehaviorEvent:
        event = pb.BehaviorEvent(type=types[e.type], amount=e.amount, item_count=e.item_count)
        event.time.FromDatetime((e.time + shift).replace(tzinfo=UTC))
        return event

    recorded = [pb.CustomerEvent(customer_id=f"bench-{x.customer}", event_id=f"e{n}", event=behavior_event(e))
                for n, (x, e) in enumerate((x, e) for x in customers for e in x.history)]

    async def load(stub) -> dict:
        """Every customer's history through RecordEvents (old times are accepted; only future ones are not)."""
        counts = {"stored": 0, "duplicates": 0}
        for at in range(0, len(recorded), settings.max_record_events):
            chunk = recorded[at:at + settings.max_record_events]
            response = await stub.RecordEvents(pb.RecordEventsRequest(events=chunk), timeout=60)
            if response.rejected:
                raise RuntimeError(f"RecordEvents rejected {len(response.rejected)} events: {response.rejected[0]}")
            counts["stored"] += response.stored
            counts["duplicates"] += response.duplicates
        return counts

    as_of = pb.GetCustomerProfileRequest().as_of
    as_of.FromDatetime(TEST_CUTOFF.replace(tzinfo=UTC))  # the profile as it was at the test cut-off
    profile_requests = [pb.GetCustomerProfileRequest(customer_id=f"bench-{x.customer}", as_of=as_of)
                        for x in customers]

    def profile_call(stub):
        turn = itertools.count()

        async def profile(_text: str) -> None:
            request = profile_requests[next(turn) % len(profile_requests)]
            await stub.GetCustomerProfile(request, timeout=30)

        return profile

    # IdentifyNeeds: the same customers' histories (the latest max_history_events events), moved in time so that the
    # last event is a few days before now (IdentifyNeeds scores at now), each with a test message; and the same
    # message without a history.
    now = datetime.now(UTC).replace(tzinfo=None)
    needs_pairs = []
    for i, x in enumerate(customers):
        history = x.history[-settings.max_history_events:]
        shift = now - timedelta(days=HISTORY_LAST_EVENT_DAYS) - history[-1].time
        text = texts[i % len(texts)]
        needs_pairs.append((pb.IdentifyNeedsRequest(text=text),
                            pb.IdentifyNeedsRequest(text=text, history=[behavior_event(e, shift) for e in history])))
    mean_history = round(sum(len(p[1].history) for p in needs_pairs) / len(needs_pairs), 2)

    result: dict = {"model_alone": alone, "customers": len(customers), "events": len(recorded)}
    with tempfile.TemporaryDirectory(prefix="infogap-bench-behaviour-") as data:
        with_model, without_model = await asyncio.gather(
            start_gateway(settings, backend="embedded", data_dir=Path(data) / "with_model"),
            start_gateway(settings, backend="embedded", behaviour_model="", data_dir=Path(data) / "without_model"))
        try:
            async with (grpc.aio.insecure_channel(f"127.0.0.1:{with_model.port}") as channel,
                        grpc.aio.insecure_channel(f"127.0.0.1:{without_model.port}") as plain_channel):
                stub, plain_stub = infogap_pb2_grpc.InfoGapStub(channel), infogap_pb2_grpc.InfoGapStub(plain_channel)
                result["store"] = await load(stub)
                await load(plain_stub)
                first = profile_requests[0]
                scored = await stub.GetCustomerProfile(first, timeout=30)
                unscored = await plain_stub.GetCustomerProfile(first, timeout=30)
                if not scored.HasField("churn_risk") or unscored.HasField("churn_risk"):
                    raise RuntimeError("churn_risk should be in the profile with the behaviour model and only there")
                profiles = await alternating(
                    {"profile, behaviour model": (profile_call(stub), [with_model.process.pid]),
                     "profile, no behaviour model": (profile_call(plain_stub), [without_model.process.pid])},
                    texts, args.concurrency, args.duration_s)
                without_model.stop()  # only the gateway measured runs now
                for load_result in profiles.values():
                    loads.append(load_result)
                    print(load_result.row(), flush=True)

                async def needs(request) -> None:
                    await stub.IdentifyNeeds(request, timeout=30)

                answered = await stub.IdentifyNeeds(needs_pairs[0][1], timeout=30)
                if not answered.HasField("churn_risk"):
                    raise RuntimeError("IdentifyNeeds with a history should give a churn_risk")
                for plain, with_history in needs_pairs[:20]:  # warm-up
                    await needs(plain)
                    await needs(with_history)
                (plain_lat, plain_err), (history_lat, history_err) = await paired_latency(
                    lambda pair: needs(pair[0]), lambda pair: needs(pair[1]), needs_pairs, 2 * args.latency_seconds)
        finally:
            without_model.stop()
            with_model.stop()

    scored_p, plain_p = profiles["profile, behaviour model"], profiles["profile, no behaviour model"]
    result["profile"] = {
        "concurrency": args.concurrency, "as_of": TEST_CUTOFF.isoformat(),
        "with_model": {"profiles_per_s": scored_p.requests_per_s, "p50_ms": scored_p.p50_ms,
                       "p99_ms": scored_p.p99_ms, "server_cpu_cores": scored_p.server_cpu_cores},
        "without_model": {"profiles_per_s": plain_p.requests_per_s, "p50_ms": plain_p.p50_ms,
                          "p99_ms": plain_p.p99_ms, "server_cpu_cores": plain_p.server_cpu_cores},
        "with_over_without_rps": round(scored_p.requests_per_s / plain_p.requests_per_s, 3),
        "added_p50_ms": round(scored_p.p50_ms - plain_p.p50_ms, 2),
        "added_p99_ms": round(scored_p.p99_ms - plain_p.p99_ms, 2),
        "with_model_over_model_alone_best": round(scored_p.requests_per_s / alone["best_histories_per_s"], 4),
    }
    plain_n = _summary("needs x1, no history", plain_lat, plain_err, args.latency_seconds, concurrency=1)
    history_n = _summary("needs x1, with history", history_lat, history_err, args.latency_seconds, concurrency=1)
    for load_result in (plain_n, history_n):
        loads.append(load_result)
        print(load_result.row(), flush=True)
    result["identify_needs"] = {
        "mean_history_events": mean_history,
        "without_history": {"calls": plain_n.requests, "p50_ms": plain_n.p50_ms, "p99_ms": plain_n.p99_ms},
        "with_history": {"calls": history_n.requests, "p50_ms": history_n.p50_ms, "p99_ms": history_n.p99_ms},
        "added_p50_ms": round(history_n.p50_ms - plain_n.p50_ms, 2),
        "added_p99_ms": round(history_n.p99_ms - plain_n.p99_ms, 2),
        "p50_ratio": round(history_n.p50_ms / plain_n.p50_ms, 3),
        "p99_ratio": round(history_n.p99_ms / plain_n.p99_ms, 3),
    }
    p, n = result["profile"], result["identify_needs"]
    print(f"behaviour: GetCustomerProfile ({len(customers)} customers, {len(recorded)} events, as of "
          f"{TEST_CUTOFF:%Y-%m-%d}, {args.concurrency} callers): {p['with_model']['profiles_per_s']} profiles/s with "
          f"churn scoring, {p['without_model']['profiles_per_s']} without (ratio {p['with_over_without_rps']}; "
          f"+{p['added_p50_ms']} ms p50, +{p['added_p99_ms']} ms p99); {p['with_model_over_model_alone_best']} of "
          f"the model alone's best histories/s", flush=True)
    print(f"behaviour: IdentifyNeeds, one caller, with a history (mean {mean_history} events) vs without: p50 "
          f"{history_n.p50_ms} vs {plain_n.p50_ms} ms (+{n['added_p50_ms']} ms, x{n['p50_ratio']}), p99 "
          f"{history_n.p99_ms} vs {plain_n.p99_ms} ms (+{n['added_p99_ms']} ms, x{n['p99_ratio']})", flush=True)
    return result


def read_locust_summary(path: Path) -> dict | None:
    """The aggregated row of the last `make locust` run (its CSV), so its figures sit in the same report."""
    import csv

    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    total = rows.get("Aggregated")
    if total is None:
        return None
    return {
        "file": str(path),
        "age_s": round(time.time() - path.stat().st_mtime, 1),
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "requests_per_s": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in report["loads"] if r["offered_rps"]]
    if not points:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [p["offered_rps"] for p in points]
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(x, [p[key] for p in points], marker="o", label=label)
    ax.set_xlabel("offered load (requests/s, Poisson arrivals)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("IdentifyNeeds through the gateway (embedded backend)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run(args))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out / f"bench-{stamp}.png")
    print(f"wrote {out / f'bench-{stamp}.json'} and .png")
    errors = sum(sum(r["errors"].values()) for r in report["loads"])
    return 1 if errors else 0
