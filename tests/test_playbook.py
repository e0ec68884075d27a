"""The session playbook: the shipped file against the ABCD policy files it is derived from, the action mask
(allowed, next_step, progress), refusal of bad files with every problem named, and `infogap playbook check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infogap_server.cli import main as cli_main
from infogap_server.services.playbook import (
    DEFAULT_PLAYBOOK_PATH,
    UNKNOWN_GROUP,
    Action,
    IntentPlay,
    Playbook,
    PlaybookError,
    load_playbook,
    missing_intents,
    parse_playbook,
)
from infogap_server.settings import PROJECT_ROOT

TRAINING_TSV = PROJECT_ROOT / "server" / "infogap_server" / "training" / "data" / "intents_en_train.tsv"
ABCD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "abcd"
PRODUCT_ACTIONS = {"offer_plan", "apologise", "escalate_to_human", "ask_clarifying_question"}


def default_intents() -> list[str]:
    """The 32-intent taxonomy the default text model is trained on (its labels, less out_of_scope)."""
    rows = TRAINING_TSV.read_text(encoding="utf-8").splitlines()[1:]
    return sorted({row.split("\t")[1] for row in rows} - {"out_of_scope"})


def abcd(name: str) -> Any:
    """One of the ABCD policy files; they are always beside the project in CI, so their absence is a failure."""
    path = ABCD / name
    assert path.is_file(), f"the ABCD policy file {path} is missing (see /work/shared/data/README.md)"
    return json.loads(path.read_text(encoding="utf-8"))


def snake(name: str) -> str:
    return name.replace("-", "_")


@pytest.fixture(scope="module")
def shipped() -> Playbook:
    return load_playbook()


# --- the shipped playbook -------------------------------------------------------------------------------------------


def test_the_shipped_playbook_loads_and_covers_every_intent_of_the_default_taxonomy(shipped: Playbook):
    intents = default_intents()
    assert len(intents) == 32
    assert set(shipped.intents) == set(intents)
    assert missing_intents(shipped, [*intents, "out_of_scope"]) == []
    assert shipped.version.startswith("playbook-") and len(shipped.version) == len("playbook-") + 12
    assert load_playbook(DEFAULT_PLAYBOOK_PATH).version == shipped.version
    assert shipped.always_allowed == ("apologise", "ask_clarifying_question", "offer_plan", "escalate_to_human")
    assert all(300 <= play.sla_target_s <= 1800 for play in shipped.intents.values())
    groups = shipped.groups()
    assert UNKNOWN_GROUP in groups and list(groups) == sorted(groups) and 7 <= len(groups) <= 9


def test_the_vocabulary_holds_every_abcd_action_in_its_group_and_the_product_actions(shipped: Playbook):
    ontology = abcd("ontology.json")["actions"]
    expected = {snake(action): group for group, actions in ontology.items() for action in actions}
    assert len(expected) == 30
    assert {name: a.group for name, a in shipped.actions.items() if a.group != "product"} == expected
    assert {name for name, a in shipped.actions.items() if a.group == "product"} == PRODUCT_ACTIONS
    assert [name for name, a in shipped.actions.items() if a.repeatable] == []


def test_every_abcd_derived_intent_follows_its_subflow_in_kb_json(shipped: Playbook):
    kb = abcd("kb.json")
    subflows = abcd("ontology.json")["intents"]["subflows"]
    derived = {name: play for name, play in shipped.intents.items() if play.subflow is not None}
    assert len(derived) >= 15
    for name, play in derived.items():
        flow, _, subflow = play.subflow.partition("/")
        assert subflow in subflows.get(flow, ()), f"{name}: ABCD has no subflow {play.subflow}"
        assert play.steps == tuple(snake(a) for a in kb[subflow]), name
    expected = {"get_refund": "product_defect/refund_initiate", "track_refund": "product_defect/refund_status",
                "recover_password": "account_access/recover_password", "cancel_order": "order_issue/manage_cancel",
                "track_order": "manage_account/status_shipping_question", "place_order": "order_issue/manage_create",
                "change_shipping_address": "shipping_issue/manage", "check_refund_policy": "storewide_query/policy"}
    assert {name: shipped.intents[name].subflow for name in expected} == expected


def test_the_shipped_file_credits_abcd_and_quotes_none_of_its_text(shipped: Playbook):
    header = DEFAULT_PLAYBOOK_PATH.read_text(encoding="utf-8")
    for credit in ("ABCD", "Chen", "NAACL 2021", "MIT", "asappresearch/abcd", "ASAPP"):
        assert credit in header
    guidelines = json.dumps(abcd("guidelines.json")).lower()
    for action in shipped.actions.values():
        assert action.description.lower().rstrip(".") not in guidelines, action.name


# --- the mask -------------------------------------------------------------------------------------------------------


def test_a_session_whose_need_is_unknown_may_take_only_the_always_allowed_actions(shipped: Playbook):
    always = ("offer_plan", "apologise", "escalate_to_human", "ask_clarifying_question")  # vocabulary order
    for intent in (None, "", "gift_wrap"):
        assert shipped.group_of(intent) == UNKNOWN_GROUP
        assert shipped.next_step(intent, ()) is None
        assert shipped.progress(intent, ()) == 0
        assert shipped.allowed(intent, ()) == always
    assert shipped.group_of("get_refund") == "refund"


def test_the_procedure_is_followed_one_step_at_a_time(shipped: Playbook):
    steps = shipped.intents["get_refund"].steps
    assert steps == ("pull_up_account", "validate_purchase", "record_reason", "enter_details", "offer_refund")
    done: list[str] = []
    for index, step in enumerate(steps):
        assert shipped.progress("get_refund", done) == index
        assert shipped.next_step("get_refund", done) == step
        allowed = shipped.allowed("get_refund", done)
        assert step in allowed
        assert not set(steps[index + 1:]) & set(allowed)  # no step can be skipped
        assert not set(steps[:index]) & set(allowed)  # nor a finished one repeated
        assert "search_faq" not in allowed  # an action the procedure does not use
        done.append(step)
    assert shipped.next_step("get_refund", done) is None
    assert shipped.progress("get_refund", done) == len(steps)
    assert shipped.allowed("get_refund", done) == shipped.allowed(None, ())


def test_a_skipped_step_is_still_the_next_one_and_progress_stops_there(shipped: Playbook):
    done = {"pull_up_account", "record_reason"}  # validate_purchase skipped
    assert shipped.next_step("get_refund", done) == "validate_purchase"
    assert shipped.progress("get_refund", done) == 1
    assert "enter_details" not in shipped.allowed("get_refund", done)
    done.add("validate_purchase")  # once it is done, the procedure resumes after the step already done
    assert shipped.next_step("get_refund", done) == "enter_details"
    assert shipped.progress("get_refund", done) == 3


def test_a_done_non_repeatable_action_is_not_allowed_again_and_a_repeatable_one_is(shipped: Playbook):
    done = ["apologise", "ask_clarifying_question", "ask_clarifying_question"]
    allowed = shipped.allowed("track_order", done)
    assert allowed == ("pull_up_account", "offer_plan", "escalate_to_human")
    text = DEFAULT_PLAYBOOK_PATH.read_text().replace(
        "description: Ask the customer a question that pins down what they need.\n",
        "description: Ask the customer a question that pins down what they need.\n    repeatable: true\n")
    repeating = parse_playbook(text)
    assert repeating.allowed("track_order", done) == ("pull_up_account", "offer_plan", "escalate_to_human",
                                                      "ask_clarifying_question")


def test_an_always_allowed_step_counts_when_done_early(shipped: Playbook):
    # complaint: pull_up_account, record_reason, apologise, notify_team, offer_plan
    done = ["apologise", "pull_up_account", "record_reason"]
    assert shipped.next_step("complaint", done) == "notify_team"
    assert shipped.progress("complaint", done) == 3
    assert "apologise" not in shipped.allowed("complaint", done)


def test_the_playbook_is_immutable(shipped: Playbook):
    with pytest.raises(TypeError):
        shipped.actions["new"] = Action("new", "product", "x", False)  # type: ignore[index]
    assert isinstance(shipped.intents["review"], IntentPlay)


# --- bad files ------------------------------------------------------------------------------------------------------


def small(**changes: Any) -> dict[str, Any]:
    """A valid playbook as the YAML holds it, with top-level ``changes``."""
    document: dict[str, Any] = {
        "actions": [
            {"name": "pull_up_account", "group": "interaction", "description": "Open the account."},
            {"name": "offer_refund", "group": "interaction", "description": "Offer a refund."},
            {"name": "apologise", "group": "product", "description": "Say sorry."},
        ],
        "always_allowed": ["apologise"],
        "intents": [
            {"intent": "get_refund", "group": "refund", "subflow": None,
             "steps": ["pull_up_account", "offer_refund"], "sla_target_s": 900},
            {"intent": "track_order", "group": "order", "steps": ["pull_up_account"], "sla_target_s": 300},
        ],
    }
    document.update(changes)
    return document


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def test_a_small_playbook_parses():
    playbook = parse_playbook(dump(small()))
    assert list(playbook.actions) == ["pull_up_account", "offer_refund", "apologise"]
    assert playbook.intents["track_order"] == IntentPlay("track_order", "order", None, ("pull_up_account",), 300.0)
    assert playbook.groups() == ("order", "refund", UNKNOWN_GROUP)
    assert playbook.allowed("get_refund", ["pull_up_account"]) == ("offer_refund", "apologise")


def test_every_problem_is_reported_at_once_naming_the_entry_line_and_field(tmp_path: Path):
    document = small()
    document["actions"][1]["colour"] = "red"
    document["intents"][0]["steps"] = ["pull_up_account", "ofer_refund"]
    document["intents"][1]["steps"] = []
    document["intents"][1]["sla_target_s"] = 0
    document["always_allowed"] = ["apologise", "smile"]
    path = tmp_path / "playbook.yaml"
    path.write_text(dump(document))
    with pytest.raises(PlaybookError) as raised:
        load_playbook(path)
    error = raised.value
    assert error.message.startswith(f"{path}: invalid playbook (5 problems)"), error.message
    assert error.problems == (
        "action 'offer_refund' (line 5): colour: unknown field; the fields here are name, group, description, "
        "repeatable",
        "always_allowed (line 14): unknown action 'smile'; name an action of `actions`",
        "intent 'get_refund' (line 16): steps: step 2: unknown action 'ofer_refund' (did you mean offer_refund?); "
        "name an action of `actions`",
        "intent 'track_order' (line 23): steps: the list is empty; a need's procedure has at least one step",
        "intent 'track_order' (line 23): sla_target_s: must be above 0 and at most 604800 seconds (a week); got 0",
    )
    assert error.code.name == "UNAVAILABLE"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["actions"].append(dict(d["actions"][0])),
     "action 'pull_up_account' (line 11): name: duplicate; the action at line 2 has the same name"),
    (lambda d: d["intents"].append(dict(d["intents"][1])),
     "intent 'track_order' (line 26): intent: duplicate; the intent at line 21 has the same intent"),
    (lambda d: d["actions"][0].update(name="Pull-Up"), "action 'Pull-Up' (line 2): name: must start with a lowercase"),
    (lambda d: d["actions"][0].update(group="kbquery"), "group: Input should be 'kb_query'"),
    (lambda d: d["intents"][0].update(group="unknown"), "group: 'unknown' is reserved"),
    (lambda d: d["intents"][0].update(intent="out_of_scope"), "out_of_scope is not an intent"),
    (lambda d: d["intents"][0].update(steps=["pull_up_account", "offer_refund", "pull_up_account"]),
     "steps: step 3: pull_up_account is listed twice"),
    (lambda d: d["intents"][0].update(sla_target_s=-5), "sla_target_s: must be above 0"),
    (lambda d: d["intents"][0].pop("sla_target_s"), "sla_target_s: missing; every intent needs it"),
    (lambda d: d.update(version=2), "unknown top-level key 'version'"),
    (lambda d: d.pop("always_allowed"), "always_allowed: missing; every playbook needs it"),
    (lambda d: d.update(intents=[]), "intents: the list is empty"),
])
def test_a_bad_file_is_refused_with_the_field_named(change, expected: str):
    document = small()
    change(document)
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(dump(document), "t.yaml")
    assert any(expected in problem for problem in raised.value.problems), raised.value.message


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty"),
    ("- a\n", "must be a mapping"),
    ("actions: [\n", "YAML syntax error at line 2"),
    ("actions: []\nactions: []\n", "the key 'actions' is given twice"),
])
def test_malformed_documents_are_refused(text: str, expected: str):
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(text, "t.yaml")
    assert expected in raised.value.message


def test_an_unreadable_file_is_refused(tmp_path: Path):
    with pytest.raises(PlaybookError, match="cannot read the file"):
        load_playbook(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"actions: [\xe9]\n")
    with pytest.raises(PlaybookError, match="not UTF-8"):
        load_playbook(tmp_path / "latin1.yaml")


def test_missing_intents_ignores_out_of_scope():
    playbook = parse_playbook(dump(small()))
    assert missing_intents(playbook, ["out_of_scope", "get_refund", "cancel_order", "complaint"]) == \
        ["cancel_order", "complaint"]


def test_serving_the_playbook_imports_neither_torch_nor_training_nor_learning():
    code = ("import sys; import infogap_server.services.playbook as p; p.load_playbook(); "
            "print(sorted(m for m in sys.modules if m.startswith("
            "('torch', 'infogap_server.training', 'infogap_server.learning'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    source = Path(sys.modules[Playbook.__module__].__file__).read_text()
    assert "\nimport re\n" not in source and "from re import" not in source


# --- the command ----------------------------------------------------------------------------------------------------


def test_playbook_check_prints_a_summary_for_the_shipped_file(capsys):
    assert cli_main(["playbook", "check"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_PLAYBOOK_PATH}: ok, 34 actions, 32 intents in 8 groups" in out
    assert "kb_query 6, interaction 10, faq_policy 14, product 4" in out
    assert "product_defect/refund_initiate" in out


def test_playbook_check_exits_2_with_every_problem(tmp_path: Path, capsys):
    document = small()
    document["intents"][0]["steps"] = []
    document["always_allowed"] = ["smile"]
    path = tmp_path / "playbook.yaml"
    path.write_text(dump(document))
    assert cli_main(["playbook", "check", "--path", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "unknown action 'smile'" in err and "steps: the list is empty" in err
    assert cli_main(["playbook", "check", "--path", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_playbook_check_against_the_model_intents(tmp_path: Path, capsys, monkeypatch):
    repository = tmp_path / "repo"
    version = repository / "infogap_text" / "3"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(b"")
    (version / "labels.json").write_text(json.dumps({"intents": [*default_intents(), "out_of_scope"]}))
    monkeypatch.setenv("INFOGAP_MODEL_REPOSITORY", str(repository))
    assert cli_main(["playbook", "check", "--intents-from-model"]) == 0
    assert "covers every one of the 32 intents of infogap_text/3" in capsys.readouterr().out

    others = [i for i in default_intents() if i != "review"]
    (version / "labels.json").write_text(json.dumps({"intents": [*others, "gift_wrap"]}))
    assert cli_main(["playbook", "check", "--intents-from-model"]) == 2
    err = capsys.readouterr().err
    assert "intent 'gift_wrap' has no entry" in err and "intent 'review': the text model has no such intent" in err

    monkeypatch.setenv("INFOGAP_MODEL_REPOSITORY", str(tmp_path / "empty"))
    assert cli_main(["playbook", "check", "--intents-from-model"]) == 2
    assert "--intents-from-model" in capsys.readouterr().err
