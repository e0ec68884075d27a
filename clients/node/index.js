'use strict';
// Node.js client for infogap.v1, built from the same protos/ as every other client (no generated code to
// keep in sync: @grpc/proto-loader reads the .proto at start-up).
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');
const definition = protoLoader.loadSync('infogap/v1/infogap.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: true, // field names exactly as in the .proto (snake_case)
  longs: String,
  enums: String, // enum values by name, e.g. 'SENTIMENT_LABEL_NEGATIVE'
  defaults: true,
  oneofs: true,
});
const infogap = grpc.loadPackageDefinition(definition).infogap.v1;

/** An RPC failure carrying the real gRPC status code and the server's message. */
class InfoGapError extends Error {
  constructor(error) {
    super(`${grpc.status[error.code]}: ${error.details}`);
    this.code = error.code; // numeric grpc.status value
    this.codeName = grpc.status[error.code];
    this.details = error.details;
  }
}

/** PEM data: a Buffer, or the path of a PEM file. */
function pem(value) {
  if (value === undefined || value === null) return null;
  return Buffer.isBuffer(value) ? value : fs.readFileSync(value);
}

/** TLS credentials when any TLS option is given, else plain text. */
function channelCredentials({ tls, rootCerts, clientCert, clientKey }) {
  if ((clientCert == null) !== (clientKey == null)) {
    throw new Error('clientCert and clientKey go together (mutual TLS)');
  }
  if (!tls && rootCerts == null && clientCert == null) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(pem(rootCerts), pem(clientKey), pem(clientCert));
}

/** A client interceptor adding `authorization: Bearer <token>` to every call (unary and streaming). */
function tokenInterceptor(token) {
  const value = `Bearer ${token}`;
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('authorization', value);
      next(metadata, listener);
    },
  });
}

/** A Date as a google.protobuf.Timestamp. */
function timestamp(date) {
  const ms = date.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** {type ('order', 'cancellation', ...), time (Date), amount, itemCount} as a BehaviorEvent message. */
function behaviorEvent(e) {
  return {
    type: `BEHAVIOR_EVENT_TYPE_${e.type.toUpperCase()}`,
    time: timestamp(e.time),
    amount: e.amount ?? 0,
    item_count: e.itemCount ?? 0,
  };
}

// Deadline of a WatchAlerts replay (without follow) when none is given.
const REPLAY_TIMEOUT_MS = 300000;

/**
 * One TrackSession stream for one session (InfoGapClient.trackSession). Each event method sends one event and
 * resolves to the SessionState the server answered after storing it; errors reject with InfoGapError and end the
 * stream. Pass `eventId` to make an event safe to resend (the server answers a resent id with the first answer,
 * `duplicate` true). After a broken stream open a new one with the same session id and call `resume`. Call `close`
 * when done: the session stays open on the server until `end` or the inactivity timeout.
 */
class Session {
  constructor(stub, sessionId, customerId) {
    this.sessionId = sessionId;
    this.customerId = customerId;
    this.call = stub.TrackSession();
    this.states = []; // answered states not read yet (a state the server sends on its own: the session expired)
    this.readers = []; // {resolve, reject} of the sends waiting for their state
    this.error = null; // why the stream ended, once it has
    this.status = null;
    this.call.on('data', (state) => {
      const reader = this.readers.shift();
      if (reader) reader.resolve(state);
      else this.states.push(state);
    });
    this.call.on('status', (status) => { this.status = status; });
    this.call.on('error', (error) => this.fail(error.code === undefined ? error : new InfoGapError(error)));
    // The server ended the stream (after the state of a closed session, or when draining): its status says why.
    this.call.on('end', () => this.fail(new InfoGapError({
      code: this.status ? this.status.code : grpc.status.UNKNOWN,
      details: (this.status && this.status.details) || 'the stream ended',
    })));
  }

  fail(error) {
    if (!this.error) this.error = error;
    for (const reader of this.readers.splice(0)) reader.reject(this.error);
  }

  /** Send any SessionEvent (an object with the .proto's field names); resolves to the state after it. */
  send(event) {
    if (this.error) return Promise.reject(this.error);
    this.call.write(event);
    if (this.states.length) return Promise.resolve(this.states.shift());
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  event(kind, value, { eventId = '', time } = {}) {
    const event = {
      session_id: this.sessionId, customer_id: this.customerId, client_event_id: eventId, [kind]: value,
    };
    if (time) event.time = timestamp(time); // a Date; left out, the time the server receives it
    return event;
  }

  /** A message of the customer (or, with `fromCustomer: false`, of the agent). */
  message(text, { fromCustomer = true, eventId, time } = {}) {
    return this.send(this.event('message', { text, from_customer: fromCustomer }, { eventId, time }));
  }

  /** An agent action of the playbook's vocabulary, for example 'pull_up_account'; `planId` for offer_plan. */
  action(name, { planId = '', eventId, time } = {}) {
    return this.send(this.event('agent_action', { action: name, plan_id: planId }, { eventId, time }));
  }

  /** The customer waited `durationS` seconds, a wait that ended at the event's time. */
  wait(durationS, { eventId, time } = {}) {
    return this.send(this.event('wait', { duration_s: durationS }, { eventId, time }));
  }

  /** The session was transferred to another queue or team. */
  transfer(toQueue, { eventId, time } = {}) {
    return this.send(this.event('transfer', { to_queue: toQueue }, { eventId, time }));
  }

  /** The session ended; after it, further events are FAILED_PRECONDITION. */
  end({ resolved, eventId, time } = {}) {
    return this.send(this.event('end', { resolved: Boolean(resolved) }, { eventId, time }));
  }

  /** On a new stream after a broken one: the current state and how many events came after `lastSequence`. */
  resume(lastSequence = 0) {
    return this.send(this.event('resume', { last_sequence: String(lastSequence) }));
  }

  /** End the stream from this side. */
  close() {
    if (!this.error) this.fail(new InfoGapError({ code: grpc.status.CANCELLED, details: 'the session was closed' }));
    this.call.end();
    this.call.cancel();
  }
}

class InfoGapClient {
  /**
   * @param {string} address host:port of the gateway
   * @param {object} options
   * @param {number} [options.timeoutMs] default deadline for every call
   * @param {string} [options.token] access token, sent as `authorization: Bearer <token>` on every call
   * @param {boolean} [options.tls] TLS with the system's root certificates
   * @param {Buffer|string} [options.rootCerts] CA certificate(s) of the server (PEM, or a path); implies TLS
   * @param {Buffer|string} [options.clientCert] client certificate chain for mutual TLS (PEM, or a path)
   * @param {Buffer|string} [options.clientKey] its private key (PEM, or a path)
   */
  constructor(address = '127.0.0.1:50051', {
    timeoutMs = 5000, token, tls = false, rootCerts, clientCert, clientKey,
  } = {}) {
    const credentials = channelCredentials({ tls, rootCerts, clientCert, clientKey });
    const options = token == null ? {} : { interceptors: [tokenInterceptor(token)] };
    this.stub = new infogap.InfoGap(address, credentials, options);
    this.timeoutMs = timeoutMs;
  }

  /** One unary call: resolves to the response object, rejects with InfoGapError. */
  call(method, request, timeoutMs) {
    const deadline = new Date(Date.now() + (timeoutMs ?? this.timeoutMs));
    return new Promise((resolve, reject) => {
      this.stub[method](request, { deadline }, (error, response) =>
        error ? reject(new InfoGapError(error)) : resolve(response));
    });
  }

  /**
   * IdentifyNeeds: resolves to the response object, rejects with InfoGapError. `history` (optional, oldest first)
   * is the customer's recent events as {type, time (Date), amount, itemCount}; with it (or with a customerId whose
   * events are stored) the response carries `churn_risk` from the behaviour model.
   */
  identifyNeeds(text, {
    topK = 0, language = '', customerId = '', requestId = '', history = [], timeoutMs,
  } = {}) {
    const request = {
      text, top_k: topK, language, customer_id: customerId, request_id: requestId,
      history: history.map(behaviorEvent),
    };
    return this.call('IdentifyNeeds', request, timeoutMs);
  }

  /**
   * Recommend: resolves to the service plans for a need, best first, with the `decision_id` to send back in
   * submitFeedback; rejects with InfoGapError. Give `intent` (for example the top need from identifyNeeds), `text`,
   * or both. `channel` ('chat', 'email', 'phone', 'app', 'web', 'social'), `orderAgeDays` and `orderAmount` feed
   * the eligibility rules; left out they are unknown, and the rules that need them are listed in each plan's
   * `unchecked`. `explain` also answers the plans the rules excluded, with the reasons (`excluded`). `history` as
   * in identifyNeeds.
   */
  recommend({
    intent = '', text = '', customerId = '', topK = 0, history = [], channel = '', orderAgeDays, orderAmount,
    explain = false,
  } = {}, { requestId = '', timeoutMs } = {}) {
    const request = {
      intent, text, customer_id: customerId, top_k: topK, history: history.map(behaviorEvent), channel, explain,
      request_id: requestId,
    };
    // Optional fields: set only when known (unset means unknown to the eligibility rules).
    if (orderAgeDays != null) request.order_age_days = orderAgeDays;
    if (orderAmount != null) request.order_amount = orderAmount;
    return this.call('Recommend', request, timeoutMs);
  }

  /**
   * RecordEvents: `events` are {customerId, eventId, type ('order', 'contact', 'return', 'complaint',
   * 'cancellation', 'refund'), time (Date), amount, itemCount, note}. Safe to retry as a whole.
   */
  recordEvents(events, { requestId = '', timeoutMs } = {}) {
    const request = {
      request_id: requestId,
      events: events.map((e) => ({
        customer_id: e.customerId,
        event_id: e.eventId,
        note: e.note ?? '',
        event: behaviorEvent(e),
      })),
    };
    return this.call('RecordEvents', request, timeoutMs);
  }

  /**
   * GetCustomerProfile; `asOf` (a Date) describes the customer as they were then. With a behaviour model served,
   * the profile has `churn_risk`, `expected_value_90d` and `churn_reasons` ({signal, description, contribution}).
   */
  getCustomerProfile(customerId, { asOf, requestId = '', timeoutMs } = {}) {
    const request = { customer_id: customerId, request_id: requestId };
    if (asOf) request.as_of = timestamp(asOf);
    return this.call('GetCustomerProfile', request, timeoutMs);
  }

  /**
   * SubmitFeedback: stored once per feedbackId (a resubmission resolves to the original receipt with
   * `duplicate` true), so it is safe to retry. `decisionId` is the Recommend decision the feedback rates;
   * `resolved` (optional) whether the customer says the need was resolved: left out, it was not asked.
   */
  submitFeedback({
    feedbackId, customerId, rating, text = '', sessionId = '', intent = '', planId = '', decisionId = '', resolved,
  }, { requestId = '', timeoutMs } = {}) {
    const request = {
      feedback_id: feedbackId, customer_id: customerId, rating, text, session_id: sessionId, intent,
      plan_id: planId, decision_id: decisionId, request_id: requestId,
    };
    if (resolved != null) request.resolved = resolved;
    return this.call('SubmitFeedback', request, timeoutMs);
  }

  /**
   * GetInsights over [since, until) (Dates; default the last 30 days), optionally of one intent, planId or segment;
   * `period` is 'hour', 'day' or 'week'. Resolves to satisfaction overall and by intent, plan, segment and period,
   * and the top aspects and keywords with their previous counts.
   */
  getInsights({
    since, until, intent = '', planId = '', segment = '', period = 'day', topN = 0,
  } = {}, { requestId = '', timeoutMs } = {}) {
    const request = {
      intent, plan_id: planId, segment, period: `INSIGHT_PERIOD_${period.toUpperCase()}`, top_n: topN,
      request_id: requestId,
    };
    if (since) request.since = timestamp(since);
    if (until) request.until = timestamp(until);
    return this.call('GetInsights', request, timeoutMs);
  }

  /**
   * WatchAlerts: an async iterator of alerts on spikes of negative feedback, oldest first: those that fired on the
   * feedback stored since `since` (a Date; default the server's alerts_default_replay_s), then, with `follow`, new
   * ones as they fire. `kinds`: 'overall', 'aspect', 'intent' (default all); `keys`: aspect or intent names (default
   * all). Use `for await (const alert of client.watchAlerts({ follow: true }))`; leaving the loop cancels the
   * watch. Without `follow` the call has a deadline of 300 s (starting a watch reads up to twice the server's
   * alerts_lookback_rows stored rows first); with it none; unless `timeoutMs` is given. Errors
   * are InfoGapError (a following watch ends with UNAVAILABLE when the server shuts down: watch again from the last
   * alert's fired_at).
   */
  async* watchAlerts({
    since, kinds = [], keys = [], follow = false,
  } = {}, { requestId = '', timeoutMs } = {}) {
    const request = {
      kinds: kinds.map((kind) => `ALERT_STREAM_${kind.toUpperCase()}`), keys, follow, request_id: requestId,
    };
    if (since) request.since = timestamp(since);
    const ms = timeoutMs ?? (follow ? null : REPLAY_TIMEOUT_MS);
    const call = this.stub.WatchAlerts(request, ms == null ? {} : { deadline: new Date(Date.now() + ms) });
    try {
      for await (const alert of call) yield alert;
    } catch (error) {
      throw error.code === undefined ? error : new InfoGapError(error);
    } finally {
      call.cancel(); // a no-op once the stream has ended
    }
  }

  /**
   * TrackSession: a stream for `sessionId` (created by its first event, which needs `customerId`). Resolves
   * nothing itself: its methods (message, action, wait, transfer, end, resume, send) each resolve to the state
   * after their event. Close it when done.
   */
  trackSession(sessionId, customerId = '') {
    return new Session(this.stub, sessionId, customerId);
  }

  /**
   * GetSessionBottlenecks: where service time goes in the sessions opened in [since, until) (Dates; default the
   * last 7 days), optionally of one `intent` and of the sessions that were in one `queue`. Resolves to `sessions`
   * and `groups`, each {dimension ('stage', 'queue', 'intent'), value, sessions, wait, handling, transfers} with
   * wait and handling as {sessions_with_any, p50_s, p90_s, total_s} (int64 counts are strings).
   */
  getSessionBottlenecks({
    since, until, intent = '', queue = '',
  } = {}, { requestId = '', timeoutMs } = {}) {
    const request = { intent, queue, request_id: requestId };
    if (since) request.since = timestamp(since);
    if (until) request.until = timestamp(until);
    return this.call('GetSessionBottlenecks', request, timeoutMs);
  }

  /** EraseCustomer: every stored row of the customer; resolves to the counts per table and the audit id. */
  eraseCustomer(customerId, { requestId = '', timeoutMs } = {}) {
    return this.call('EraseCustomer', { customer_id: customerId, request_id: requestId }, timeoutMs);
  }

  close() {
    this.stub.close();
  }
}

module.exports = {
  InfoGapClient, InfoGapError, Session, grpc,
};
