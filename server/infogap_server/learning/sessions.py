"""TrackSession's learning loop: the next best action learned from logged sessions (``infogap learn`` runs it with
Recommend's).

1. **Data.** The most recently closed sessions (``nba_learner_window`` at most), each with its agent actions in
   order, every one stored with the discretised state before it and the actions the playbook allowed then
   (``policies/next_action.py`` defines the state), and the first rating its customer gave with the session id.
2. **Reward** (:func:`session_return`): each agent action costs :data:`STEP_COST`; the session's outcome is paid
   after its last action:
   ``+1.0`` resolved, ``-0.5`` escalated (a transfer or escalate_to_human), ``-0.5`` expired (the customer left),
   ``+0.25 * (rating - 3) / 2`` with a rating, ``-0.25 * min(elapsed / SLA target, 2)`` for the time it took.
3. **Fit** (:func:`fit_q`): tabular fitted Q iteration on the batch of logged transitions (s, a, r, s'):
   ``Q(s, a) <- mean over its transitions of r + gamma * max_{a'} Q(s', a')``, repeated until the largest change is
   below 1e-6 (at most 200 sweeps); the max runs over the actions the logged sessions took in s' at least
   ``nba_min_visits`` times (batch-constrained: an action seen there less often has no estimate to trust, and a max
   over a few lucky samples would overestimate). This is Q-learning's fixed point on the logged data, and
   it does not depend on the order the sessions come in. gamma = :data:`GAMMA`.
4. **Escalation risk** (:func:`fit_escalation`): the documented logistic model's weights refitted on the events
   of the logged sessions (inputs stored with each event; label: the session ended escalated or was rated 1 or 2),
   by Newton's method with an L2 pull towards the documented weights; kept only if, fitted on the older 80% of the
   sessions, it predicts the newest 20% no worse (log loss) than the documented weights.
5. **Publish.** With at least ``nba_min_sessions`` closed sessions the Q-table (with visit counts) is published as
   a ``session`` policy version after the offline check (the payload loads back, every value is finite). Serving
   uses a learned value where its (state, action) was visited at least ``nba_min_visits`` times and the playbook's
   prior elsewhere (``policies/next_action.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np

from infogap_server.policies.next_action import NextActionPolicy, q_action
from infogap_server.services.playbook import load_playbook
from infogap_server.services.session_state import ESCALATION_PRIOR
from infogap_server.settings import Settings
from infogap_server.store.base import LoggedSession, PolicyRow

log = logging.getLogger("infogap.learning.sessions")

GAMMA = 1.0
STEP_COST = 0.02
MAX_SWEEPS = 200
#: The Q-table's name for an action the playbook did not allow when it was taken (never suggested, never the max).
OFF_PLAYBOOK = "off_playbook"


def session_return(*, resolved: bool | None, escalated: bool, expired: bool, rating: int | None,
                   elapsed_s: float, target_s: float) -> float:
    """The outcome paid after a session's last action (module docstring, point 2)."""
    value = (1.0 if resolved else 0.0) - (0.5 if escalated else 0.0) - (0.5 if expired else 0.0)
    if rating is not None:
        value += 0.25 * (rating - 3) / 2
    if target_s > 0:
        value -= 0.25 * min(max(elapsed_s, 0.0) / target_s, 2.0)
    return value


@dataclass(frozen=True)
class Transition:
    state: str
    action: str
    reward: float
    next_state: str | None  # None after the session's last action


def transitions(logged: Sequence[LoggedSession], always_allowed: Sequence[str]) -> list[Transition]:
    """The (s, a, r, s') of every agent action in the logged sessions, with the reward of point 2; actions by their
    Q-table names (``policies/next_action.q_action``: the playbook's next step is ``next_step``; an action the
    playbook did not allow is :data:`OFF_PLAYBOOK`)."""
    out: list[Transition] = []
    for item in logged:
        session, actions = item.session, item.actions
        if not actions:
            continue
        snapshot = session.snapshot
        outcome = session_return(
            resolved=session.resolved, escalated=session.escalated, expired=session.close_reason == "expired",
            rating=item.rating, elapsed_s=_elapsed(snapshot), target_s=float(snapshot.get("sla_target_s", 0) or 0))
        for index, (key, action, allowed, step) in enumerate(actions):
            last = index == len(actions) - 1
            name = q_action(action, allowed, always_allowed, step) or OFF_PLAYBOOK
            out.append(Transition(key, name, -STEP_COST + (outcome if last else 0.0),
                                  None if last else actions[index + 1][0]))
    return out


def _elapsed(snapshot: Mapping[str, object]) -> float:
    opened, last = snapshot.get("opened_at"), snapshot.get("last_time")
    if not isinstance(opened, str) or not isinstance(last, str) or not opened or not last:
        return 0.0
    return (datetime.fromisoformat(last) - datetime.fromisoformat(opened)).total_seconds()


def fit_q(batch: Sequence[Transition], *, gamma: float = GAMMA, min_visits: int = 1
          ) -> dict[str, dict[str, tuple[float, int, float]]]:
    """Tabular fitted Q iteration on ``batch`` (module docstring, point 3): state -> action -> (Q, visits, the
    standard error of Q: the spread of its targets over the square root of the visits; 1.0 for one visit). The
    max in s' runs over the actions taken there at least ``min_visits`` times (the ones serving would trust), or
    over all taken there when none was taken that often."""
    grouped: dict[tuple[str, str], list[Transition]] = defaultdict(list)
    for t in batch:
        grouped[(t.state, t.action)].append(t)
    q = {pair: 0.0 for pair in grouped}
    taken: dict[str, list[str]] = defaultdict(list)
    for state, action in grouped:
        taken[state].append(action)
    suggestible = {state: [a for a in actions if a != OFF_PLAYBOOK] or actions for state, actions in taken.items()}
    trusted = {state: [a for a in actions if len(grouped[(state, a)]) >= min_visits] or actions
               for state, actions in suggestible.items()}
    for _ in range(MAX_SWEEPS):
        best = {state: max(q[(state, a)] for a in actions) for state, actions in trusted.items()}
        change = 0.0
        updated = {}
        for pair, items in grouped.items():
            value = math.fsum(t.reward + (gamma * best.get(t.next_state, 0.0) if t.next_state else 0.0)
                              for t in items) / len(items)
            change = max(change, abs(value - q[pair]))
            updated[pair] = value
        q = updated
        if change < 1e-6:
            break
    best = {state: max(q[(state, a)] for a in actions) for state, actions in trusted.items()}
    table: dict[str, dict[str, tuple[float, int, float]]] = defaultdict(dict)
    for (state, action), items in grouped.items():
        targets = [t.reward + (gamma * best.get(t.next_state, 0.0) if t.next_state else 0.0) for t in items]
        mean = math.fsum(targets) / len(targets)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in targets) / (len(targets) - 1)) if len(targets) > 1 else 1.0
        table[state][action] = (round(q[(state, action)], 6), len(items), round(sd / math.sqrt(len(items)), 6))
    return dict(table)


#: Events with the escalation model's inputs needed before its weights are fitted.
ESCALATION_MIN_EXAMPLES = 200
#: Strength of the pull towards the documented weights (a Gaussian prior centred on them).
ESCALATION_L2 = 1.0


def escalation_label(item: LoggedSession) -> bool:
    """What the escalation risk predicts: the session ended escalated, or its customer rated it 1 or 2."""
    return item.session.escalated or (item.rating is not None and item.rating <= 2)


def _penalised_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray, l2: float) -> float:
    z = x @ w
    # log(1 + e^z) - y z, computed without overflow
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum((w - start) ** 2))


def _logistic_fit(x: np.ndarray, y: np.ndarray, start: np.ndarray, l2: float) -> np.ndarray:
    """Damped Newton's method for L2-regularised logistic regression pulled towards ``start``: a step is halved
    until the penalised loss goes down (plain Newton overshoots when a feature nearly separates the outcomes)."""
    w = start.copy()
    loss = _penalised_loss(x, y, w, start, l2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (p - y) + l2 * (w - start)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6:
            candidate = w - scale * step
            new_loss = _penalised_loss(x, y, candidate, start, l2)
            if new_loss <= loss:
                break
            scale /= 2
        else:
            break
        w, improvement, loss = candidate, loss - new_loss, new_loss
        if improvement < 1e-9 * max(1.0, abs(loss)):
            break
    return w


def _log_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30))), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_escalation(logged: Sequence[LoggedSession]) -> tuple[dict[str, float] | None, dict]:
    """The escalation model's weights fitted on the logged sessions' events (label: :func:`escalation_label`),
    with a summary. Fitted on the older 80% of the sessions and compared with the documented weights on the newest
    20% by log loss; published (refitted on all) only when it is no worse there, else None: the prior stays."""
    names = list(ESCALATION_PRIOR)
    rows = [([1.0 if n == "bias" else float(f.get(n, 0.0)) for n in names], escalation_label(item), index)
            for index, item in enumerate(logged) for f in item.risk_features]
    summary: dict = {"examples": len(rows), "positives": sum(label for _, label, _ in rows)}
    if len(rows) < ESCALATION_MIN_EXAMPLES or summary["positives"] in (0, len(rows)):
        summary["reason"] = "too few examples, or only one outcome: the documented weights stay"
        return None, summary
    x = np.array([r for r, _, _ in rows])
    y = np.array([float(label) for _, label, _ in rows])
    newest = np.array([index >= int(len(logged) * 0.8) for _, _, index in rows])
    start = np.array([ESCALATION_PRIOR[n] for n in names])
    fitted = _logistic_fit(x[~newest], y[~newest], start, ESCALATION_L2)
    summary["holdout_log_loss_prior"] = round(_log_loss(x[newest], y[newest], start), 4)
    summary["holdout_log_loss_fitted"] = round(_log_loss(x[newest], y[newest], fitted), 4)
    if not newest.any() or summary["holdout_log_loss_fitted"] > summary["holdout_log_loss_prior"]:
        summary["reason"] = "the fitted weights predict the newest sessions no better: the documented weights stay"
        return None, summary
    weights = _logistic_fit(x, y, start, ESCALATION_L2)
    summary["reason"] = "fitted"
    return {n: round(float(v), 6) for n, v in zip(names, weights, strict=True)}, summary


@dataclass
class SessionLearnReport:
    sessions: int = 0
    transitions: int = 0
    states: int = 0
    published: str | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def build_policy(logged: Sequence[LoggedSession], settings: Settings, now: datetime, *,
                 always_allowed: Sequence[str]) -> NextActionPolicy:
    batch = transitions(logged, always_allowed)
    table = fit_q(batch, min_visits=settings.nba_min_visits)
    escalation, escalation_summary = fit_escalation(logged)
    summary = {"sessions": len(logged), "transitions": len(batch), "states": len(table), "gamma": GAMMA,
               "escalation": escalation_summary}
    digest = hashlib.sha256(NextActionPolicy("x", table, escalation=escalation).to_payload()).hexdigest()[:8]
    return NextActionPolicy(f"nba-{now:%Y%m%d%H%M%S}-{digest}", table, settings.nba_min_visits, summary, escalation)


async def learn_sessions_once(store, settings: Settings, *, now: datetime | None = None) -> SessionLearnReport:
    """One run of the loop (module docstring); the report says what it did and why."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    report = SessionLearnReport()
    logged = await store.closed_sessions(limit=settings.nba_learner_window)
    report.sessions = len(logged)
    if len(logged) < settings.nba_min_sessions:
        report.reason = f"{len(logged)} closed sessions; a learned policy needs {settings.nba_min_sessions}"
        return report
    playbook = load_playbook(settings.playbook_path)
    policy = await asyncio.to_thread(build_policy, logged, settings, now, always_allowed=playbook.always_allowed)
    report.transitions = int(policy.summary["transitions"])  # type: ignore[call-overload]
    report.states = len(policy.q)
    payload = policy.to_payload()
    try:
        loaded = NextActionPolicy.from_payload(payload)  # the offline check: it loads, every value finite
    except ValueError as exc:
        report.reason = f"not published: the offline check failed ({exc})"
        return report
    await store.publish_policy(PolicyRow(loaded.version, payload, dict(policy.summary),
                                         trained_decisions=len(logged), kind="session"))
    report.published = loaded.version
    report.reason = "published"
    return report
