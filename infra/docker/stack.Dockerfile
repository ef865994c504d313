# The local stack (moto's server with the template deployed, IAM enforced)
# for `fpw up --containers` and the container tests: `fpw stack` in a
# container. Not for production.
# BASE: the official image by default; `fpw images build` passes the Debian base
# that `fpw images base` makes where no registry is reachable. Both run Python 3.11.
ARG BASE=docker.io/library/python:3.11.11-slim-bookworm
# hadolint ignore=DL3006
FROM ${BASE} AS build
WORKDIR /src
COPY infra/docker/stack.lock /src/stack.lock
COPY pyproject.toml README.md /src/
# The locked dependencies first, in a layer of their own that a change to the
# sources leaves as it is (pyproject.toml alone makes an empty fpw to resolve them).
RUN --mount=type=secret,id=hostca \
    if [ -f /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi \
    && python3 -m venv /opt/fpw \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check -c /src/stack.lock \
        /src "moto[server,cloudformation,dynamodb,dynamodbstreams,s3,iam,sts,sns,cloudwatch,kms,logs,ec2,ssm,ecs,autoscaling,applicationautoscaling]"
COPY shared /src/shared
COPY client /src/client
COPY fetcher /src/fetcher
COPY processor /src/processor
COPY watcher /src/watcher
COPY infra /src/infra
# The sources, then no pip in the image (nothing installs at run time).
RUN --mount=type=secret,id=hostca \
    if [ -f /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        --force-reinstall /src \
    && /opt/fpw/bin/python -m pip uninstall --yes --quiet pip

# hadolint ignore=DL3006
FROM ${BASE}
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fpw \
    && mkdir /state && chown 10001:10001 /state
COPY --from=build /opt/fpw /opt/fpw
ENV PATH=/opt/fpw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 5000
# Healthy once the template is deployed and the parts' settings are written.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=12 \
    CMD ["python", "-m", "infra.healthcheck", "--file", "/state/configs/watcher.toml"]
ENTRYPOINT ["fpw"]
CMD ["stack", "--host", "0.0.0.0", "--port", "5000", "--home", "/state", \
     "--configs", "/state/configs", "--public-endpoint", "http://stack:5000"]
