"""Text recognition with PP-OCR models run by ONNX Runtime (the ``rapidocr`` package).

The models ship inside the package's wheel, so nothing is downloaded at run
time. The CUDA execution provider is used when ONNX Runtime offers it (the
``onnxruntime-gpu`` build on a GPU host) and the CPU otherwise; every result
says which ran and how long it took. When the engine cannot be imported the
result says so instead of failing the whole analysis: OCR is an extra, not
the reason a file is analysed.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

DEVICE_ENV = "FPW_PROCESSOR_OCR_DEVICE"
"""``auto`` (default: CUDA when available), ``cuda`` (a GPU is required: the processor
refuses to start without ONNX Runtime's CUDA provider), ``cpu``, or ``off`` to disable OCR."""
MAX_LINES = 2_000
"""Lines kept in a result; a page of dense print has a few hundred."""

_engine: Any = None
_engine_error: str | None = None
_lock = threading.Lock()
_warm = False
"""Whether this process has run the models once (the first run also loads them)."""


def _wanted_device() -> str:
    return os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def provider() -> str:
    """The ONNX Runtime provider OCR runs on (``none`` when off)."""
    if _wanted_device() == "off":
        return "none"
    return "CUDAExecutionProvider" if uses_cuda() else "CPUExecutionProvider"


def gpu_problem() -> str | None:
    """Why a processor that was asked for a GPU (``cuda``) cannot use one, or None.

    A task given a GPU whose driver is too old for the image's CUDA (or with no
    GPU at all) would otherwise run every file on the CPU, slowly and silently.
    """
    if _wanted_device() != "cuda":
        return None
    try:
        offered = _cuda_available()
    except ImportError:
        return f"{DEVICE_ENV}=cuda but ONNX Runtime is not installed"
    if offered:
        return None
    import onnxruntime

    return (
        f"{DEVICE_ENV}=cuda but ONNX Runtime offers only "
        f"{', '.join(onnxruntime.get_available_providers())}: the image needs onnxruntime-gpu "
        "and the host an NVIDIA driver 580 or newer with a GPU reserved for the task"
    )


def uses_cuda() -> bool:
    """Whether this process's OCR will run on CUDA (wanted and offered)."""
    try:
        return _wanted_device() not in ("cpu", "off") and _cuda_available()
    except ImportError:
        return False


def _load() -> Any:
    """The engine, created once per process (model sessions take about a second)."""
    global _engine, _engine_error
    with _lock:
        if _engine is not None or _engine_error is not None:
            return _engine
        if _wanted_device() == "off":
            _engine_error = f"OCR is turned off ({DEVICE_ENV}=off)"
            return None
        try:
            from rapidocr import RapidOCR

            use_cuda = _wanted_device() != "cpu" and _cuda_available()
            _engine = RapidOCR(
                params={
                    # "error" keeps recognised text and paths out of the logs.
                    "Global.log_level": "error",
                    "EngineConfig.onnxruntime.use_cuda": use_cuda,
                    # cuDNN's exhaustive search re-times every convolution for
                    # each new input shape (seconds per shape on an H100), and
                    # text lines come in every width: its heuristic is as fast
                    # in steady state without the stalls.
                    "EngineConfig.onnxruntime.cuda_ep_cfg.cudnn_conv_algo_search": "HEURISTIC",
                    # Detection on the longest side scaled to 960 px (PaddleOCR's
                    # classic setting): the package's default misses mid-sized
                    # print on mostly blank pages, such as a rendered PDF page.
                    "Det.limit_type": "max",
                    "Det.limit_side_len": 960,
                }
            )
        except ImportError as exc:
            _engine_error = f"the OCR engine is not installed ({exc.name or exc})"
        except Exception as exc:  # a broken install must not fail the analysis
            _engine_error = f"the OCR engine could not start: {type(exc).__name__}: {exc}"
        return _engine


def warm_up() -> None:
    """Load the models and run them once, so that the first file does not wait
    for it (about a second on a CPU; on a GPU, CUDA's start-up takes seconds)."""
    if _warm or _load() is None:
        return
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 64), (255, 255, 255))
    ImageDraw.Draw(image).text((8, 24), "warm up 0123", fill=(0, 0, 0))
    ready = recognize(image)
    # Says at start-up, not only in results, when a GPU host fell back to the CPU.
    log.info(
        "OCR ready on %s (%s) in %s ms",
        ready.get("device"),
        ready.get("provider"),
        ready.get("duration_ms"),
    )


def _provider(engine: Any) -> str:
    for stage in ("text_det", "text_rec"):
        session = getattr(getattr(getattr(engine, stage, None), "session", None), "session", None)
        if session is not None:
            return str(session.get_providers()[0])
    return "CUDAExecutionProvider" if _cuda_available() else "CPUExecutionProvider"


def _version() -> str:
    try:
        return importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def recognize(image: Image) -> dict[str, Any]:
    """Lines of text in ``image`` (top to bottom), with confidences and boxes.

    ``duration_ms`` includes loading the models when ``models_loaded`` is true
    (the first OCR in a process).
    """
    engine = _load()
    if engine is None:
        return {"available": False, "reason": _engine_error}
    import numpy

    global _warm
    cold, _warm = not _warm, True
    started = time.monotonic()
    try:
        output = engine(numpy.asarray(image.convert("RGB")))
    except Exception as exc:  # one unreadable picture must not fail the whole analysis
        return {"available": True, "error": f"OCR failed: {type(exc).__name__}"}
    duration_ms = round((time.monotonic() - started) * 1000)
    texts = list(output.txts or ())
    scores = list(output.scores or ())
    boxes = output.boxes.tolist() if output.boxes is not None else [None] * len(texts)
    lines: list[dict[str, Any]] = [
        {
            "text": str(text),
            "confidence": round(float(score), 4),
            "box": [[round(float(x)), round(float(y))] for x, y in box] if box else None,
        }
        for text, score, box in zip(texts, scores, boxes, strict=False)
    ][:MAX_LINES]
    provider = _provider(engine)
    return {
        "available": True,
        "engine": f"rapidocr {_version()} (PP-OCR, ONNX Runtime)",
        "device": "cuda" if provider.startswith("CUDA") else "cpu",
        "provider": provider,
        "duration_ms": duration_ms,
        "models_loaded": cold,
        "text": "\n".join(str(line["text"]) for line in lines),
        "lines": lines,
    }
