"""The next-best-action policy (serving side): the discretised state, the playbook's warm start and the learned
Q-table, read-only.

State (``services/session_state.state_key`` builds it): ``stage|group|sentiment|churn|wait|progress|flags``:

- stage: discovery, resolving, escalated (a closed session asks for no action);
- group: the current need's intent group in the playbook (``unknown`` until a need is known);
- sentiment: ``neg`` (smoothed level below -0.25), ``pos`` (above 0.25), ``neu`` otherwise or with no reading;
- churn: ``unk`` (no churn risk), ``low`` (< 0.3), ``mid`` (< 0.6), ``high``;
- wait: ``none`` (no wait yet), ``short`` (waits under a tenth of the SLA target), ``long``;
- progress: how many steps of the need's playbook sequence are done in order (``p0``, ``p1``, ...), ``all`` when
  every step is done;
- flags: which of apologise (``a``), offer_plan (``o``) and ask_clarifying_question (``q``) were done, ``-`` none.

Actions are scored only among those the playbook allows (:meth:`Playbook.allowed`: the always-allowed ones and the
next step of the sequence). The prior (:func:`prior_value`) is the playbook as values: its next step is worth 1.0,
an apology to an unhappy customer 1.05 (before the next step), a clarifying question while the need is unknown
0.9, the plan once the steps are done 0.85, a person when the customer is unhappy and has waited long 0.9;
anything else 0.1 to 0.3.

A learned version (``learning/sessions.py``) holds, for each (state, action) pair its logged sessions visited, the
Q-value, the visits and the standard error of the value (the playbook's next step is named ``next_step`` whatever
it is: :func:`q_action`). Serving departs from the playbook only on evidence (safe policy improvement, in the
spirit of SPIBB): the playbook's choice stays first unless it and an alternative were each visited at least
``min_visits`` times in this state and the alternative's Q-value is higher by more than three standard errors of
the difference (:data:`EVIDENCE_SE`); then the best such alternative comes first. So a learned policy never
forgets the playbook where it has no evidence, and noise in a few logged sessions does not move it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PRIOR_VERSION = "playbook"
#: The Q-table's name for "the next step of the need's playbook sequence" (:func:`q_action`).
NEXT_STEP = "next_step"
#: The group of a session whose need is not known yet.
UNKNOWN_GROUP = "unknown"
_MAGIC = b"infogap-nba/1\n"
#: How many standard errors of the difference a learned alternative must beat the playbook's choice by: many states
#: are tested at once, so a looser bar would let noise through somewhere.
EVIDENCE_SE = 3.0
FLAG_ACTIONS = (("apologise", "a"), ("offer_plan", "o"), ("ask_clarifying_question", "q"))


def prior_value(key: str, action: str, allowed: Sequence[str], always_allowed: Sequence[str],
                next_step: str | None = None) -> float:
    """The playbook's value of ``action`` in the state ``key`` (module docstring). ``next_step``: the need's next
    playbook step; when None, the one allowed action that is not always allowed is taken for it."""
    stage, group, sentiment, _churn, wait, progress, flags = key.split("|")
    if action == next_step or (next_step is None and action not in always_allowed and action in allowed):
        # An apology stays ahead of the step for an unhappy customer, even when the step is another action.
        return 1.0
    if action not in always_allowed:
        return 0.0
    if action == "apologise":
        return 1.05 if sentiment == "neg" and "a" not in flags else 0.2
    if action == "ask_clarifying_question":
        return 0.9 if group == UNKNOWN_GROUP else 0.1
    if action == "offer_plan":
        return 0.85 if progress == "all" and "o" not in flags else 0.3
    if action == "escalate_to_human":
        return 0.9 if stage != "escalated" and sentiment == "neg" and wait == "long" else 0.1
    return 0.2


def q_action(action: str, allowed: Sequence[str], always_allowed: Sequence[str],
             next_step: str | None = None) -> str | None:
    """An action's name in the Q-table: the always-allowed actions by name, the playbook's next step (the one
    allowed action that is not always allowed) as :data:`NEXT_STEP` whatever the intent, so that sessions of
    different needs in one group pool their evidence about following the playbook; None for an action the playbook
    did not allow (an agent skipping a step), which is never suggested."""
    if action == next_step and action in allowed:
        return NEXT_STEP
    if action in always_allowed:
        return action
    return NEXT_STEP if action in allowed and next_step is None else None


@dataclass(frozen=True)
class ActionValue:
    action: str
    value: float
    source: str  # "learned" (a Q-value from logged sessions) or "playbook" (the prior)


@dataclass
class NextActionPolicy:
    """A version of the policy: the learned Q-values (state -> Q-table action -> (value, visits, standard error))
    over the prior."""

    version: str = PRIOR_VERSION
    q: Mapping[str, Mapping[str, tuple[float, int, float]]] = field(default_factory=dict)
    min_visits: int = 5
    summary: Mapping[str, object] = field(default_factory=dict)
    #: The escalation model's fitted weights (feature -> weight, ``bias`` included); None: the documented prior.
    escalation: Mapping[str, float] | None = None

    def rank(self, key: str, allowed: Sequence[str], always_allowed: Sequence[str],
             next_step: str | None = None) -> list[ActionValue]:
        """The allowed actions, best first: the playbook's ranking, with the first place given to a learned
        alternative only on the evidence of the module docstring. An action's value is its learned Q-value where
        trusted (``source`` learned), its prior value otherwise."""
        learned = self.q.get(key, {})
        order = {a: i for i, a in enumerate(allowed)}

        def trusted(action: str) -> tuple[float, int, float] | None:
            found = learned.get(q_action(action, allowed, always_allowed, next_step) or "")
            return found if found is not None and found[1] >= self.min_visits else None

        values = []
        for action in allowed:
            found = trusted(action)
            values.append(ActionValue(action, round(float(found[0]), 4), "learned") if found is not None else
                          ActionValue(action, prior_value(key, action, allowed, always_allowed, next_step), "playbook"))
        by_prior = sorted(values, key=lambda av: (-prior_value(key, av.action, allowed, always_allowed, next_step),
                                                  order[av.action]))
        if not by_prior:
            return []
        base = trusted(by_prior[0].action)
        first = by_prior[0]
        if base is not None:
            better = []
            for av in by_prior[1:]:
                found = trusted(av.action)
                if found is not None and found[0] - base[0] > EVIDENCE_SE * (found[2] ** 2 + base[2] ** 2) ** 0.5:
                    better.append(av)
            if better:
                first = max(better, key=lambda av: (av.value, -order[av.action]))
        return [first] + [av for av in by_prior if av is not first]

    def to_payload(self) -> bytes:
        data = {"version": self.version, "min_visits": self.min_visits, "summary": dict(self.summary),
                "escalation": None if self.escalation is None else {k: float(v) for k, v in self.escalation.items()},
                "q": {k: {a: [float(v), int(n), float(se)] for a, (v, n, se) in actions.items()}
                      for k, actions in self.q.items()}}
        return _MAGIC + json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> NextActionPolicy:
        """The policy :meth:`to_payload` wrote; ValueError for anything else."""
        if not isinstance(payload, (bytes, bytearray)) or not payload.startswith(_MAGIC):
            raise ValueError("not a published next-best-action policy (wrong header)")
        try:
            data = json.loads(bytes(payload[len(_MAGIC):]))
            q = {str(k): {str(a): (float(v), int(n), float(se)) for a, (v, n, se) in actions.items()}
                 for k, actions in data["q"].items()}
            for actions in q.values():
                for value, visits, se in actions.values():
                    if not (math.isfinite(value) and math.isfinite(se)) or visits < 0 or se < 0:
                        raise ValueError("a Q-value or its error is not finite, or a count is negative")
            escalation = data.get("escalation")
            if escalation is not None:
                escalation = {str(k): float(v) for k, v in escalation.items()}
                if not all(math.isfinite(v) for v in escalation.values()):
                    raise ValueError("an escalation weight is not finite")
            return cls(str(data["version"]), q, int(data["min_visits"]), data.get("summary", {}), escalation)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a published next-best-action policy ({exc})") from exc
