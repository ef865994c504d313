# The reference analysis container. VARIANT=cpu (default) installs onnxruntime;
# VARIANT=cuda installs onnxruntime-gpu and the CUDA 13 and cuDNN 9 libraries it
# loads, from PyPI wheels (no CUDA base image needed); libcuda.so.1 comes from
# the host's NVIDIA driver (>= 580) at run time, through NVIDIA's container
# toolkit. Without a GPU the CUDA image runs OCR on the CPU.
# Build from the repository root:
#   fpw images build processor                  (CPU)
#   fpw images build processor --variant cuda   (CUDA)
# BASE: the official image by default; `fpw images build` passes the Debian base
# that `fpw images base` makes where no registry is reachable. Both run Python 3.11.
ARG BASE=docker.io/library/python:3.11.11-slim-bookworm

# hadolint ignore=DL3006
FROM ${BASE} AS build
ARG VARIANT=cpu
WORKDIR /src
COPY infra/docker/processor.lock /src/processor.lock
COPY pyproject.toml README.md /src/
# The locked dependencies first, in a layer of their own that a change to the
# sources leaves as it is (pyproject.toml alone makes an empty fpw to resolve them).
RUN --mount=type=secret,id=hostca \
    if [ -f /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi \
    && python3 -m venv /opt/fpw \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c /src/processor.lock "/src[processor]" \
    && if [ "$VARIANT" = cuda ]; then \
        /opt/fpw/bin/pip uninstall -y onnxruntime \
        && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check \
            -c /src/processor.lock "onnxruntime-gpu[cuda,cudnn]"; \
    fi
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
# The CUDA variant's libraries (nvidia/*/lib in the wheels) for the loader, so
# that onnxruntime's CUDA provider finds them; nothing to add for the CPU one.
RUN find /opt/fpw -type d -path "*/site-packages/nvidia/*/lib" > /etc/ld.so.conf.d/fpw-nvidia.conf \
    && ldconfig
ENV PATH=/opt/fpw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "infra.healthcheck", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["fpw"]
CMD ["processor", "--host", "0.0.0.0", "--port", "8080"]
