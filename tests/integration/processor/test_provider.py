"""The processor says which ONNX Runtime provider OCR runs on, and one that was
asked for a GPU refuses to start where only the CPU provider is offered (a
driver too old for the image's CUDA must not quietly mean CPU speed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from processor.server import ProcessorServer

onnxruntime = pytest.importorskip("onnxruntime")


def test_health_names_the_ocr_provider() -> None:
    server = ProcessorServer("127.0.0.1", 0).start()
    try:
        health = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=10).json()
    finally:
        server.shutdown()
    expected = (
        "CUDAExecutionProvider"
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        and os.environ.get("FPW_PROCESSOR_OCR_DEVICE", "auto") not in ("cpu", "off")
        else "CPUExecutionProvider"
    )
    assert health["status"] == "ok" and health["ocr_provider"] == expected


@pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
    reason="ONNX Runtime offers CUDA here: a GPU processor starts",
)
def test_a_processor_asked_for_a_gpu_refuses_to_start_on_the_cpu_provider() -> None:
    env = {**os.environ, "FPW_PROCESSOR_OCR_DEVICE": "cuda"}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "processor", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "FPW_PROCESSOR_OCR_DEVICE=cuda but ONNX Runtime offers only" in done.stderr
    assert "driver 580" in done.stderr
