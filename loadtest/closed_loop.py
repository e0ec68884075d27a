"""Closed-loop load on IdentifyNeeds: N callers, each sending its next request when the last one is answered.

Starts `infogap serve` on free ports (or uses --address), sends the project's hand-written test messages (varied
lengths), and prints requests/s, latency percentiles, errors and the server's mean batch size (from /metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from infogap.v1 import infogap_pb2 as pb
from infogap.v1 import infogap_pb2_grpc
from infogap_server.training.build import DEFAULT_TEST, read_corpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_stats(metrics_port: int) -> tuple[float, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    count = float(re.search(r"^infogap_batch_size_count (\S+)$", body, re.MULTILINE).group(1))
    total = float(re.search(r"^infogap_batch_size_sum (\S+)$", body, re.MULTILINE).group(1))
    return count, total


async def wait_serving(address: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"server at {address} did not become SERVING in {timeout_s}s")


async def run_load(address: str, texts: list[str], concurrency: int, duration_s: float, warmup_s: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    async with grpc.aio.insecure_channel(address) as channel:
        stub = infogap_pb2_grpc.InfoGapStub(channel)
        start = time.perf_counter()
        measure_from = start + warmup_s
        stop_at = measure_from + duration_s

        async def caller(worker: int) -> None:
            i = worker
            while (now := time.perf_counter()) < stop_at:
                t0 = now
                try:
                    await stub.IdentifyNeeds(pb.IdentifyNeedsRequest(text=texts[i % len(texts)]), timeout=10)
                    if t0 >= measure_from:
                        latencies.append(time.perf_counter() - t0)
                except grpc.aio.AioRpcError as e:
                    errors[e.code().name] = errors.get(e.code().name, 0) + 1
                i += concurrency

        await asyncio.gather(*(caller(w) for w in range(concurrency)))
    lat = np.array(latencies) * 1e3
    return {
        "concurrency": concurrency,
        "duration_s": duration_s,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / duration_s, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", help="use a running server (host:port) instead of starting one")
    parser.add_argument("--metrics-port", type=int, help="its /metrics port, for the mean batch size")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=3.0)
    args = parser.parse_args()

    texts = [e.text for e in read_corpus(DEFAULT_TEST)]
    server = None
    address, metrics_port = args.address, args.metrics_port
    if address is None:
        port, metrics_port = free_port(), free_port()
        env = dict(
            os.environ, INFOGAP_PORT=str(port), INFOGAP_METRICS_PORT=str(metrics_port), INFOGAP_LOG_LEVEL="WARNING"
        )
        started = time.perf_counter()
        server = subprocess.Popen([str(Path(sys.executable).parent / "infogap"), "serve"], env=env)
        address = f"127.0.0.1:{port}"
        asyncio.run(wait_serving(address))
        print(f"server SERVING after {time.perf_counter() - started:.2f}s (process start to health SERVING)")
    try:
        before = batch_stats(metrics_port) if metrics_port else None
        result = asyncio.run(run_load(address, texts, args.concurrency, args.duration_s, args.warmup_s))
        if before is not None:
            after = batch_stats(metrics_port)
            batches, items = after[0] - before[0], after[1] - before[1]
            result["batches"] = int(batches)
            result["mean_batch_size"] = round(items / batches, 2) if batches else None
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result, indent=2))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
