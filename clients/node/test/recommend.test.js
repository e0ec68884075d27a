'use strict';
// Runs against a live gateway at INFOGAP_ADDRESS (tests/test_node_client.py starts one and runs this). Holds for
// the default plan catalogue and for tests/data/tiny_plans.yaml: both have get_refund plans open on chat for an
// order 5 days old.
const test = require('node:test');
const assert = require('node:assert/strict');
const { InfoGapClient, grpc } = require('../index');

const address = process.env.INFOGAP_ADDRESS;

test('Recommend answers plans with a decision id that feedback rates', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  const customerId = 'node-c1';
  try {
    const response = await client.recommend({
      intent: 'get_refund', customerId, channel: 'chat', orderAgeDays: 5, explain: true,
    });
    assert.ok(response.plans.length > 0);
    for (const plan of response.plans) {
      assert.ok(plan.plan_id, JSON.stringify(plan));
      assert.ok(Array.isArray(plan.reasons) && plan.reasons.length > 0, JSON.stringify(plan));
      assert.notEqual(plan.kind, 'PLAN_KIND_UNSPECIFIED');
    }
    assert.ok(response.plans[0].probability > 0 && response.plans[0].probability <= 1);
    assert.match(response.decision_id, /^[0-9a-f]{32}$/);
    assert.ok(response.policy_version.length > 0);
    assert.equal(response.intent, 'get_refund');
    assert.ok(Array.isArray(response.excluded));
    const receipt = await client.submitFeedback({
      feedbackId: `node-rec-${Date.now()}`, customerId, rating: 5, intent: 'get_refund',
      planId: response.plans[0].plan_id, decisionId: response.decision_id, resolved: true,
    });
    assert.equal(receipt.duplicate, false);
    await client.eraseCustomer(customerId);
  } finally {
    client.close();
  }
});

test('Recommend without intent or text is INVALID_ARGUMENT naming intent', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  try {
    await assert.rejects(client.recommend({ channel: 'chat' }), (error) => {
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error.details, /intent/);
      return true;
    });
  } finally {
    client.close();
  }
});
