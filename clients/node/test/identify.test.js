'use strict';
// Runs against a live gateway at INFOGAP_ADDRESS (tests/test_node_client.py starts one and runs this).
const test = require('node:test');
const assert = require('node:assert/strict');
const { InfoGapClient, grpc } = require('../index');

const address = process.env.INFOGAP_ADDRESS;

test('IdentifyNeeds answers the intent with calibrated scores', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  try {
    const response = await client.identifyNeeds('I want to cancel my last order', { topK: 2 });
    assert.equal(response.needs.length, 2);
    assert.equal(response.needs[0].intent, 'cancel_order');
    assert.ok(response.needs[0].score > 0.5 && response.needs[0].score <= 1);
    assert.equal(response.model.name, 'infogap_text');
    assert.match(response.request_id, /^[0-9a-f]{32}$/);
  } finally {
    client.close();
  }
});

test('bad input is INVALID_ARGUMENT naming the field', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  try {
    await assert.rejects(client.identifyNeeds('   '), (error) => {
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error.details, /^text: /);
      return true;
    });
  } finally {
    client.close();
  }
});

test('customer events and feedback are recorded once, profiled, and erased', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  const customerId = `node-${Date.now()}`;
  const day = 24 * 3600 * 1000;
  const events = [0, 1, 2].map((i) => ({
    customerId, eventId: `o${i}`, type: 'order', time: new Date(Date.now() - (10 + i) * day), amount: 12.5, itemCount: 1,
  }));
  try {
    const first = await client.recordEvents(events);
    assert.equal(first.stored, 3);
    const again = await client.recordEvents(events);
    assert.equal(again.stored, 0);
    assert.equal(again.duplicates, 3);
    const profile = await client.getCustomerProfile(customerId);
    assert.equal(profile.rfm.frequency, 3);
    assert.equal(profile.rfm.recency_days, 10);
    assert.ok(profile.churn_risk > 0 && profile.churn_risk < 1);
    assert.equal(profile.behaviour_model.name, 'infogap_behaviour');
    const needs = await client.identifyNeeds('where is my order', { history: events });
    assert.equal(needs.history_events_used, 3);
    assert.ok(Math.abs(needs.churn_risk - profile.churn_risk) < 1e-3);
    const feedback = { feedbackId: 'fb-1', customerId, rating: 2, text: 'my parcel came a week late' };
    const receipt = await client.submitFeedback(feedback);
    assert.equal(receipt.duplicate, false);
    assert.ok(receipt.sentiment.negative > 0 && receipt.sentiment.negative <= 1);
    assert.ok(receipt.aspects.includes('delivery_delay'));
    assert.deepEqual(receipt.aspect_scores.map((a) => a.term), receipt.aspects);
    assert.ok(receipt.aspect_scores.every((a) => a.score > 0 && a.score <= 1));
    assert.ok(receipt.keywords.length >= 1);
    assert.deepEqual(receipt.keyword_scores.map((k) => k.term), receipt.keywords);
    const resent = await client.submitFeedback(feedback);
    assert.equal(resent.duplicate, true);
    assert.deepEqual(resent.stored_at, receipt.stored_at);
    const insights = await client.getInsights({ since: new Date(Date.now() - 3600e3), period: 'hour' });
    assert.ok(Number(insights.overall.count) >= 1);
    assert.ok(insights.by_period.length >= 1);
    const erased = await client.eraseCustomer(customerId);
    assert.equal(erased.deleted.find((t) => t.table === 'events').rows, '3');
    assert.equal(erased.deleted.find((t) => t.table === 'feedback').rows, '1');
    assert.ok(Number(erased.deleted.find((t) => t.table === 'feedback_terms').rows) >= 2);
    await assert.rejects(client.getCustomerProfile(customerId), (error) => error.codeName === 'NOT_FOUND');
  } finally {
    client.close();
  }
});
