"""The fuzzing harness: a reduced, seeded run against a real server process, and the harness's own checks."""

from __future__ import annotations

import json

from hypothesis import given, settings
from infogap.v1 import infogap_pb2 as pb
from infogap_server import fuzz

#: The reduced run of `make test`: 750 cases per RPC, 3,000 in all, same seed every time (`infogap fuzz` runs
#: 10,000 per RPC).
CASES_PER_RPC = 750
SEED = 20261124


def test_reduced_fuzz_run_of_every_rpc_ends_in_documented_codes_with_a_clean_log(tiny_repository):
    reports, problems = fuzz.run(tiny_repository, CASES_PER_RPC, SEED, max_batch_delay_ms=0)
    fuzz.print_report(reports, problems)
    assert [r.method for r in reports] == [m.name for m in fuzz.SERVICE.methods]
    for report in reports:
        assert report.cases == CASES_PER_RPC
        by_kind = {kind: sum(n for (k, _), n in report.outcomes.items() if k == kind) for kind in fuzz.KINDS}
        assert by_kind == {kind: CASES_PER_RPC // 3 for kind in fuzz.KINDS}, report.method
        assert set(report.by_code()) <= fuzz.allowed_codes(report.method), (report.method, report.failures)
    identify = reports[0].by_code()
    assert identify["OK"] > 50 and identify["INVALID_ARGUMENT"] > 50  # the model path and validation both reached
    assert problems == []


def test_every_rpc_has_a_valid_request_for_one_field_cases():
    assert set(fuzz.VALID_REQUESTS) == {m.name for m in fuzz.SERVICE.methods}
    for method in fuzz.SERVICE.methods:
        assert fuzz.VALID_REQUESTS[method.name].DESCRIPTOR is method.input_type


def test_log_check_finds_caller_text_tracebacks_errors_and_non_json_lines():
    clean = json.dumps({"level": "info", "msg": "rpc failed", "request_id": f"id-{fuzz.CANARY}"})
    assert fuzz.log_problems([clean]) == []  # the caller's own request id is logged by design
    leaking = json.dumps({"level": "info", "msg": "rpc failed", "reason": f"bad {fuzz.CANARY}"})
    traceback = json.dumps({"level": "warning", "msg": "x", "exc": "Traceback (most recent call last):"})
    error = json.dumps({"level": "error", "msg": "rpc failed unexpectedly"})
    problems = fuzz.log_problems([leaking, traceback, error, "E1124 12:00:00 raw core line"])
    assert len(problems) == 4
    assert any("caller text" in p for p in problems) and any("not a JSON" in p for p in problems)


def test_allowed_codes_never_include_internal_unknown_or_unavailable():
    for method in fuzz.SERVICE.methods:
        allowed = fuzz.allowed_codes(method.name)
        assert {"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DEADLINE_EXCEEDED"}.isdisjoint(allowed)
        assert ("UNIMPLEMENTED" in allowed) == (method.name in fuzz.NOT_SERVED)


@settings(max_examples=200, database=None, deadline=None)
@given(raw=fuzz.raw_strategy(pb.IdentifyNeedsRequest.DESCRIPTOR, fuzz.field_limits(fuzz.Settings())))
def test_raw_cases_are_bytes_that_a_parser_must_survive(raw):
    assert isinstance(raw, bytes)
    try:
        pb.IdentifyNeedsRequest.FromString(raw)
    except Exception as exc:  # what the servicer turns into INVALID_ARGUMENT
        assert type(exc).__name__ == "DecodeError"
