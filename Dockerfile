# syntax=docker/dockerfile:1
# The tierkeeper operator image: `docker build -t ghcr.io/tierkeeper/tierkeeper:0.1.0 .`
# Wheels are built in a throw-away stage; the image gets only the installed package
# (every dependency ships binary wheels, so no compiler is needed in either stage).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="tierkeeper" \
      org.opencontainers.image.description="Railway-style environments and blue-green releases on your own Kubernetes cluster" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are mounted for the install only, so they leave no layer behind.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels tierkeeper \
 && groupadd --system --gid 10001 tierkeeper \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tierkeeper
# Numeric, so that Kubernetes can verify runAsNonRoot (manifests/base/deployment.yaml).
USER 10001:10001
# 8080: liveness (`--liveness http://0.0.0.0:8080/healthz`); 9090: Prometheus /metrics.
EXPOSE 8080 9090
ENTRYPOINT ["tierkeeper"]
CMD ["run"]
