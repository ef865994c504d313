"""The fleet a benchmark measures: parts as processes on this host, or in containers.

``processes`` (the default): the benchmark's shared local stack, one fetcher
process and the instant processor (``bench.instant``) as a process.
``containers``: the back end as ``fpw up --containers`` runs it
(:class:`infra.local.containers.ContainerFleet`, images from ``fpw images
build``, built first where this version and commit lack them): the local
stack, one fetcher and the watcher in their images, and the instant server
run in the processor image (``bench/instant.py`` mounted read-only, as the
image's user, on its port, network and health check) in place of the
reference analysis, so that both fleets measure the pipeline and not the
analysis. Every setting is the shipped default in both. The desktop agent
runs in the benchmark's process either way (``bench.common.start_agent_with``).

``python -m bench latency --fleet containers`` (or ``both``, measured one
after the other in the same run) selects them.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Context, Outcome, say

if TYPE_CHECKING:
    from infra.release.images import ContainerEngine
    from shared.config import AwsSettings, Settings

FLEETS = ("processes", "containers")
CHOICES = (*FLEETS, "both")
# The benchmarks that can run against either fleet.
FLEET_BENCHMARKS = ("latency",)
INSTANT = Path(__file__).resolve().with_name("instant.py")
INSTANT_IN_CONTAINER = "/opt/bench/instant.py"


def runs(benchmark: str, choice: str) -> tuple[str, ...]:
    """The fleets ``benchmark`` is measured against for ``--fleet choice``, in order."""
    if choice not in CHOICES:
        raise SystemExit(f"unknown fleet {choice!r}: choose one of {', '.join(CHOICES)}")
    if benchmark not in FLEET_BENCHMARKS:
        return ("processes",)
    return FLEETS if choice == "both" else (choice,)


def labelled(outcome: Outcome, fleet: str) -> Outcome:
    """The outcome named after its fleet (``latency-containers``); the process
    fleet's keeps its plain name, as before fleets were a choice."""
    if outcome.name in FLEET_BENCHMARKS:
        outcome.figures["fleet"] = fleet
    if fleet != "processes":
        outcome.name = f"{outcome.name}-{fleet}"
        outcome.headline = f"[{fleet}] {outcome.headline}"
    return outcome


def container_engine(home: Path) -> ContainerEngine:
    """podman or docker, or a message that says the container fleet cannot run here."""
    from infra.release.images import find_engine

    engine = find_engine(home)
    if engine is None:
        raise SystemExit(
            "the container fleet needs podman or docker, and neither works on this machine:"
            " apt-get install podman runc (or start the docker daemon),"
            " or measure the process fleet (--fleet processes)"
        )
    return engine


def check(choice: str, names: list[str], home: Path) -> None:
    """Fail before anything starts when a chosen fleet cannot run here."""
    if any("containers" in runs(name, choice) for name in names):
        container_engine(home)


@dataclass
class Fleet:
    """What a benchmark needs of a running fleet, whichever kind it is."""

    kind: str
    client: Settings
    """The desktop agent's settings: its AWS access and fleet pins, the rest as shipped."""
    admin: AwsSettings
    fetcher_output: Callable[[], str]
    """The fetcher's output so far (structured log lines); still readable after stop."""
    fetcher_alive: Callable[[], bool]
    stop: Callable[[], None]


def start_fleet(ctx: Context, home: Path, fetcher: Mapping[str, object] | None = None) -> Fleet:
    """The fleet ``ctx.fleet`` names, started, its fetcher not yet necessarily reading;
    ``fetcher``: fetcher settings other than the shipped defaults."""
    if ctx.fleet == "containers":
        return _containers(ctx, home, dict(fetcher or {}))
    return _processes(ctx, home, dict(fetcher or {}))


def _processes(ctx: Context, home: Path, settings: dict[str, object]) -> Fleet:
    from bench.common import start_fetcher, start_instant_processor
    from infra.fleetkey import local_pins
    from infra.local.up import System
    from shared.config import Settings

    stack = ctx.stack()
    system = System(stack, home / "system")
    try:
        start_instant_processor(system)
        fetcher = start_fetcher(
            system,
            "fetcher-1",
            {"processor_url": system.processor_url, "work_dir": str(home / "work"), **settings},
        )
    except BaseException:
        system.stop()
        raise
    client = Settings()
    client.aws = stack.role_settings("client")
    client.client.fleet_keys = local_pins(stack)
    return Fleet(
        "processes", client, stack.admin_settings(), fetcher.output, fetcher.alive, system.stop
    )


def _containers(ctx: Context, home: Path, settings: dict[str, object]) -> Fleet:
    from infra.local.containers import ContainerFleet, ensure_images
    from shared.config import load_settings

    engine = container_engine(ctx.home / "engine")
    ensure_images(engine, ctx.home / "engine")
    # Shipped defaults, unlike `fpw up --containers`, which quickens the fetcher and watcher.
    fleet = ContainerFleet(
        engine,
        home / "containers",
        name=f"fpw-bench-{secrets.token_hex(3)}",
        fetcher_settings=settings,
        watcher_settings={},
    )
    fetcher = fleet.container("fetcher-1")
    kept: list[str] = []

    def output() -> str:
        return kept[0] if kept else fleet.logs(fetcher)

    def stop() -> None:
        if not kept and fetcher in fleet.started:
            with contextlib.suppress(Exception):
                kept.append(fleet.logs(fetcher))
        fleet.stop()

    try:
        say(f"starting the container fleet {fleet.name}-* ({engine.command}) …")
        fleet.start_stack()
        fleet.start_processor(
            "--volume",
            f"{INSTANT}:{INSTANT_IN_CONTAINER}:ro",
            "--entrypoint",
            "python",
            command=(INSTANT_IN_CONTAINER, "--host", "0.0.0.0", "--port", "8080"),
        )
        fleet.start_fetcher(1)
        fleet.start_watcher()
        client = load_settings(fleet.settings_file("client"))
        admin = load_settings(fleet.settings_file("admin"), admin=True).aws
    except BaseException:
        stop()
        raise
    return Fleet("containers", client, admin, output, lambda: fleet.running(fetcher), stop)
