"""Behavioural tests of the intent model in the spirit of CheckList (Ribeiro et al., ACL 2020): ``infogap checklist``.

The suite (``training/data/checklist_v1.yaml``, versioned: a change of its cases bumps the version) holds
hand-written cases of two kinds; the runner derives the third:

- **MFT**, minimum functionality: plainly worded messages per intent, each of which must get its intent as the
  top answer (out-of-scope ones must be flagged by the model's out-of-scope rule).
- **INV**, invariance: the need stays the same while the wording changes. Each in-scope MFT message is perturbed
  by the functions of :data:`PERTURBATIONS` (anger, politeness, urgency, extra context, typos) and refilled with
  other names, order numbers, amounts and dates where its template has those placeholders. A case fails when the
  perturbed message's top intent differs from the unperturbed one's, right or wrong (CheckList's definition).
- **DIR**, directional: a small edit (a negation, a change of mind: "not any more") turns the need into another
  named intent; a case fails unless the edited message gets that intent.

Every perturbation draws from a random generator seeded by the suite version and the case, so a suite version
always yields the same cases. Failing cases are for reading, never for training: wording that fixes a failure is
written anew for the corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infogap_server.models.scoring import score, softmax

SUITE_PATH = Path(__file__).parent / "data" / "checklist_v1.yaml"
PLACEHOLDERS = ("name", "order", "amount", "date")
OUT_OF_SCOPE = "out_of_scope"
#: The issue's targets: failure rates at most these, per test type.
TARGETS = {"inv": 0.02, "mft": 0.03}
_SLOT = re.compile(r"\{(\w+)\}")


class SuiteError(ValueError):
    """The suite file is malformed; the message names the case."""


def _wrap(prefixes: Sequence[str], suffixes: Sequence[str]) -> Callable[[str, random.Random], str]:
    def perturb(text: str, rng: random.Random) -> str:
        if rng.random() < 0.5:
            return rng.choice(prefixes) + text
        return text.rstrip() + rng.choice(suffixes)

    return perturb


def _typos(text: str, rng: random.Random) -> str:
    """One or two swaps of adjacent letters inside words of four letters or more (CheckList's add_typos)."""
    out = list(text)
    for _ in range(rng.choice((1, 2))):
        spots = [m.start() + k for m in re.finditer(r"[A-Za-z]{4,}", "".join(out))
                 for k in range(1, len(m.group()) - 2)]
        if not spots:
            break
        i = rng.choice(spots)
        out[i], out[i + 1] = out[i + 1], out[i]
    return "".join(out)


#: The suite's own wrappers (the training augmentation, training/augment.py, has other phrases): name ->
#: (openings, closings).
WRAPPERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "anger": (
        ("This is ridiculous. ", "I'm so fed up with you lot. ", "Honestly I'm furious right now. ",
         "Unbelievable, again. ", "I AM SO ANGRY. "),
        (" This is so frustrating!", " I'm really angry about this.", " Sort it out!!!",
         " Absolutely fed up with your company.", " Worst experience ever."),
    ),
    "politeness": (
        ("Hi there, hope you're well. ", "Good morning! ", "Hello, sorry to bother you. ", "Dear team, ",
         "Hi, quick one please. "),
        (" Thank you so much!", " Many thanks in advance.", " Thanks, have a lovely day.", " Cheers!",
         " I'd really appreciate your help."),
    ),
    "urgency": (
        ("URGENT: ", "Please, this is urgent. ", "Need help right now. "),
        (" I need this sorted today!", " It's urgent, please.", " ASAP please.", " Please hurry!",
         " I need an answer within the hour."),
    ),
    "extra_context": (
        ("I've been a customer for years and never had to write before. ", "I'm writing from my phone on the train. ",
         "My daughter usually handles this but she's away. ", "Second time writing today. ",
         "I tried the help pages first. "),
        (" I'm at work until six.", " My usual card is in my other wallet, by the way.",
         " I saw your advert on TV last week.", " Sorry for the long message.", " This is my first time using chat."),
    ),
}
#: Wording changes that leave the customer's need as it is (each applied twice per message, seeded).
PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    **{name: _wrap(*phrases) for name, phrases in WRAPPERS.items()},
    "typos": _typos,
}
VARIANTS_PER_PERTURBATION = 2


@dataclass(frozen=True)
class Case:
    kind: str  # mft, inv or dir
    test: str  # mft:<intent>, inv:<perturbation>, dir:<type>
    text: str
    expected: str  # the intent (mft, dir) or, for inv, the text whose answer must not change
    base: str = ""  # inv and dir: the unperturbed message


@dataclass
class Suite:
    version: int
    placeholders: dict[str, list[str]]
    mft: dict[str, list[str]]
    dir: list[dict]
    path: Path = field(default=SUITE_PATH)

    def fill(self, template: str, choice: dict[str, int] | None = None) -> str:
        choice = choice or {}
        return _SLOT.sub(lambda m: self.placeholders[m.group(1)][choice.get(m.group(1), 0)], template)


def load_suite(path: Path = SUITE_PATH) -> Suite:
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("version"), int):
        raise SuiteError(f"{path}: needs an integer 'version'")
    placeholders = raw.get("placeholders") or {}
    for name in PLACEHOLDERS:
        values = placeholders.get(name)
        if not isinstance(values, list) or len(values) < 2 or not all(isinstance(v, str) for v in values):
            raise SuiteError(f"{path}: placeholders.{name} needs a list of at least two strings")
    mft = raw.get("mft") or {}
    if not isinstance(mft, dict) or not mft:
        raise SuiteError(f"{path}: 'mft' needs texts per intent")
    texts = [(f"mft.{intent}", t) for intent, items in mft.items() for t in (items or [])]
    directional = raw.get("dir") or []
    for i, case in enumerate(directional):
        for side in ("base", "variant"):
            if not isinstance(case.get(side), dict) or not case[side].get("text") or not case[side].get("intent"):
                raise SuiteError(f"{path}: dir[{i}].{side} needs a text and an intent")
            texts.append((f"dir[{i}].{side}", case[side]["text"]))
        if case["base"]["intent"] == case["variant"]["intent"]:
            raise SuiteError(f"{path}: dir[{i}]: the variant's intent must differ from the base's")
    for where, text in texts:
        if not isinstance(text, str) or not text.strip():
            raise SuiteError(f"{path}: {where}: empty text")
        unknown = set(_SLOT.findall(text)) - set(PLACEHOLDERS)
        if unknown:
            raise SuiteError(f"{path}: {where}: unknown placeholder(s) {sorted(unknown)} in {text!r}")
    return Suite(raw["version"], placeholders, mft, directional, Path(path))


def cases(suite: Suite) -> list[Case]:
    """Every case of the suite, the same list for the same suite version."""
    out: list[Case] = []
    for intent, templates in suite.mft.items():
        for n, template in enumerate(templates):
            base = suite.fill(template)
            out.append(Case("mft", f"mft:{intent}", base, intent))
            if intent == OUT_OF_SCOPE:
                continue
            for name, perturb in PERTURBATIONS.items():
                rng = random.Random(f"{suite.version}:{intent}:{n}:{name}")
                variants = {perturb(base, rng) for _ in range(VARIANTS_PER_PERTURBATION)} - {base}
                out += [Case("inv", f"inv:{name}", v, base, base) for v in sorted(variants)]
            for slot in sorted(set(_SLOT.findall(template))):
                for k in range(1, len(suite.placeholders[slot])):
                    variant = suite.fill(template, {slot: k})
                    out.append(Case("inv", f"inv:{slot}", variant, base, base))
    for case in suite.dir:
        variant = suite.fill(case["variant"]["text"])
        out.append(Case("dir", f"dir:{case.get('type', 'directional')}", variant, case["variant"]["intent"],
                        suite.fill(case["base"]["text"])))
    return out


@dataclass(frozen=True)
class Answer:
    intent: str  # the top intent
    out_of_scope: bool  # the model's out-of-scope rule flags the message


def onnx_predictor(folder: Path, model_path: Path | None = None) -> Callable[[list[str]], list[Answer]]:
    """Answers of a text-model version folder (its ``model.onnx`` unless ``model_path`` is given): the top intent
    and the out-of-scope rule of its ``labels.json``, computed as IdentifyNeeds computes them."""
    import onnxruntime as ort

    from infogap_server.models.repository import MODEL_FILE, TextModelInfo
    from infogap_server.models.tensors import EMBEDDING, INTENT_LOGITS, TEXT_INPUTS
    from infogap_server.training.build import _Tokenize

    info = TextModelInfo.read(folder.parent.parent, folder.parent.name, int(folder.name))
    session = ort.InferenceSession(str(model_path or folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    tokenize = _Tokenize(info.tokenizer_path, info.max_sequence_tokens)

    def predict(texts: list[str]) -> list[Answer]:
        answers: list[Answer] = []
        for i in range(0, len(texts), 64):
            ids, mask = tokenize(texts[i : i + 64])
            logits, embedding = session.run([INTENT_LOGITS, EMBEDDING], dict(zip(TEXT_INPUTS, (ids, mask),
                                                                                      strict=True)))
            in_scope = score(info.out_of_scope_score, logits, embedding, info.centroids)
            top = softmax(logits).argmax(axis=1)
            answers += [Answer(info.intents[k], bool(s < info.out_of_scope_threshold))
                        for k, s in zip(top, in_scope, strict=True)]
        return answers

    return predict


def run(suite: Suite, predict: Callable[[list[str]], list[Answer]]) -> dict:
    """The suite's failure rates per type and per test, with the failing cases."""
    all_cases = cases(suite)
    texts = sorted({c.text for c in all_cases} | {c.base for c in all_cases if c.base})
    answers = dict(zip(texts, predict(texts), strict=True))
    by_test: dict[str, dict] = {}
    failures: list[dict] = []
    for case in all_cases:
        got = answers[case.text]
        if case.kind == "inv":
            expected = answers[case.base].intent
            failed = got.intent != expected
        elif case.expected == OUT_OF_SCOPE:
            expected, failed = OUT_OF_SCOPE, not got.out_of_scope
        else:
            expected, failed = case.expected, got.intent != case.expected
        row = by_test.setdefault(case.test, {"cases": 0, "failures": 0})
        row["cases"] += 1
        row["failures"] += int(failed)
        if failed:
            failures.append({"test": case.test, "text": case.text, "expected": expected,
                             "got": OUT_OF_SCOPE if case.expected == OUT_OF_SCOPE else got.intent})
    by_type: dict[str, dict] = {}
    for test, row in by_test.items():
        total = by_type.setdefault(test.split(":")[0], {"cases": 0, "failures": 0})
        total["cases"] += row["cases"]
        total["failures"] += row["failures"]
    for row in [*by_test.values(), *by_type.values()]:
        row["failure_rate"] = round(row["failures"] / row["cases"], 4)
    in_scope_flagged = sum(answers[c.text].out_of_scope for c in all_cases
                           if c.kind == "mft" and c.expected != OUT_OF_SCOPE)
    return {
        "suite": str(suite.path.name),
        "suite_version": suite.version,
        "by_type": dict(sorted(by_type.items())),
        "targets": TARGETS,
        "met": all(by_type.get(k, {}).get("failure_rate", 0.0) <= v for k, v in TARGETS.items()),
        "mft_in_scope_flagged_out_of_scope": int(in_scope_flagged),
        "by_test": dict(sorted(by_test.items())),
        "failures": failures,
    }


def format_report(report: dict, show_failures: int = 20) -> str:
    lines = [f"CheckList suite {report['suite']} (version {report['suite_version']})",
             f"{'type':6} {'cases':>7} {'failures':>9} {'rate':>7}  target"]
    for kind, row in report["by_type"].items():
        target = report["targets"].get(kind)
        lines.append(f"{kind:6} {row['cases']:7d} {row['failures']:9d} {row['failure_rate']:7.2%}  "
                     + (f"<= {target:.0%}" if target is not None else "(reported)"))
    lines.append(f"{'test':28} {'cases':>7} {'failures':>9} {'rate':>7}")
    for test, row in report["by_test"].items():
        if not test.startswith("mft:") or row["failures"]:
            lines.append(f"{test:28} {row['cases']:7d} {row['failures']:9d} {row['failure_rate']:7.2%}")
    lines.append(f"MFT in-scope messages also flagged out of scope by the rule: "
                 f"{report['mft_in_scope_flagged_out_of_scope']}")
    for f in report["failures"][:show_failures]:
        lines.append(f"FAIL {f['test']}: expected {f['expected']}, got {f['got']}: {f['text']}")
    if len(report["failures"]) > show_failures:
        lines.append(f"... {len(report['failures']) - show_failures} more failures (--show-failures N, --json)")
    lines.append("targets met" if report["met"] else "targets NOT met")
    return "\n".join(lines)


def summary(report: dict) -> dict:
    """The per-type figures of a report, for a model card."""
    return {"suite": report["suite"], "suite_version": report["suite_version"], "by_type": report["by_type"],
            "met": report["met"], "failures_by_test": {t: r["failures"] for t, r in report["by_test"].items()
                                                       if r["failures"]}}
