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
