"""A short headless Locust run against a real gateway: calls made to each customer-contact RPC, none failed."""

from __future__ import annotations

import csv
import subprocess

import pytest
from infogap_server.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

# The names loadtest/locustfile.py reports the four customer-contact RPCs under; ContactUser makes all four.
CONTACT_RPCS = ("IdentifyNeeds", "Recommend", "TrackSession event", "SubmitFeedback")


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
    for name in CONTACT_RPCS:
        assert name in rows, f"no {name} call in the run: {sorted(rows)}"
        assert int(rows[name]["Request Count"]) >= 1, name
        assert int(rows[name]["Failure Count"]) == 0, name
