# infogap gateway, embedded ONNX Runtime backend. Build after `make models` so the model repository is present:
#   docker build -t infogap .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    INFOGAP_HOST=0.0.0.0 INFOGAP_PORT=50051 INFOGAP_METRICS_PORT=9464 \
    INFOGAP_MODEL_REPOSITORY=/srv/infogap/model_repository \
    INFOGAP_DATA_DIR=/srv/infogap/var

WORKDIR /srv/infogap
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients/python ./clients/python
RUN pip install --no-cache-dir . grpcio-health-checking==1.80.1
COPY model_repository ./model_repository

# The embedded SQLite store and the pseudonym key live in a volume the server's user owns (unused with PostgreSQL
# and INFOGAP_PSEUDONYM_KEY, as in deploy/compose.yaml).
RUN useradd --system --uid 10001 infogap && mkdir -p /srv/infogap/var && chown 10001 /srv/infogap/var
VOLUME ["/srv/infogap/var"]
USER 10001

EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import grpc,sys;from grpc_health.v1 import health_pb2 as h,health_pb2_grpc as g;c=grpc.insecure_channel('127.0.0.1:50051');sys.exit(0 if g.HealthStub(c).Check(h.HealthCheckRequest(),timeout=2).status==1 else 1)"]
ENTRYPOINT ["infogap", "serve"]
