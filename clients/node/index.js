'use strict';
// Node.js client for infogap.v1, built from the same protos/ as every other client (no generated code to
// keep in sync: @grpc/proto-loader reads the .proto at start-up).
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

class InfoGapClient {
  /**
   * @param {string} address host:port of the gateway
   * @param {{timeoutMs?: number}} options default deadline for every call
   */
  constructor(address = '127.0.0.1:50051', { timeoutMs = 5000 } = {}) {
    this.stub = new infogap.InfoGap(address, grpc.credentials.createInsecure());
    this.timeoutMs = timeoutMs;
  }

  /** IdentifyNeeds: resolves to the response object, rejects with InfoGapError. */
  identifyNeeds(text, { topK = 0, language = '', customerId = '', requestId = '', timeoutMs } = {}) {
    const request = { text, top_k: topK, language, customer_id: customerId, request_id: requestId };
    const deadline = new Date(Date.now() + (timeoutMs ?? this.timeoutMs));
    return new Promise((resolve, reject) => {
      this.stub.IdentifyNeeds(request, { deadline }, (error, response) =>
        error ? reject(new InfoGapError(error)) : resolve(response));
    });
  }

  close() {
    this.stub.close();
  }
}

module.exports = { InfoGapClient, InfoGapError, grpc };
