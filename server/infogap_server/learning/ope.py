"""Off-policy evaluation: the value a *target* policy would have had, estimated from logs another policy collected.

The log holds, per decision ``i``: the action taken ``a_i``, the logging policy's probability of it ``p_i`` and the
reward ``r_i``. The target policy gives a pmf ``pi_i`` over the same candidates. With the importance weight
``w_i = pi_i(a_i) / p_i``:

- IPW (inverse propensity weighting): ``mean(w_i r_i)``; unbiased when ``p_i > 0`` wherever ``pi_i > 0``, but its
  variance grows with the weights;
- SNIPW (self-normalised IPW): ``sum(w_i r_i) / sum(w_i)``; a little biased, usually far less variable;
- DM (direct method): ``mean(sum_a pi_i(a) q(x_i, a))`` from a reward model ``q``; as good as ``q`` is;
- DR (doubly robust): ``DM + mean(w_i (r_i - q(x_i, a_i)))``; unbiased if either the propensities or ``q`` are
  right, and less variable than IPW when ``q`` is any good.

Every estimator here is a ratio of two sums over decisions, so a bootstrap resample is two sums over resampled
indices: intervals are percentile bootstrap intervals over decisions (seeded). Estimates of two policies taken
with the same resamples are paired, and :func:`ratio` gives the interval of their ratio from those pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ESTIMATORS = ("ipw", "snipw", "dm", "dr")


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval; ``draws`` are the bootstrap values (for paired ratios)."""

    value: float
    low: float
    high: float
    draws: np.ndarray = field(repr=False, compare=False)

    def as_dict(self, digits: int = 6) -> dict:
        def plain(x: float) -> float | None:  # JSON has no NaN: an undefined figure (a zero denominator) is null
            return round(x, digits) if np.isfinite(x) else None

        return {"value": plain(self.value), "ci_low": plain(self.low), "ci_high": plain(self.high)}


@dataclass(frozen=True)
class LoggedDecisions:
    """What a logging policy did: per decision, the action index taken, its probability and the reward."""

    actions: np.ndarray
    propensities: np.ndarray
    rewards: np.ndarray

    def __post_init__(self) -> None:
        actions, propensities, rewards = (np.asarray(self.actions), np.asarray(self.propensities, dtype=float),
                                          np.asarray(self.rewards, dtype=float))
        if not (actions.ndim == propensities.ndim == rewards.ndim == 1) or not (
                len(actions) == len(propensities) == len(rewards)):
            raise ValueError("actions, propensities and rewards must be 1-D arrays of one length")
        if len(actions) == 0:
            raise ValueError("no logged decisions")
        if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0:
            raise ValueError("actions must be non-negative integer indices")
        if not np.all((propensities > 0) & (propensities <= 1)):
            raise ValueError("propensities must be in (0, 1]")
        if not np.all(np.isfinite(rewards)):
            raise ValueError("rewards must be finite")
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "propensities", propensities)
        object.__setattr__(self, "rewards", rewards)

    def __len__(self) -> int:
        return len(self.actions)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` x ``n`` indices drawn with replacement (seeded): share them to pair estimates."""
    if resamples < 1 or n < 1:
        raise ValueError("need at least one resample of at least one decision")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _check_policy(name: str, matrix: np.ndarray, log: LoggedDecisions) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != len(log):
        raise ValueError(f"{name} must have one row per logged decision, got shape {matrix.shape}")
    if log.actions.max() >= matrix.shape[1]:
        raise ValueError(f"a logged action is outside the {matrix.shape[1]} columns of {name}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} has non-finite entries")
    return matrix


def importance_weights(target: np.ndarray, log: LoggedDecisions) -> np.ndarray:
    """``pi(a_i | x_i) / p_i`` per decision."""
    target = _check_policy("target", target, log)
    return target[np.arange(len(log)), log.actions] / log.propensities


def _terms(target: np.ndarray, log: LoggedDecisions, reward_model: np.ndarray | None
           ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each estimator as (numerator terms, denominator terms): the estimate is sum(num) / sum(den)."""
    target = _check_policy("target", target, log)
    if np.any(target < 0) or not np.allclose(target.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("every row of the target policy must be a pmf (non-negative, summing to 1)")
    weights = importance_weights(target, log)
    ones = np.ones(len(log))
    terms = {"ipw": (weights * log.rewards, ones), "snipw": (weights * log.rewards, weights)}
    if reward_model is not None:
        q = _check_policy("reward_model", reward_model, log)
        direct = (target * q).sum(axis=1)
        terms["dm"] = (direct, ones)
        terms["dr"] = (direct + weights * (log.rewards - q[np.arange(len(log)), log.actions]), ones)
    return terms


def evaluate(target: np.ndarray, log: LoggedDecisions, reward_model: np.ndarray | None = None, *,
             indices: np.ndarray | None = None, resamples: int = 200, seed: int = 0, level: float = 0.95
             ) -> dict[str, Estimate]:
    """IPW and SNIPW (and DM and DR when a ``reward_model`` is given: decisions x actions, the predicted reward of
    every candidate) of ``target`` (decisions x actions pmfs) on ``log``, each with a percentile bootstrap interval
    at ``level``. Pass the same ``indices`` (:func:`bootstrap_indices`) to pair two policies' estimates."""
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if indices is None:
        indices = bootstrap_indices(len(log), resamples, seed)
    tail = (1.0 - level) / 2.0 * 100.0
    results = {}
    for name, (numerator, denominator) in _terms(target, log, reward_model).items():
        den = denominator.sum()
        value = float(numerator.sum() / den) if den > 0 else 0.0
        den_draws = denominator[indices].sum(axis=1)
        draws = np.divide(numerator[indices].sum(axis=1), den_draws, out=np.zeros(len(indices)),
                          where=den_draws > 0)
        low, high = np.percentile(draws, [tail, 100.0 - tail])
        results[name] = Estimate(value, float(low), float(high), draws)
    return results


def ratio(numerator: Estimate, denominator: Estimate, level: float = 0.95) -> Estimate:
    """``numerator / denominator`` with the percentile interval of the paired bootstrap ratios (resamples where the
    denominator is zero are left out; the interval is NaN when none is left)."""
    if len(numerator.draws) != len(denominator.draws):
        raise ValueError("ratios need paired draws (the same bootstrap indices)")
    value = numerator.value / denominator.value if denominator.value else float("nan")
    kept = denominator.draws != 0
    if not kept.any():
        return Estimate(value, float("nan"), float("nan"), np.array([]))
    draws = numerator.draws[kept] / denominator.draws[kept]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return Estimate(value, float(low), float(high), draws)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, ``sum(w)^2 / sum(w^2)``: how many on-policy decisions
    the weighted log is worth."""
    weights = np.asarray(weights, dtype=float)
    squares = float((weights ** 2).sum())
    return float(weights.sum() ** 2 / squares) if squares > 0 else 0.0
