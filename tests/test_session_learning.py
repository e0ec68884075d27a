"""TrackSession's learning loop: the fitted Q iteration on a batch whose answer is known, the whole loop on a real
server (logged sessions -> `infogap learn`'s session learner -> a published version that every replica swaps to and
that departs from the playbook only where the logs show it should), and a reduced run of the simulation bench."""

from __future__ import annotations

import json

import pytest
from infogap.client import AsyncInfoGapClient
from infogap_server.cli import main as cli_main
from infogap_server.learning.bench_sessions import run_simulation
from infogap_server.learning.sessions import STEP_COST, Transition, fit_q, learn_sessions_once, session_return
from infogap_server.policies.next_action import NEXT_STEP, NextActionPolicy


def test_fitted_q_iteration_gives_the_returns_of_a_known_batch():
    batch = [
        Transition("s0", "a", -STEP_COST, "s1"), Transition("s1", "b", -STEP_COST + 1.0, None),
        Transition("s0", "a", -STEP_COST, "s1"), Transition("s1", "b", -STEP_COST + 0.0, None),
        Transition("s0", "c", -STEP_COST - 0.5, None),
    ]
    table = fit_q(batch)
    value, visits, se = table["s1"]["b"]
    assert value == pytest.approx(0.5 - STEP_COST) and visits == 2 and se == pytest.approx(0.5)
    assert table["s0"]["a"][0] == pytest.approx(0.5 - 2 * STEP_COST)
    assert table["s0"]["c"][0] == pytest.approx(-0.5 - STEP_COST) and table["s0"]["c"][2] == 1.0
    # An action seen fewer than min_visits times in s' is left out of the max there.
    loop = [Transition("x", "go", 0.0, "y"), Transition("y", "rare", 5.0, None),
            Transition("y", "usual", 1.0, None), Transition("y", "usual", 1.0, None)]
    assert fit_q(loop, min_visits=2)["x"]["go"][0] == pytest.approx(1.0)
    assert fit_q(loop, min_visits=1)["x"]["go"][0] == pytest.approx(5.0)


def test_the_return_pays_resolution_and_charges_escalation_expiry_and_time():
    base = dict(resolved=True, escalated=False, expired=False, rating=None, elapsed_s=0.0, target_s=600.0)
    assert session_return(**base) == 1.0
    assert session_return(**{**base, "rating": 5}) == 1.25 and session_return(**{**base, "rating": 1}) == 0.75
    assert session_return(**{**base, "resolved": False, "escalated": True}) == -0.5
    assert session_return(**{**base, "resolved": None, "expired": True}) == -0.5
    assert session_return(**{**base, "elapsed_s": 600.0}) == 0.75
    assert session_return(**{**base, "elapsed_s": 6000.0}) == 0.5  # the time charge stops at twice the target


def test_a_payload_that_does_not_load_is_refused():
    good = NextActionPolicy("nba-1", {"k": {"apologise": (0.5, 3, 0.1)}})
    assert NextActionPolicy.from_payload(good.to_payload()).q == good.q
    for bad in (b"nope", good.to_payload().replace(b"0.5", b"NaN"), good.to_payload()[:-5]):
        with pytest.raises(ValueError):
            NextActionPolicy.from_payload(bad)


async def _session(client, n: int, shortcut: bool) -> None:
    async with client.track_session(f"learn-{n}", f"cust-{n}") as session:
        await session.message("where is my parcel")
        if shortcut:  # logged agents who offered the plan at once: resolved, rated 5
            await session.action("offer_plan")
            await session.end(resolved=True)
        else:  # those who followed the playbook's first step here: the customer escalated, rated 1
            await session.action("pull_up_account")
            await session.transfer("supervisors")
            await session.end(resolved=False)
    await client.submit_feedback(f"fb-{n}", f"cust-{n}", 5 if shortcut else 1, session_id=f"learn-{n}")


async def test_the_loop_learns_a_next_best_action_from_logged_sessions(start_server, tiny_repository, store_url,
                                                                       tmp_path, monkeypatch):
    database = {"database_url": store_url} if store_url.startswith("postgresql") else {}
    server = await start_server(tiny_repository, nba_min_sessions=20, nba_min_visits=3, policy_poll_s=0, **database)
    async with AsyncInfoGapClient(f"127.0.0.1:{server.port}") as client:
        async with client.track_session("before", "c") as session:
            before = await session.message("where is my parcel")
        assert before.next_action.action == "pull_up_account" and before.policy_version == "playbook"
        few = await learn_sessions_once(server.store, server.settings)
        assert few.published is None and "needs 20" in few.reason
        for n in range(24):
            await _session(client, n, shortcut=n % 2 == 0)
        report = await learn_sessions_once(server.store, server.settings)
        assert report.published and report.published.startswith("nba-") and report.sessions == 24
        assert await server.session_policies.check()
        async with client.track_session("after", "c") as session:
            after = await session.message("where is my parcel")
        assert after.policy_version == report.published
        assert after.next_action.action == "offer_plan" and after.next_action.source == "learned"
        assert after.runner_up.action == "pull_up_account" and after.runner_up.source == "learned"
        assert after.next_action.value > after.runner_up.value
        # Where the logs say nothing (a need never logged), the playbook still decides.
        async with client.track_session("other", "c") as session:
            other = await session.message("I want my money back")
        assert other.next_action.source == "playbook"
    policy = server.session_policies.current
    key = next(k for k in policy.q if k.startswith("resolving|order|"))
    assert set(policy.q[key]) == {"offer_plan", NEXT_STEP}


def test_infogap_learn_runs_both_loops(tiny_repository, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INFOGAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INFOGAP_MODEL_REPOSITORY", str(tiny_repository))
    assert cli_main(["learn"]) == 0
    reports = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(reports) == {"recommend", "sessions"} and reports["sessions"]["published"] is None


def test_a_reduced_simulation_run_ranks_the_policies():
    result = run_simulation([300], eval_sessions=300, seed=3)
    assert result.random.mean < result.playbook.mean - 0.3  # acting at random among allowed actions is far worse
    learned = result.learned[300]
    assert learned.diff_low <= learned.diff <= learned.diff_high
    assert result.playbook.diff == 0.0


def _logged(n: int, escalated: bool, transfers: int, rating: int | None = None):
    from infogap_server.services.session_state import ESCALATION_PRIOR
    from infogap_server.store.base import LoggedSession, SessionRecord
    from infogap_server.store.sql import utc_now

    at = utc_now()
    features = {name: 0.0 for name in ESCALATION_PRIOR} | {"bias": 1.0, "transfers": float(transfers)}
    record = SessionRecord(f"s{n}", "k", at, at, at, 3, {}, "closed", closed_at=at, close_reason="ended",
                           resolved=not escalated, escalated=escalated)
    return LoggedSession(record, (), rating, (features, features, features))


def test_the_escalation_model_is_refitted_on_logged_outcomes_and_kept_only_when_it_predicts_better():
    from infogap_server.learning.sessions import fit_escalation
    from infogap_server.services.session_state import ESCALATION_PRIOR

    # Here a transfer always ends escalated and nothing else does: the fit leans on transfers far more than the
    # documented weight, and predicts the newest sessions better than it.
    logged = [_logged(n, escalated=n % 3 == 0, transfers=1 if n % 3 == 0 else 0) for n in range(150)]
    weights, summary = fit_escalation(logged)
    assert weights is not None and summary["reason"] == "fitted" and summary["examples"] == 450
    assert weights["transfers"] > ESCALATION_PRIOR["transfers"] + 1.0
    assert summary["holdout_log_loss_fitted"] < summary["holdout_log_loss_prior"]
    # A rating of 1 or 2 counts as the outcome too.
    rated = [_logged(n, escalated=False, transfers=0, rating=1 if n % 2 else 5) for n in range(150)]
    assert fit_escalation(rated)[1]["positives"] == 225
    # One outcome only, or too few events: the documented weights stay.
    assert fit_escalation([_logged(n, escalated=False, transfers=0) for n in range(150)])[0] is None
    assert fit_escalation(logged[:30])[0] is None


async def test_a_published_escalation_model_is_the_one_serving_uses(start_server, tiny_repository):
    from infogap_server.store.base import PolicyRow

    server = await start_server(tiny_repository, policy_poll_s=0)
    async with AsyncInfoGapClient(f"127.0.0.1:{server.port}") as client:
        async with client.track_session("esc-1", "c") as session:
            before = await session.wait(1)
        weights = {name: 0.0 for name in ("bias", "negativity", "worsening", "transfers", "waited", "urgency",
                                          "churn", "wants_person", "escalated")} | {"bias": 5.0}
        policy = NextActionPolicy("nba-test-1", {}, escalation=weights)
        await server.store.publish_policy(PolicyRow("nba-test-1", policy.to_payload(), kind="session"))
        assert await server.session_policies.check()
        async with client.track_session("esc-2", "c") as session:
            after = await session.wait(1)
    assert before.escalation_risk < 0.5 and after.escalation_risk == pytest.approx(0.9933, abs=1e-3)
    assert after.policy_version == "nba-test-1"
