"""The session playbook: the agent actions TrackSession may suggest, and the procedure each customer need follows.

The file format is documented at the top of the shipped playbook (``services/data/playbook.yaml``). This module

- parses and validates a file into an immutable :class:`Playbook` (pydantic models with unknown keys refused, then
  cross-checks against the action vocabulary); every problem is reported at once, each naming the action or
  intent, its line and the field, under a message that names the file;
- answers what a live session may do next (:meth:`Playbook.allowed`, the mask a learned next-best-action policy
  chooses within), what policy requires next (:meth:`Playbook.next_step`) and how far along the procedure the
  session is (:meth:`Playbook.progress`).

The mask is deliberately strict: the policy chooses among the always-allowed actions and the one next step, so it
can never suggest skipping a step of company procedure, an action the need's procedure does not use, or a finished
step again; what it learns is *when* to interleave an apology, a question, an offer or an escalation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from infogap_server.policies.next_action import UNKNOWN_GROUP  # the state key's name for "need not known"
from infogap_server.services.catalogue import (
    OUT_OF_SCOPE,
    PLAN_ID_PATTERN,
    ConfigFileError,
    _did_you_mean,
    _is_id,
    _printable,
    _Strict,
    parse_yaml,
)

#: The playbook shipped with the server.
DEFAULT_PLAYBOOK_PATH = Path(__file__).resolve().parent / "data" / "playbook.yaml"


#: Kinds of action: kb_query (looks something up in a system), interaction (does something in a system or for the
#: customer), faq_policy (published policy and help-centre answers), product (the server's own actions).
ACTION_GROUPS = ("kb_query", "interaction", "faq_policy", "product")

#: The longest service-level target a need may have: longer is a mistake of unit, not a target.
MAX_SLA_TARGET_S = 7 * 24 * 3600

ActionGroup = Literal["kb_query", "interaction", "faq_policy", "product"]

_SECTIONS = ("actions", "always_allowed", "intents")


class PlaybookError(ConfigFileError):
    """A playbook file that cannot be served (:class:`ConfigFileError`). Raised by :func:`load_playbook` and
    :func:`parse_playbook`."""

    what = "playbook"


# ------------------------------------------------------------------------------------------------------------------
# The file's schema


class _ActionEntry(_Strict):
    name: str = Field(pattern=PLAN_ID_PATTERN, description="Stable name: lowercase letters, digits, underscores.")
    group: ActionGroup = Field(description="kb_query, interaction, faq_policy or product.")
    description: str = Field(max_length=200, description="One line saying what the agent does.")
    repeatable: bool = Field(False, description="Whether suggesting it again after it was done can help.")

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value


class _IntentEntry(_Strict):
    intent: str = Field(pattern=PLAN_ID_PATTERN, description="The text model's intent name.")
    group: str = Field(pattern=PLAN_ID_PATTERN, description="Coarse group of needs the learned policy sees.")
    subflow: str | None = Field(None, min_length=1, max_length=100, description="Where the steps come from.")
    steps: tuple[str, ...] = Field(description="The actions policy requires, in order.")
    sla_target_s: float = Field(allow_inf_nan=False, description="Service-level target of a session, in seconds.")

    @field_validator("intent")
    @classmethod
    def _in_scope(cls, value: str) -> str:
        if value == OUT_OF_SCOPE:
            raise ValueError(f"{OUT_OF_SCOPE} is not an intent: a message out of scope has no procedure")
        return value

    @field_validator("group")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == UNKNOWN_GROUP:
            raise ValueError(f"{UNKNOWN_GROUP!r} is reserved for sessions whose need is not known yet")
        return value

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("the list is empty; a need's procedure has at least one step")
        return value

    @field_validator("sla_target_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not 0 < value <= MAX_SLA_TARGET_S:
            raise ValueError(f"must be above 0 and at most {MAX_SLA_TARGET_S} seconds (a week); got {value:g}")
        return value


#: The model of each section's entries, for "unknown field" suggestions.
_MODEL_OF: dict[str, type[BaseModel]] = {"actions": _ActionEntry, "intents": _IntentEntry}
#: The key that names an entry of each section.
_NAME_KEY = {"actions": "name", "intents": "intent"}


# ------------------------------------------------------------------------------------------------------------------
# The loaded playbook


@dataclass(frozen=True)
class Action:
    """One action an agent can take."""

    name: str
    #: One of :data:`ACTION_GROUPS`.
    group: str
    description: str
    #: Whether the action may be suggested again after it was done.
    repeatable: bool


@dataclass(frozen=True)
class IntentPlay:
    """The procedure for one customer need."""

    intent: str
    #: The coarse group of needs the learned policy sees instead of the intent.
    group: str
    #: Where the steps come from (``flow/subflow`` of ABCD in the shipped file); None when written for the playbook.
    subflow: str | None
    #: The actions policy requires, in order; never empty, no action twice.
    steps: tuple[str, ...]
    #: The service-level target of a session with this need, in seconds from its start.
    sla_target_s: float


@dataclass(frozen=True)
class Playbook:
    """A loaded, checked playbook. Immutable: a new file makes a new one."""

    #: ``playbook-`` and the first 12 hex digits of the SHA-256 of the file's bytes (same file, same version).
    version: str
    #: The action vocabulary, by name, in file order.
    actions: Mapping[str, Action]
    #: The procedure of each need, by intent, in file order.
    intents: Mapping[str, IntentPlay]
    #: The actions allowed at any point of a session, whatever the need.
    always_allowed: tuple[str, ...]
    _rank: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", MappingProxyType(dict(self.actions)))
        object.__setattr__(self, "intents", MappingProxyType(dict(self.intents)))
        object.__setattr__(self, "_rank", {name: index for index, name in enumerate(self.actions)})

    def group_of(self, intent: str | None) -> str:
        """The group of ``intent``; :data:`UNKNOWN_GROUP` for None, "" or an intent the playbook does not list."""
        play = self.intents.get(intent) if intent else None
        return play.group if play is not None else UNKNOWN_GROUP

    def groups(self) -> tuple[str, ...]:
        """Every group a session can be in, sorted: the intents' groups and :data:`UNKNOWN_GROUP`."""
        return tuple(sorted({play.group for play in self.intents.values()} | {UNKNOWN_GROUP}))

    def next_step(self, intent: str | None, done: Collection[str]) -> str | None:
        """The first step of the intent's procedure not in ``done``; None when every step is done or the intent
        is None or not listed."""
        play = self.intents.get(intent) if intent else None
        if play is None:
            return None
        return next((step for step in play.steps if step not in done), None)

    def progress(self, intent: str | None, done: Collection[str]) -> int:
        """How many steps of the intent's procedure, counted from the first, are in ``done`` (it stops at the first
        step missing); 0 for None or an intent not listed."""
        play = self.intents.get(intent) if intent else None
        if play is None:
            return 0
        count = 0
        for step in play.steps:
            if step not in done:
                break
            count += 1
        return count

    def allowed(self, intent: str | None, done: Collection[str]) -> tuple[str, ...]:
        """The actions a session may take now, in vocabulary order: the always-allowed ones (less the
        non-repeatable ones in ``done``) and the next step, when there is one. Every other action is forbidden:
        a later step (skipping one), an action the procedure does not use, a finished step again."""
        chosen = {name for name in self.always_allowed if name not in done or self._repeatable(name)}
        step = self.next_step(intent, done)
        if step is not None:
            chosen.add(step)
        unranked = len(self._rank)
        return tuple(sorted(chosen, key=lambda name: self._rank.get(name, unranked)))

    def _repeatable(self, name: str) -> bool:
        action = self.actions.get(name)
        return action is not None and action.repeatable


def load_playbook(path: str | Path = DEFAULT_PLAYBOOK_PATH) -> Playbook:
    """Read and check the playbook file at ``path``; raises :class:`PlaybookError` naming every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlaybookError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookError(str(path), [f"the file is not UTF-8 text (byte {exc.start})"]) from None
    return parse_playbook(text, str(path))


def parse_playbook(text: str, source: str = "<string>") -> Playbook:
    """Check a playbook given as the file's text; ``source`` names it in messages. See :func:`load_playbook`."""
    document, lines = _read_yaml(text, source)
    problems: list[str] = []
    sections = _sections(document, problems)
    actions, vocabulary = _parse_actions(sections.get("actions"), lines.get("actions", ()), problems)
    always_allowed = _parse_always_allowed(sections.get("always_allowed"), lines.get("always_allowed", ()),
                                           vocabulary, problems)
    intents = _parse_intents(sections.get("intents"), lines.get("intents", ()), vocabulary, problems)
    if problems:
        raise PlaybookError(source, problems)
    version = "playbook-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Playbook(version, actions, intents, always_allowed)


def missing_intents(playbook: Playbook, intents: Iterable[str]) -> list[str]:
    """The intents in ``intents`` (a text model's) that the playbook has no entry for, sorted; out_of_scope is
    ignored, as it has no procedure."""
    return sorted(set(intents) - {OUT_OF_SCOPE} - set(playbook.intents))


# ------------------------------------------------------------------------------------------------------------------
# Parsing stages


def _read_yaml(text: str, source: str) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """The parsed document and, for each top-level list, the line (1-based) where each of its entries starts."""
    node, document = parse_yaml(text, source, PlaybookError)
    lines: dict[str, tuple[int, ...]] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(value_node, yaml.SequenceNode):
                lines[str(key_node.value)] = tuple(item.start_mark.line + 1 for item in value_node.value)
    return document, lines


def _sections(document: Any, problems: list[str]) -> dict[str, list[Any]]:
    """The three top-level lists; a missing, misshapen or unknown key is a problem and its section is skipped."""
    if document is None:
        problems.append(f"the file is empty; it needs the keys {', '.join(_SECTIONS)}")
        return {}
    if not isinstance(document, dict):
        problems.append(f"the file must be a mapping with the keys {', '.join(_SECTIONS)}")
        return {}
    for key in document:
        if key not in _SECTIONS:
            problems.append(f"unknown top-level key {key!r}{_did_you_mean(str(key), _SECTIONS)}; the keys are "
                            f"{', '.join(_SECTIONS)}")
    sections: dict[str, list[Any]] = {}
    for key in _SECTIONS:
        if key not in document:
            problems.append(f"{key}: missing; every playbook needs it")
        elif not isinstance(document[key], list):
            problems.append(f"{key}: must be a list")
        else:
            sections[key] = document[key]
    return sections


def _parse_actions(raw: list[Any] | None, lines: Sequence[int],
                   problems: list[str]) -> tuple[dict[str, Action], frozenset[str]]:
    """The valid actions by name, and every name an entry gives (valid or not), so that a step naming an action
    whose entry has a mistake is not reported a second time as unknown."""
    actions: dict[str, Action] = {}
    names: set[str] = set()
    for entry, where in _entries("actions", raw, lines, problems):
        if isinstance(entry.get("name"), str):
            names.add(entry["name"])
        try:
            spec = _ActionEntry.model_validate(entry)
        except ValidationError as exc:
            problems.extend(f"{where}: {_describe(error, 'actions')}" for error in exc.errors())
            continue
        actions[spec.name] = Action(spec.name, spec.group, spec.description, spec.repeatable)
    if raw is not None and not raw:
        problems.append("actions: the list is empty; a playbook needs at least one action")
    return actions, frozenset(names)


def _parse_always_allowed(raw: list[Any] | None, lines: Sequence[int], vocabulary: frozenset[str],
                          problems: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for index, name in enumerate(raw or ()):
        where = f"always_allowed (line {lines[index]})" if index < len(lines) else "always_allowed"
        if not isinstance(name, str) or not _is_id(name):
            problems.append(f"{where}: {name!r} is not an action name (lowercase letters, digits, underscores)")
        elif name not in vocabulary:
            problems.append(f"{where}: unknown action {name!r}{_did_you_mean(name, sorted(vocabulary))}; "
                            "name an action of `actions`")
        elif name in names:
            problems.append(f"{where}: {name} is listed twice")
        else:
            names.append(name)
    return tuple(names)


def _parse_intents(raw: list[Any] | None, lines: Sequence[int], vocabulary: frozenset[str],
                   problems: list[str]) -> dict[str, IntentPlay]:
    intents: dict[str, IntentPlay] = {}
    for entry, where in _entries("intents", raw, lines, problems):
        try:
            spec = _IntentEntry.model_validate(entry)
        except ValidationError as exc:
            problems.extend(f"{where}: {_describe(error, 'intents')}" for error in exc.errors())
            continue
        step_problems = _step_problems(spec.steps, vocabulary)
        problems.extend(f"{where}: steps: {problem}" for problem in step_problems)
        if not step_problems:
            intents[spec.intent] = IntentPlay(spec.intent, spec.group, spec.subflow, spec.steps, spec.sla_target_s)
    if raw is not None and not raw:
        problems.append("intents: the list is empty; a playbook needs at least one intent")
    return intents


def _step_problems(steps: Sequence[str], vocabulary: frozenset[str]) -> list[str]:
    """What is wrong with each step: a name that is not an action's, one the vocabulary lacks, one given again."""
    problems = []
    seen: set[str] = set()
    for position, name in enumerate(steps, 1):
        if not _is_id(name):
            problems.append(f"step {position}: {name!r} is not an action name (lowercase letters, digits, underscores)")
        elif name not in vocabulary:
            problems.append(f"step {position}: unknown action {name!r}{_did_you_mean(name, sorted(vocabulary))}; "
                            "name an action of `actions`")
        elif name in seen:
            # The next step is the first one not done: a second occurrence could never be reached.
            problems.append(f"step {position}: {name} is listed twice; each step appears once")
        seen.add(name)
    return problems


def _entries(section: str, raw: list[Any] | None, lines: Sequence[int],
             problems: list[str]) -> Iterable[tuple[dict[str, Any], str]]:
    """Each mapping entry of a section with the words that place it ("intent 'get_refund' (line 80)"); entries
    that are not mappings, and names given twice, are problems."""
    key = _NAME_KEY[section]
    what = section.removesuffix("s")
    first_line_of: dict[str, int] = {}
    for index, entry in enumerate(raw or ()):
        line = lines[index] if index < len(lines) else 0
        name = entry.get(key) if isinstance(entry, dict) else None
        label = f"{what} {name!r}" if isinstance(name, str) and name else f"{what} #{index + 1} (no {key})"
        where = f"{label} (line {line})" if line else label
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping of fields ({', '.join(_MODEL_OF[section].model_fields)})")
            continue
        if isinstance(name, str) and name in first_line_of:  # checked on every entry, valid or not
            problems.append(f"{where}: {key}: duplicate; the {what} at line {first_line_of[name]} has the same {key}")
        elif isinstance(name, str):
            first_line_of[name] = line
        yield entry, where


def _describe(error: Mapping[str, Any], section: str) -> str:
    """One pydantic error as '<field>: <what is wrong>' in words a playbook editor follows."""
    loc = tuple(str(part) for part in error["loc"])
    field_name = ".".join(loc) or section.removesuffix("s")
    kind = error["type"]
    if kind == "missing":
        return f"{field_name}: missing; every {section.removesuffix('s')} needs it"
    if kind == "extra_forbidden":
        known = tuple(_MODEL_OF[section].model_fields)
        return f"{field_name}: unknown field{_did_you_mean(loc[-1], known)}; the fields here are {', '.join(known)}"
    if kind == "string_pattern_mismatch":
        return f"{field_name}: must start with a lowercase letter and hold only lowercase letters, digits and " \
               f"underscores (at most 64){_got(error)}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error"):
        message += _got(error)
    return f"{field_name}: {message}"


def _got(error: Mapping[str, Any]) -> str:
    value = error.get("input")
    return f" (got {value!r})" if _printable(value) else ""
