"""The floor path of ``infogap bench``: the bare grpc.aio server and the no-op gateway both answer every job under
h2load or the grpc.aio client, and the report carries calls per server CPU-second and their ratio."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from infogap_server.bench_floor import FLOOR_RPCS, floor_path
from infogap_server.settings import Settings


async def test_floor_and_noop_gateway_answer_every_job(tiny_repository):
    if shutil.which("h2load") is None:
        pytest.fail("h2load is missing: run `make h2load` (make test does it first)")
    report = await floor_path(Settings(model_repository=tiny_repository),
                              SimpleNamespace(floor_seconds=2.0, concurrency=8))
    for rpc in FLOOR_RPCS:
        for server in ("floor", "gateway"):
            row = report["rows"][rpc][server]
            assert row["calls_ok"] > 0, (rpc, server, row)
            assert row["errors"] == {}, (rpc, server, row)
            assert row["calls_per_cpu_s"] > 0
        assert 0 < report["gateway_over_floor"][rpc] < 5
