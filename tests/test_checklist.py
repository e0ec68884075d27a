"""The behavioural suite (CheckList): its cases, its runner, and the default model measured against its targets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from infogap_server.models.repository import version_dir, versions
from infogap_server.server_process import INFOGAP
from infogap_server.training import checklist
from infogap_server.training.checklist import Answer

DATA = Path(checklist.__file__).parent / "data"


def corpus_intents() -> set[str]:
    rows = (DATA / "intents_en_train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {row.split("\t")[1] for row in rows} - {"out_of_scope"}


@pytest.fixture(scope="module")
def suite() -> checklist.Suite:
    return checklist.load_suite()


def test_the_suite_covers_every_intent_every_perturbation_and_both_directional_types(suite):
    assert suite.version == 1
    assert set(suite.mft) == corpus_intents() | {"out_of_scope"}
    assert all(len(texts) >= 10 for texts in suite.mft.values())
    cases = checklist.cases(suite)
    tests = {c.test for c in cases}
    assert {f"inv:{p}" for p in (*checklist.PERTURBATIONS, *checklist.PLACEHOLDERS)} <= tests
    assert {"dir:negation", "dir:not_anymore"} <= tests
    assert cases == checklist.cases(checklist.load_suite())  # a suite version always yields the same cases
    for case in cases:
        if case.kind == "inv":
            assert case.text != case.base  # a perturbation that changes nothing tests nothing


def test_no_suite_text_is_training_or_development_wording(suite):
    """The suite is test data: failures become new training wording, never the cases themselves."""
    seen = set()
    for name in ("intents_en_train.tsv", "intents_en_dev.tsv"):
        seen |= {row.split("\t")[0].strip().lower()
                 for row in (DATA / name).read_text(encoding="utf-8").splitlines()[1:]}
    overlap = [c.text for c in checklist.cases(suite) if c.text.strip().lower() in seen]
    assert overlap == []


def test_the_runner_counts_failures_per_type_by_each_type_s_rule(suite):
    def predict(texts: list[str]) -> list[Answer]:
        # Knows the MFT texts; answers track_order to anything it was not shown (so every perturbation "flips").
        known = {suite.fill(t): intent for intent, items in suite.mft.items() for t in items}
        return [Answer(known.get(t, "track_order"), known.get(t) == "out_of_scope") for t in texts]

    report = checklist.run(suite, predict)
    assert report["by_type"]["mft"]["failures"] == 0
    inv = report["by_type"]["inv"]
    flipped = sum(1 for c in checklist.cases(suite)
                  if c.kind == "inv" and {i for i, ts in suite.mft.items() for t in ts if suite.fill(t) == c.base}
                  != {"track_order"})
    assert inv["failures"] == flipped > 0 and report["met"] is False
    directional = [c for c in checklist.cases(suite) if c.kind == "dir"]
    assert report["by_type"]["dir"]["failures"] == sum(c.expected != "track_order" for c in directional)
    assert "targets NOT met" in checklist.format_report(report)


def test_a_malformed_suite_is_refused_naming_the_case(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("version: 1\nplaceholders: {name: [a, b], order: [a, b], amount: [a, b], date: [a, b]}\n"
                    "mft:\n  cancel_order: [\"cancel {orderr} please\"]\n")
    with pytest.raises(checklist.SuiteError, match=r"mft.cancel_order: unknown placeholder\(s\) \['orderr'\]"):
        checklist.load_suite(path)
    path.write_text("version: 1\nplaceholders: {name: [a, b], order: [a, b], amount: [a, b], date: [a, b]}\n"
                    "mft: {cancel_order: [x]}\ndir:\n  - {base: {text: a, intent: x}, variant: {text: b, intent: x}}\n")
    with pytest.raises(checklist.SuiteError, match=r"dir\[0\]: the variant's intent must differ"):
        checklist.load_suite(path)


#: Regression bars of the default model, per type: the measured rates with a little room (MFT 1.8%, INV 2.4% at
#: the last build). The issue's target for INV (2%) is not reached yet; MFT's (3%) is: checklist.TARGETS.
REGRESSION_BARS = {"mft": 0.03, "inv": 0.03}


@pytest.mark.integration
def test_the_default_model_against_the_behavioural_suite(real_repository, suite):
    """The model as served, and `infogap checklist` reporting the same figures."""
    folder = version_dir(real_repository, "infogap_text", versions(real_repository, "infogap_text")[-1])
    report = checklist.run(suite, checklist.onnx_predictor(folder))
    print(checklist.format_report(report, show_failures=40))
    for kind, bar in REGRESSION_BARS.items():
        assert report["by_type"][kind]["failure_rate"] <= bar, kind
    cli = subprocess.run([INFOGAP, "checklist", "--repository", str(real_repository), "--json", "--check"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == (0 if report["met"] else 1), cli.stderr
    assert json.loads(cli.stdout)["by_type"] == report["by_type"]
