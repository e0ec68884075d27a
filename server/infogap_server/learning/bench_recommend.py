"""``infogap bench --paths recommend-sim,recommend-speed``: how much Recommend's learned ranking gains over the prior
ranking in a simulation, and how fast Recommend answers. A development tool outside the serving import graph.

recommend-sim is a SIMULATION: synthetic customers with hidden preferences, not real data. It says what the
learning loop can recover when the world is as assumed here, not what it gains on a real shop's customers.

- Contacts: intent uniform over the default catalogue's intents, segment uniform over ``SEGMENTS`` (with RFM scores
  that give that segment), churn risk uniform in [0, 1], channel uniform over ``CHANNELS``, and with probability
  :data:`ORDER_KNOWN` an order's age (exponential, mean 20 days) and amount (log-normal, median about 67); the
  candidates are the catalogue's eligible plans for that context (``Catalogue.filter``), their features built by
  ``context_features`` and ``plan_features`` as serving builds them for a call with an intent and no text
  (``intent_p`` 1, no sentiment or urgency, ``similar`` 0, no peer ratings).
- Hidden preferences, drawn once from the seed: a utility for each (segment, plan kind) and each plan, a slope of
  utility in churn risk for each kind (offers strongly up, :data:`OFFER_CHURN_SLOPE`), plus the plan's prior
  affinity for the intent, weighted by :data:`PRIOR_WEIGHT` only, so that the prior ranking is decent but not the
  best. The customer's rating is ``1 + Binomial(4, sigmoid(u))``; resolved is ``Bernoulli(sigmoid(u + bonus))``
  (resolution plans resolve more often, information less).
- Reward: the project's formula (``learning/recommend.py``), ``satisfaction(rating, resolved) - cost_penalty(cost,
  0.2)``. Evaluation uses its expected value under the hidden model (satisfaction is linear in the rating and in
  resolved), not a draw, so the figures are not noisy.
- Policies: uniform random over the eligible plans; the prior (``prior_scores``, greedy); the learned one: a
  ``BanditLearner`` (epsilon 0.1) that first imitates the prior on contacts without feedback, as
  ``learning.recommend.train`` does, then learns online: each contact draws a plan from its pmf (seeded), the
  customer's reward is drawn, and the learner learns ``-reward`` with the drawn plan's probability. Evaluated
  greedy (epsilon 0) on a fixed set of fresh contacts after each number of feedbacks.

recommend-speed measures Recommend through a real gateway (embedded backend, the built model repository, the
default catalogue, a fresh SQLite store that logs every decision) at the bench's concurrency, with an intent (no
text model) and with the bench's hand-written messages (the text model reads each), with the bench's own
closed-loop helpers.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from infogap_server.learning.recommend import cost_penalty, satisfaction
from infogap_server.policies.bandit import BanditConfig, BanditLearner, greedy_pmf, sample
from infogap_server.policies.ranking import PlanInput, context_features, plan_features, prior_scores
from infogap_server.services.catalogue import (
    CHANNELS,
    DEFAULT_CATALOGUE_PATH,
    KINDS,
    Catalogue,
    Context,
    load_catalogue,
)
from infogap_server.services.customers import SEGMENTS, Rfm, segment

SIM_NOTICE = "SIMULATION: synthetic customers with hidden preferences, not real data"
DEFAULT_FEEDBACKS = (1000, 10_000, 100_000)
SEED = 0
#: Fresh contacts each policy is evaluated on, and contacts (without feedback) the learner imitates the prior on.
EVAL_CONTACTS, WARM_START_CONTACTS = 2000, 2000
EPSILON = 0.1
#: The reward's cost weight (the default of INFOGAP_REWARD_COST_WEIGHT).
COST_WEIGHT = 0.2
#: Share of contacts about an order (its age and amount known).
ORDER_KNOWN = 0.7

# The hidden model: utility u = BASE + PRIOR_WEIGHT * prior + segment x kind + plan + churn slope of the kind x
# (churn - 0.5). Spreads are standard deviations of the seeded draws.
BASE_UTILITY = -0.6
PRIOR_WEIGHT = 1.5
SEGMENT_KIND_SPREAD, PLAN_SPREAD, CHURN_SLOPE_SPREAD = 0.8, 0.6, 0.5
OFFER_CHURN_SLOPE = 2.5
RESOLVE_BONUS = {"resolution": 0.5, "information": -0.5}


def _rfm_by_segment() -> dict[str, list[tuple[int, int, int]]]:
    """The RFM scores (recency, frequency, monetary) that give each segment, as ``services.customers`` reads them."""
    found: dict[str, list[tuple[int, int, int]]] = {s: [] for s in SEGMENTS}
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                orders = 1 if f == 1 else 2  # score 1 is one order; "new" needs exactly one
                found[segment(Rfm(None, orders, 0.0, r, f, m))].append((r, f, m))
    found["prospect"] = [(0, 0, 0)]  # no order: what serving computes for a customer with other events only
    return found


RFM_BY_SEGMENT = _rfm_by_segment()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class HiddenPreferences:
    """What simulated customers like, drawn once from a seed; the learner never sees it."""

    def __init__(self, catalogue: Catalogue, seed: int) -> None:
        rng = random.Random(seed)
        self.segment_kind = {(s, k): rng.gauss(0.0, SEGMENT_KIND_SPREAD) for s in SEGMENTS for k in KINDS}
        self.plan = {p.id: rng.gauss(0.0, PLAN_SPREAD) for p in sorted(catalogue.plans, key=lambda p: p.id)}
        self.churn_slope = {k: rng.gauss(0.0, CHURN_SLOPE_SPREAD) for k in KINDS}
        self.churn_slope["offer"] = OFFER_CHURN_SLOPE

    def probabilities(self, segment_name: str, churn: float, plan_id: str, kind: str, prior: float
                      ) -> tuple[float, float]:
        """(p of the binomial rating, p of resolved) for one plan offered to one customer."""
        u = (BASE_UTILITY + PRIOR_WEIGHT * prior + self.segment_kind[(segment_name, kind)] + self.plan[plan_id]
             + self.churn_slope[kind] * (churn - 0.5))
        return _sigmoid(u), _sigmoid(u + RESOLVE_BONUS.get(kind, 0.0))


def expected_reward(p_rating: float, p_resolved: float, cost: float) -> float:
    """The reward's expectation: satisfaction is linear in the rating, so the mean rating ``1 + 4p`` goes in."""
    mean_rating = 1.0 + 4.0 * p_rating
    value = (p_resolved * satisfaction(mean_rating, True, None, None)  # type: ignore[arg-type]
             + (1.0 - p_resolved) * satisfaction(mean_rating, False, None, None))  # type: ignore[arg-type]
    return value - cost_penalty(cost, COST_WEIGHT)


def drawn_reward(rng: random.Random, p_rating: float, p_resolved: float, cost: float) -> float:
    rating = 1 + sum(rng.random() < p_rating for _ in range(4))
    return satisfaction(rating, rng.random() < p_resolved, None, None) - cost_penalty(cost, COST_WEIGHT)


@dataclass(frozen=True)
class SimContact:
    context: dict
    actions: list[dict]
    #: Per candidate: (p of the rating, p of resolved, cost), and the expected reward.
    hidden: list[tuple[float, float, float]]
    expected: list[float]


class Simulator:
    """Simulated contacts over the default catalogue with the hidden preferences of one seed."""

    def __init__(self, catalogue: Catalogue, seed: int) -> None:
        self.catalogue = catalogue
        self.hidden = HiddenPreferences(catalogue, seed)
        self.intents = sorted(catalogue.intents)
        self._actions: dict[tuple[str, str], dict] = {}  # (plan, intent) -> features: constant without text

    def _action(self, plan, intent: str) -> dict:
        key = (plan.id, intent)
        found = self._actions.get(key)
        if found is None:
            found = self._actions[key] = plan_features(
                PlanInput(plan.id, plan.kind, float(plan.cost), plan.affinity(intent), 0.0, plan.requires_approval),
                None)
        return found

    def contacts(self, rng: random.Random, n: int) -> Iterator[SimContact]:
        made = 0
        while made < n:
            intent, segment_name = rng.choice(self.intents), rng.choice(SEGMENTS)
            churn, channel = rng.random(), rng.choice(CHANNELS)
            age = amount = None
            if rng.random() < ORDER_KNOWN:
                age, amount = round(rng.expovariate(1 / 20), 1), round(rng.lognormvariate(4.2, 0.8), 2)
            plans = self.catalogue.filter(Context(intent=intent, order_age_days=age, order_amount=amount,
                                                  segment=segment_name, churn_risk=churn, channel=channel)).plans
            if not plans:
                continue
            context = context_features(intent=intent, intent_p=1.0, negative=None, urgency=None, churn=churn,
                                       segment=segment_name, rfm=rng.choice(RFM_BY_SEGMENT[segment_name]), recent={},
                                       channel=channel)
            hidden = []
            for plan in plans:
                p, r = self.hidden.probabilities(segment_name, churn, plan.id, plan.kind, plan.affinity(intent))
                hidden.append((p, r, float(plan.cost)))
            made += 1
            yield SimContact(context, [self._action(plan, intent) for plan in plans], hidden,
                             [expected_reward(*h) for h in hidden])


def _greedy_value(costs: Sequence[float], expected: Sequence[float]) -> float:
    """The expected reward of the greedy choice (ties share the pick, as ``greedy_pmf`` with epsilon 0)."""
    return math.fsum(p * e for p, e in zip(greedy_pmf(costs, 0.0), expected, strict=True))


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def run_simulation(feedbacks: Sequence[int] = DEFAULT_FEEDBACKS, *, seed: int = SEED,
                   eval_contacts: int = EVAL_CONTACTS, warm_start: int = WARM_START_CONTACTS,
                   progress=None) -> dict:
    """The recommend-sim figures (module docstring); ``progress(row)`` is called with each table row as it comes."""
    started = time.perf_counter()
    catalogue = load_catalogue(DEFAULT_CATALOGUE_PATH)
    sim = Simulator(catalogue, seed)
    evaluation = list(sim.contacts(random.Random(seed + 1), eval_contacts))
    random_value = _mean([_mean(c.expected) for c in evaluation])
    prior_value = _mean([_greedy_value([-v for v in prior_scores(c.actions)], c.expected) for c in evaluation])
    best_value = _mean([max(c.expected) for c in evaluation])

    learner = BanditLearner(BanditConfig(epsilon=EPSILON))
    rows: list[dict] = []
    online: list[float] = []

    def evaluate(done: int) -> None:
        learned = _mean([_greedy_value(learner.predict_costs(c.context, c.actions), c.expected) for c in evaluation])
        row = {"feedbacks": done, "learned": round(learned, 4), "prior": round(prior_value, 4),
               "random": round(random_value, 4), "learned_over_prior": round(learned / prior_value, 4),
               "online_mean_reward": round(_mean(online), 4) if online else None,
               "elapsed_s": round(time.perf_counter() - started, 1)}
        rows.append(row)
        if progress is not None:
            progress(row)

    try:
        for c in sim.contacts(random.Random(seed + 2), warm_start):  # imitation, as learning.recommend.train
            for index, value in enumerate(prior_scores(c.actions)):
                learner.learn(c.context, c.actions, index, -value, 1.0)
        evaluate(0)
        targets = sorted({int(f) for f in feedbacks if int(f) > 0})
        stream = sim.contacts(random.Random(seed + 3), targets[-1] if targets else 0)
        draws = random.Random(seed + 4)
        learn_s = 0.0
        for target in targets:
            while len(online) < target:
                c = next(stream)
                t0 = time.perf_counter()
                pmf = learner.predict_pmf(c.context, c.actions)
                chosen = sample(pmf, draws.getrandbits(63))
                reward = drawn_reward(draws, *c.hidden[chosen])
                learner.learn(c.context, c.actions, chosen, -reward, pmf[chosen])
                learn_s += time.perf_counter() - t0
                online.append(reward)
            evaluate(target)
    finally:
        learner.close()
    kinds = catalogue.kinds()
    return {
        "notice": SIM_NOTICE, "seed": seed, "catalogue": {"version": catalogue.version, "plans": len(catalogue.plans),
                                                          "intents": len(catalogue.intents), "kinds": dict(kinds)},
        "evaluation_contacts": eval_contacts,
        "mean_candidates": round(_mean([len(c.actions) for c in evaluation]), 2),
        "warm_start_contacts": warm_start, "epsilon": EPSILON, "cost_weight": COST_WEIGHT,
        "hidden_model": {"base": BASE_UTILITY, "prior_weight": PRIOR_WEIGHT, "segment_kind_sd": SEGMENT_KIND_SPREAD,
                         "plan_sd": PLAN_SPREAD, "churn_slope_sd": CHURN_SLOPE_SPREAD,
                         "offer_churn_slope": OFFER_CHURN_SLOPE, "resolve_bonus": RESOLVE_BONUS},
        "best_possible": round(best_value, 4), "rows": rows,
        "online_learn_ms_per_feedback": round(1e3 * learn_s / len(online), 3) if online else None,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


SIM_HEADER = (f"{'feedbacks':>9} | {'learned':>8} | {'prior':>8} | {'random':>8} | {'learned/prior':>13} | "
              f"{'elapsed s':>9}")


def sim_row(row: dict) -> str:
    return (f"{row['feedbacks']:>9} | {row['learned']:>8.4f} | {row['prior']:>8.4f} | {row['random']:>8.4f} | "
            f"{row['learned_over_prior']:>13.3f} | {row['elapsed_s']:>9.1f}")


def recommend_sim_path(args) -> dict:
    """The recommend-sim path of ``infogap bench``: prints as it goes, returns the figures for the report."""
    feedbacks = getattr(args, "sim_feedbacks", None) or DEFAULT_FEEDBACKS
    print(f"recommend-sim: {SIM_NOTICE}", flush=True)
    print(f"recommend-sim: default catalogue; contacts with a uniform intent, segment, channel and churn risk "
          f"({ORDER_KNOWN:.0%} about an order); hidden utility per segment x plan kind and per plan, churn x kind "
          f"(offers {OFFER_CHURN_SLOPE:+}), prior affinity x {PRIOR_WEIGHT}; rating 1 + Binomial(4, sigmoid(u)), "
          f"resolved Bernoulli; reward = satisfaction - cost_penalty(cost, {COST_WEIGHT}); seed {SEED}", flush=True)
    print(f"recommend-sim: learned = VW cb_adf, epsilon {EPSILON} while learning, imitating the prior on "
          f"{WARM_START_CONTACTS:,} contacts first; all policies greedy at evaluation; mean expected reward on "
          f"{EVAL_CONTACTS:,} fresh contacts", flush=True)
    print(SIM_HEADER, flush=True)
    result = run_simulation(feedbacks, progress=lambda row: print(sim_row(row), flush=True))
    last = result["rows"][-1]
    print(f"recommend-sim: best possible (the hidden model's best plan each time) {result['best_possible']:.4f}; "
          f"{result['mean_candidates']} eligible plans per contact on average; online mean reward while learning "
          f"(drawn, exploring) {last['online_mean_reward']}; {result['online_learn_ms_per_feedback']} ms per "
          f"feedback (predict, draw, learn); {result['elapsed_s']} s in all", flush=True)
    print(f"recommend-sim: {SIM_NOTICE}: the gain says what the loop can recover under these assumptions, not what "
          "it gains on real customers", flush=True)
    return result


# --- recommend-speed ------------------------------------------------------------------------------------------------

async def recommend_speed_path(settings, args, texts: Sequence[str], measured) -> dict:
    """Recommend p50/p99 through one gateway, with an intent and with text; ``measured`` is the bench's closed-loop
    measurement (it prints the rows and adds them to the report's loads)."""
    import itertools

    import grpc
    from infogap.v1 import infogap_pb2 as pb
    from infogap.v1 import infogap_pb2_grpc

    from infogap_server.bench import start_gateway

    intents = sorted(load_catalogue(settings.catalogue_path).intents)
    gateway = await start_gateway(settings, backend="embedded")
    results: dict = {"startup_s": round(gateway.startup_s, 2), "intents": len(intents),
                     "messages": len(texts), "concurrency": args.concurrency}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = infogap_pb2_grpc.InfoGapStub(channel)
            turn = itertools.count()

            async def by_intent(_text: str) -> None:
                i = next(turn)
                response = await stub.Recommend(pb.RecommendRequest(
                    intent=intents[i % len(intents)], customer_id=f"bench-{i % 1000}"), timeout=30)
                if not response.plans:
                    raise RuntimeError("Recommend with an intent answered no plan")

            async def by_text(text: str) -> None:
                i = next(turn)
                await stub.Recommend(pb.RecommendRequest(text=text, customer_id=f"bench-{i % 1000}"), timeout=30)

            pids = [gateway.process.pid]
            for name, key, call in (("recommend (intent)", "intent", by_intent),
                                    ("recommend (text)", "text", by_text)):
                r = await measured(name, call, pids, args.concurrency, args.duration_s, gateway=gateway)
                results[key] = {"requests_per_s": r.requests_per_s, "p50_ms": r.p50_ms, "p95_ms": r.p95_ms,
                                "p99_ms": r.p99_ms, "errors": r.errors, "server_cpu_cores": r.server_cpu_cores,
                                "mean_batch_size": r.mean_batch_size}
    finally:
        gateway.stop()
    i, t = results["intent"], results["text"]
    print(f"recommend: {args.concurrency} callers, one gateway (embedded backend, default catalogue, decisions "
          f"logged to SQLite): with an intent p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms; with text p50 "
          f"{t['p50_ms']} ms, p99 {t['p99_ms']} ms", flush=True)
    return results
