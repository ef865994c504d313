"""Tests of the reference analysis container."""

from __future__ import annotations


def ocr_device() -> tuple[str, str]:
    """The device and provider OCR must report here: CUDA where ONNX Runtime offers it."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return "cuda", "CUDAExecutionProvider"
    return "cpu", "CPUExecutionProvider"
