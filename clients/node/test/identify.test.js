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
