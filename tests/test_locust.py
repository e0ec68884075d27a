"""A short headless Locust run against a real gateway: it must finish with calls made and none failed."""

from __future__ import annotations

import csv
import subprocess

import pytest
from infogap_server.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_short_locust_run_has_no_failures(real_repository, tmp_path):
    prefix = tmp_path / "locust"
    result = subprocess.run([str(PROJECT_ROOT / "loadtest" / "run_locust.sh"), "8s", "4", str(prefix)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 20
    assert int(total["Failure Count"]) == 0
    assert "/infogap.v1.InfoGap/IdentifyNeeds" in rows
    assert int(rows["TrackSession event"]["Request Count"]) > 5
