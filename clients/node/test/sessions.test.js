'use strict';
// Runs against a live gateway at INFOGAP_ADDRESS on the default models and playbook (tests/test_node_client.py starts
// one, with a store of its own, and runs this).
const test = require('node:test');
const assert = require('node:assert/strict');
const { InfoGapClient, grpc } = require('../index');

const address = process.env.INFOGAP_ADDRESS;
// track_order, read as neutral (an unhappy customer gets an apology first): pull_up_account, ask_the_oracle, ...
const TEXT = 'Hello, can you check the delivery status of my order please? Thank you';

test('TrackSession answers each event with the state after it', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  const sessionId = `node-s-${Date.now()}`;
  const t0 = new Date(Date.now() - 600e3);
  const at = (seconds) => new Date(t0.getTime() + seconds * 1000);
  const session = client.trackSession(sessionId, `node-cust-${Date.now()}`);
  try {
    const first = await session.message(TEXT, { time: at(0) });
    assert.equal(first.session_id, sessionId);
    assert.equal(first.sequence, '1');
    assert.equal(first.stage, 'SESSION_STAGE_RESOLVING', JSON.stringify(first));
    assert.equal(first.current_need.intent, 'track_order');
    assert.equal(first.next_action.action, 'pull_up_account'); // the playbook's first step
    assert.equal(first.next_best_action, 'pull_up_account');
    assert.equal(first.next_action.source, 'playbook');
    assert.equal(first.queue, 'front');

    const acted = await session.action('pull_up_account', { time: at(20), eventId: 'a1' });
    assert.equal(acted.sequence, '2');
    assert.equal(acted.next_action.action, 'ask_the_oracle'); // the next step
    assert.ok(!acted.allowed_actions.includes('pull_up_account'));
    assert.equal(acted.elapsed_s, 20);

    const waited = await session.wait(30, { time: at(80) });
    assert.equal(waited.sequence, '3');
    assert.equal(waited.stage, 'SESSION_STAGE_RESOLVING');
    assert.equal(waited.wait_s, 30);
    assert.ok(waited.sla_breach_risk > acted.sla_breach_risk);
    assert.equal(waited.next_action.action, 'ask_the_oracle');

    const resent = await session.action('pull_up_account', { time: at(90), eventId: 'a1' });
    assert.equal(resent.duplicate, true); // stored once: the first answer again
    assert.equal(resent.sequence, '2');

    const ended = await session.end({ resolved: true, time: at(100) });
    assert.equal(ended.sequence, '4');
    assert.equal(ended.stage, 'SESSION_STAGE_CLOSED');
    assert.equal(ended.close_reason, 'ended');
    assert.equal(ended.next_best_action, '');
    assert.equal(ended.events_seen, 4);
    await assert.rejects(session.message('one more thing'), (error) => {
      assert.equal(error.code, grpc.status.FAILED_PRECONDITION);
      return true;
    });
  } finally {
    session.close();
    client.close();
  }
});

test('GetSessionBottlenecks sums waits, handling and transfers per queue', { skip: !address }, async () => {
  const client = new InfoGapClient(address);
  const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 - 3 * 86400e3); // a range no other test writes in
  const at = (seconds) => new Date(t0.getTime() + seconds * 1000);
  const session = client.trackSession(`node-bn-${Date.now()}`, 'node-bn-cust');
  try {
    await session.message(TEXT, { time: at(0) });
    await session.wait(120, { time: at(150) }); // front: waited 120, handled 30
    const moved = await session.transfer('billing', { time: at(200) }); // front: handled 50, a transfer
    assert.equal(moved.stage, 'SESSION_STAGE_ESCALATED');
    assert.equal(moved.queue, 'billing');
    await session.end({ resolved: false, time: at(260) }); // billing: handled 60
  } finally {
    session.close();
  }
  try {
    const r = await client.getSessionBottlenecks({ since: at(-1), until: at(3600) }, { requestId: 'node-bn' });
    assert.equal(r.sessions, '1');
    assert.equal(r.request_id, 'node-bn');
    const queues = Object.fromEntries(r.groups.filter((g) => g.dimension === 'queue').map((g) => [g.value, g]));
    assert.deepEqual(Object.keys(queues), ['billing', 'front']);
    assert.deepEqual(queues.front.wait, { sessions_with_any: '1', p50_s: 120, p90_s: 120, total_s: 120 });
    assert.equal(queues.front.handling.total_s, 80);
    assert.equal(queues.front.transfers, '1');
    assert.equal(queues.billing.wait.total_s, 0);
    assert.equal(queues.billing.handling.total_s, 60);
    await assert.rejects(client.getSessionBottlenecks({ queue: 'not a queue' }), (error) => {
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error.details, /^queue: /);
      return true;
    });
  } finally {
    client.close();
  }
});
