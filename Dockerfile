# KaizenLap: one image, two entry points (README: "Deploy to Google Cloud").
#   service (Cloud Run service):  default command, `kaizenlap serve` on $PORT
#   batch job (Cloud Run job):    `kaizenlap run` (args: run --no-reports ...), data from gs://, results to Firestore
# Configuration is by environment only (README: "Settings"); nothing secret is baked in: on Cloud Run the
# service account's credentials come from the metadata server.
#
# Build:  docker build -t kaizenlap .          Run:  docker run -p 8080:8080 -e KAIZENLAP_STORE=... kaizenlap
# Base images are pinned by version (bump deliberately; pin by digest with `image@sha256:...` if you prefer).

ARG NODE_IMAGE=node:20.18.1-bookworm-slim
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---------------------------------------------------------------- 1. the web app (Vite) -> /web/dist
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# ---------------------------------------------------------------- 2. the wheel (library, service, params, notebooks)
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
RUN pip install --no-cache-dir --disable-pip-version-check "build>=1,<2"
COPY pyproject.toml setup.py README.md ./
COPY lib/ lib/
COPY serve/ serve/
COPY params/ params/
COPY notebooks/ notebooks/
RUN python -m build --wheel --outdir /dist

# ---------------------------------------------------------------- 3. runtime: the wheel in a venv + the static build
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 kaizenlap \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/kaizenlap kaizenlap
COPY --from=wheel /dist/ /tmp/dist/
# constraints.txt: the versions the tests ran with, so the image resolves those and not the newest
COPY constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/kaizenlap && /opt/kaizenlap/bin/pip install /tmp/dist/*.whl -c /tmp/constraints.txt \
 && rm -rf /tmp/dist /tmp/constraints.txt
COPY --from=web /web/dist/ /opt/kaizenlap/web/
# PORT: Cloud Run sets it; 8080 is only the default for `docker run`. Writable state lives under /tmp
# (Cloud Run's in-memory disk): the parse cache and the job's reports.
ENV PATH=/opt/kaizenlap/bin:$PATH \
    PORT=8080 \
    KAIZENLAP_HOST=0.0.0.0 \
    KAIZENLAP_WEB_DIR=/opt/kaizenlap/web \
    KAIZENLAP_CACHE=/tmp/kaizenlap/cache \
    KAIZENLAP_REPORTS=/tmp/kaizenlap/reports \
    MPLCONFIGDIR=/tmp/kaizenlap/matplotlib \
    USE_LOCAL_FILES=false
USER 10001:10001
WORKDIR /home/kaizenlap
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"
ENTRYPOINT ["kaizenlap"]
CMD ["serve"]
