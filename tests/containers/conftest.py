"""Fixtures of the container tests: the engine, the built images, a fleet.

Each image is built at most once per test session, and an image already built
with the same tag (version and commit) is reused. Without podman or docker the
tests skip, saying why; with ``FPW_REQUIRE_CONTAINERS=1`` (CI) they fail
instead, so that a missing engine cannot pass for a green run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.local.containers import ContainerFleet
from infra.release.images import ContainerEngine, build_images, find_engine, image_ref

REQUIRE = "FPW_REQUIRE_CONTAINERS"
# Fetchers and the watcher keep the pace of `fpw up`; the grace is the stop
# timeout's half, so that a drain has time to end within it.
FLEET_FETCHER = {"poll_seconds": 0.5, "heartbeat_seconds": 1.0, "shutdown_grace_seconds": 8.0}
FLEET_WATCHER = {"interval_seconds": 3.0, "stall_seconds": 10.0}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.containers)
            # About 15 minutes with the images' layers cached: the full run's.
            item.add_marker(pytest.mark.slow)
            # Building an image (once per session) is counted in a test's time.
            item.add_marker(pytest.mark.timeout(2400))


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> ContainerEngine:
    found = find_engine(tmp_path_factory.mktemp("engine"))
    if found is None:
        reason = "neither podman nor docker works here (apt-get install podman runc)"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{reason}, and {REQUIRE}=1 requires them")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def image(engine: ContainerEngine, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """``image(part, variant)``: the image's name, built first if missing."""
    home = tmp_path_factory.mktemp("images")
    done: dict[tuple[str, str], str] = {}

    def need(part: str, variant: str = "cpu") -> str:
        key = (part, variant)
        if key not in done:
            ref = image_ref(part, variant)
            if not engine.has_image(ref):
                build_images(engine, home, parts=(part,), variant=variant)
            done[key] = ref
        return done[key]

    return need


@pytest.fixture(scope="module")
def fleet(
    engine: ContainerEngine, image: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainerFleet]:
    """The stack, processor, one fetcher and the watcher in containers (one per module)."""
    for part in ("stack", "processor", "fetcher", "watcher"):
        image(part)
    running = ContainerFleet(
        engine,
        tmp_path_factory.mktemp("fleet"),
        fetcher_settings=dict(FLEET_FETCHER),
        watcher_settings=dict(FLEET_WATCHER),
    )
    try:
        running.start(fetchers=1)
        yield running
    finally:
        running.stop()
