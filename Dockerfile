# infogap gateway, embedded ONNX Runtime backend. Build after `make models` so the model repository is present:
#   docker build -t infogap .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    INFOGAP_HOST=0.0.0.0 INFOGAP_PORT=50051 INFOGAP_METRICS_PORT=9464 \
    INFOGAP_MODEL_REPOSITORY=/srv/infogap/model_repository

WORKDIR /srv/infogap
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients/python ./clients/python
RUN pip install --no-cache-dir . grpcio-health-checking==1.80.1
COPY model_repository ./model_repository

RUN useradd --system --uid 10001 infogap
USER 10001

EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import grpc,sys;from grpc_health.v1 import health_pb2 as h,health_pb2_grpc as g;c=grpc.insecure_channel('127.0.0.1:50051');sys.exit(0 if g.HealthStub(c).Check(h.HealthCheckRequest(),timeout=2).status==1 else 1)"]
ENTRYPOINT ["infogap", "serve"]
