"""The plan catalogue: the service plans Recommend may offer, read from a YAML file a business edits.

The file format is documented at the top of the shipped catalogue (``services/data/plans.yaml``) and in the
README ("Plan catalogue"). This module

- parses and validates a file into an immutable :class:`Catalogue` (pydantic models with unknown keys refused,
  then cross-checks across plans); every problem is reported at once, each naming the file, the plan id, its line
  and the field;
- decides which plans a contact is eligible for (:func:`eligible`, :func:`filter_plans`), with the reason for
  every exclusion, so that later stages can show them in a debug field;
- keeps the catalogue current while the server runs (:class:`CatalogueHolder`): it polls the file and swaps in a
  new version only once it has loaded and checked it, never losing the one it serves.

Unknown values (the rule for missing context): a rule can only be checked on what is known. When the contact does
not carry the value a rule is about (no order given, no churn risk, an anonymous customer with no segment, no
channel), the rule does not exclude the plan: the plan stays, and its verdict lists the rule as not checked so
that the agent checks it. This is what a business expects from a service desk: a customer asking for a refund is
shown the refund plan even when the chat front end did not send the order, rather than having every order-bound
plan silently disappear. Plans that should be offered only on evidence (a retention voucher for customers at high
churn risk) name the rule in ``eligibility.exclude_when_unknown``, and are then excluded whenever its value is
unknown.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import logging
import math
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import grpc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infogap_server.errors import InfogapError, InvalidArgument, Unavailable
from infogap_server.services.customers import SEGMENTS
from infogap_server.services.patterns import compile_pattern
from infogap_server.tasks import cancel_and_wait

log = logging.getLogger("infogap.catalogue")

#: The catalogue shipped with the server (the default of the ``catalogue_path`` setting).
DEFAULT_CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "plans.yaml"

#: Kinds of plan: resolution (fixes the problem), offer (a commercial gesture), product (a product suggestion),
#: information (an answer or link for self-service), contact (puts a person in touch).
KINDS = ("resolution", "offer", "product", "information", "contact")

#: Channels a contact may come through: chat (live chat, messaging), email, phone (voice), app (in-app), web
#: (self-service forms and the help centre), social (messages on social networks).
CHANNELS = ("chat", "email", "phone", "app", "web", "social")

#: The eligibility rules a plan may set, in the order they are checked.
RULES = ("order_age_days", "order_amount", "churn_risk", "segments", "channels")

#: A message the text model finds out of scope gets no plan; no plan may claim to serve it.
OUT_OF_SCOPE = "out_of_scope"

#: Plan ids and intent names: lowercase letters, digits and underscores, starting with a letter, at most 64.
PLAN_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_ID = compile_pattern("catalogue.plan_id", r"[a-z][a-z0-9_]{0,63}")

PlanKind = Literal["resolution", "offer", "product", "information", "contact"]
RuleName = Literal["order_age_days", "order_amount", "churn_risk", "segments", "channels"]


class ConfigFileError(InfogapError):
    """A file a business edits (the plan catalogue, the session playbook) that cannot be served, with every problem
    found, each naming the entry, its line and the field. UNAVAILABLE when it reaches a caller: the server then has
    no such file to serve from."""

    code = grpc.StatusCode.UNAVAILABLE
    #: What the file is, as the message names it.
    what = "file"

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = f"{len(self.problems)} problem" + ("s" if len(self.problems) != 1 else "")
        super().__init__(f"{source}: invalid {self.what} ({count}):\n" + "\n".join(f"  - {p}" for p in problems))


class CatalogueError(ConfigFileError):
    """A catalogue file that cannot be served (:class:`ConfigFileError`). Raised by :func:`load_catalogue` and
    :func:`parse_catalogue`. While serving, :class:`CatalogueHolder` catches it and keeps the catalogue it has; it
    reaches a caller only when no catalogue was ever loaded."""

    what = "plan catalogue"


def parse_yaml(text: str, source: str, error: type[ConfigFileError]) -> tuple[Any, Any]:
    """A business file's YAML: (its root node, for line numbers, and the document), or ``error`` naming the place.
    A key given twice in one mapping is refused rather than the last kept silently (:class:`_Loader`)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown place"
        if isinstance(exc, yaml.constructor.ConstructorError):  # well-formed YAML, but not a usable document
            raise error(source, [f"YAML error at {at}: {exc.problem}"]) from None
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise error(source, [f"YAML syntax error at {at}: {what}"]) from None
    except yaml.YAMLError as exc:
        raise error(source, [f"YAML error: {exc}"]) from None
    finally:
        loader.dispose()
    return node, document


# ------------------------------------------------------------------------------------------------------------------
# The file's schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """Inclusive bounds on a number; either may be left out."""

    min: float | None = Field(None, ge=0, allow_inf_nan=False, description="Smallest allowed value.")
    max: float | None = Field(None, ge=0, allow_inf_nan=False, description="Largest allowed value.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (or leave the rule out)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({_num(self.min)}) is greater than max ({_num(self.max)})")
        return self

    def admits(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        """The bounds in words: 'at most 30', 'at least 7', 'from 7 to 120'."""
        if self.min is not None and self.max is not None:
            return f"from {_num(self.min)} to {_num(self.max)}"
        if self.max is not None:
            return f"at most {_num(self.max)}"
        return f"at least {_num(self.min)}"


class RiskRange(Range):
    """Inclusive bounds on a probability."""

    min: float | None = Field(None, ge=0, le=1, allow_inf_nan=False, description="Smallest allowed risk.")
    max: float | None = Field(None, ge=0, le=1, allow_inf_nan=False, description="Largest allowed risk.")


class Eligibility(_Strict):
    """When a plan may be offered; every rule is optional and a plan without rules is open to every contact."""

    order_age_days: Range | None = Field(None, description="Days since the order was placed.")
    order_amount: Range | None = Field(None, description="Value of the order, in the shop's currency.")
    churn_risk: RiskRange | None = Field(None, description="The customer's churn risk, 0 to 1.")
    segments: tuple[str, ...] | None = Field(None, description="RFM segments allowed; unset allows all.")
    channels: tuple[str, ...] | None = Field(None, description="Channels allowed; unset allows all.")
    exclude_when_unknown: tuple[RuleName, ...] = Field(
        (), description="Rules whose value must be known: the plan is excluded when it is not."
    )

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _known_names(value, SEGMENTS, "segment")

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _known_names(value, CHANNELS, "channel")

    @model_validator(mode="after")
    def _unknown_rules_are_set(self) -> Eligibility:
        for rule in self.exclude_when_unknown:
            if getattr(self, rule) is None:
                raise ValueError(f"exclude_when_unknown names {rule}, but the plan has no {rule} rule")
        return self


class Plan(_Strict):
    """One service plan of the catalogue."""

    id: str = Field(pattern=PLAN_ID_PATTERN, description="Stable id: lowercase letters, digits, underscores.")
    kind: PlanKind = Field(description="resolution, offer, product, information or contact.")
    title: str = Field(min_length=1, max_length=80, description="Short name a service agent sees.")
    description: str = Field(
        min_length=10, max_length=600, description="What the plan does for the customer (matched to messages)."
    )
    intents: dict[str, float] = Field(description="Intents served -> prior affinity in [0, 1].")
    eligibility: Eligibility = Field(default_factory=Eligibility, description="When the plan may be offered.")
    cost: float = Field(ge=0, allow_inf_nan=False, description="Average cost of one use, in the shop's currency.")
    requires_approval: bool = Field(description="Whether a person must approve the plan before the customer gets it.")

    @field_validator("title", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("intents")
    @classmethod
    def _affinities(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("name at least one intent the plan serves")
        for intent, affinity in value.items():
            if intent == OUT_OF_SCOPE:
                raise ValueError(f"{OUT_OF_SCOPE} is not an intent: a message out of scope gets no plan")
            if not _is_id(intent):
                raise ValueError(f"{intent!r} is not an intent name (lowercase letters, digits, underscores)")
            if not math.isfinite(affinity) or not 0 <= affinity <= 1:
                raise ValueError(f"affinity of {intent} is {_num(affinity)}; it must be from 0 to 1")
        return value

    def affinity(self, intent: str) -> float:
        """The prior affinity of this plan for ``intent``; 0 when it does not serve it."""
        return self.intents.get(intent, 0.0)


_TOP_LEVEL_KEYS = ("plans",)
#: The model that parses the fields under each location of a plan, for "unknown field" suggestions.
_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): Plan,
    ("eligibility",): Eligibility,
    ("eligibility", "order_age_days"): Range,
    ("eligibility", "order_amount"): Range,
    ("eligibility", "churn_risk"): RiskRange,
}


def _known_names(value: tuple[str, ...] | None, known: Sequence[str], what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not value:
        raise ValueError(f"an empty list allows no {what}; leave the rule out to allow every {what}")
    for name in value:
        if name not in known:
            raise ValueError(f"unknown {what} {name!r}{_did_you_mean(name, known)}; the {what}s are {', '.join(known)}")
    if len(set(value)) != len(value):
        raise ValueError(f"a {what} is listed twice")
    return value


# ------------------------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class Catalogue:
    """A loaded, checked catalogue. Immutable: a new file makes a new one."""

    plans: tuple[Plan, ...]
    #: The first 16 hex digits of the SHA-256 of the file's bytes: the same file gives the same version anywhere.
    version: str
    #: Where it was read from (a path, or a name for text given directly).
    source: str
    by_id: Mapping[str, Plan] = field(init=False, repr=False, compare=False)
    _by_intent: Mapping[str, tuple[Plan, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.id: p for p in self.plans})
        by_intent: dict[str, list[Plan]] = {}
        for plan in self.plans:
            for intent in plan.intents:
                by_intent.setdefault(intent, []).append(plan)
        ranked = {i: tuple(sorted(ps, key=lambda p: (-p.affinity(i), p.id))) for i, ps in by_intent.items()}
        object.__setattr__(self, "_by_intent", ranked)

    @property
    def intents(self) -> frozenset[str]:
        """Every intent some plan serves."""
        return frozenset(self._by_intent)

    def plans_for(self, intent: str) -> tuple[Plan, ...]:
        """The plans that serve ``intent``, highest prior affinity first (ties by id); empty for an unknown one."""
        return self._by_intent.get(intent, ())

    def kinds(self) -> Counter[str]:
        """How many plans there are of each kind."""
        return Counter(p.kind for p in self.plans)

    def filter(self, context: Context) -> Filtered:
        """The plans serving the context's intent, split into eligible ones and excluded ones with reasons."""
        return filter_plans(self.plans_for(context.intent), context)


def load_catalogue(path: Path, *, intents: Iterable[str] | None = None) -> Catalogue:
    """Read and check the catalogue file at ``path``; raises :class:`CatalogueError` naming every problem.

    With ``intents`` (the served text model's intents), every one must be served by some plan and no plan may
    name another intent.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogueError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    return parse_catalogue(data, str(path), intents=intents)


def parse_catalogue(data: bytes, source: str, *, intents: Iterable[str] | None = None) -> Catalogue:
    """Check a catalogue given as the file's bytes; ``source`` names it in messages. See :func:`load_catalogue`."""
    document, plan_lines = _read_yaml(data, source)
    raw_plans = _top_level(document, source)
    problems: list[str] = []
    plans: list[Plan] = []
    first_line_of: dict[str, int] = {}
    for index, raw in enumerate(raw_plans):
        line = plan_lines[index] if index < len(plan_lines) else 0
        where = _where(raw, index, line)
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a mapping of fields (id, kind, title, ...)")
            continue
        plan_id = raw.get("id")
        if isinstance(plan_id, str) and plan_id in first_line_of:  # checked on every plan, valid or not
            problems.append(f"{where}: id: duplicate; the plan at line {first_line_of[plan_id]} has the same id")
        elif isinstance(plan_id, str):
            first_line_of[plan_id] = line
        try:
            plan = Plan.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{where}: {_describe(error)}" for error in exc.errors())
            continue
        plans.append(plan)
    if intents is not None:
        problems.extend(_coverage_problems(plans, tuple(intents), first_line_of))
    if not raw_plans:
        problems.append("plans: the list is empty; a catalogue needs at least one plan")
    if problems:
        raise CatalogueError(source, problems)
    return Catalogue(tuple(plans), hashlib.sha256(data).hexdigest()[:16], source)


def text_model_intents(repository: Path, model: str, version: int | None = None) -> tuple[str, tuple[str, ...]]:
    """The intents of a text model in a model repository, as ``("name/version", intents)``; the version is the
    requested one or the highest present. Raises :class:`Unavailable` when the model or its labels are missing."""
    from infogap_server.models.repository import LABELS_FILE, resolve_version, version_dir

    resolved = resolve_version(repository, model, version)
    labels_file = version_dir(repository, model, resolved) / LABELS_FILE
    try:
        labels = json.loads(labels_file.read_text(encoding="utf-8"))
        intents = tuple(str(i) for i in labels["intents"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unavailable(f"model {model} version {resolved}: unreadable {LABELS_FILE}") from exc
    return f"{model}/{resolved}", tuple(i for i in intents if i != OUT_OF_SCOPE)


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain PyYAML keeps the last one silently, so a
    second ``max:`` would quietly replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(data: bytes, source: str) -> tuple[Any, list[int]]:
    """The parsed document and the line (1-based) where each entry of ``plans`` starts."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogueError(source, [f"the file is not UTF-8 text (byte {exc.start})"]) from None
    node, document = parse_yaml(text, source, CatalogueError)
    lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "plans" and isinstance(value_node, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value_node.value]
    return document, lines


def _top_level(document: Any, source: str) -> list[Any]:
    if document is None:
        raise CatalogueError(source, ["the file is empty; it needs a `plans:` list"])
    if not isinstance(document, dict):
        raise CatalogueError(source, ["the file must be a mapping with one key, `plans`"])
    unknown = [str(k) for k in document if k not in _TOP_LEVEL_KEYS]
    if unknown:
        raise CatalogueError(source, [f"unknown top-level key {k!r}; the file has one key, `plans`" for k in unknown])
    if not isinstance(document.get("plans"), list):
        raise CatalogueError(source, ["plans: must be a list of plans (each entry starting with `- id:`)"])
    return document["plans"]


def _where(raw: Any, index: int, line: int) -> str:
    plan_id = raw.get("id") if isinstance(raw, dict) else None
    name = f"plan {plan_id!r}" if isinstance(plan_id, str) and plan_id else f"plan #{index + 1} (no id)"
    return f"{name} (line {line})" if line else name


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as '<field>: <what is wrong>' in words a catalogue editor follows."""
    loc = tuple(str(part) for part in error["loc"])
    field_name = ".".join(loc) or "plan"
    kind = error["type"]
    if kind == "missing":
        return f"{field_name}: missing; every plan needs it"
    if kind == "extra_forbidden":
        model = _MODEL_AT.get(loc[:-1])
        known = tuple(model.model_fields) if model is not None else ()
        hint = f"{_did_you_mean(loc[-1], known)}; the fields here are {', '.join(known)}" if known else ""
        return f"{field_name}: unknown field{hint}"
    if kind == "string_pattern_mismatch" and loc == ("id",):
        return "id: must start with a lowercase letter and hold only lowercase letters, digits and underscores " \
               "(at most 64)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error") and "input" in error and _printable(error["input"]):
        message += f" (got {error['input']!r})"
    return f"{field_name}: {message}"


def _coverage_problems(plans: Sequence[Plan], intents: tuple[str, ...], line_of: Mapping[str, int]) -> list[str]:
    known = set(intents) - {OUT_OF_SCOPE}
    problems = []
    for plan in plans:
        for intent in plan.intents:
            if intent not in known:
                problems.append(
                    f"plan {plan.id!r} (line {line_of[plan.id]}): intents: the text model has no intent "
                    f"{intent!r}{_did_you_mean(intent, sorted(known))}"
                )
    served = {intent for plan in plans for intent in plan.intents}
    problems.extend(
        f"intents: the text model's intent {intent!r} is served by no plan; every intent needs at least one"
        for intent in sorted(known - served)
    )
    return problems


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _printable(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) and len(repr(value)) <= 60


def _is_id(name: str) -> bool:
    return _ID.fullmatch(name) is not None


def _num(value: float) -> str:
    """30.0 -> '30', 0.5 -> '0.5', 12.345 -> '12.35'."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0")


# ------------------------------------------------------------------------------------------------------------------
# Eligibility


@dataclass(frozen=True)
class Context:
    """What is known about a contact when its plans are chosen; None means unknown (see the module's docstring
    for what a rule does with an unknown value)."""

    intent: str
    order_age_days: float | None = None
    order_amount: float | None = None
    #: The customer's RFM segment (``services.customers.SEGMENTS``).
    segment: str | None = None
    churn_risk: float | None = None
    #: The channel of the contact (:data:`CHANNELS`).
    channel: str | None = None

    def __post_init__(self) -> None:
        for name in ("order_age_days", "order_amount", "churn_risk"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise InvalidArgument(name, "must be a finite number, at least 0")
        if self.churn_risk is not None and self.churn_risk > 1:
            raise InvalidArgument("churn_risk", "must be from 0 to 1")
        if self.segment is not None and self.segment not in SEGMENTS:
            raise InvalidArgument("segment", f"must be one of {', '.join(SEGMENTS)}")
        if self.channel is not None and self.channel not in CHANNELS:
            raise InvalidArgument("channel", f"must be one of {', '.join(CHANNELS)}")


@dataclass(frozen=True)
class Verdict:
    """Whether one plan may be offered for a context, and why not."""

    plan: Plan
    #: Why the plan is excluded, in rule order; empty when it is eligible.
    reasons: tuple[str, ...]
    #: Rules left unchecked because their value is unknown (the plan is kept; the agent should check them).
    unchecked: tuple[str, ...] = ()

    @property
    def eligible(self) -> bool:
        """True when no rule excludes the plan."""
        return not self.reasons


@dataclass(frozen=True)
class Filtered:
    """Plans split by eligibility, each in the order given."""

    eligible: tuple[Verdict, ...]
    excluded: tuple[Verdict, ...]

    @property
    def plans(self) -> tuple[Plan, ...]:
        """The eligible plans."""
        return tuple(v.plan for v in self.eligible)

    @property
    def reasons(self) -> dict[str, tuple[str, ...]]:
        """Plan id -> why it was excluded, for every excluded plan (a debug field's content)."""
        return {v.plan.id: v.reasons for v in self.excluded}


#: Range rules: rule name -> (what the value is called when unknown, how a known value reads).
_RANGE_WORDS = {
    "order_age_days": ("order age", lambda v: f"order is {_num(v)} day{'s' if v != 1 else ''} old"),
    "order_amount": ("order amount", lambda v: f"order amount is {_num(v)}"),
    "churn_risk": ("churn risk", lambda v: f"churn risk is {v:.2f}"),
}


def eligible(plan: Plan, context: Context) -> Verdict:
    """Check every rule of ``plan`` against ``context``: the plan must serve the context's intent, and each of its
    eligibility rules must hold or, for a value the context does not know, not be in ``exclude_when_unknown``."""
    rules = plan.eligibility
    reasons: list[str] = []
    unchecked: list[str] = []
    if context.intent not in plan.intents:
        reasons.append(f"does not serve the intent {context.intent or '(none)'}")
    for name, (label, reads) in _RANGE_WORDS.items():
        bounds: Range | None = getattr(rules, name)
        if bounds is None:
            continue
        value = getattr(context, name)
        if value is None:
            _unknown(name, label, bounds.describe(), rules, reasons, unchecked)
        elif not bounds.admits(value):
            reasons.append(f"{reads(value)}; this plan needs {bounds.describe()}")
    for name, label, value, allowed, verb in (
        ("segments", "customer segment", context.segment, rules.segments, "is for"),
        ("channels", "channel", context.channel, rules.channels, "is offered on"),
    ):
        if allowed is None:
            continue
        if value is None:
            _unknown(name, label, f"one of {', '.join(allowed)}", rules, reasons, unchecked)
        elif value not in allowed:
            reasons.append(f"{label} is {value}; this plan {verb} {', '.join(allowed)}")
    return Verdict(plan, tuple(reasons), tuple(unchecked))


def _unknown(rule: str, label: str, needs: str, rules: Eligibility, reasons: list[str], unchecked: list[str]) -> None:
    if rule in rules.exclude_when_unknown:
        reasons.append(f"{label} is unknown; this plan needs it known ({needs})")
    else:
        unchecked.append(f"{label} is unknown; not checked (this plan needs {needs})")


def filter_plans(plans: Iterable[Plan], context: Context) -> Filtered:
    """:func:`eligible` for each plan, split into the eligible and the excluded."""
    verdicts = [eligible(plan, context) for plan in plans]
    return Filtered(tuple(v for v in verdicts if v.eligible), tuple(v for v in verdicts if not v.eligible))


# ------------------------------------------------------------------------------------------------------------------
# Serving: reload without a restart


class CatalogueHolder:
    """Serves the current catalogue and reloads its file when it changes.

    :meth:`start` loads the file (an invalid one then fails the start: there is nothing else to serve) and, when
    ``reload_s`` is above 0, polls it every ``reload_s`` seconds from an asyncio task. A poll looks at the file's
    modification time, size and inode and, when one changed, reads it; a file whose content hash equals the served
    version's is not reloaded. A new catalogue replaces the old in one reference assignment after it has loaded and
    passed every check, so a caller holding :attr:`current` sees one whole version; an invalid file (a half-saved
    edit, a typo, a deleted file) is logged once and the previous catalogue stays in service until a valid file
    appears. Reading and parsing happen in a worker thread, never on the event loop.
    """

    def __init__(self, path: Path, *, reload_s: float, intents: Iterable[str] | None = None) -> None:
        self.path = path
        self.reload_s = reload_s
        self.intents = tuple(intents) if intents is not None else None
        self._current: Catalogue | None = None
        self._signature: tuple[int, int, int] | None = None
        self._failed_digest: str | None = None
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        #: The problem with the file on disk, while it is invalid; None while the served catalogue is its content.
        self.last_error: str | None = None

    @property
    def current(self) -> Catalogue:
        """The catalogue in service."""
        if self._current is None:
            raise Unavailable("the plan catalogue is not loaded")
        return self._current

    async def start(self) -> Catalogue:
        """Load the file (raises :class:`CatalogueError` when it is invalid), start polling it, and return what
        it loaded."""
        catalogue = await asyncio.to_thread(self.load)
        if self.reload_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="catalogue-reload")
        return catalogue

    async def close(self) -> None:
        """Stop polling; the current catalogue stays readable."""
        await cancel_and_wait(self._task)
        self._task = None

    def load(self) -> Catalogue:
        """Load the file now, whatever its signature; raises :class:`CatalogueError` and keeps the old one when it
        is invalid."""
        with self._lock:
            signature = self._stat()
            data = self._read()
            catalogue = parse_catalogue(data, str(self.path), intents=self.intents)
            self._signature = signature
            self._swap(catalogue)
            return catalogue

    def check(self) -> bool:
        """Reload the file if it changed since the last look; True when a new version went into service. Never
        raises for a bad file: it logs the problems and keeps the catalogue in service."""
        with self._lock:
            try:
                signature = self._stat()
            except CatalogueError as exc:
                self._signature = None
                return self._refuse(exc, digest=None)
            if signature == self._signature:
                return False
            self._signature = signature  # taken before the read: a write during the read shows as a later change
            try:
                data = self._read()
            except CatalogueError as exc:
                return self._refuse(exc, digest=None)
            digest = hashlib.sha256(data).hexdigest()[:16]
            if self._current is not None and digest == self._current.version:
                self.last_error = None  # back to the content in service (a broken edit undone)
                return False
            if digest == self._failed_digest:
                return False
            try:
                catalogue = parse_catalogue(data, str(self.path), intents=self.intents)
            except CatalogueError as exc:
                return self._refuse(exc, digest=digest)
            previous = self._current.version if self._current is not None else None
            self._swap(catalogue)
            log.info("plan catalogue reloaded", extra={"fields": {
                "path": str(self.path), "version": catalogue.version, "previous": previous,
                "plans": len(catalogue.plans)}})
            return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.reload_s)
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # never let the poller die: the next look may succeed
                log.exception("plan catalogue check failed", extra={"fields": {"path": str(self.path)}})

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise CatalogueError(str(self.path), [f"cannot read the file: {exc.strerror or exc}"]) from None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise CatalogueError(str(self.path), [f"cannot read the file: {exc.strerror or exc}"]) from None

    def _swap(self, catalogue: Catalogue) -> None:
        self._current = catalogue
        self._failed_digest = None
        self.last_error = None

    def _refuse(self, error: CatalogueError, *, digest: str | None) -> bool:
        self._failed_digest = digest
        if error.message == self.last_error:
            return False  # logged already: a missing file is looked at on every poll
        self.last_error = error.message
        serving = self._current.version if self._current is not None else None
        log.error("plan catalogue not reloaded; still serving the previous version", extra={"fields": {
            "path": str(self.path), "serving_version": serving, "problems": list(error.problems)}})
        return False
