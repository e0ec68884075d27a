"""The plan catalogue: the shipped file, refusal of bad files with the plan and field named, eligibility with
reasons, reloading without a restart, and `infogap catalogue check`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from infogap_server.cli import main as cli_main
from infogap_server.errors import InvalidArgument
from infogap_server.services.catalogue import (
    DEFAULT_CATALOGUE_PATH,
    KINDS,
    CatalogueError,
    CatalogueHolder,
    Context,
    eligible,
    filter_plans,
    load_catalogue,
    parse_catalogue,
)
from infogap_server.settings import PROJECT_ROOT, Settings

TRAINING_TSV = PROJECT_ROOT / "server" / "infogap_server" / "training" / "data" / "intents_en_train.tsv"


def default_intents() -> list[str]:
    """The 32-intent taxonomy the default text model is trained on (its labels, less out_of_scope)."""
    rows = TRAINING_TSV.read_text(encoding="utf-8").splitlines()[1:]
    return sorted({row.split("\t")[1] for row in rows} - {"out_of_scope"})


def plan(plan_id: str, **fields: Any) -> dict[str, Any]:
    """A valid plan as the YAML holds it, with ``fields`` replacing its defaults."""
    base: dict[str, Any] = {
        "id": plan_id,
        "kind": "resolution",
        "title": f"Plan {plan_id}",
        "description": "Does something useful for the customer.",
        "intents": {"get_refund": 0.8},
        "cost": 5,
        "requires_approval": False,
    }
    base.update(fields)
    return base


def dump(plans: list[dict[str, Any]]) -> bytes:
    return yaml.safe_dump({"plans": plans}, sort_keys=False).encode()


# --- the shipped catalogue ------------------------------------------------------------------------------------------


def test_the_shipped_catalogue_loads_and_covers_every_intent_of_the_default_taxonomy():
    intents = default_intents()
    assert len(intents) == 32
    catalogue = load_catalogue(DEFAULT_CATALOGUE_PATH, intents=intents)  # refuses uncovered or unknown intents
    assert len(catalogue.plans) >= 25
    assert catalogue.intents == set(intents)
    assert set(catalogue.kinds()) == set(KINDS)
    assert len(catalogue.version) == 16 and catalogue.version == load_catalogue(DEFAULT_CATALOGUE_PATH).version
    wanted = {"refund_full", "refund_partial", "replacement", "redelivery_expedited", "cancel_order_standard",
              "cancel_order_fee_waived", "address_change", "order_tracking_link", "invoice_copy",
              "password_reset_link", "account_recovery_verified", "callback", "escalate_to_human", "voucher_small",
              "voucher_large", "free_shipping_next_order", "loyalty_points_bonus", "product_alternatives"}
    assert wanted <= set(catalogue.by_id)
    # Each intent's best plan is a strong match, not a side offer.
    assert all(catalogue.plans_for(i)[0].affinity(i) >= 0.8 for i in intents)
    assert Settings().catalogue_path == DEFAULT_CATALOGUE_PATH


def test_the_served_model_intents_are_covered_when_a_model_is_built():
    labels = sorted((PROJECT_ROOT / "model_repository" / "infogap_text").glob("*/labels.json"))
    if not labels:
        pytest.skip("no text model built in model_repository")
    intents = json.loads(labels[-1].read_text())["intents"]
    assert load_catalogue(DEFAULT_CATALOGUE_PATH, intents=intents).intents == set(intents) - {"out_of_scope"}


# --- bad files ------------------------------------------------------------------------------------------------------


def _with(index: int, **fields: Any) -> Callable[[list[dict[str, Any]]], None]:
    def change(plans: list[dict[str, Any]]) -> None:
        plans[index].update(fields)
    return change


BAD_FILES = {
    "duplicate id": (_with(1, id="a"), ["plan 'a' (line", "id: duplicate", "the plan at line 2"]),
    "affinity above 1": (_with(0, intents={"get_refund": 1.5}), ["plan 'a'", "intents:", "get_refund is 1.5"]),
    "affinity below 0": (_with(1, intents={"complaint": -0.1}), ["plan 'b'", "intents:", "complaint is -0.1"]),
    "unknown segment": (_with(0, eligibility={"segments": ["loyal", "vip"]}),
                        ["plan 'a'", "eligibility.segments", "unknown segment 'vip'"]),
    "unknown channel": (_with(1, eligibility={"channels": ["fax"]}),
                        ["plan 'b'", "eligibility.channels", "unknown channel 'fax'"]),
    "min above max": (_with(0, eligibility={"order_age_days": {"min": 40, "max": 30}}),
                      ["plan 'a'", "eligibility.order_age_days", "min (40) is greater than max (30)"]),
    "churn risk above 1": (_with(0, eligibility={"churn_risk": {"min": 1.2}}),
                           ["plan 'a'", "eligibility.churn_risk.min"]),
    "unknown key in a plan": (_with(1, price=3), ["plan 'b'", "price: unknown field"]),
    "unknown key in a rule": (_with(0, eligibility={"order_age": {"max": 3}}),
                              ["plan 'a'", "eligibility.order_age: unknown field", "did you mean order_age_days"]),
    "unknown kind": (_with(0, kind="refund"), ["plan 'a'", "kind:", "'refund'"]),
    "badly shaped id": (_with(0, id="Refund Full"), ["plan 'Refund Full'", "id: must start with a lowercase"]),
    "out_of_scope as an intent": (_with(0, intents={"out_of_scope": 0.5}), ["plan 'a'", "out_of_scope is not"]),
    "negative cost": (_with(1, cost=-2), ["plan 'b'", "cost:"]),
    "exclude_when_unknown without its rule": (_with(0, eligibility={"exclude_when_unknown": ["churn_risk"]}),
                                              ["plan 'a'", "eligibility", "no churn_risk rule"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_plan_is_refused_with_the_file_plan_and_field_named(case: str, tmp_path: Path):
    change, expected = BAD_FILES[case]
    plans = [plan("a"), plan("b", intents={"complaint": 0.5})]
    change(plans)
    path = tmp_path / "plans.yaml"
    path.write_bytes(dump(plans))
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)
    message = raised.value.message
    assert message.startswith(f"{path}: invalid plan catalogue"), message
    for part in expected:
        assert part in message, (part, message)


def test_a_missing_field_is_named():
    raw = plan("a")
    del raw["requires_approval"]
    with pytest.raises(CatalogueError, match="plan 'a' .*requires_approval: missing"):
        parse_catalogue(dump([raw]), "t.yaml")


def test_a_yaml_syntax_error_is_refused_with_its_line():
    text = b"plans:\n  - id: a\n    kind: [resolution\n    title: x\n"
    with pytest.raises(CatalogueError, match=r"(?s)t\.yaml: .*YAML syntax error at line \d+, column \d+"):
        parse_catalogue(text, "t.yaml")


def test_a_key_given_twice_is_refused_not_silently_overwritten():
    text = dump([plan("a")]) + b"  eligibility:\n    order_age_days:\n      max: 30\n      max: 90\n"
    with pytest.raises(CatalogueError, match="YAML error at line 13, column 7: the key 'max' is given twice"):
        parse_catalogue(text, "t.yaml")


@pytest.mark.parametrize("text, expected", [
    (b"", "the file is empty"),
    (b"- id: a\n", "must be a mapping with one key"),
    (b"plans: []\nversion: 2\n", "unknown top-level key 'version'"),
    (b"plans: []\n", "the list is empty"),
    (b"plans:\n  - just a string\n", "plan #1 (no id) (line 2): must be a mapping"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_documents_are_refused(text: bytes, expected: str):
    with pytest.raises(CatalogueError, match=re.escape(expected)):
        parse_catalogue(text, "t.yaml")


def test_every_problem_is_reported_at_once():
    plans = [plan("a", intents={"get_refund": 2}), plan("b", cost="cheap"), plan("a")]
    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(dump(plans), "t.yaml")
    problems = raised.value.problems
    assert len(problems) == 3 and "3 problems" in raised.value.message
    assert problems[0].startswith("plan 'a' (line 2): intents:")
    assert problems[1].startswith("plan 'b' (line 10): cost:")
    assert problems[2] == "plan 'a' (line 18): id: duplicate; the plan at line 2 has the same id"


def test_model_intents_must_each_be_served_and_no_plan_may_name_another():
    plans = [plan("a", intents={"get_refund": 0.9, "cancle_order": 0.3})]
    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(dump(plans), "t.yaml", intents=["get_refund", "cancel_order", "track_order", "out_of_scope"])
    message = raised.value.message
    assert "plan 'a' (line 2): intents: the text model has no intent 'cancle_order' (did you mean cancel_order?)" \
        in message
    assert "intent 'track_order' is served by no plan" in message
    assert "'cancel_order' is served by no plan" in message
    assert "out_of_scope" not in message


# --- eligibility ----------------------------------------------------------------------------------------------------


def one(**eligibility: Any) -> Any:
    return parse_catalogue(dump([plan("p", intents={"get_refund": 0.9}, eligibility=eligibility)]), "t").plans[0]


@pytest.mark.parametrize("rule, context, reason", [
    ({"order_age_days": {"max": 30}}, {"order_age_days": 45}, "order is 45 days old; this plan needs at most 30"),
    ({"order_age_days": {"min": 7}}, {"order_age_days": 2}, "order is 2 days old; this plan needs at least 7"),
    ({"order_amount": {"min": 20, "max": 250}}, {"order_amount": 300.5},
     "order amount is 300.5; this plan needs from 20 to 250"),
    ({"order_amount": {"min": 20}}, {"order_amount": 12.25}, "order amount is 12.25; this plan needs at least 20"),
    ({"churn_risk": {"min": 0.5}}, {"churn_risk": 0.2}, "churn risk is 0.20; this plan needs at least 0.5"),
    ({"churn_risk": {"max": 0.3}}, {"churn_risk": 0.9}, "churn risk is 0.90; this plan needs at most 0.3"),
    ({"segments": ["champion", "loyal"]}, {"segment": "new"}, "customer segment is new; this plan is for champion, "
                                                               "loyal"),
    ({"channels": ["chat", "phone"]}, {"channel": "email"}, "channel is email; this plan is offered on chat, phone"),
])
def test_each_rule_excludes_with_its_reason_and_keeps_what_it_admits(rule, context, reason):
    p = one(**rule)
    verdict = eligible(p, Context(intent="get_refund", **context))
    assert not verdict.eligible and verdict.reasons == (reason,)
    admitted = {"order_age_days": 7, "order_amount": 20.0, "churn_risk": 0.3, "segment": "loyal", "channel": "chat"}
    key = next(iter(context))
    if key == "order_age_days" and "min" not in rule["order_age_days"]:
        admitted[key] = 30  # the bound itself is inside: bounds are inclusive
    if key == "churn_risk" and "min" in rule["churn_risk"]:
        admitted[key] = 0.5
    kept = eligible(p, Context(intent="get_refund", **{key: admitted[key]}))
    assert kept.eligible and kept.reasons == () and kept.unchecked == ()


def test_a_plan_that_does_not_serve_the_intent_is_excluded():
    verdict = eligible(one(), Context(intent="track_order"))
    assert verdict.reasons == ("does not serve the intent track_order",)


def test_an_unknown_value_keeps_the_plan_unchecked_unless_the_rule_must_be_known():
    rules = {"order_age_days": {"max": 30}, "order_amount": {"max": 100}, "churn_risk": {"min": 0.5},
             "segments": ["loyal"], "channels": ["chat"]}
    kept = eligible(one(**rules), Context(intent="get_refund"))
    assert kept.eligible
    assert kept.unchecked == (
        "order age is unknown; not checked (this plan needs at most 30)",
        "order amount is unknown; not checked (this plan needs at most 100)",
        "churn risk is unknown; not checked (this plan needs at least 0.5)",
        "customer segment is unknown; not checked (this plan needs one of loyal)",
        "channel is unknown; not checked (this plan needs one of chat)",
    )
    strict = one(**rules, exclude_when_unknown=["churn_risk", "segments"])
    verdict = eligible(strict, Context(intent="get_refund", order_age_days=3, order_amount=10, channel="chat"))
    assert verdict.reasons == ("churn risk is unknown; this plan needs it known (at least 0.5)",
                               "customer segment is unknown; this plan needs it known (one of loyal)")
    assert eligible(strict, Context(intent="get_refund", churn_risk=0.8, segment="loyal")).eligible


def test_filter_splits_the_shipped_catalogue_and_names_every_exclusion():
    catalogue = load_catalogue(DEFAULT_CATALOGUE_PATH)
    context = Context(intent="get_refund", order_age_days=45, order_amount=300, segment="new", channel="chat")
    result = catalogue.filter(context)
    assert "refund_full" not in {p.id for p in result.plans}
    assert result.reasons["refund_full"] == ("order is 45 days old; this plan needs at most 30",
                                            "order amount is 300; this plan needs at most 250")
    assert set(result.reasons) | {p.id for p in result.plans} == {p.id for p in catalogue.plans_for("get_refund")}
    for verdict in result.eligible:  # an ineligible plan never appears
        assert eligible(verdict.plan, context).eligible
    everything = filter_plans(catalogue.plans, context)
    assert len(everything.eligible) + len(everything.excluded) == len(catalogue.plans)
    # A retention voucher is not given away without evidence of churn risk.
    complaint = catalogue.filter(Context(intent="complaint", segment="loyal"))
    assert complaint.reasons["voucher_large"] == ("churn risk is unknown; this plan needs it known (at least 0.5)",)
    assert "voucher_large" in {p.id for p in catalogue.filter(Context("complaint", segment="loyal",
                                                                              churn_risk=0.7)).plans}


@pytest.mark.parametrize("fields, field", [
    ({"order_age_days": -1}, "order_age_days"),
    ({"order_amount": float("nan")}, "order_amount"),
    ({"churn_risk": 1.5}, "churn_risk"),
    ({"segment": "vip"}, "segment"),
    ({"channel": "fax"}, "channel"),
])
def test_a_bad_context_is_invalid_argument_naming_the_field(fields, field):
    with pytest.raises(InvalidArgument) as raised:
        Context(intent="get_refund", **fields)
    assert raised.value.field == field


# --- reloading ------------------------------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> None:
    """Replace the file's content and move its mtime on, so that even a same-size write is seen as a change."""
    path.write_bytes(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


async def wait_for(condition: Callable[[], bool], timeout_s: float = 0.6) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_holder_reloads_a_changed_file_keeps_the_old_on_a_broken_one_and_recovers(tmp_path, caplog):
    path = tmp_path / "plans.yaml"
    write(path, dump([plan("a")]))
    holder = CatalogueHolder(path, reload_s=0.02)
    await holder.start()
    try:
        first = holder.current
        assert [p.id for p in first.plans] == ["a"]

        write(path, dump([plan("a"), plan("b")]))
        await wait_for(lambda: holder.current.version != first.version)
        second = holder.current
        assert [p.id for p in second.plans] == ["a", "b"] and holder.last_error is None

        with caplog.at_level(logging.ERROR, logger="infogap.catalogue"):
            write(path, dump([plan("a"), plan("b", intents={"get_refund": 7})]))
            await wait_for(lambda: holder.last_error is not None)
            await asyncio.sleep(0.1)  # several more polls: still the old catalogue, and logged once
        assert holder.current is second
        assert "plan 'b'" in holder.last_error and "get_refund is 7" in holder.last_error
        refusals = [r for r in caplog.records if r.name == "infogap.catalogue" and r.levelno == logging.ERROR]
        assert len(refusals) == 1 and refusals[0].fields["serving_version"] == second.version

        write(path, dump([plan("c")]))
        await wait_for(lambda: holder.current.version != second.version)
        assert [p.id for p in holder.current.plans] == ["c"] and holder.last_error is None
    finally:
        await holder.close()


def test_check_keeps_serving_through_a_deleted_file_and_ignores_a_touch(tmp_path):
    path = tmp_path / "plans.yaml"
    write(path, dump([plan("a")]))
    holder = CatalogueHolder(path, reload_s=0)
    served = holder.load()
    write(path, path.read_bytes())  # touched, same content: no new version
    assert holder.check() is False and holder.current is served
    path.unlink()
    assert holder.check() is False and holder.current is served
    assert "cannot read the file" in holder.last_error
    write(path, dump([plan("a")]))
    assert holder.check() is False and holder.current is served and holder.last_error is None


def test_the_holder_refuses_to_start_on_an_invalid_file(tmp_path):
    path = tmp_path / "plans.yaml"
    write(path, b"plans: [")
    holder = CatalogueHolder(path, reload_s=0)
    with pytest.raises(CatalogueError):
        asyncio.run(holder.start())
    with pytest.raises(Exception, match="not loaded"):
        _ = holder.current


def test_the_holder_checks_model_intents_on_reload(tmp_path):
    path = tmp_path / "plans.yaml"
    write(path, dump([plan("a")]))
    holder = CatalogueHolder(path, reload_s=0, intents=["get_refund"])
    holder.load()
    write(path, dump([plan("a", intents={"complaint": 0.5})]))
    assert holder.check() is False
    assert "served by no plan" in holder.last_error and holder.current.plans[0].intents == {"get_refund": 0.8}


# --- the command ----------------------------------------------------------------------------------------------------


def test_catalogue_check_prints_a_summary_for_the_shipped_file(capsys):
    assert cli_main(["catalogue", "check"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_CATALOGUE_PATH}: valid" in out and "kinds: contact" in out
    assert "  track_order " in out and "order_tracking_link 0.95" in out


def test_catalogue_check_exits_2_with_every_problem(tmp_path, capsys):
    path = tmp_path / "plans.yaml"
    path.write_bytes(dump([plan("a", eligibility={"segments": ["vip"]}), plan("a")]))
    assert cli_main(["catalogue", "check", "--path", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown segment 'vip'" in err and "plan 'a'" in err
    assert cli_main(["catalogue", "check", "--path", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_catalogue_check_against_the_model_intents(tmp_path, capsys, monkeypatch):
    repository = tmp_path / "repo"
    version = repository / "infogap_text" / "3"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(b"")
    (version / "labels.json").write_text(json.dumps({"intents": [*default_intents(), "out_of_scope"]}))
    monkeypatch.setenv("INFOGAP_MODEL_REPOSITORY", str(repository))
    assert cli_main(["catalogue", "check", "--intents-from-model"]) == 0
    assert "covers every one of the 32 intents of infogap_text/3" in capsys.readouterr().out

    (version / "labels.json").write_text(json.dumps({"intents": [*default_intents(), "gift_wrap"]}))
    assert cli_main(["catalogue", "check", "--intents-from-model"]) == 2
    assert "intent 'gift_wrap' is served by no plan" in capsys.readouterr().err

    monkeypatch.setenv("INFOGAP_MODEL_REPOSITORY", str(tmp_path / "empty"))
    assert cli_main(["catalogue", "check", "--intents-from-model"]) == 2
    assert "--intents-from-model" in capsys.readouterr().err
