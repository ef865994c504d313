# The fetcher: claims jobs, merges chunks, calls the processor beside it.
# Build from the repository root:
#   docker build -f infra/docker/fetcher.Dockerfile -t fpw-fetcher:0.1.0 .
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY infra/docker/requirements.lock /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY client /src/client
COPY fetcher /src/fetcher
COPY processor /src/processor
COPY watcher /src/watcher
COPY infra /src/infra
RUN python -m venv /opt/fpw \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c /src/requirements.lock /src

FROM python:3.11.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fpw
COPY --from=build /opt/fpw /opt/fpw
ENV PATH=/opt/fpw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FPW_FETCHER_WORK_DIR=/tmp/fpw-fetcher
USER 10001:10001
# Healthy while the processor it feeds answers (the fetcher serves no HTTP).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "infra.healthcheck", "--env-url", "FPW_FETCHER_PROCESSOR_URL", "--path", "/health"]
ENTRYPOINT ["fpw"]
CMD ["fetcher", "--json-logs"]
