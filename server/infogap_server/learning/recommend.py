"""Recommend's learning loop (``infogap learn``): rewards from feedback, a bandit trained on the decision log, and
a policy version published only when it passes its offline check and the takeover rule.

One run (:func:`learn_once`):

1. **Rewards.** Every logged decision without a reward gets one: from the first feedback its customer gave on it
   (SubmitFeedback with its ``decision_id``), or, when none came within ``reward_wait_s``, the default. The reward
   of the decision's first plan is ``satisfaction - reward_cost_weight * cost / (cost + 50)`` where satisfaction
   is the weighted mean of what the feedback says, over the parts it has: the rating, ``(rating - 1) / 4``
   (weight 0.6); resolved, 1 or 0 (weight 0.25); the text's sentiment, ``P(positive) + P(neutral) / 2``
   (weight 0.15). The default reward's satisfaction is ``default_satisfaction``. The cost is the plan's cost as
   the policy read it (its logged features), so a catalogue edit does not rewrite history.
2. **Training.** The rewarded decisions, oldest first, split 80/20 in time. A fresh bandit first imitates the
   prior ranking (apprenticeship: every candidate of every training decision, its cost the negated prior
   affinity, fully observed), then learns the logged rewards (the first plan, its cost ``-reward``, its logged
   probability).
3. **Takeover rule.** On the latest 20%, the learned policy's value and the prior's are estimated with
   self-normalised inverse propensity weighting (SNIPW) on the logged probabilities, each policy exploring with
   the same epsilon. The learned policy takes over when there are at least ``learner_min_rewards`` rewarded
   decisions and its estimate is at least the prior's; then it is trained again on every rewarded decision.
4. **Offline check, then publish.** The payload must load back, and the loaded policy must give finite values
   and a pmf summing to 1 on every held-out decision. A version that fails is not published. Peer ratings
   (how customers of each segment rated each plan) go into the payload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infogap_server.learning.sessions import learn_sessions_once
from infogap_server.policies.bandit import BanditConfig, BanditLearner, greedy_pmf
from infogap_server.policies.ranking import ALL_SEGMENTS, PeerRating, Policy, prior_scores
from infogap_server.settings import Settings
from infogap_server.store.base import PolicyRow, RewardedDecision, RewardRow

log = logging.getLogger("infogap.learn")

#: Weights of the satisfaction parts (rating, resolved, sentiment), renormalised over the parts a feedback has.
RATING_WEIGHT, RESOLVED_WEIGHT, SENTIMENT_WEIGHT = 0.6, 0.25, 0.15
#: The cost at which a plan loses half its cost weight.
COST_SCALE = 50.0
HOLDOUT_SHARE = 0.2
_PAGE = 1000


def satisfaction(rating: int | None, resolved: bool | None, positive: float | None, neutral: float | None
                 ) -> float | None:
    """The feedback's satisfaction in [0, 1], or None when it says nothing."""
    parts = []
    if rating is not None:
        parts.append((RATING_WEIGHT, (rating - 1) / 4))
    if resolved is not None:
        parts.append((RESOLVED_WEIGHT, 1.0 if resolved else 0.0))
    if positive is not None:
        parts.append((SENTIMENT_WEIGHT, positive + (neutral or 0.0) / 2))
    if not parts:
        return None
    return sum(w * v for w, v in parts) / sum(w for w, _ in parts)


def cost_penalty(cost: float, weight: float) -> float:
    return weight * cost / (cost + COST_SCALE)


def logged_cost(decision) -> float:
    """The first plan's cost as the policy read it (its ``cost`` feature is log1p of the cost)."""
    for candidate in decision.candidates:
        if candidate.plan_id == decision.top_plan_id:
            return math.expm1(float(candidate.features.get("cost", 0.0) or 0.0))
    return 0.0


def reward_of(item: RewardedDecision, settings: Settings, now: datetime) -> tuple[float, str] | None:
    """(reward, source) for a decision without one yet, or None while it still waits for feedback."""
    decision = item.decision
    penalty = cost_penalty(logged_cost(decision), settings.reward_cost_weight)
    if item.feedback_id is not None:
        value = satisfaction(item.rating, item.resolved, item.sentiment_positive, item.sentiment_neutral)
        return (value if value is not None else settings.default_satisfaction) - penalty, "feedback"
    if decision.decided_at is not None and decision.decided_at < now - timedelta(seconds=settings.reward_wait_s):
        return settings.default_satisfaction - penalty, "default"
    return None


@dataclass(frozen=True)
class Example:
    """One rewarded decision as the learner reads it."""

    context: dict
    actions: list[dict]
    chosen: int
    probability: float
    reward: float
    segment: str | None
    plan_id: str
    rating: int | None


@dataclass
class LearnReport:
    decisions: int = 0
    rewards_written: dict[str, int] = field(default_factory=lambda: {"feedback": 0, "default": 0})
    rewarded: int = 0
    holdout: int = 0
    learned_value: float | None = None
    prior_value: float | None = None
    published: str | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _example(item: RewardedDecision) -> Example | None:
    d = item.decision
    if item.reward is None or not d.chosen or any(not c.features for c in d.candidates):
        return None
    index = next((i for i, c in enumerate(d.candidates) if c.plan_id == d.top_plan_id), None)
    if index is None or not d.candidates[index].probability > 0:
        return None
    segment = d.context.get("segment")
    return Example(dict(d.context), [dict(c.features) for c in d.candidates], index,
                   float(d.candidates[index].probability), float(item.reward.reward),
                   segment if isinstance(segment, str) else None, d.top_plan_id, item.rating)


async def collect(store, settings: Settings, report: LearnReport, now: datetime) -> list[Example]:
    """Give rewards to the decisions that are due one, and read every rewarded decision as an example."""
    examples: list[Example] = []
    after = 0
    while True:
        page = await store.rewards_since(after, limit=_PAGE)
        if not page:
            return examples
        for item in page:
            report.decisions += 1
            if item.reward is None:
                due = reward_of(item, settings, now)
                if due is not None:
                    stored, _ = await store.add_reward(RewardRow(item.decision.decision_id, due[0], due[1]))
                    report.rewards_written[stored.source] = report.rewards_written.get(stored.source, 0) + 1
                    item = dataclasses.replace(item, reward=stored)
            example = _example(item)
            if example is not None:
                examples.append(example)
        after = page[-1].decision.sequence or after


def train(examples: Sequence[Example], epsilon: float) -> BanditLearner:
    """A bandit that imitates the prior on these contexts, then learns their rewards."""
    learner = BanditLearner(BanditConfig(epsilon=epsilon))
    for e in examples:  # apprenticeship: the prior's ranking, every candidate observed
        for index, value in enumerate(prior_scores(e.actions)):
            learner.learn(e.context, e.actions, index, -value, 1.0)
    for _ in range(2):
        for e in examples:
            learner.learn(e.context, e.actions, e.chosen, -e.reward, e.probability)
    return learner


def snipw(examples: Sequence[Example], pmfs: Sequence[Sequence[float]]) -> float:
    """Self-normalised IPW estimate of a policy's mean reward: ``pmfs[i]`` is its pmf on example i's actions."""
    weights = [pmf[e.chosen] / e.probability for e, pmf in zip(examples, pmfs, strict=True)]
    total = math.fsum(weights)
    return math.fsum(w * e.reward for w, e in zip(weights, examples, strict=True)) / total if total > 0 else 0.0


def peer_ratings(examples: Sequence[Example]) -> dict[str, dict[str, PeerRating]]:
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for e in examples:
        if e.rating is None:
            continue
        for segment in {e.segment or ALL_SEGMENTS, ALL_SEGMENTS}:
            total = sums[(segment, e.plan_id)]
            total[0] += e.rating
            total[1] += 1
    peers: dict[str, dict[str, PeerRating]] = defaultdict(dict)
    for (segment, plan), (total, count) in sums.items():
        peers[segment][plan] = PeerRating(round(total / count, 3), int(count))
    return dict(peers)


def check(policy: Policy, payload: bytes, examples: Sequence[Example]) -> Policy:
    """The offline check: the payload loads back and gives finite values and a proper pmf on ``examples``;
    ValueError otherwise."""
    loaded = Policy.from_payload(payload)
    for e in examples:
        values, pmf = loaded.score(e.context, e.actions)
        if not all(math.isfinite(v) for v in values) or abs(math.fsum(pmf) - 1.0) > 1e-6:
            raise ValueError("the policy gives non-finite values or a pmf that does not sum to 1")
    return loaded


async def learn_once(store, settings: Settings, *, now: datetime | None = None) -> LearnReport:
    """One run of the loop (module docstring); the report says what it did and why."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    report = LearnReport()
    examples = await collect(store, settings, report, now)
    report.rewarded = len(examples)
    if len(examples) < settings.learner_min_rewards:
        report.reason = f"{len(examples)} rewarded decisions; a learned policy needs {settings.learner_min_rewards}"
        return report
    epsilon = settings.recommend_epsilon
    cut = int(len(examples) * (1 - HOLDOUT_SHARE))
    train_part, holdout = examples[:cut], examples[cut:]
    report.holdout = len(holdout)
    learned_value, prior_value = await asyncio.to_thread(_compare, train_part, holdout, epsilon)
    report.learned_value, report.prior_value = round(learned_value, 4), round(prior_value, 4)
    if learned_value < prior_value:
        report.reason = "the learned policy's estimate is below the prior's: the prior stays"
        return report
    learner = await asyncio.to_thread(train, examples, epsilon)
    summary = {"rewarded": len(examples), "holdout": len(holdout), "snipw_learned": report.learned_value,
               "snipw_prior": report.prior_value, "epsilon": epsilon}
    version = f"learned-{now:%Y%m%d%H%M%S}-{hashlib.sha256(learner.save()).hexdigest()[:8]}"
    policy = Policy(version, epsilon, learner, peer_ratings(examples), summary)
    payload = policy.to_payload()
    try:
        await asyncio.to_thread(check, policy, payload, holdout)
    except ValueError as exc:
        report.reason = f"not published: the offline check failed ({exc})"
        return report
    finally:
        learner.close()
    await store.publish_policy(PolicyRow(version, payload, summary, trained_decisions=len(examples)))
    report.published = version
    report.reason = "published: the learned policy's estimate is at least the prior's"
    return report


def _compare(train_part: Sequence[Example], holdout: Sequence[Example], epsilon: float) -> tuple[float, float]:
    learner = train(train_part, epsilon)
    try:
        learned = [greedy_pmf(learner.predict_costs(e.context, e.actions), epsilon) for e in holdout]
    finally:
        learner.close()
    prior = [greedy_pmf([-v for v in prior_scores(e.actions)], epsilon) for e in holdout]
    return snipw(holdout, learned), snipw(holdout, prior)


async def run(settings: Settings, *, every_s: float = 0.0, parent_pid: int | None = None) -> dict:
    """``infogap learn``: one run of both loops (Recommend's, then TrackSession's next best action), or one every
    ``every_s`` seconds until the parent process is gone; the last run's reports, by loop."""
    from infogap_server.server import open_customer_layer

    store, _ = await open_customer_layer(settings)
    try:
        while True:
            report = await learn_once(store, settings)
            log.info("learner run", extra={"fields": report.as_dict()})
            sessions = await learn_sessions_once(store, settings)
            log.info("next-best-action learner run", extra={"fields": sessions.as_dict()})
            if every_s <= 0:
                return {"recommend": report.as_dict(), "sessions": sessions.as_dict()}
            waited = 0.0
            while waited < every_s:
                await asyncio.sleep(min(1.0, every_s - waited))
                waited += 1.0
                if parent_pid is not None and os.getppid() != parent_pid:
                    return {"recommend": report.as_dict(), "sessions": sessions.as_dict()}
    finally:
        await store.close()
