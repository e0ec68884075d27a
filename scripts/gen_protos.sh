#!/usr/bin/env bash
# Regenerates the Python stubs from protos/ into OUT (default clients/python). One command, reproducible:
# the output depends only on the .proto files and the pinned grpcio-tools version.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-clients/python}"
py="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
"$py" -m grpc_tools.protoc -Iprotos \
  --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" \
  protos/infogap/v1/*.proto
