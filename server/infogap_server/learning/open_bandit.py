"""The Open Bandit benchmark: the bandit learner judged on real logged recommendations (``infogap bench --paths
open-bandit``).

Data: the Open Bandit Dataset sample (ZOZOTOWN, a fashion e-commerce site; Saito et al., NeurIPS 2021), referenced
where it lies (``../shared/data/open_bandit`` beside the project by default), never copied into the project. Each
campaign folder holds impressions logged by a uniform-random policy (``random/``) and by Bernoulli Thompson sampling
(``bts/``): per impression the item shown, its position (1-3), the click, the logging policy's probability of that
item at that position, four hashed user features and the user's affinity to every item; ``item_context.csv``
describes the items.

Procedure:

1. the uniform-random log, in time order, is split: the first ``train_fraction`` trains, the rest evaluates;
2. the learner (:class:`~infogap_server.policies.bandit.BanditLearner`, as configured for serving) learns from every
   training impression once, in time order, as it would online: one decision per impression whose actions are all
   the campaign's items (item id and item features, and the user's affinity to that item), cost ``-click``, the
   logged propensity;
3. frozen, it gives a pmf over the items for every evaluation impression (exploration included: that is the policy
   it would serve), and IPW, self-normalised IPW, DM and DR estimate its click rate, with a reward model (L2
   logistic regression on context, item and context x item features, fitted on the training part only) for DM and
   DR; bootstrap intervals over impressions;
4. next to it: the uniform-random policy on the same impressions (its on-policy click rate, which is also its IPW
   estimate, from the same resamples: the ratios are paired) and the Thompson-sampling policy's own logged click
   rate (``bts/``, on-policy, its own bootstrap), over the whole log and over the evaluation window.

Positions: each impression is one decision for one slot, and the slot (1, 2 or 3) is a context feature, so the
learned policy may prefer other items in other slots; the propensity is the logged per-position one (1/80 under the
random policy). The three slots of a page are treated as independent decisions (as the dataset's own standard
evaluation does): a real page cannot show one item twice, which a per-slot policy ignores. The click rates compared
are therefore per impression, pooled over the three positions in their logged proportions.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from infogap_server.learning.ope import (
    Estimate,
    LoggedDecisions,
    bootstrap_indices,
    effective_sample_size,
    evaluate,
    importance_weights,
    ratio,
)
from infogap_server.policies.bandit import BanditConfig, BanditLearner
from infogap_server.settings import PROJECT_ROOT

#: The sample beside the project (``../shared/data/open_bandit``).
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "open_bandit"
CAMPAIGNS = ("all", "men", "women")
#: Paper, Table 1 (full data, 26M impressions over 7 days): Thompson sampling's click rate over the random policy's.
PUBLISHED_BTS_OVER_RANDOM = 1.43
USER_FEATURES = 4
POSITIONS = (1, 2, 3)


@dataclass(frozen=True)
class Items:
    """The campaign's items: ids 0..K-1, one numeric feature and three categorical (hashed) ones."""

    numeric: np.ndarray  # (K,)
    categorical: np.ndarray  # (K, 3) strings

    def __len__(self) -> int:
        return len(self.numeric)


@dataclass(frozen=True)
class Impressions:
    """One log file, in time order."""

    times: list[datetime]
    items: np.ndarray  # (n,) item shown
    positions: np.ndarray  # (n,) 1..3
    clicks: np.ndarray  # (n,) 0/1
    propensities: np.ndarray  # (n,) logging policy's probability of that item at that position
    users: np.ndarray  # (n, 4) hashed user features (strings)
    affinity: np.ndarray  # (n, K) user-item affinity

    def __len__(self) -> int:
        return len(self.items)

    def part(self, rows: slice) -> Impressions:
        return Impressions(self.times[rows], self.items[rows], self.positions[rows], self.clicks[rows],
                           self.propensities[rows], self.users[rows], self.affinity[rows])

    def log(self) -> LoggedDecisions:
        return LoggedDecisions(self.items, self.propensities, self.clicks.astype(float))


# --- reading -----------------------------------------------------------------------------------------------------

def data_missing(folder: Path, campaign: str = "all") -> str | None:
    """Why the benchmark cannot run on ``folder`` (None when it can)."""
    needed = [folder / policy / campaign / name for policy in ("random", "bts")
              for name in (f"{campaign}.csv", "item_context.csv")]
    missing = [str(p) for p in needed if not p.is_file()]
    return f"Open Bandit Dataset sample not found ({', '.join(missing)})" if missing else None


def read_items(path: Path) -> Items:
    with path.open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["item_id"]))
    if [int(r["item_id"]) for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: item ids are not 0..{len(rows) - 1}")
    return Items(np.array([float(r["item_feature_0"]) for r in rows]),
                 np.array([[r[f"item_feature_{k}"] for k in (1, 2, 3)] for r in rows]))


def read_impressions(path: Path, n_items: int, rows: int | None = None) -> Impressions:
    """The first ``rows`` impressions of ``path`` in time order (all when None)."""
    with path.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    records.sort(key=lambda r: datetime.fromisoformat(r["timestamp"]))  # the files are in time order; make sure
    records = records[:rows] if rows else records
    if not records:
        raise ValueError(f"{path}: no impressions")
    affinity_columns = [f"user-item_affinity_{a}" for a in range(n_items)]
    return Impressions(
        times=[datetime.fromisoformat(r["timestamp"]) for r in records],
        items=np.array([int(r["item_id"]) for r in records]),
        positions=np.array([int(r["position"]) for r in records]),
        clicks=np.array([int(r["click"]) for r in records]),
        propensities=np.array([float(r["propensity_score"]) for r in records]),
        users=np.array([[r[f"user_feature_{k}"] for k in range(USER_FEATURES)] for r in records]),
        affinity=np.array([[float(r[c]) for c in affinity_columns] for r in records]),
    )


# --- the learner's view of an impression -------------------------------------------------------------------------

def context_features(log: Impressions, i: int) -> dict:
    return {"user": {f"f{k}": str(log.users[i, k]) for k in range(USER_FEATURES)}, "position": str(log.positions[i])}


def item_actions(items: Items) -> list[dict]:
    """Each item as an action (without the user's affinity, which :func:`actions_for` adds)."""
    return [{"item": {"id": str(a), "f0": float(items.numeric[a]), "f1": str(items.categorical[a, 0]),
                      "f2": str(items.categorical[a, 1]), "f3": str(items.categorical[a, 2])}}
            for a in range(len(items))]


def actions_for(base: list[dict], log: Impressions, i: int) -> list[dict]:
    actions = list(base)
    for a in np.flatnonzero(log.affinity[i]):  # most users have no affinity to any item: share the base dicts
        actions[a] = {**base[a], "affinity": float(log.affinity[i, a])}
    return actions


def train_learner(config: BanditConfig, items: Items, train: Impressions) -> BanditLearner:
    learner = BanditLearner(config)
    base = item_actions(items)
    for i in range(len(train)):
        learner.learn(context_features(train, i), actions_for(base, train, i), int(train.items[i]),
                      -float(train.clicks[i]), float(train.propensities[i]))
    return learner


def policy_pmfs(learner: BanditLearner, items: Items, log: Impressions) -> np.ndarray:
    base = item_actions(items)
    return np.array([learner.predict_pmf(context_features(log, i), actions_for(base, log, i))
                     for i in range(len(log))])


# --- the reward model for DM and DR ------------------------------------------------------------------------------

class RewardModel:
    """P(click | context, item): L2-regularised logistic regression (Newton's method) on the slot and the user
    features (one-hot), the item's features (one-hot, numeric standardised), the user's affinity to the item, and
    two context x item crosses (slot x item numeric feature, user feature 0 x item numeric feature)."""

    def __init__(self, items: Items, train: Impressions, l2: float = 1.0, iterations: int = 30) -> None:
        self.vocab = [sorted(set(train.users[:, k])) for k in range(USER_FEATURES)]
        numeric = (items.numeric - items.numeric.mean()) / (items.numeric.std() or 1.0)
        one_hot = [self._one_hot(items.categorical[:, k], sorted(set(items.categorical[:, k]))) for k in range(3)]
        self.item_numeric = numeric
        self.item_matrix = np.hstack([np.ones((len(items), 1)), numeric[:, None], *one_hot])
        self.l2 = l2
        x = self._features(train, train.items[:, None])[:, 0, :]
        self.weights = self._fit(x, train.clicks.astype(float), iterations)
        self.dimensions = x.shape[1]

    @staticmethod
    def _one_hot(values: np.ndarray, vocab: list[str]) -> np.ndarray:
        index = {v: j for j, v in enumerate(vocab)}
        out = np.zeros((len(values), len(vocab)))
        for i, v in enumerate(values):
            if v in index:  # unseen in training: all zeros
                out[i, index[v]] = 1.0
        return out

    def _context(self, log: Impressions) -> tuple[np.ndarray, np.ndarray]:
        slots = np.stack([(log.positions == p).astype(float) for p in POSITIONS], axis=1)
        users = [self._one_hot(log.users[:, k], self.vocab[k]) for k in range(USER_FEATURES)]
        return np.hstack([slots, *users]), np.hstack([slots, users[0]])

    def _features(self, log: Impressions, candidates: np.ndarray) -> np.ndarray:
        """(n, c, d) features of each impression with each of its ``candidates`` (n, c) items."""
        context, crossed = self._context(log)
        n, c = candidates.shape
        affinity = np.take_along_axis(log.affinity, candidates, axis=1)[..., None]
        return np.concatenate([
            np.broadcast_to(context[:, None, :], (n, c, context.shape[1])),
            self.item_matrix[candidates],
            affinity, (affinity > 0).astype(float),
            crossed[:, None, :] * self.item_numeric[candidates][..., None],
        ], axis=2)

    def _fit(self, x: np.ndarray, y: np.ndarray, iterations: int) -> np.ndarray:
        rate = min(max(y.mean(), 1e-4), 1 - 1e-4)
        w = np.zeros(x.shape[1])
        penalty = np.full(x.shape[1], self.l2)
        bias = len(POSITIONS) + sum(len(v) for v in self.vocab)  # the item block's constant column follows context
        penalty[bias] = 0.0  # no penalty on the base rate
        w[bias] = math.log(rate / (1 - rate))
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-(x @ w)))
            gradient = x.T @ (p - y) + penalty * w
            hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        return w

    def predict(self, log: Impressions, chunk: int = 500) -> np.ndarray:
        """(n, K) predicted click probability of every item for every impression."""
        k = len(self.item_matrix)
        out = np.empty((len(log), k))
        for start in range(0, len(log), chunk):
            part = log.part(slice(start, start + chunk))
            x = self._features(part, np.broadcast_to(np.arange(k), (len(part), k)))
            out[start:start + len(part)] = 1.0 / (1.0 + np.exp(-(x @ self.weights)))
        return out


# --- the benchmark -----------------------------------------------------------------------------------------------

def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's score interval of a binomial rate (95% by default); (0, 1) with no trials."""
    if trials == 0:
        return 0.0, 1.0
    rate, z2 = successes / trials, z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _on_policy(clicks: np.ndarray, indices: np.ndarray) -> Estimate:
    """The mean click of a policy's own log, with the percentile interval of ``indices``' resamples."""
    draws = clicks[indices].mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Estimate(float(clicks.mean()), float(low), float(high), draws)


def run_benchmark(data: Path = DEFAULT_DATA, *, campaign: str = "all", rows: int | None = None,
                  train_fraction: float = 0.7, resamples: int = 200, seed: int = 0,
                  config: BanditConfig | None = None) -> dict:
    """The whole benchmark (see the module docstring); ``rows`` reads only the first rows of each log (the reduced
    run). Returns the figures as plain JSON-ready values."""
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign must be one of {', '.join(CAMPAIGNS)}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError("train_fraction must be in (0, 1)")
    if rows is not None and rows < 20:
        raise ValueError("rows must be at least 20 (or None for all)")
    config = config or BanditConfig()
    started = time.perf_counter()
    items = read_items(data / "random" / campaign / "item_context.csv")
    random_log = read_impressions(data / "random" / campaign / f"{campaign}.csv", len(items), rows)
    bts_log = read_impressions(data / "bts" / campaign / f"{campaign}.csv", len(items), rows)
    cut = int(len(random_log) * train_fraction)
    train, test = random_log.part(slice(0, cut)), random_log.part(slice(cut, None))
    read_s = time.perf_counter() - started

    started = time.perf_counter()
    learner = train_learner(config, items, train)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    learned = policy_pmfs(learner, items, test)
    predict_s = time.perf_counter() - started
    learner.close()
    reward_model = RewardModel(items, train)
    q = reward_model.predict(test)

    indices = bootstrap_indices(len(test), resamples, seed)
    log = test.log()
    uniform = np.full(learned.shape, 1.0 / len(items))
    estimates = evaluate(learned, log, q, indices=indices)
    random_estimate = evaluate(uniform, log, indices=indices)["ipw"]  # weights are 1: the on-policy mean
    random_whole_log = _on_policy(random_log.clicks, bootstrap_indices(len(random_log), resamples, seed + 1))
    bts_whole_log = _on_policy(bts_log.clicks, bootstrap_indices(len(bts_log), resamples, seed + 2))
    window = np.array([t >= test.times[0] for t in bts_log.times])
    bts_window = _on_policy(bts_log.clicks[window], bootstrap_indices(int(window.sum()), resamples, seed + 3))

    weights = importance_weights(learned, log)
    top = learned.argmax(axis=1)
    on_top = test.items == top  # impressions where the random policy happened to show the learned top item
    top_rate = wilson_interval(int(test.clicks[on_top].sum()), int(on_top.sum()))
    return {
        "data": str(data), "campaign": campaign, "items": len(items), "seed": seed, "resamples": resamples,
        "random_log": {"impressions": len(random_log), "clicks": int(random_log.clicks.sum()),
                       "clicks_by_position": {str(p): int(random_log.clicks[random_log.positions == p].sum())
                                              for p in POSITIONS}},
        "train": {"impressions": len(train), "clicks": int(train.clicks.sum()), "until": test.times[0].isoformat()},
        "test": {"impressions": len(test), "clicks": int(test.clicks.sum()), "from": test.times[0].isoformat()},
        "bts_log": {"impressions": len(bts_log), "clicks": int(bts_log.clicks.sum()),
                    "test_window_impressions": int(window.sum()),
                    "test_window_clicks": int(bts_log.clicks[window].sum())},
        "learner": {"epsilon": config.epsilon, "interactions": list(config.interactions), "cb_type": config.cb_type,
                    "updates": len(train), "train_s": round(train_s, 2), "predict_s": round(predict_s, 2),
                    "mean_top_probability": round(float(learned.max(axis=1).mean()), 4),
                    "distinct_top_items": int(len(set(top.tolist())))},
        "reward_model": {"kind": "L2 logistic regression", "features": reward_model.dimensions,
                         "mean_prediction": round(float(q.mean()), 6)},
        "diagnostics": {"effective_sample_size": round(effective_sample_size(weights), 1),
                        "max_weight": round(float(weights.max()), 2),
                        "test_impressions_of_the_learned_top_item": int(on_top.sum()),
                        "test_clicks_on_the_learned_top_item": int(test.clicks[on_top].sum()),
                        "top_item_click_rate_wilson_95": [round(x, 5) for x in top_rate]},
        "estimates": {
            "learned": {name: e.as_dict() for name, e in estimates.items()},
            "random": random_estimate.as_dict(),
            "random_whole_log": random_whole_log.as_dict(),
            "bts_whole_log": bts_whole_log.as_dict(),
            "bts_test_window": bts_window.as_dict(),
        },
        "ratios_to_random": {
            **{f"learned_{name}": ratio(e, random_estimate).as_dict(3) for name, e in estimates.items()},
            "bts_whole_log": ratio(bts_whole_log, random_whole_log).as_dict(3),
        },
        "published_bts_over_random_full_data": PUBLISHED_BTS_OVER_RANDOM,
        "read_s": round(read_s, 2),
    }


def _pct(e: dict) -> str:
    if None in e.values():
        return "n/a (no clicks to divide by)"
    return f"{100 * e['value']:.3f}% [{100 * e['ci_low']:.3f}, {100 * e['ci_high']:.3f}]"


def _times(e: dict) -> str:
    if None in e.values():
        return "n/a (no clicks to divide by)"
    return f"{e['value']:.2f}x [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"


def _covers(e: dict, x: float) -> bool:
    return None not in e.values() and e["ci_low"] <= x <= e["ci_high"]


NO_TOP_CLICK = " (with no click on a top item, an interval below 1 shows only that none happened)"


def print_report(result: dict) -> None:
    """The figures, ratios and caveats of :func:`run_benchmark`, as lines for a person."""
    r, est, ratios = result, result["estimates"], result["ratios_to_random"]
    learner = r["learner"]
    print(f"open-bandit: {r['data']} ({r['campaign']} campaign, {r['items']} items); uniform-random log "
          f"{r['random_log']['impressions']:,} impressions, {r['random_log']['clicks']} clicks; trained on the first "
          f"{r['train']['impressions']:,} in time order ({r['train']['clicks']} clicks), evaluated on the last "
          f"{r['test']['impressions']:,} ({r['test']['clicks']} clicks, from {r['test']['from'][:16]})", flush=True)
    print(f"open-bandit: learner VW cb_adf + epsilon-greedy, epsilon {learner['epsilon']}, interactions "
          f"{','.join(learner['interactions'])}; {learner['updates']:,} updates in {learner['train_s']} s, "
          f"{r['test']['impressions']:,} pmfs in {learner['predict_s']} s; mean probability on its top item "
          f"{learner['mean_top_probability']}, {learner['distinct_top_items']} distinct top items; importance "
          f"weights: effective sample size {r['diagnostics']['effective_sample_size']} of "
          f"{r['test']['impressions']}, max {r['diagnostics']['max_weight']}", flush=True)
    print("open-bandit: click rate per impression (95% bootstrap interval, "
          f"{r['resamples']} resamples, seed {r['seed']}):", flush=True)
    names = {"ipw": "IPW", "snipw": "SNIPW", "dm": "DM (reward model alone)", "dr": "DR"}
    for name, label in names.items():
        print(f"  learned policy, {label:<24} {_pct(est['learned'][name]):<32} x random "
              f"{_times(ratios[f'learned_{name}'])}", flush=True)
    print(f"  uniform random (same impressions)  {_pct(est['random'])}", flush=True)
    print(f"  uniform random (whole log)         {_pct(est['random_whole_log'])}", flush=True)
    print(f"  Thompson sampling, logged (whole log) {_pct(est['bts_whole_log']):<29} x random "
          f"{_times(ratios['bts_whole_log'])}", flush=True)
    print(f"  Thompson sampling, logged (evaluation window) {_pct(est['bts_test_window'])}", flush=True)
    print(f"open-bandit: published on the full data (26M impressions): Thompson sampling "
          f"{r['published_bts_over_random_full_data']}x random", flush=True)
    bts, d = ratios["bts_whole_log"], r["diagnostics"]
    lo, hi = d["top_item_click_rate_wilson_95"]
    covers = [name for name in ("snipw", "dr") if _covers(ratios[f"learned_{name}"], 1.0)]
    print(f"open-bandit: read this honestly: {r['test']['clicks']} clicks among {r['test']['impressions']:,} "
          f"evaluation impressions ({r['train']['clicks']} to learn from), and "
          f"{d['test_clicks_on_the_learned_top_item']} of them on the learned policy's top item: "
          "whether one more click lands there moves IPW several-fold (importance weights up to "
          f"{r['diagnostics']['max_weight']} on a top item, {learner['epsilon']} on any other). The bootstrap cannot "
          "invent a click that did not happen, so IPW's and SNIPW's intervals understate this; without it: "
          f"the random policy showed the learned top choice in {d['test_impressions_of_the_learned_top_item']} "
          f"evaluation impressions, with {d['test_clicks_on_the_learned_top_item']} click(s): a click rate of "
          f"{100 * lo:.1f}% to {100 * hi:.1f}% "
          f"(Wilson 95%; random's is {100 * est['random']['value']:.2f}%). The learned/random ratio interval "
          "contains 1 for "
          f"{', '.join(n.upper() for n in covers) or 'neither SNIPW nor DR'}"
          f"{'' if d['test_clicks_on_the_learned_top_item'] else NO_TOP_CLICK}"
          ". Thompson sampling over random: "
          f"{_times(bts)}, an interval that "
          f"{'contains' if _covers(bts, 1.0) else 'does not contain'} 1 and "
          f"{'contains' if _covers(bts, PUBLISHED_BTS_OVER_RANDOM) else 'does not contain'} the "
          f"published {PUBLISHED_BTS_OVER_RANDOM}"
          f"{': this sample cannot tell Thompson sampling from random' if _covers(bts, 1.0) else ''}. DM's interval "
          "resamples impressions only, with the reward model held fixed, so it leaves out the model's own error, "
          f"which dominates when it is fitted on {r['train']['clicks']} clicks.", flush=True)
