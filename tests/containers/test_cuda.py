"""The CUDA processor image: built from PyPI wheels on the Debian base.

No GPU here: what can be checked is that onnxruntime's CUDA provider finds
every library it links but ``libcuda.so.1``, which the host's NVIDIA driver
brings at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from infra.release.images import ContainerEngine

FIND_PROVIDER = "find /opt/fpw -name 'libonnxruntime_providers_cuda.so' | head -n 1 | xargs -r ldd"


# Its build downloads about 3 GB of CUDA wheels: too long for every CI run.
OPT_IN = "TEST_CUDA_IMAGE"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(OPT_IN) != "1", reason=f"builds the CUDA image: {OPT_IN}=1")
def test_the_cuda_providers_libraries_resolve_but_the_drivers(
    engine: ContainerEngine, image: Callable[..., str]
) -> None:
    ref = image("processor", "cuda")
    done = engine.run("run", "--rm", "--entrypoint", "sh", ref, "-c", FIND_PROVIDER)
    lines = [line.strip() for line in done.stdout.splitlines() if "=>" in line]
    assert any(line.startswith("libcudart.so") for line in lines), done.stdout
    assert any(line.startswith("libcublas") for line in lines), done.stdout
    missing = [line.split()[0] for line in lines if "not found" in line]
    assert missing == ["libcuda.so.1"] or not missing, done.stdout
    providers = engine.run(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        ref,
        "-c",
        "import onnxruntime as o; print(o.get_available_providers())",
    ).stdout
    assert "CUDAExecutionProvider" in providers
