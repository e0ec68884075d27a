'use strict';
// Runs against a live gateway at INFOGAP_ADDRESS started with small alert windows (tests/test_node_client.py:
// 10 events, a baseline of 30, the store read at once).
const test = require('node:test');
const assert = require('node:assert/strict');
const { InfoGapClient, grpc } = require('../index');

const address = process.env.INFOGAP_ADDRESS;

test('WatchAlerts replays the alert of a planted spike; bad input is INVALID_ARGUMENT', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  const customerId = `node-alerts-${Date.now()}`;
  const since = new Date(Date.now() - 1000);
  const negative = [];
  try {
    for (let i = 0; i < 50; i += 1) {
      const feedbackId = `${customerId}-${i}`;
      const rating = i < 40 ? 5 : 1; // 40 satisfied, then 10 unhappy in a row
      await client.submitFeedback({ feedbackId, customerId, rating });
      if (rating === 1) negative.push(feedbackId);
    }
    const alerts = [];
    for await (const alert of client.watchAlerts({ since, kinds: ['overall'] }, { requestId: 'node-watch' })) {
      alerts.push(alert);
    }
    assert.equal(alerts.length, 1);
    const [alert] = alerts;
    assert.equal(alert.kind, 'ALERT_STREAM_OVERALL');
    assert.equal(alert.window_events, 10);
    // It fires at the first unhappy feedback that makes the test pass (the 7th in a row with these windows).
    assert.ok(Number(alert.observed_count) >= 5 && alert.observed_rate > alert.expected_rate, JSON.stringify(alert));
    assert.ok(alert.p_value < alert.alpha);
    // The latest unhappy ones (another test file may store a feedback meanwhile).
    assert.equal(alert.example_feedback_ids.length, 5);
    assert.ok(alert.example_feedback_ids.filter((id) => negative.includes(id)).length >= 4);
    assert.match(alert.alert_id, /^[0-9a-f]{32}$/);
    assert.equal(alert.request_id, 'node-watch');
    await assert.rejects(async () => {
      for await (const _ of client.watchAlerts({ keys: [''] })) { /* nothing arrives */ }
    }, (error) => {
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error.details, /^keys\[0\]: /);
      return true;
    });
    await client.eraseCustomer(customerId);
  } finally {
    client.close();
  }
});
