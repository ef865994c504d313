"""The reference processor on a GPU host: with ONNX Runtime's CUDA provider,
OCR runs on the GPU, reads what the CPU reads, and each result says which ran.

These run where ``onnxruntime-gpu`` and a CUDA device are present (a GPU
fleet host; see docs/processor.md); elsewhere they are skipped with that
reason. The CPU path is covered everywhere by test_analysis and test_server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from processor.server import ProcessorServer
from tests import samples

onnxruntime = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" not in onnxruntime.get_available_providers(),
    reason="needs ONNX Runtime's CUDA provider (onnxruntime-gpu on a host with a GPU)",
)

LINES = ["Invoice 2041", "Total due 318 EUR"]

RECOGNIZE = """
import json, sys
from PIL import Image
from processor import ocr
image = Image.open(sys.argv[1])
runs = [ocr.recognize(image) for _ in range(4)]
# New input shapes after the first: each text line and page size is another.
shapes = [ocr.recognize(image.resize((w, h))) for w, h in ((900, 260), (1280, 360), (640, 180))]
print(json.dumps({"cold": runs[0], "warm": runs[1:], "shapes": shapes}))
"""


def recognize_in_a_fresh_process(device: str, image: Path) -> dict[str, Any]:
    """The engine is made once per process, so each device needs its own."""
    env = {**os.environ, "FPW_PROCESSOR_OCR_DEVICE": device}
    done = subprocess.run(
        [sys.executable, "-c", RECOGNIZE, str(image)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_ocr_runs_on_the_gpu_and_reads_what_the_cpu_reads(tmp_path: Path) -> None:
    image = samples.make_text_image(tmp_path / "invoice.png", LINES)
    gpu = recognize_in_a_fresh_process("auto", image)
    cpu = recognize_in_a_fresh_process("cpu", image)
    for run in [gpu["cold"], *gpu["warm"]]:
        assert run["device"] == "cuda" and run["provider"] == "CUDAExecutionProvider", run
        assert run["text"].splitlines() == LINES
    for run in [cpu["cold"], *cpu["warm"]]:
        assert run["device"] == "cpu" and run["provider"] == "CPUExecutionProvider", run
        assert run["text"].splitlines() == LINES
    assert gpu["cold"]["models_loaded"] and not gpu["warm"][0]["models_loaded"]

    def median(runs: list[dict[str, Any]]) -> int:
        return sorted(int(r["duration_ms"]) for r in runs)[len(runs) // 2]

    for side in (gpu, cpu):
        assert all(run["text"].splitlines() == LINES for run in side["shapes"])
    print(
        f"\nOCR of a 720x200 image: GPU cold {gpu['cold']['duration_ms']} ms,"
        f" warm median {median(gpu['warm'])} ms, new shapes"
        f" {[r['duration_ms'] for r in gpu['shapes']]} ms;"
        f" CPU cold {cpu['cold']['duration_ms']} ms, warm median {median(cpu['warm'])} ms,"
        f" new shapes {[r['duration_ms'] for r in cpu['shapes']]} ms"
    )


def test_the_http_processor_runs_ocr_on_the_gpu(tmp_path: Path) -> None:
    """Through the contract: the analysis runs in the server's worker process."""
    server = ProcessorServer("127.0.0.1", 0, max_bytes=50_000_000, time_limit=120).start()
    try:
        image = samples.make_text_image(tmp_path / "sign.png", ["Platform 9", "Exit North"])
        scan = samples.make_scanned_pdf(tmp_path / "scan.pdf", [["Delivery note 77"], ["Signed"]])
        answers = {}
        for name, path in (("image", image), ("scan", scan)):
            answer = requests.post(
                f"http://127.0.0.1:{server.port}/analyze",
                data=path.read_bytes(),
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Fpw-Job": "file-00000000-0000-4000-8000-00000000000" + str(len(answers)),
                    "X-Fpw-Params": "{}",
                },
                timeout=300,
            )
            assert answer.status_code == 200, answer.text
            answers[name] = answer.json()["analysis"]
    finally:
        server.shutdown()
    ocr = answers["image"]["ocr"]
    assert ocr["device"] == "cuda" and ocr["text"].splitlines() == ["Platform 9", "Exit North"]
    print(f"\nimage OCR on {ocr['provider']}: {ocr['duration_ms']} ms")
    print(json.dumps(answers["scan"])[:2000])
