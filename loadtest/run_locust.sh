#!/usr/bin/env bash
# Headless Locust run against a gateway it starts: `loadtest/run_locust.sh [duration] [users] [csv-prefix]`.
# Exits non-zero when any call failed (see locustfile.py).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-30s}"; users="${2:-16}"; prefix="${3:-bench_results/locust}"
bin=.venv/bin
port=$($bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$(dirname "$prefix")"
# Its own store and key in a scratch folder: a load test must not write into the developer's var/.
data_dir=$(mktemp -d)
INFOGAP_PORT=$port INFOGAP_METRICS_PORT=0 INFOGAP_LOG_LEVEL=WARNING INFOGAP_DATA_DIR=$data_dir $bin/infogap serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$data_dir"' EXIT
$bin/python - "$port" <<'PY'
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}"))
deadline = time.time() + 180
while time.time() < deadline:
    try:
        if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
            sys.exit(0)
    except grpc.RpcError:
        pass
    time.sleep(0.2)
sys.exit("gateway did not become SERVING")
PY
$bin/locust -f loadtest/locustfile.py --headless -u "$users" -r "$users" -t "$duration" \
  --host "127.0.0.1:$port" --csv "$prefix" --only-summary
