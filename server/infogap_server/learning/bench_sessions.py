"""``infogap bench --paths session-sim``: a SIMULATION of service sessions, to judge the next-best-action learner.

Nothing here is measured on real customers. A seeded world (:class:`World`) plays customers and their sessions
through the serving code's own state machine (``services/session_state.py``: the same snapshot, state key and
playbook mask as TrackSession), with rules the policies do not see:

- a session's need is one of the playbook's intents; the customer's first message names it with probability 0.6,
  a clarifying question then reveals it with probability 0.9;
- 40% of customers are angry: until the agent apologises, each action makes them angrier (a negative message) and
  ends 10% of sessions in an escalation demanded by the customer; an apology calms them;
- customers with a complaint or asking for a person (the feedback and contact groups) hold a grievance their
  words do not show (their messages read neutral): until an apology, each action ends 15% of such sessions in an
  escalation (the playbook apologises to them only when their sentiment reads negative, or at its turn);
- the playbook's steps, in order, then offer_plan resolve the need with probability 0.9 (0.6 for an angry
  customer who got no apology); in the refund and order groups the customer accepts the plan early, after the
  first step, with probability 0.85 (the shortcut the playbook does not know);
- escalate_to_human resolves the need with probability 0.7 for a customer at high churn risk (>= 0.6), 0.3
  otherwise, and counts as escalated;
- every action takes 45 s of handling, 15% of actions are followed by a hold of 60 to 240 s, and a customer whose
  patience (600 to 1,500 s) runs out leaves (expired); at most 20 actions;
- half the customers rate the session: 5 (resolved without escalation), 4 (resolved otherwise) or 1 to 2.

The return of a session is what the learner optimises (``learning/sessions.session_return`` minus the step costs).
Logged sessions come from agents who follow the served suggestion with probability 0.6 and otherwise take a random
allowed action (the playbook is served while logging). Policies are then judged greedily on fresh sessions:
playbook-only, random among the allowed actions, and the learned policy after each number of logged sessions; the
table gives mean return with a 95% normal interval.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from infogap_server.learning.sessions import STEP_COST, build_policy, session_return
from infogap_server.policies.next_action import NextActionPolicy
from infogap_server.services import session_state as st
from infogap_server.services.playbook import Playbook, load_playbook
from infogap_server.settings import Settings
from infogap_server.store.base import LoggedSession, SessionRecord

T0 = datetime(2026, 1, 5, 9, 0, 0)
FOLLOW = 0.6
SHORTCUT_GROUPS = frozenset({"refund", "order"})
GRIEVANCE_GROUPS = frozenset({"feedback", "contact"})
MAX_ACTIONS = 20

#: Chooses the action: (state key, allowed actions, the playbook's next step, rng) -> action.
Chooser = Callable[[str, Sequence[str], str | None, random.Random], str]


@dataclass
class _Customer:
    intent: str
    angry: bool
    churn: float
    patience_s: float
    rates: bool
    grievance: bool = False


class World:
    """The simulated customers and their reactions (module docstring)."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.intents = sorted(playbook.intents)
        self.steps = frozenset(s for play in playbook.intents.values() for s in play.steps)

    def customer(self, rng: random.Random) -> _Customer:
        intent = rng.choice(self.intents)
        return _Customer(intent, rng.random() < 0.4, rng.random(), rng.uniform(600, 1500), rng.random() < 0.5,
                         self.playbook.intents[intent].group in GRIEVANCE_GROUPS)

    def _message(self, s: st.Snapshot, c: _Customer, at: datetime, *, names_need: bool, mood: float
                 ) -> st.Snapshot:
        reading = st.MessageReading({c.intent: 0.8} if names_need else {}, not names_need, mood, 0.0)
        s, _ = st.apply(s, st.SessionEventInput("message", at, from_customer=True), reading,
                        playbook_steps=self.steps, need_threshold=0.5)
        return s

    def play(self, choose: Chooser, rng: random.Random) -> tuple[LoggedSession, float]:
        """One session: (what the store would log of it, its return)."""
        c = self.customer(rng)
        at = T0
        s = replace(st.opened(at, c.churn), sla_target_s=self.playbook.intents[c.intent].sla_target_s)
        calm = False
        s = self._message(s, c, at, names_need=rng.random() < 0.6, mood=-0.6 if c.angry else 0.3)
        actions: list[tuple[str, str, tuple[str, ...], str | None]] = []
        features: list[dict[str, float]] = []
        resolved, escalated = False, False
        done_steps = 0
        for _ in range(MAX_ACTIONS):
            key, allowed, step = st.decision_state(s, self.playbook)
            action = choose(key, allowed, step, rng)
            actions.append((key, action, allowed, step))
            at = at + timedelta(seconds=45)
            s, _ = st.apply(s, st.SessionEventInput("action", at, action=action), None, playbook_steps=self.steps,
                            need_threshold=0.5)
            angry_now = c.angry and not calm
            if c.grievance and not calm and action != "apologise" and rng.random() < 0.15:
                escalated = True
                break
            if action == "apologise" and (c.angry or c.grievance):
                calm = True
                s = self._message(s, c, at, names_need=bool(s.intent), mood=0.4)
            elif action == "ask_clarifying_question" and not s.intent:
                s = self._message(s, c, at, names_need=rng.random() < 0.9, mood=-0.2 if angry_now else 0.2)
            elif angry_now:
                s = self._message(s, c, at, names_need=bool(s.intent), mood=-0.8)
                if rng.random() < 0.10:
                    escalated = True
                    break
            if s.intent and action in self.playbook.intents[s.intent].steps:
                done_steps = self.playbook.progress(s.intent, s.done)
            play = self.playbook.intents.get(s.intent) if s.intent else None
            if action == "escalate_to_human":
                escalated = True
                resolved = rng.random() < (0.7 if c.churn >= 0.6 else 0.3)
                break
            if action == "offer_plan" and play is not None and s.intent == c.intent:
                if done_steps >= len(play.steps):
                    resolved = rng.random() < (0.6 if c.angry and not calm else 0.9)
                elif play.group in SHORTCUT_GROUPS and done_steps >= 1:
                    resolved = rng.random() < 0.85
                if resolved:
                    break
            features.append(st.escalation_features(s, s.sla_target_s))
            if rng.random() < 0.15:
                hold = rng.uniform(60, 240)
                at = at + timedelta(seconds=hold)
                s, _ = st.apply(s, st.SessionEventInput("wait", at, wait_s=hold), None, playbook_steps=self.steps,
                                need_threshold=0.5)
            if s.elapsed_s() > c.patience_s:
                break
        expired = not resolved and not escalated
        at = at + timedelta(seconds=30)
        if expired:
            s = st.expire(s, at)
        else:
            s, _ = st.apply(s, st.SessionEventInput("end", at, resolved=resolved), None, playbook_steps=self.steps,
                            need_threshold=0.5)
        rating = None
        if c.rates:
            rating = (5 if not escalated else 4) if resolved else rng.choice((1, 2))
        record = SessionRecord(
            "sim", "sim", opened_at=T0, updated_at=at, last_event_at=at, last_sequence=s.events,
            snapshot=s.to_json(), stage="closed", closed_at=at, close_reason="expired" if expired else "ended",
            resolved=None if expired else resolved, escalated=escalated)
        value = session_return(resolved=record.resolved, escalated=escalated, expired=expired, rating=rating,
                               elapsed_s=s.elapsed_s(), target_s=s.sla_target_s) - STEP_COST * len(actions)
        return LoggedSession(record, tuple(actions), rating, tuple(features)), value


def serving(policy: NextActionPolicy, playbook: Playbook) -> Chooser:
    def choose(key: str, allowed: Sequence[str], step: str | None, _rng: random.Random) -> str:
        return policy.rank(key, allowed, playbook.always_allowed, step)[0].action

    return choose


def logging_agent(policy: NextActionPolicy, playbook: Playbook, follow: float = FOLLOW) -> Chooser:
    best = serving(policy, playbook)

    def choose(key: str, allowed: Sequence[str], step: str | None, rng: random.Random) -> str:
        return best(key, allowed, step, rng) if rng.random() < follow else rng.choice(list(allowed))

    return choose


def random_agent(_key: str, allowed: Sequence[str], _step: str | None, rng: random.Random) -> str:
    return rng.choice(list(allowed))


@dataclass(frozen=True)
class Estimate:
    """A policy's mean return over the evaluation sessions with a 95% normal interval, and its difference from the
    playbook's on the same customers (paired: session i meets the same customer under every policy)."""

    mean: float
    low: float
    high: float
    diff: float = 0.0
    diff_low: float = 0.0
    diff_high: float = 0.0


def _interval(values: Sequence[float]) -> tuple[float, float, float]:
    mean = math.fsum(values) / len(values)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
    half = 1.96 * sd / math.sqrt(len(values))
    return mean, mean - half, mean + half


def returns(world: World, choose: Chooser, sessions: int, seed: int) -> list[float]:
    """The return of each evaluation session; session i draws its customer and its luck from its own seed."""
    return [world.play(choose, random.Random(seed * 1_000_003 + i))[1] for i in range(sessions)]


def estimate(values: Sequence[float], baseline: Sequence[float]) -> Estimate:
    mean, low, high = _interval(values)
    diff, diff_low, diff_high = _interval([v - b for v, b in zip(values, baseline, strict=True)])
    return Estimate(mean, low, high, diff, diff_low, diff_high)


@dataclass(frozen=True)
class SimResult:
    playbook: Estimate
    random: Estimate
    learned: dict[int, Estimate]
    seconds: float
    escalation: dict | None = None  # the learner's escalation fit on the most logged sessions


def run_simulation(counts: Sequence[int], *, eval_sessions: int = 2000, seed: int = 7,
                   settings: Settings | None = None) -> SimResult:
    """Log sessions under the playbook, learn after each count, judge every policy on the same fresh customers."""
    started = time.perf_counter()
    settings = settings or Settings()
    playbook = load_playbook(settings.playbook_path)
    world = World(playbook)
    prior = NextActionPolicy()
    rng = random.Random(seed)
    agent = logging_agent(prior, playbook)
    logged: list[LoggedSession] = []
    baseline = returns(world, serving(prior, playbook), eval_sessions, seed + 1)
    learned: dict[int, Estimate] = {}
    policy = prior
    for count in sorted(counts):
        while len(logged) < count:
            logged.append(world.play(agent, rng)[0])
        policy = build_policy(logged, settings, T0, always_allowed=playbook.always_allowed)
        learned[count] = estimate(returns(world, serving(policy, playbook), eval_sessions, seed + 1), baseline)
    return SimResult(estimate(baseline, baseline),
                     estimate(returns(world, random_agent, eval_sessions, seed + 1), baseline), learned,
                     time.perf_counter() - started, dict(policy.summary.get("escalation", {}) or {}))


def print_simulation(result: SimResult, eval_sessions: int) -> None:
    print(f"\nsession-sim: a SIMULATION (seeded customers and rules of learning/bench_sessions.py, not real data); "
          f"each policy judged greedily on the same {eval_sessions:,} fresh customers; mean return and its "
          f"difference from the playbook's (paired by customer), with 95% intervals")
    print(f"{'policy':<32}{'mean return':>12}{'95% interval':>22}{'vs playbook':>13}{'95% interval':>22}")

    def row(name: str, e: Estimate) -> None:
        print(f"{name:<32}{e.mean:>12.3f}{f'[{e.low:.3f}, {e.high:.3f}]':>22}{e.diff:>+13.3f}"
              f"{f'[{e.diff_low:+.3f}, {e.diff_high:+.3f}]':>22}")

    row("playbook only", result.playbook)
    row("random (allowed actions)", result.random)
    for count, e in sorted(result.learned.items()):
        row(f"learned after {count:,} sessions", e)
    if result.escalation:
        e = result.escalation
        print(f"escalation risk refitted on {e.get('examples', 0):,} logged events ({e.get('positives', 0):,} in "
              f"sessions that ended escalated or rated 1-2): holdout log loss {e.get('holdout_log_loss_fitted')} "
              f"fitted vs {e.get('holdout_log_loss_prior')} documented weights ({e.get('reason')})")
    print(f"({result.seconds:.1f} s)")


DEFAULT_SESSIONS = (1000, 10_000, 50_000)
DEFAULT_EVAL_SESSIONS = 4000


def session_sim_path(args) -> dict:
    """The session-sim path of ``infogap bench``: prints the table, returns the figures for the report."""
    counts = getattr(args, "sim_sessions", None) or DEFAULT_SESSIONS
    eval_sessions = getattr(args, "sim_eval_sessions", None) or DEFAULT_EVAL_SESSIONS
    result = run_simulation(counts, eval_sessions=eval_sessions)
    print_simulation(result, eval_sessions)
    print("session-sim: a SIMULATION: the gain says what the loop recovers under these rules, not what it gains on "
          "real sessions", flush=True)

    def figures(e: Estimate) -> dict:
        return {k: round(v, 4) for k, v in asdict(e).items()}

    return {"simulation": True, "eval_sessions": eval_sessions, "playbook": figures(result.playbook),
            "random": figures(result.random), "learned": {str(n): figures(e) for n, e in result.learned.items()},
            "escalation": result.escalation,
            "elapsed_s": round(result.seconds, 1)}
