"""The decision log's storage, on SQLite and on a real PostgreSQL through the same code: decisions stored once per
id (also under 50 concurrent adds), read back whole; rewards once per decision; the join a learner reads
(feedback of the decision's own customer, with its sentiment and aspects); the decisions due a default reward;
erasure; migration 0004 on a database holding rows; and rows the store refuses."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from infogap_server.store import schema
from infogap_server.store.base import Candidate, DecisionRow, FeedbackRow, RewardRow
from infogap_server.store.sql import utc_now

from tests.conftest import store_migrated_from

CANDIDATES = (Candidate("refund_now", 0.7, 1.25), Candidate("replace_item", 0.2, 0.5), Candidate("apology", 0.1, -0.25))


def decision(customer: str = "k" * 64, decision_id: str | None = None, **overrides) -> DecisionRow:
    base = dict(decision_id=decision_id or uuid.uuid4().hex, customer_key=customer, policy_version="bandit-3",
                catalogue_version="cat-2", seed=12345678901234, candidates=CANDIDATES,
                chosen=("refund_now", "replace_item"), intent="damaged_item",
                context={"churn_risk": 0.72, "segment": "loyal", "orders_90d": 4, "has_text": True, "age": None})
    base.update(overrides)
    return DecisionRow(**base)


async def count(store, table: sa.Table) -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(table))


async def set_decided_at(store, decision_id: str, at: datetime) -> None:
    d = schema.decisions
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(d).where(d.c.decision_id == decision_id).values(decided_at=at))


async def test_a_decision_is_stored_once_and_read_back_whole(store):
    row = decision()
    before = utc_now()
    stored, duplicate = await store.add_decision(row)
    assert not duplicate and stored.sequence is not None and before <= stored.decided_at <= utc_now()
    assert dataclasses.replace(stored, decided_at=None, sequence=None) == row
    assert stored.top_plan_id == "refund_now" and stored.candidates == CANDIDATES
    assert await store.get_decision(row.decision_id) == stored
    assert await store.get_decision("0" * 32) is None
    # A retry (even with other content) changes nothing and answers the stored row.
    again, duplicate = await store.add_decision(dataclasses.replace(row, seed=1, chosen=()))
    assert duplicate and again == stored
    async with store.engine.connect() as conn:
        top = await conn.scalar(sa.select(schema.decisions.c.top_plan_id))
    assert top == "refund_now" and await count(store, schema.decisions) == 1


async def test_fifty_concurrent_adds_of_one_id_store_one_row(store):
    row = decision()
    results = await asyncio.gather(*(store.add_decision(row) for _ in range(50)))
    assert sum(not duplicate for _, duplicate in results) == 1
    assert all(stored == results[0][0] for stored, _ in results)
    assert await count(store, schema.decisions) == 1


async def test_a_reward_is_stored_once_per_decision(store):
    row, _ = await store.add_decision(decision())
    reward, duplicate = await store.add_reward(RewardRow(row.decision_id, 0.25, "feedback"))
    assert not duplicate and reward.customer_key == row.customer_key and reward.rewarded_at is not None
    late, duplicate = await store.add_reward(RewardRow(row.decision_id, 0.0, "default"))
    assert duplicate and late == reward
    with pytest.raises(LookupError):
        await store.add_reward(RewardRow("0" * 32, 1.0, "default"))
    assert await count(store, schema.decision_rewards) == 1


async def test_a_learner_reads_each_decision_with_its_own_customers_feedback(store):
    key, other = "k" * 64, "o" * 64
    rated, _ = await store.add_decision(decision(key))
    unrated, _ = await store.add_decision(decision(key, intent="track_order", context={"segment": "new"}))
    # Rating 2, negative, one aspect: the feedback the first decision is joined with.
    await store.add_feedback(
        FeedbackRow(key, "f1", 2, text="still broken", plan_id="refund_now", decision_id=rated.decision_id,
                    sentiment="negative", sentiment_negative=0.8, sentiment_neutral=0.15, sentiment_positive=0.05),
        [("aspect", "product_quality", 0.9), ("keyword", "broken", 0.4)])
    # A later feedback on the same decision is not the one joined (the first one is).
    await store.add_feedback(FeedbackRow(key, "f2", 5, decision_id=rated.decision_id))
    # Another customer naming the same decision id, and feedback naming a decision that was never logged.
    await store.add_feedback(FeedbackRow(other, "f1", 5, decision_id=unrated.decision_id, sentiment="positive"))
    await store.add_feedback(FeedbackRow(key, "f3", 4, decision_id="e" * 32))
    await store.add_reward(RewardRow(rated.decision_id, -0.5, "feedback"))

    found = await store.rewards_since(0, limit=10)
    assert [r.decision for r in found] == [rated, unrated]
    first, second = found
    assert (first.feedback_id, first.rating, first.sentiment, first.aspects) == ("f1", 2, "negative",
                                                                                 ("product_quality",))
    assert (first.sentiment_negative, first.sentiment_neutral, first.sentiment_positive) == (0.8, 0.15, 0.05)
    assert first.reward is not None and (first.reward.reward, first.reward.source) == (-0.5, "feedback")
    assert (second.feedback_id, second.rating, second.sentiment, second.aspects, second.reward) == (
        None, None, None, (), None)
    # The cursor and the page size.
    assert [r.decision.decision_id for r in await store.rewards_since(rated.sequence, limit=10)] == [
        unrated.decision_id]
    assert [r.decision.decision_id for r in await store.rewards_since(0, limit=1)] == [rated.decision_id]
    assert await store.rewards_since(unrated.sequence, limit=10) == []


async def test_decisions_without_feedback_are_due_a_default_reward_after_the_wait(store):
    key = "k" * 64
    now = utc_now()
    old, _ = await store.add_decision(decision(key))
    older, _ = await store.add_decision(decision(key))
    answered, _ = await store.add_decision(decision(key))
    rewarded, _ = await store.add_decision(decision(key))
    other_customers, _ = await store.add_decision(decision(key))
    recent, _ = await store.add_decision(decision(key))
    for row, hours in ((old, 2), (older, 3), (answered, 5), (rewarded, 5), (other_customers, 4), (recent, 0.1)):
        await set_decided_at(store, row.decision_id, now - timedelta(hours=hours))
    await store.add_feedback(FeedbackRow(key, "f1", 4, decision_id=answered.decision_id))
    await store.add_feedback(FeedbackRow("o" * 64, "f1", 4, decision_id=other_customers.decision_id))
    await store.add_reward(RewardRow(rewarded.decision_id, 0.0, "default"))

    due = await store.decisions_without_feedback(now - timedelta(hours=1), limit=10)
    assert [d.decision_id for d in due] == [other_customers.decision_id, older.decision_id, old.decision_id]
    assert [d.decision_id for d in await store.decisions_without_feedback(now - timedelta(hours=1), limit=1)] == [
        other_customers.decision_id]
    # Once given its default reward, a decision is no longer due.
    await store.add_reward(RewardRow(other_customers.decision_id, 0.0, "default"))
    due = await store.decisions_without_feedback(now - timedelta(hours=1), limit=10)
    assert [d.decision_id for d in due] == [older.decision_id, old.decision_id]


async def test_erasure_removes_the_customers_decisions_and_rewards_only(store):
    key, other = "k" * 64, "o" * 64
    mine = [(await store.add_decision(decision(key)))[0] for _ in range(3)]
    theirs, _ = await store.add_decision(decision(other))
    for row in (*mine[:2], theirs):
        await store.add_reward(RewardRow(row.decision_id, 1.0, "default"))
    report = await store.erase_customer(key, request_id="erase-decisions")
    assert report.deleted["decisions"] == 3 and report.deleted["decision_rewards"] == 2
    assert [await store.get_decision(row.decision_id) for row in mine] == [None] * 3
    assert await store.get_decision(theirs.decision_id) == theirs
    assert [r.decision.decision_id for r in await store.rewards_since(0, limit=10)] == [theirs.decision_id]
    assert await count(store, schema.decision_rewards) == 1


@pytest.mark.parametrize("change, words", [
    (dict(decision_id="A" * 32), "32 lower-case hexadecimal"),
    (dict(decision_id="abc"), "32 lower-case hexadecimal"),
    (dict(policy_version=""), "must not be empty"),
    (dict(seed=-1), "seed"),
    (dict(context={"message": "my parcel never came and I want my money back now, the third time!!"}), "at most 64"),
    (dict(context={"items": [1, 2]}), "features only"),
    (dict(context={"score": float("nan")}), "finite"),
    (dict(candidates=(Candidate("a", 1.5, 0.0),)), "probability"),
    (dict(candidates=(Candidate("a", 0.5, 0.0), Candidate("a", 0.5, 0.0)), chosen=("a",)), "distinct"),
    (dict(chosen=("not_a_candidate",)), "among the candidates"),
    (dict(intent="x" * 65), "at most 64"),
])
async def test_rows_the_store_refuses(store, change, words):
    with pytest.raises(ValueError, match=words):
        await store.add_decision(decision(**change))
    assert await count(store, schema.decisions) == 0


async def test_bad_rewards_are_refused(store):
    row, _ = await store.add_decision(decision())
    for bad, words in ((RewardRow(row.decision_id, 1.0, "guess"), "source"),
                       (RewardRow(row.decision_id, float("inf"), "default"), "finite"),
                       (RewardRow(row.decision_id.upper(), 1.0, "default"), "hexadecimal")):
        with pytest.raises(ValueError, match=words):
            await store.add_reward(bad)
    assert await count(store, schema.decision_rewards) == 0


async def test_migration_0004_adds_the_log_to_a_database_holding_rows(store_url):
    at = datetime(2024, 3, 1, 12)

    async def fill(conn) -> None:
        await conn.execute(sa.insert(schema.events).values(
            customer_key="k" * 64, event_id="e1", type="order", occurred_at=at, amount_minor=100, item_count=1,
            received_at=at))
        await conn.execute(sa.insert(schema.feedback).values(
            customer_key="k" * 64, feedback_id="f1", rating=3, decision_id="d" * 32, received_at=at))
        tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
        assert "decisions" not in tables

    async with store_migrated_from(store_url, "0003", fill) as store:
        assert await count(store, schema.events) == 1 and await count(store, schema.feedback) == 1
        row, _ = await store.add_decision(decision(decision_id="d" * 32))
        [read] = await store.rewards_since(0, limit=10)
        assert read.decision == row and (read.feedback_id, read.rating) == ("f1", 3)
