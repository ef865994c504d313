# The reference analysis container. VARIANT=cuda (default) builds on NVIDIA's
# CUDA runtime with onnxruntime-gpu, which falls back to the CPU where no GPU
# is present; VARIANT=cpu builds a smaller CPU-only image.
# Build from the repository root:
#   docker build -f infra/docker/processor.Dockerfile -t fpw-processor:0.1.0 .
#   docker build -f infra/docker/processor.Dockerfile --build-arg VARIANT=cpu -t fpw-processor:0.1.0-cpu .
ARG VARIANT=cuda

# onnxruntime-gpu from PyPI (processor.lock) is built for CUDA 13 and cuDNN 9:
# on a CUDA 12 base its CUDA provider cannot load and OCR runs on the CPU.
# CUDA 13 needs an NVIDIA driver >= 580 on the host.
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 AS base-cuda
ENV ORT_PACKAGE=onnxruntime-gpu

FROM ubuntu:24.04 AS base-cpu
ENV ORT_PACKAGE=onnxruntime

# The stage is one of the two pinned bases above.
# hadolint ignore=DL3006
FROM base-${VARIANT} AS build
# Ubuntu's python3 is the one of the pinned base's release (24.04: 3.12).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY infra/docker/processor.lock /src/processor.lock
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY client /src/client
COPY fetcher /src/fetcher
COPY processor /src/processor
COPY watcher /src/watcher
COPY infra /src/infra
RUN python3 -m venv /opt/fpw \
    && /opt/fpw/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c /src/processor.lock "/src[processor]" \
    && if [ "$ORT_PACKAGE" != onnxruntime ]; then \
        /opt/fpw/bin/pip uninstall -y onnxruntime \
        && /opt/fpw/bin/pip install --no-cache-dir -c /src/processor.lock "$ORT_PACKAGE"; \
    fi

# hadolint ignore=DL3006
FROM base-${VARIANT}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fpw
COPY --from=build /opt/fpw /opt/fpw
ENV PATH=/opt/fpw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "infra.healthcheck", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["fpw"]
CMD ["processor", "--host", "0.0.0.0", "--port", "8080"]
