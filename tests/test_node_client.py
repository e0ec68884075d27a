"""A client in another language from the same protos: the Node.js client's tests against the real gateway."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from infogap_server.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration
NODE_DIR = PROJECT_ROOT / "clients" / "node"


async def test_node_client_calls_identify_needs(start_server, real_repository):
    node = shutil.which("node")
    assert node, "Node.js is required (it is on every development and CI machine)"
    assert (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make setup` (npm ci in clients/node)"
    # Small alert windows, the store read at once: test/alerts.test.js plants a spike in 50 feedback.
    server = await start_server(real_repository, alerts_window_events=10, alerts_baseline_events=30,
                                alerts_lookback_rows=80, alerts_settle_s=0.0)
    process = await asyncio.create_subprocess_exec(
        node, "--test", "test/", cwd=NODE_DIR, env=dict(os.environ, INFOGAP_ADDRESS=f"127.0.0.1:{server.port}"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode()
    assert process.returncode == 0, text
    # identify 3, recommend 2, alerts 1, sessions 2 (a TrackSession stream and GetSessionBottlenecks).
    assert "# pass 8" in text and "# fail 0" in text and "# skipped 0" in text, text
