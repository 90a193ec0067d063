# The API image: FastAPI, the dashboard, the CLI; no torch (the API never imports it).
#   docker build -t contrastlab-api .        (docker-compose.yml builds it as the `api` service)

# plotly.js with only the traces the pages draw (frontend/vendor, as `make plotly-bundle` builds it): a third of the
# full bundle for the browser to parse. Built here, since the bundle is not committed; only the file goes on.
FROM node:22-bookworm-slim AS plotly
WORKDIR /vendor
COPY frontend/vendor/package.json frontend/vendor/package-lock.json frontend/vendor/plotly_bundle.js ./
RUN npm ci --no-audit --no-fund && npm run build

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
# Dependencies first, so a source change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY backend/__init__.py backend/__init__.py
COPY contrastlab/__init__.py contrastlab/__init__.py
RUN pip install -c constraints.txt -e .
COPY backend backend
# The API imports only the contract (contrastlab.core) and the queue glue (contrastlab.queue): no worker code.
COPY contrastlab contrastlab
COPY frontend frontend
COPY --from=plotly /vendor/build/plotly.min.js frontend/vendor/build/plotly.min.js

FROM python:3.11-slim-bookworm AS runtime
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data HOST=0.0.0.0 PORT=8000 START_WORKER=0
RUN useradd --create-home --uid 10001 --user-group contrastlab && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]
# Waits for the database, runs the migrations, then serves (workers run elsewhere).
CMD ["contrastlab", "serve", "--no-worker"]
