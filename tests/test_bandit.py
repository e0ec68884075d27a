"""The contextual-bandit learner (VW cb_explore_adf): it learns a planted preference, a decision replays from its
seed, a saved policy loads back to the same pmf, odd input is refused; the off-policy estimators recover a known
value; a reduced `infogap bench --paths open-bandit` run prints every estimator; and reduced recommend-sim and
recommend-speed runs print their tables."""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np
import pytest
from infogap_server.bench import open_bandit_path
from infogap_server.cli import main as cli_main
from infogap_server.learning.ope import LoggedDecisions, bootstrap_indices, evaluate, ratio
from infogap_server.learning.open_bandit import DEFAULT_DATA, data_missing, wilson_interval
from infogap_server.policies.bandit import (
    BanditConfig,
    BanditLearner,
    decision_seed,
    features_text,
    sample,
    sanitize,
)

#: Plans described by features only: which kind a customer prefers depends on the segment.
PLANS = [{"plan": {"id": f"p{i}", "kind": kind, "cost": cost}}
         for i, (kind, cost) in enumerate([("refund", 3.0), ("voucher", 1.0), ("callback", 2.0), ("link", 0.1)])]
PREFERRED = {"gold": "callback", "basic": "link"}


def planted_learner(updates: int = 1500, epsilon: float = 0.1) -> BanditLearner:
    """Uniform-random logging over PLANS; reward 1 for the segment's preferred kind, else 0 (cost = -reward)."""
    learner = BanditLearner(BanditConfig(epsilon=epsilon))
    rng = random.Random(7)
    for _ in range(updates):
        segment = rng.choice(sorted(PREFERRED))
        context = {"customer": {"segment": segment}, "churn_risk": rng.random()}
        chosen = rng.randrange(len(PLANS))
        reward = 1.0 if PLANS[chosen]["plan"]["kind"] == PREFERRED[segment] else 0.0
        learner.learn(context, PLANS, chosen, -reward, 1.0 / len(PLANS))
    return learner


@pytest.fixture(scope="module")
def learner() -> BanditLearner:
    return planted_learner()


def context_of(segment: str) -> dict:
    return {"customer": {"segment": segment}, "churn_risk": 0.4}


def test_learns_a_planted_preference_per_context(learner):
    epsilon, k = learner.config.epsilon, len(PLANS)
    for segment, kind in PREFERRED.items():
        pmf = learner.predict_pmf(context_of(segment), PLANS)
        best = [p["plan"]["kind"] for p in PLANS].index(kind)
        assert math.isclose(sum(pmf), 1.0, abs_tol=1e-9)
        assert pmf[best] == pytest.approx(1 - epsilon + epsilon / k, abs=1e-6), (segment, pmf)
        assert all(p == pytest.approx(epsilon / k, abs=1e-6) for i, p in enumerate(pmf) if i != best)


def test_a_new_plan_is_scored_from_its_features(learner):
    """ADF: a plan never seen before, of the kind a segment prefers, is that segment's top choice at once."""
    new = {"plan": {"id": "brand-new", "kind": "callback", "cost": 2.0}}
    actions = [PLANS[0], PLANS[1], PLANS[3], new]
    pmf = learner.predict_pmf(context_of("gold"), actions)
    assert max(range(len(pmf)), key=pmf.__getitem__) == 3


def test_actions_tied_for_best_share_the_greedy_mass():
    plans = [{"plan": {"id": f"p{i}"}} for i in range(4)]  # nothing shared: learning on one leaves the others
    with BanditLearner(BanditConfig(epsilon=0.2)) as fresh:
        assert fresh.predict_pmf(context_of("gold"), plans) == pytest.approx([0.25] * 4)  # untrained: all tied
        fresh.learn(context_of("gold"), plans, 2, 1.0, 0.25)  # a cost on one plan: the other three tie at best
        pmf = fresh.predict_pmf(context_of("gold"), plans)
    assert pmf[2] == pytest.approx(0.2 / 4, abs=1e-6)
    assert [pmf[i] for i in (0, 1, 3)] == pytest.approx([(1 - 0.2) / 3 + 0.2 / 4] * 3, abs=1e-6)


def test_a_decision_replays_from_its_seed(learner):
    pmf = learner.predict_pmf(context_of("basic"), PLANS)
    seed = decision_seed("decision-0001")
    assert seed == decision_seed("decision-0001") and seed != decision_seed("decision-0002")
    first = sample(pmf, seed)
    assert all(sample(pmf, seed) == first for _ in range(20))
    assert BanditLearner.sample(pmf, seed) == first
    # replayed after a save and load (another process, a later day): the same pmf, so the same action
    restored = BanditLearner.load(learner.save())
    assert sample(restored.predict_pmf(context_of("basic"), PLANS), seed) == first
    # different seeds vary, in proportion to the pmf
    draws = [sample([0.1, 0.2, 0.3, 0.4], s) for s in range(4000)]
    counts = np.bincount(draws, minlength=4) / len(draws)
    assert counts == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.03)


def test_sampling_refuses_bad_pmfs_and_seeds():
    for pmf in ([], [0.0, 0.0], [0.5, -0.1], [float("nan"), 1.0], [float("inf")]):
        with pytest.raises(ValueError):
            sample(pmf, 1)
    for seed in (1.5, "7", None, True):
        with pytest.raises(ValueError, match="seed"):
            sample([1.0], seed)
    assert sample([0.0, 0.0, 3.0], 123) == 2  # unnormalised pmfs are fine


def test_save_and_load_give_the_same_pmfs_and_keep_learning(learner):
    data = learner.save()
    restored = BanditLearner.load(data)
    assert restored.config == learner.config and restored.updates == learner.updates == 1500
    for segment in PREFERRED:
        for churn in (0.0, 0.5, 0.99):
            context = {"customer": {"segment": segment}, "churn_risk": churn}
            assert restored.predict_pmf(context, PLANS) == learner.predict_pmf(context, PLANS)
    restored.learn(context_of("gold"), PLANS, 2, -1.0, 0.25)  # the optimiser state came along
    assert restored.updates == 1501
    assert BanditLearner.load(restored.save()).updates == 1501


def test_load_refuses_what_save_did_not_write(learner):
    data = learner.save()
    for bad in (b"", b"not a model", data[:-10], data.replace(b'"updates"', b'"updatez"'), "text"):
        with pytest.raises(ValueError, match="saved bandit learner"):
            BanditLearner.load(bad)


def test_sanitizer_keeps_reserved_characters_out_of_the_vw_text():
    assert sanitize("a b|c:d\te\nf") == "a_b_c_d_e_f"
    assert sanitize("") == "_" and sanitize("plain-name.ok=1") == "plain-name.ok=1"
    text = features_text({"odd |name": "va:l ue", "n:um": 2.5, "flag": True, "off": False, "none": None,
                          "grp": {"in ner": "x|y"}})
    assert text == "odd__name=va_l_ue n_um:2.5 flag grp.in_ner=x_y"
    # a value that would otherwise open a namespace or a new action line changes nothing about the decision
    with BanditLearner() as fresh:
        actions = [{"plan": {"id": "a\nshared |c x"}}, {"plan": {"id": "b|action z:1"}}]
        fresh.learn({"segment": "gold |action q"}, actions, 1, -1.0, 0.5)
        assert len(fresh.predict_pmf({"segment": "gold |action q"}, actions)) == 2


@pytest.mark.parametrize(("context", "actions", "match"), [
    ({}, [], "at least one action"),
    ({"churn": float("nan")}, PLANS, "finite"),
    ({"churn": float("inf")}, PLANS, "finite"),
    ({}, [{"plan": {"cost": float("nan")}}], "finite"),
    ({"tags": ["a", "b"]}, PLANS, "type list"),
    ({1: 2.0}, PLANS, "names must be strings"),
    ("segment=gold", PLANS, "mapping"),
    ({}, "refund", "sequence"),
    ({}, {"plan": {"id": "p1"}}, "sequence"),
])
def test_odd_inputs_are_refused(context, actions, match):
    with BanditLearner() as fresh:
        with pytest.raises(ValueError, match=match):
            fresh.predict_pmf(context, actions)
        with pytest.raises(ValueError, match=match):
            fresh.learn(context, actions, 0, -1.0, 0.5)


@pytest.mark.parametrize(("chosen", "cost", "probability", "match"), [
    (4, -1.0, 0.5, "outside"), (-1, -1.0, 0.5, "outside"), (True, -1.0, 0.5, "integer"), (1.0, -1.0, 0.5, "integer"),
    (0, float("nan"), 0.5, "cost"), (0, "1", 0.5, "cost"),
    (0, -1.0, 0.0, "probability"), (0, -1.0, 1.5, "probability"), (0, -1.0, float("nan"), "probability"),
])
def test_bad_labels_are_refused(chosen, cost, probability, match):
    with BanditLearner() as fresh:
        with pytest.raises(ValueError, match=match):
            fresh.learn({}, PLANS, chosen, cost, probability)
        assert fresh.updates == 0


@pytest.mark.parametrize("config", [dict(epsilon=-0.1), dict(epsilon=1.5), dict(interactions=("cx",)),
                                    dict(interactions=("c",)), dict(bits=40), dict(learning_rate=0),
                                    dict(cb_type="bandit")])
def test_bad_configs_are_refused(config):
    with pytest.raises(ValueError):
        BanditConfig(**config)


# --- off-policy estimators --------------------------------------------------------------------------------------

def synthetic_log(n: int = 20_000, seed: int = 3):
    """Contexts 0..2, five actions, known click probabilities; a non-uniform logging policy; a target policy that
    mostly picks the best action. Returns the log, the target pmfs, the true click probabilities per decision and
    the true value of the target policy on these contexts."""
    rng = np.random.default_rng(seed)
    q = np.array([[0.10, 0.30, 0.20, 0.05, 0.15],
                  [0.40, 0.10, 0.10, 0.25, 0.05],
                  [0.05, 0.05, 0.50, 0.20, 0.30]])
    logging = np.array([[0.4, 0.1, 0.2, 0.2, 0.1],
                        [0.1, 0.3, 0.3, 0.2, 0.1],
                        [0.3, 0.3, 0.1, 0.1, 0.2]])
    contexts = rng.integers(0, 3, n)
    actions = np.array([rng.choice(5, p=logging[x]) for x in contexts])
    rewards = (rng.random(n) < q[contexts, actions]).astype(float)
    target = np.full((3, 5), 0.05)
    target[np.arange(3), q.argmax(axis=1)] = 0.8
    pmfs = target[contexts]
    log = LoggedDecisions(actions, logging[contexts, actions], rewards)
    return log, pmfs, q[contexts], float((pmfs * q[contexts]).sum(axis=1).mean())


def test_estimators_recover_a_known_value_and_their_intervals_cover_it():
    log, target, q_true, truth = synthetic_log()
    assert abs(float(log.rewards.mean()) - truth) > 0.1  # far from the logging policy's own rate
    wrong_model = np.full_like(q_true, 0.2)  # DR stays right with a wrong reward model (propensities are right)
    for model in (q_true, wrong_model):
        estimates = evaluate(target, log, model, resamples=200, seed=1)
        for name in ("ipw", "snipw", "dr"):
            e = estimates[name]
            assert e.value == pytest.approx(truth, abs=0.02), name
            assert e.low <= truth <= e.high, (name, e)
            assert e.high - e.low < 0.06, (name, e)
    assert evaluate(target, log, wrong_model)["dm"].value == pytest.approx(0.2)  # DM is only as good as its model
    assert evaluate(target, log, q_true)["dm"].value == pytest.approx(truth, abs=0.01)


def test_paired_ratios_and_the_uniform_policys_ipw_is_its_on_policy_mean():
    log, target, q_true, truth = synthetic_log(n=5_000)
    uniform_log = LoggedDecisions(log.actions, np.full(len(log), 0.2), log.rewards)
    uniform = np.full(target.shape, 0.2)
    indices = bootstrap_indices(len(log), 100, seed=2)
    itself = evaluate(uniform, uniform_log, indices=indices)["ipw"]
    assert itself.value == pytest.approx(log.rewards.mean())
    same = ratio(itself, itself)
    assert (same.value, same.low, same.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="paired"):
        ratio(itself, evaluate(uniform, uniform_log, resamples=50)["ipw"])


def test_estimators_refuse_mismatched_input():
    log, target, q_true, _ = synthetic_log(n=100)
    with pytest.raises(ValueError, match="pmf"):
        evaluate(target * 2, log)
    with pytest.raises(ValueError, match="one row per"):
        evaluate(target[:50], log)
    with pytest.raises(ValueError, match="outside"):
        evaluate(target[:, :2], log)
    with pytest.raises(ValueError, match="propensities"):
        LoggedDecisions(log.actions, np.zeros(len(log)), log.rewards)
    with pytest.raises(ValueError, match="no logged"):
        LoggedDecisions(np.array([], dtype=int), np.array([]), np.array([]))


# --- the Open Bandit benchmark ----------------------------------------------------------------------------------

def test_wilson_interval_bounds_a_rate_with_no_successes():
    low, high = wilson_interval(0, 30)
    assert low == 0.0 and high == pytest.approx(0.1135, abs=1e-3)  # z^2 / (n + z^2)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(1 - high) and 0.2 < low < 0.25
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_open_bandit_path_says_why_it_skips_without_the_data(tmp_path, capsys):
    args = argparse.Namespace(open_bandit_data=str(tmp_path), open_bandit_campaign="all", open_bandit_rows=None,
                              open_bandit_resamples=10)
    result = open_bandit_path(args)
    assert "not found" in result["skipped"]
    assert "open-bandit: skipped: Open Bandit Dataset sample not found" in capsys.readouterr().out


@pytest.mark.skipif(data_missing(DEFAULT_DATA) is not None,
                    reason=f"the Open Bandit Dataset sample is not at {DEFAULT_DATA} (../shared/data/open_bandit)")
def test_reduced_open_bandit_bench_prints_every_estimator(tmp_path, capsys):
    code = cli_main(["bench", "--paths", "open-bandit", "--open-bandit-rows", "2000", "--open-bandit-resamples", "50",
                     "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    for label in ("learned policy, IPW", "learned policy, SNIPW", "learned policy, DM", "learned policy, DR",
                  "uniform random (same impressions)", "Thompson sampling, logged (whole log)",
                  "published on the full data", "read this honestly"):
        assert label in out, label
    (written,) = tmp_path.glob("bench-*.json")
    result = json.loads(written.read_text())["open_bandit"]
    assert result["train"]["impressions"] == 1400 and result["test"]["impressions"] == 600
    assert result["random_log"]["impressions"] == result["bts_log"]["impressions"] == 2000
    assert set(result["estimates"]["learned"]) == {"ipw", "snipw", "dm", "dr"}
    for estimate in result["estimates"]["learned"].values():
        assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"] or estimate["value"] == 0.0
    assert result["published_bts_over_random_full_data"] == 1.43
    assert result["bts_log"]["clicks"] > 0 and 0 < result["estimates"]["bts_whole_log"]["value"] < 0.05


# --- the Recommend benchmark paths -------------------------------------------------------------------------------

def test_reduced_recommend_sim_bench_prints_the_table(tmp_path, capsys):
    code = cli_main(["bench", "--paths", "recommend-sim", "--sim-feedbacks", "300", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SIMULATION: synthetic customers with hidden preferences, not real data" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split("|")[0].strip() == "feedbacks")
    assert [c.strip() for c in lines[header].split("|")] == [
        "feedbacks", "learned", "prior", "random", "learned/prior", "elapsed s"]
    rows = [[float(c) for c in line.split("|")] for line in lines[header + 1:header + 3]]
    assert [int(r[0]) for r in rows] == [0, 300]
    for _, learned, prior, random_value, over_prior, elapsed in rows:
        assert 0 < random_value < prior < 1 and 0 < learned < 1 and elapsed >= 0
        assert over_prior == pytest.approx(learned / prior, abs=2e-3)
    (written,) = tmp_path.glob("bench-*.json")
    result = json.loads(written.read_text())["recommend_sim"]
    assert [r["feedbacks"] for r in result["rows"]] == [0, 300]
    assert result["rows"][0]["learned_over_prior"] > 0.95  # the warm start imitates the prior
    assert result["best_possible"] > result["rows"][0]["prior"]


def test_sim_feedbacks_must_be_positive_counts(capsys):
    with pytest.raises(SystemExit):
        cli_main(["bench", "--paths", "recommend-sim", "--sim-feedbacks", "10,x"])
    assert "comma list of positive integers" in capsys.readouterr().err


@pytest.mark.integration
def test_reduced_recommend_speed_bench_measures_both_modes(tmp_path, capsys, real_repository):
    code = cli_main(["bench", "--paths", "recommend-speed", "--duration-s", "1", "--concurrency", "4",
                     "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out  # no errors
    for name in ("recommend (intent)", "recommend (text)"):
        (row,) = [line for line in out.splitlines() if line.startswith(name)]
        rate, p50, p95, p99 = (float(x) for x in row[len(name):].split()[:4])
        assert rate > 0 and 0 < p50 <= p95 <= p99, row
    (written,) = tmp_path.glob("bench-*.json")
    result = json.loads(written.read_text())["recommend_speed"]
    assert result["intent"]["errors"] == {} and result["text"]["errors"] == {}
    assert result["text"]["mean_batch_size"]  # the text model read the messages
