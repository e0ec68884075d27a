"""The plan-ranking policy Recommend serves: the features it reads, the prior (warm-start) ranking, the learned one
(a bandit snapshot), the payload a learner publishes, and the holder every replica polls the store with.

Features (one mapping for the contact, one per plan; :mod:`infogap_server.policies.bandit` turns them into VW's
text). The same function builds them for serving and the learner reads them back from the decision log, so the
learner trains on exactly what the policy saw.

- Context: ``intent`` (label), ``intent_p`` (the text model's probability of it; 1 when the caller named it),
  ``negative`` (the text's negative-sentiment probability), ``urgency`` (0 to 1), ``churn`` (churn risk) with
  ``churn_known``, ``segment`` (RFM segment, label), ``recency``, ``frequency``, ``monetary`` (RFM scores 1 to 5),
  ``recent.<type>`` (complaints, returns, refunds, cancellations in the last 90 days), ``channel`` (label).
- Plan: ``plan`` (its id, label), ``kind`` (label), ``cost`` (log1p of its cost), ``prior`` (its prior affinity
  for the intent), ``similar`` (cosine similarity of the message's embedding and the plan description's),
  ``peer`` (how customers of the same segment rated it, from the published policy: the mean rating shrunk toward
  3 and centred, ``(mean - 3) / 2`` weighted by ``n / (n + 5)``) and ``approval`` (flag).

Warm start. Until a learned version is published, the policy is :data:`PRIOR_VERSION`: plans ranked by prior
affinity (ties: the more similar description, then the lower cost), with the same epsilon-greedy exploration as
the learned policy so that the log holds what the learner needs. The learner (``infogap learn``) first imitates
this ranking, then learns from rewards; it publishes a version only when it passes its offline check and its
estimated value on the latest logged decisions is at least the prior's (README "Recommend").
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from infogap_server.policies.bandit import BanditLearner, Features, greedy_pmf
from infogap_server.policies.holder import PolicyHolder

log = logging.getLogger("infogap.policy")

#: The built-in policy: the catalogue's prior affinities (the business's own rules).
PRIOR_VERSION = "prior"
#: First line of a published payload; then one JSON line; then the bandit's bytes.
_MAGIC = b"infogap-policy/1\n"
#: Peer ratings: pseudo-count of the shrinkage toward the neutral rating 3.
PEER_PRIOR_COUNT = 5.0
#: The key of a plan's ratings over every segment (for customers with no segment).
ALL_SEGMENTS = "*"


@dataclass(frozen=True)
class PeerRating:
    """How customers rated a plan: mean rating (1 to 5) and how many ratings."""

    mean: float
    count: int

    @property
    def feature(self) -> float:
        """Centred, shrunk toward 3: in [-1, 1], 0 without ratings."""
        return (self.mean - 3.0) / 2.0 * self.count / (self.count + PEER_PRIOR_COUNT)


@dataclass(frozen=True)
class PlanInput:
    """What the ranking reads of one eligible plan for one contact."""

    plan_id: str
    kind: str
    cost: float
    prior: float
    similar: float
    requires_approval: bool


def context_features(
    *, intent: str, intent_p: float, negative: float | None, urgency: float | None, churn: float | None,
    segment: str | None, rfm: tuple[int, int, int] | None, recent: Mapping[str, int], channel: str | None,
) -> dict[str, float | int | bool | str | None]:
    """The contact's features (numbers rounded to 4 digits: what is logged is what was read)."""
    features: dict[str, float | int | bool | str | None] = {"intent": intent, "intent_p": round(intent_p, 4)}
    if negative is not None:
        features["negative"] = round(negative, 4)
    if urgency is not None:
        features["urgency"] = round(urgency, 4)
    if churn is not None:
        features["churn"] = round(churn, 4)
        features["churn_known"] = True
    if segment:
        features["segment"] = segment
    if rfm is not None:
        features["recency"], features["frequency"], features["monetary"] = rfm
    for kind, count in sorted(recent.items()):
        if count:
            features[f"recent.{kind}"] = count
    if channel:
        features["channel"] = channel
    return features


def plan_features(plan: PlanInput, peer: PeerRating | None) -> dict[str, float | int | bool | str | None]:
    """One plan's features for one contact."""
    return {
        "plan": plan.plan_id, "kind": plan.kind, "cost": round(math.log1p(plan.cost), 4),
        "prior": round(plan.prior, 4), "similar": round(plan.similar, 4),
        "peer": round(peer.feature, 4) if peer is not None else 0.0, "approval": plan.requires_approval,
    }


def prior_scores(actions: Sequence[Mapping[str, object]]) -> list[float]:
    """The warm-start ranking's score of each plan (higher is better): prior affinity, then similarity, then the
    lower cost, as tie-breakers too small to reorder distinct priors."""
    return [float(a["prior"]) + 1e-3 * float(a["similar"]) - 1e-6 * float(a["cost"]) for a in actions]


@dataclass
class Policy:
    """One policy version, read-only once built: the prior, or a learned bandit with its peer ratings.

    :meth:`score` gives a value per plan (higher is better) and the pmf of the first plan (epsilon-greedy over the
    values). Thread-safe for concurrent readers only in the sense that callers serialise through one event loop:
    VW prediction runs on that loop (well under a millisecond for a few dozen plans)."""

    version: str
    epsilon: float
    bandit: BanditLearner | None = None
    #: segment (or ALL_SEGMENTS) -> plan id -> rating
    peers: Mapping[str, Mapping[str, PeerRating]] = field(default_factory=dict)
    summary: Mapping[str, object] = field(default_factory=dict)

    @property
    def learned(self) -> bool:
        return self.bandit is not None

    def peer(self, segment: str | None, plan_id: str) -> PeerRating | None:
        """The segment's ratings of the plan when there are any, else every segment's."""
        found = self.peers.get(segment or ALL_SEGMENTS, {}).get(plan_id)
        return found if found is not None else self.peers.get(ALL_SEGMENTS, {}).get(plan_id)

    def score(self, context: Features, actions: Sequence[Features]) -> tuple[list[float], list[float]]:
        """(value of each plan, higher is better; probability of each being drawn first)."""
        if self.bandit is None:
            values = prior_scores(actions)
        else:
            values = [-c for c in self.bandit.predict_costs(context, actions)]
        return values, greedy_pmf([-v for v in values], self.epsilon)

    # --- the published form -------------------------------------------------------------------------------

    def to_payload(self) -> bytes:
        if self.bandit is None:
            raise ValueError("the prior policy is built in, never published")
        meta = {"version": self.version, "epsilon": self.epsilon, "summary": dict(self.summary),
                "peers": {s: {p: [r.mean, r.count] for p, r in plans.items()} for s, plans in self.peers.items()}}
        return _MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n" + self.bandit.save()

    @classmethod
    def from_payload(cls, data: bytes) -> Policy:
        """A policy from :meth:`to_payload`'s bytes; ValueError for anything else."""
        if not isinstance(data, (bytes, bytearray)) or not data.startswith(_MAGIC):
            raise ValueError("not a published policy (wrong header)")
        head, newline, body = bytes(data[len(_MAGIC):]).partition(b"\n")
        try:
            meta = json.loads(head)
            peers = {s: {p: PeerRating(float(m), int(n)) for p, (m, n) in plans.items()}
                     for s, plans in meta["peers"].items()}
            version, epsilon = str(meta["version"]), float(meta["epsilon"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a published policy (bad metadata: {exc})") from exc
        if not newline:
            raise ValueError("published policy is truncated")
        return cls(version, epsilon, BanditLearner.load(body), peers, meta.get("summary", {}))


def prior_policy(epsilon: float) -> Policy:
    return Policy(PRIOR_VERSION, epsilon)


def ranking_holder(store, *, epsilon: float, poll_s: float) -> PolicyHolder[Policy]:
    """Recommend's policy holder: the prior until a bandit version is published (kind ``recommend``)."""
    return PolicyHolder(store, kind="recommend", initial=prior_policy(epsilon), load=Policy.from_payload,
                        poll_s=poll_s)
