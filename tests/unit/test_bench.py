"""The benchmark command runs: its cheapest benchmark, at its small size, prints
its ratio line and writes the same figure to its report (no timing is checked:
timings on shared machines are noise)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("zstd") is None, reason="bench prep runs the zstd command")
def test_the_bench_command_runs_client_preparation_and_prints_its_ratio(tmp_path: Path) -> None:
    report = tmp_path / "figures.json"
    out = subprocess.run(
        [sys.executable, "-m", "bench", "prep", "--quick", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("prep ")]
    found = re.search(r"zstd -T1 \+ sha256sum \d+ MiB/s, ratio (\d+\.\d+) \(target", line)
    assert found, line
    figures = json.loads(report.read_text(encoding="utf-8"))["results"]["prep"]
    assert figures["ratio"] == float(found.group(1)) > 0
    assert figures["file_mib"] == 32 and figures["client_stored_mib"] < 32
