# The fetcher: claims jobs, merges chunks, calls the processor beside it.
# Build from the repository root:
#   fpw images build fetcher
# BASE: the official image by default; `fpw images build` passes the Debian base
# that `fpw images base` makes where no registry is reachable. Both run Python 3.11.
ARG BASE=docker.io/library/python:3.11.11-slim-bookworm
# hadolint ignore=DL3006
FROM ${BASE} AS build
WORKDIR /src
COPY infra/docker/requirements.lock /src/requirements.lock
COPY pyproject.toml README.md /src/
# The locked dependencies first, in a layer of their own that a change to the
# sources leaves as it is (pyproject.toml alone makes an empty fpw to resolve them).
RUN --mount=type=secret,id=hostca \
    if [ -f /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi \
    && python3 -m venv /opt/fpw \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c /src/requirements.lock /src
COPY shared /src/shared
COPY client /src/client
COPY fetcher /src/fetcher
COPY processor /src/processor
COPY watcher /src/watcher
COPY infra /src/infra
# The sources, then no pip or setuptools in the image (nothing installs at run time).
RUN --mount=type=secret,id=hostca \
    if [ -f /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        --force-reinstall /src \
    && /opt/fpw/bin/python -m pip uninstall --yes --quiet pip setuptools

# hadolint ignore=DL3006
FROM ${BASE}
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fpw
COPY --from=build /opt/fpw /opt/fpw
ENV PATH=/opt/fpw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FPW_FETCHER_WORK_DIR=/tmp/fpw-fetcher
USER 10001:10001
# Healthy while the processor it feeds and AWS answer (the fetcher serves no HTTP).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "infra.healthcheck", "--aws", "--env-url", "FPW_FETCHER_PROCESSOR_URL", "--path", "/health"]
ENTRYPOINT ["fpw"]
CMD ["fetcher", "--json-logs"]
