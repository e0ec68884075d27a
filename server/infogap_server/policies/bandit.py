"""The contextual-bandit learner: Vowpal Wabbit's ``cb_adf`` with ``cb_explore_adf``'s epsilon-greedy exploration,
behind a small, checked Python surface.

Why this learner: ``cb_explore_adf`` is the reduction behind Azure Personalizer. Its *action-dependent features*
(ADF) score any number of actions described by their own features, so a plan added to the catalogue is scored from
its kind, cost and affinity on day one instead of waiting for a weight of its own, and the candidate set may change
from one decision to the next (eligibility removes plans). It learns from logged ``(context, actions, chosen,
cost, probability)`` tuples with importance weighting, online (under a millisecond per decision of 80 actions on
the development machine, text building included).

Features. A decision has a *context* (about the customer and the contact) and one feature set per *action*. Both
are mappings of feature name to value:

- a number is a numeric feature (``{"churn_risk": 0.72}``); NaN and infinities are refused;
- a string is categorical: one indicator feature ``name=value`` (``{"segment": "gold"}``);
- ``True`` is an indicator with value 1, ``False`` and ``None`` mean "absent";
- a nested mapping is a group: its names are prefixed (``{"user": {"segment": "gold"}}`` -> ``user.segment=gold``).

The context goes to VW's namespace ``context`` and each action's features to ``action``; VW names an interaction
by the first letters of its namespaces, so the default interaction ``ca`` crosses every context feature with every
action feature (churn risk x plan kind, segment x plan id, ...): without it, ADF would learn one score per action
feature the same for every customer. Names and values are passed through :func:`sanitize` (VW's reserved
characters ``|`` and ``:`` and whitespace become ``_``), and every name is hashed (``--hash all``), so a name that
happens to be a number is not taken as a raw weight index.

VW runs as ``--cb_adf``, the learner ``cb_explore_adf`` wraps, and this module adds the exploration that
``cb_explore_adf --epsilon`` would: learning is the same (``cb_explore_adf`` passes every update to ``cb_adf``),
and prediction gives each action's estimated cost as well (:meth:`BanditLearner.predict_costs`). Recommend needs
those to rank every plan, not only to draw the first: ``cb_explore_adf`` answers the pmf alone, in which all
non-greedy actions tie.

Exploration. Epsilon-greedy, as Personalizer's default: the returned pmf gives ``1 - epsilon + epsilon / K`` to the
action with the lowest predicted cost and ``epsilon / K`` to each other one; actions tied for the lowest cost share
the greedy mass (an untrained learner answers the uniform pmf). ``epsilon`` is a parameter of the learner and is
stored with a saved model.

Replay. The learner returns a probability for each action; it does not draw. :func:`sample` draws an index from a
pmf with its own seeded generator, so a decision stored with its pmf and seed (see :func:`decision_seed`) draws the
same action again, on any machine, whatever else ran in between.

Not thread-safe: one learner per thread (the learner process updates; serving holds read-only snapshots).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path

#: A feature value: a number (numeric feature), a string (categorical), a bool (indicator) or None (absent).
Value = float | int | bool | str | None
#: Features of a context or an action: name -> value, or name -> a group of features (one level).
Features = Mapping[str, Value | Mapping[str, Value]]

#: VW namespaces (interactions are named by their first letters: ``c`` and ``a``).
CONTEXT_NAMESPACE, ACTION_NAMESPACE = "context", "action"
#: The exploration rate when none is given.
DEFAULT_EPSILON = 0.1
#: Context x action: every context feature crossed with every action feature.
DEFAULT_INTERACTIONS = ("ca",)

#: First line of the bytes :meth:`BanditLearner.save` writes (then one JSON line, then VW's model).
_MAGIC = b"infogap-bandit/1\n"
_RESERVED = frozenset("|:")


@functools.lru_cache(maxsize=65536)
def sanitize(text: str) -> str:
    """``text`` safe as a VW feature name or value: ``|`` (namespace), ``:`` (value) and whitespace (which ends a
    feature, or with a newline an example) become ``_``; an empty string becomes ``_``. Distinct inputs may map to
    one output (``a b`` and ``a_b``): names are the caller's to keep distinct."""
    if not text:
        return "_"
    return "".join("_" if c in _RESERVED or c.isspace() else c for c in text)


@dataclass(frozen=True)
class BanditConfig:
    """How the learner is set up; saved with a model.

    ``epsilon``: exploration rate in [0, 1]. ``interactions``: VW interaction strings over the namespace letters
    ``c`` (context) and ``a`` (action); ``("ca",)`` crosses context and action features, ``("ca", "aa")`` adds
    action x action. ``bits``: size of the weight table (2**bits). ``learning_rate``: VW's ``-l`` (adaptive,
    normalised updates). ``cb_type``: how VW turns a logged cost into an update (``mtr``, ``ips``, ``dr``, ``dm``).
    """

    epsilon: float = DEFAULT_EPSILON
    interactions: tuple[str, ...] = DEFAULT_INTERACTIONS
    bits: int = 18
    learning_rate: float = 0.5
    cb_type: str = "mtr"

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, Real) and 0.0 <= self.epsilon <= 1.0):
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon!r}")
        object.__setattr__(self, "interactions", tuple(self.interactions))
        for term in self.interactions:
            if not isinstance(term, str) or len(term) < 2 or set(term) - {"c", "a"}:
                raise ValueError(f"an interaction is two or more of the letters c (context) and a (action), "
                                 f"got {term!r}")
        if not (isinstance(self.bits, int) and 1 <= self.bits <= 30):
            raise ValueError(f"bits must be an integer in [1, 30], got {self.bits!r}")
        if not (isinstance(self.learning_rate, Real) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if self.cb_type not in ("mtr", "ips", "dr", "dm"):
            raise ValueError(f"cb_type must be one of mtr, ips, dr, dm, got {self.cb_type!r}")

    def vw_arguments(self) -> list[str]:
        arguments = ["--cb_adf", "--cb_type", self.cb_type,
                     "--bit_precision", str(self.bits), "--learning_rate", repr(float(self.learning_rate)),
                     "--hash", "all", "--random_seed", "0", "--quiet"]
        for term in self.interactions:
            arguments += ["--interactions", term]
        return arguments


def _number(name: str, value: Real) -> str | None:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"feature {name!r} is {x}: numeric features must be finite")
    return None if x == 0.0 else f"{sanitize(name)}:{x!r}"  # VW drops zero-valued features anyway


def _feature(name: str, value: Value) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return sanitize(name)
    if isinstance(value, str):
        return f"{sanitize(name)}={sanitize(value)}"
    if isinstance(value, Real):
        return _number(name, value)
    raise ValueError(f"feature {name!r} has a value of type {type(value).__name__}: expected a number, a string, "
                     "a bool or None")


def features_text(features: Features | None) -> str:
    """One namespace's features in VW's text format (``name:value`` and ``name=category`` tokens)."""
    if features is None:
        return ""
    if not isinstance(features, Mapping):
        raise ValueError(f"features must be a mapping of name to value, got {type(features).__name__}")
    tokens = []
    for name, value in features.items():
        if not isinstance(name, str):
            raise ValueError(f"feature names must be strings, got {name!r}")
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                if not isinstance(inner, str):
                    raise ValueError(f"feature names must be strings, got {inner!r} in group {name!r}")
                token = _feature(f"{name}.{inner}", inner_value)
                if token is not None:
                    tokens.append(token)
        else:
            token = _feature(name, value)
            if token is not None:
                tokens.append(token)
    return " ".join(tokens)


def greedy_pmf(costs: Sequence[float], epsilon: float) -> list[float]:
    """Epsilon-greedy over estimated costs, as VW's ``cb_explore_adf --epsilon``: ``epsilon / K`` to every action
    and ``1 - epsilon`` shared by the actions tied for the lowest cost."""
    if not costs:
        raise ValueError("a decision needs at least one action")
    best = min(costs)
    tied = sum(1 for c in costs if c == best)
    floor = epsilon / len(costs)
    return [floor + ((1.0 - epsilon) / tied if c == best else 0.0) for c in costs]


def decision_seed(decision_id: str) -> int:
    """A 64-bit seed derived from a decision id (SHA-256): the same id gives the same seed on every machine."""
    return int.from_bytes(hashlib.sha256(decision_id.encode("utf-8")).digest()[:8], "big")


def sample(pmf: Sequence[float], seed: int) -> int:
    """An index drawn from ``pmf`` with a generator seeded by ``seed`` alone: the same pmf and seed always give the
    same index. The pmf is normalised first; negative, non-finite or all-zero probabilities are refused."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    weights = [float(p) for p in pmf]
    if not weights:
        raise ValueError("cannot sample from an empty pmf")
    if any(not math.isfinite(p) or p < 0.0 for p in weights):
        raise ValueError("pmf entries must be finite and non-negative")
    total = math.fsum(weights)
    if total <= 0.0:
        raise ValueError("pmf sums to zero")
    draw = random.Random(seed).random() * total
    cumulative = 0.0
    for index, p in enumerate(weights):
        cumulative += p
        if draw < cumulative:
            return index
    return max(i for i, p in enumerate(weights) if p > 0.0)  # rounding left the draw past the last step


class BanditLearner:
    """A contextual bandit over actions described by features (VW ``cb_adf`` with epsilon-greedy exploration).

    ``learn`` takes one logged decision; ``predict_pmf`` gives the probability of each action for a new one;
    ``sample`` draws from it, seeded; ``save`` and ``load`` turn the learner into bytes and back (a policy version).
    """

    def __init__(self, config: BanditConfig | None = None, *, _model_path: Path | None = None,
                 _updates: int = 0) -> None:
        import vowpalwabbit

        self.config = config or BanditConfig()
        arguments = ["--quiet", "--initial_regressor", str(_model_path)] if _model_path else self.config.vw_arguments()
        self._vw = vowpalwabbit.Workspace(arg_list=arguments)
        self.updates = _updates

    # --- the example text ----------------------------------------------------------------------------------------

    @staticmethod
    def _lines(context: Features | None, actions: Sequence[Features], label: tuple[int, float, float] | None = None
               ) -> list[str]:
        if isinstance(actions, (str, bytes, Mapping)) or not isinstance(actions, Sequence):
            raise ValueError("actions must be a sequence of feature mappings")
        if not actions:
            raise ValueError("a decision needs at least one action")
        lines = [f"shared |{CONTEXT_NAMESPACE} {features_text(context)}"]
        for index, action in enumerate(actions):
            text = features_text(action)
            if label is not None and index == label[0]:
                lines.append(f"0:{label[1]!r}:{label[2]!r} |{ACTION_NAMESPACE} {text}")
            else:
                lines.append(f"|{ACTION_NAMESPACE} {text}")
        return lines

    # --- learning and prediction ---------------------------------------------------------------------------------

    def learn(self, context: Features | None, actions: Sequence[Features], chosen_index: int, cost: float,
              probability: float) -> None:
        """One logged decision: the action at ``chosen_index`` was taken with ``probability`` (the logging policy's,
        in (0, 1]) and cost ``cost`` (lower is better: a reward enters as ``-reward``)."""
        if isinstance(chosen_index, bool) or not isinstance(chosen_index, int):
            raise ValueError(f"chosen_index must be an integer, got {chosen_index!r}")
        if not isinstance(cost, Real) or not math.isfinite(float(cost)):
            raise ValueError(f"cost must be a finite number, got {cost!r}")
        if not isinstance(probability, Real) or not 0.0 < float(probability) <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability!r}")
        lines = self._lines(context, actions, (chosen_index, float(cost), float(probability)))
        if not 0 <= chosen_index < len(actions):
            raise ValueError(f"chosen_index {chosen_index} is outside the {len(actions)} actions")
        self._vw.learn(lines)
        self.updates += 1

    def predict_costs(self, context: Features | None, actions: Sequence[Features]) -> list[float]:
        """Each action's estimated cost, in the order given (lower is better; 0 for all before any learning)."""
        costs = [float(c) for c in self._vw.predict(self._lines(context, actions))]
        if len(costs) != len(actions):  # VW answers one score per action line; anything else is a bug
            raise RuntimeError(f"VW returned {len(costs)} scores for {len(actions)} actions")
        return costs

    def predict_pmf(self, context: Features | None, actions: Sequence[Features]) -> list[float]:
        """The probability of each action, in the order given (sums to 1; exploration included)."""
        return greedy_pmf(self.predict_costs(context, actions), self.config.epsilon)

    sample = staticmethod(sample)

    # --- policy versions -----------------------------------------------------------------------------------------

    def save(self) -> bytes:
        """The learner as bytes: a header line, the config and update count as JSON, then VW's model (with its
        optimiser state, so a loaded learner can go on learning)."""
        with tempfile.TemporaryDirectory(prefix="infogap-bandit-") as folder:
            path = Path(folder) / "model.vw"
            self._vw.save(str(path))
            model = path.read_bytes()
        meta = {"config": asdict(self.config), "updates": self.updates, "vw_bytes": len(model)}
        return _MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n" + model

    @classmethod
    def load(cls, data: bytes) -> BanditLearner:
        """A learner from :meth:`save`'s bytes; refuses anything else with ValueError."""
        if not isinstance(data, (bytes, bytearray)) or not data.startswith(_MAGIC):
            raise ValueError("not a saved bandit learner (wrong header)")
        body = bytes(data[len(_MAGIC):])
        head, newline, model = body.partition(b"\n")
        try:
            meta = json.loads(head)
            config = BanditConfig(**{**meta["config"], "interactions": tuple(meta["config"]["interactions"])})
            updates, size = int(meta["updates"]), int(meta["vw_bytes"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a saved bandit learner (bad metadata: {exc})") from exc
        if not newline or len(model) != size:
            raise ValueError(f"saved bandit learner is truncated ({len(model)} of {size} model bytes)")
        descriptor, name = tempfile.mkstemp(prefix="infogap-bandit-", suffix=".vw")
        try:
            with os.fdopen(descriptor, "wb") as fh:
                fh.write(model)
            return cls(config, _model_path=Path(name), _updates=updates)
        finally:
            os.unlink(name)

    def close(self) -> None:
        """Frees VW's memory now rather than at garbage collection."""
        self._vw.finish()

    def __enter__(self) -> BanditLearner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
