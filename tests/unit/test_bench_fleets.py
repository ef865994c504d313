"""The latency benchmark's choice of fleet (bench/fleets.py): which fleets a
choice measures, how their outcomes are named, and the message where the
container fleet cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import Outcome
from bench.fleets import labelled, runs

ROOT = Path(__file__).resolve().parents[2]


def test_both_measures_the_process_fleet_then_the_container_fleet_for_latency_only() -> None:
    assert runs("latency", "both") == ("processes", "containers")
    assert runs("latency", "containers") == ("containers",)
    assert runs("latency", "processes") == ("processes",)
    assert runs("prep", "both") == ("processes",)


def test_the_container_fleets_outcome_is_named_apart_and_the_process_fleets_as_before() -> None:
    plain = labelled(Outcome("latency", "latency 10 × 100 KB: …"), "processes")
    assert (plain.name, plain.headline, plain.figures) == (
        "latency",
        "latency 10 × 100 KB: …",
        {"fleet": "processes"},
    )
    boxed = labelled(Outcome("latency", "latency 10 × 100 KB: …"), "containers")
    assert boxed.name == "latency-containers"
    assert boxed.headline.startswith("[containers] latency")
    assert boxed.figures == {"fleet": "containers"}
    assert labelled(Outcome("prep", "prep …"), "processes").figures == {}


def test_the_container_fleet_without_podman_or_docker_fails_at_once_saying_why(
    tmp_path: Path,
) -> None:
    # Only the Python in use on the PATH: no podman, no docker.
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    env["PATH"] = str(bare)
    out = subprocess.run(
        [sys.executable, "-m", "bench", "latency", "--quick", "--fleet", "containers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0
    assert "neither works on this machine" in out.stderr, out.stderr
    assert "podman or docker" in out.stderr
    # Before anything started: no local stack, no benchmark.
    assert "starting the local stack" not in out.stderr
    assert "== latency" not in out.stderr
