"""A live session's state, updated one event at a time from the stored snapshot (constant work per event: nothing
here reads the history).

The rules, as the README's "TrackSession" section states them:

- **Time.** Each event has a time (the client's, or when the server got it); the clock never runs backwards, and
  a Wait ends at its event's time, so the session has lasted at least until the previous event plus the wait.
  Handling time is the time between events less the waits.
- **Stage.** A session starts in ``discovery``. It moves to ``resolving`` when its need is known (the mean intent
  probability of the customer's in-scope messages reaches ``need_threshold``) or the agent takes a step of a
  playbook; to ``escalated`` on a transfer or ``escalate_to_human`` (and stays there); to ``closed`` on SessionEnd
  or when the inactivity timeout expires it.
- **Current need.** The sum of every in-scope customer message's intent probabilities; the need is its arg max
  and its probability the sum over the messages counted (the mean).
- **Sentiment trend.** Each customer message with a sentiment reading scores s = P(positive) - P(negative) in
  [-1, 1]. Holt's linear smoothing: the first message sets level = s and trend = 0; after that
  level' = a*s + (1-a)*(level + trend) and trend' = b*(level' - level) + (1-b)*trend, with a = b = 0.5. The
  trend (clipped to [-1, 1]) is the slope: negative when the customer is getting less happy.
- **SLA-breach risk.** With T the need's service-level target (the playbook's, or the default setting), e the time
  since the session opened and m = T/4 * f(stage) * (1 + 0.5 * transfers) the expected time still needed
  (f = 1 in discovery, 0.6 resolving, 1.5 escalated), the time still needed is taken as exponential with mean m:
  P(breach) = P(e + R > T) = exp(-(T - e) / m), and 1 once e >= T. Waits count in e; a transfer lengthens m.
- **Escalation risk.** Probability that the session ends escalated or with a complaint: a logistic model
  sigmoid(w . x) over the features of :func:`escalation_features`, with the coefficients of
  :data:`ESCALATION_PRIOR` (chosen, not fitted: documented in the README, to be replaced by fitted ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from infogap_server.policies.next_action import FLAG_ACTIONS
from infogap_server.services.playbook import Playbook

STAGES = ("discovery", "resolving", "escalated", "closed")
#: The kinds of event a client sends.
EVENT_KINDS = ("message", "action", "wait", "transfer", "end")
#: The queue a session starts in until a transfer names another.
FIRST_QUEUE = "front"
SMOOTHING_LEVEL = 0.5
SMOOTHING_TREND = 0.5
#: f(stage) of the SLA model: how much of a session's typical remaining time each stage leaves.
STAGE_REMAINING = {"discovery": 1.0, "resolving": 0.6, "escalated": 1.5, "closed": 0.0}
#: Intercept and weights of the escalation model, by feature of :func:`escalation_features`.
ESCALATION_PRIOR: Mapping[str, float] = {
    "bias": -2.2,
    "negativity": 1.8,  # -(sentiment level), in [-1, 1]
    "worsening": 1.2,  # -(sentiment trend), in [-1, 1]
    "transfers": 0.6,  # count, capped at 3
    "waited": 1.0,  # waited seconds / SLA target, capped at 2
    "urgency": 0.8,  # the highest urgency score of the customer's messages, in [0, 1]
    "churn": 0.7,  # the customer's churn risk, 0 when unknown
    "wants_person": 1.5,  # the need is complaint or contact_human_agent
    "escalated": 2.5,  # already escalated
}
PERSON_INTENTS = frozenset({"complaint", "contact_human_agent"})
#: The product's own actions (the playbook's vocabulary has them too) whose effect the state tracks.
ESCALATE_ACTION = "escalate_to_human"


@dataclass(frozen=True)
class SessionEventInput:
    """One event as the service hands it over: validated, times naive UTC."""

    kind: str  # one of EVENT_KINDS
    time: datetime
    from_customer: bool = False
    text: str = ""
    action: str = ""
    plan_id: str = ""
    wait_s: float = 0.0
    to_queue: str = ""
    resolved: bool = False


@dataclass(frozen=True)
class MessageReading:
    """What the text model read in a customer message."""

    intent_probabilities: Mapping[str, float]
    out_of_scope: bool
    sentiment: float | None  # P(positive) - P(negative); None without a sentiment head
    urgency: float  # 0..1


@dataclass(frozen=True)
class Snapshot:
    """Everything the next event needs: JSON-ready (see :meth:`to_json`), no free text, a fixed size (one number
    per intent at most)."""

    stage: str = "discovery"
    opened_at: str = ""  # ISO times: JSON-ready
    last_time: str = ""
    events: int = 0
    customer_messages: int = 0
    need_messages: int = 0
    intent_sums: dict[str, float] = field(default_factory=dict)
    intent: str = ""
    intent_probability: float = 0.0
    sentiment_level: float | None = None
    sentiment_trend: float = 0.0
    urgency: float = 0.0
    wait_s: float = 0.0
    handling_s: float = 0.0
    transfers: int = 0
    queue: str = FIRST_QUEUE
    done: tuple[str, ...] = ()  # distinct agent actions in the order first taken
    actions: int = 0
    churn_risk: float | None = None
    resolved: bool | None = None
    close_reason: str = ""
    sla_target_s: float = 900.0  # the need's service-level target; the default until a need is known

    def to_json(self) -> dict:
        data = asdict(self)
        data["done"] = list(self.done)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Snapshot:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["done"] = tuple(known.get("done", ()))  # type: ignore[arg-type]
        known["intent_sums"] = dict(known.get("intent_sums", {}))  # type: ignore[call-overload]
        return cls(**known)  # type: ignore[arg-type]

    def elapsed_s(self) -> float:
        if not self.opened_at or not self.last_time:
            return 0.0
        return max(0.0, (datetime.fromisoformat(self.last_time) - datetime.fromisoformat(self.opened_at))
                   .total_seconds())


def _sentiment_bucket(level: float | None) -> str:
    if level is None:
        return "neu"
    return "neg" if level < -0.25 else "pos" if level > 0.25 else "neu"


def _churn_bucket(risk: float | None) -> str:
    if risk is None:
        return "unk"
    return "low" if risk < 0.3 else "mid" if risk < 0.6 else "high"


def _wait_bucket(wait_s: float, target_s: float) -> str:
    if wait_s <= 0:
        return "none"
    return "short" if wait_s < 0.1 * target_s else "long"


def state_key(s: Snapshot, group: str, progress: int, steps_left: bool) -> str:
    """The next-best-action policy's discretised state (``policies/next_action.py`` documents it): ``group`` and
    ``progress`` (steps of the need's playbook done in order) from the playbook; ``steps_left`` False once every step
    is done."""
    flags = "".join(flag for action, flag in FLAG_ACTIONS if action in s.done) or "-"
    progress_label = "all" if s.intent and not steps_left else f"p{min(progress, 9)}"
    return "|".join((s.stage, group, _sentiment_bucket(s.sentiment_level), _churn_bucket(s.churn_risk),
                     _wait_bucket(s.wait_s, target_s=s.sla_target_s), progress_label, flags))


def decision_state(s: Snapshot, playbook: Playbook) -> tuple[str, tuple[str, ...], str | None]:
    """Before an agent's next action: the policy's state key, the actions the playbook allows and the need's next
    playbook step (None when there is none)."""
    intent = s.intent or None
    allowed = playbook.allowed(intent, s.done)
    step = playbook.next_step(intent, s.done)
    key = state_key(s, playbook.group_of(intent), playbook.progress(intent, s.done), step is not None)
    return key, allowed, step


def opened(time: datetime, churn_risk: float | None) -> Snapshot:
    """The snapshot of a new session before its first event."""
    iso = time.isoformat()
    return Snapshot(opened_at=iso, last_time=iso, churn_risk=churn_risk)


def apply(
    snapshot: Snapshot, event: SessionEventInput, reading: MessageReading | None, *,
    playbook_steps: frozenset[str], need_threshold: float,
) -> tuple[Snapshot, float]:
    """The snapshot after ``event`` and the handling seconds the event closes (time since the previous event, less
    the event's own wait). ``reading``: the text model on a customer message; ``playbook_steps``: every action some
    intent's playbook sequence uses (taking one means the need is being worked on)."""
    previous = datetime.fromisoformat(snapshot.last_time) if snapshot.last_time else event.time
    time = max(event.time, previous)  # a late-stamped event never runs the clock backwards
    if event.kind == "wait":  # a wait ends at its event's time: the session has lasted at least that long
        time = max(time, previous + timedelta(seconds=event.wait_s))
    gap = (time - previous).total_seconds()
    handling = max(0.0, gap - event.wait_s) if event.kind == "wait" else gap
    s = replace(snapshot, events=snapshot.events + 1, last_time=time.isoformat(),
                handling_s=snapshot.handling_s + handling)
    if event.kind == "message" and event.from_customer:
        s = _read_message(s, reading, need_threshold)
    elif event.kind == "action":
        done = s.done if event.action in s.done else (*s.done, event.action)
        s = replace(s, done=done, actions=s.actions + 1)
        if event.action == ESCALATE_ACTION:
            s = replace(s, stage="escalated")
        elif event.action in playbook_steps and s.stage == "discovery":
            s = replace(s, stage="resolving")
    elif event.kind == "wait":
        s = replace(s, wait_s=s.wait_s + event.wait_s)
    elif event.kind == "transfer":
        s = replace(s, transfers=s.transfers + 1, queue=event.to_queue, stage="escalated")
    elif event.kind == "end":
        s = replace(s, stage="closed", resolved=event.resolved, close_reason="ended")
    return s, handling


def expire(snapshot: Snapshot, time: datetime) -> Snapshot:
    """The snapshot of a session the inactivity timeout closed at ``time``."""
    return replace(snapshot, stage="closed", close_reason="expired", events=snapshot.events + 1,
                   last_time=max(time, datetime.fromisoformat(snapshot.last_time)).isoformat()
                   if snapshot.last_time else time.isoformat())


def _read_message(s: Snapshot, reading: MessageReading | None, need_threshold: float) -> Snapshot:
    s = replace(s, customer_messages=s.customer_messages + 1)
    if reading is None:
        return s
    s = replace(s, urgency=max(s.urgency, reading.urgency))
    if reading.sentiment is not None:
        x = max(-1.0, min(1.0, reading.sentiment))
        if s.sentiment_level is None:
            s = replace(s, sentiment_level=x, sentiment_trend=0.0)
        else:
            level = SMOOTHING_LEVEL * x + (1 - SMOOTHING_LEVEL) * (s.sentiment_level + s.sentiment_trend)
            trend = SMOOTHING_TREND * (level - s.sentiment_level) + (1 - SMOOTHING_TREND) * s.sentiment_trend
            s = replace(s, sentiment_level=max(-1.0, min(1.0, level)), sentiment_trend=max(-1.0, min(1.0, trend)))
    if reading.out_of_scope or not reading.intent_probabilities:
        return s
    sums = dict(s.intent_sums)
    for intent, p in reading.intent_probabilities.items():
        sums[intent] = sums.get(intent, 0.0) + float(p)
    count = s.need_messages + 1
    intent = max(sums, key=lambda name: (sums[name], name))
    s = replace(s, intent_sums={k: round(v, 6) for k, v in sums.items()}, need_messages=count, intent=intent,
                intent_probability=sums[intent] / count)
    if s.stage == "discovery" and s.intent_probability >= need_threshold:
        s = replace(s, stage="resolving")
    return s


def sla_breach_risk(s: Snapshot, target_s: float) -> float:
    """P(the session's total time passes ``target_s``): the model in the module docstring."""
    if s.stage == "closed":
        return 1.0 if s.elapsed_s() > target_s else 0.0
    elapsed = s.elapsed_s()
    if elapsed >= target_s:
        return 1.0
    mean_left = target_s / 4 * STAGE_REMAINING[s.stage] * (1 + 0.5 * s.transfers)
    return math.exp(-(target_s - elapsed) / mean_left)


def escalation_features(s: Snapshot, target_s: float) -> dict[str, float]:
    """The escalation model's inputs (names as in :data:`ESCALATION_PRIOR`, each documented there)."""
    return {
        "bias": 1.0,
        "negativity": -(s.sentiment_level or 0.0),
        "worsening": -s.sentiment_trend,
        "transfers": float(min(s.transfers, 3)),
        "waited": min(s.wait_s / target_s, 2.0) if target_s > 0 else 0.0,
        "urgency": s.urgency,
        "churn": s.churn_risk or 0.0,
        "wants_person": 1.0 if s.intent in PERSON_INTENTS else 0.0,
        "escalated": 1.0 if s.stage == "escalated" else 0.0,
    }


def escalation_risk(s: Snapshot, target_s: float, weights: Mapping[str, float] = ESCALATION_PRIOR) -> float:
    """P(the session ends escalated or with a complaint): sigmoid of the weighted features; 1 once escalated and
    closed that way, the model's value otherwise."""
    if s.stage == "closed":
        return 1.0 if "escalate_to_human" in s.done or s.transfers else 0.0
    z = sum(weights.get(name, 0.0) * value for name, value in escalation_features(s, target_s).items())
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
