"""The fleet's images as a production fleet runs them, on this machine.

One fleet per module (stack, processor, a fetcher, the watcher; fixture
``fleet``): files go in through a desktop's ``fpw submit`` on this host and
their results come back; the containers are then stopped, killed and cut off
from the processor or AWS to see what a fleet must survive.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.local.containers import STOP_SECONDS, ContainerFleet
from infra.release.images import ContainerEngine
from shared.aws import Aws
from shared.config import dump_toml, load_settings
from shared.record import Status
from shared.table import JobTable
from tests import samples
from tests.helpers import run_fpw, scaled, wait_for


class Desktop:
    """A desktop agent's settings on this host, registered with the fleet's stack."""

    def __init__(self, fleet: ContainerFleet, home: Path) -> None:
        import tomllib

        table = tomllib.loads(fleet.settings_file("client").read_text(encoding="utf-8"))
        table.setdefault("client", {}).update(
            {"state_dir": str(home / "state"), "inbox": str(home / "inbox"), "poll_seconds": 0.3}
        )
        self.config = home / "client.toml"
        self.config.write_text(dump_toml(table), encoding="utf-8")
        shown = run_fpw(self.config, "client", "--show-id")
        assert shown.returncode == 0, shown.stderr
        self.client_id = shown.stdout.strip().splitlines()[-1]
        added = run_fpw(
            fleet.settings_file("admin"), "clients", "register", self.client_id, "--label", "test"
        )
        assert added.returncode == 0, added.stderr

    def submit(self, file: Path, timeout: float = 240) -> subprocess.Popen[str]:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
        env["FPW_CONFIG"] = str(self.config)
        return subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "submit", str(file), "--wait"]
            + ["--timeout", str(int(scaled(timeout)))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def result_of(proc: subprocess.Popen[str], timeout: float = 300) -> dict[str, object]:
    out, err = proc.communicate(timeout=scaled(timeout))
    assert proc.returncode == 0, err[-3000:]
    answer = json.loads(out)
    assert isinstance(answer, dict)
    return answer


@pytest.fixture(scope="module")
def desktop(fleet: ContainerFleet, tmp_path_factory: pytest.TempPathFactory) -> Desktop:
    return Desktop(fleet, tmp_path_factory.mktemp("desktop"))


def slow_file(folder: Path, name: str) -> Path:
    """A scanned PDF whose OCR keeps a fetcher busy for some seconds."""
    pages = [[f"page {n} line {k} of the slow sample" for k in range(6)] for n in range(2)]
    return samples.make_scanned_pdf(folder / name, pages)


def claimed(fleet: ContainerFleet, fetcher: str) -> Callable[[], bool]:
    """True once the fetcher claims one more job than it had when this was called."""
    name = fleet.container(fetcher)
    before = fleet.logs(name).count("claimed ")
    return lambda: fleet.logs(name).count("claimed ") > before


def test_a_file_goes_through_the_fleet(desktop: Desktop, tmp_path: Path) -> None:
    file = samples.make_text(tmp_path / "words.txt", "one two three\n")
    answer = result_of(desktop.submit(file))
    assert answer["analysis"]["words"] == 3  # type: ignore[index]


def test_parts_run_read_only_as_non_root(fleet: ContainerFleet, engine: ContainerEngine) -> None:
    for part in ("processor", "fetcher-1", "watcher"):
        name = fleet.container(part)
        assert engine.run("exec", name, "id", "-u").stdout.strip() == "10001"
        assert engine.run("exec", name, "touch", "/opt/fpw/x", check=False).returncode != 0
        assert engine.run("exec", name, "touch", "/x", check=False).returncode != 0
        assert engine.run("exec", name, "touch", "/tmp/x").returncode == 0
        readonly = engine.run(
            "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name
        ).stdout.strip()
        assert readonly == "true"


def _listening_ports(engine: ContainerEngine, name: str) -> set[int]:
    """TCP ports in LISTEN state inside the container (from /proc, no tools needed)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        done = engine.run("exec", name, "cat", table, check=False)
        for line in done.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_no_port_listens_but_the_processors(fleet: ContainerFleet, engine: ContainerEngine) -> None:
    assert _listening_ports(engine, fleet.container("fetcher-1")) == set()
    assert _listening_ports(engine, fleet.container("watcher")) == set()
    assert _listening_ports(engine, fleet.container("processor")) == {8080}
    published = engine.run("port", fleet.container("processor"), check=False).stdout.strip()
    assert published == ""
    # The processor is on a network of its own with the fetchers: the stack
    # (and so the watcher, beside it) cannot reach it; the fetcher can.
    probe = "import urllib.request as u; u.urlopen('http://processor:8080/health', timeout=5)"
    reach = engine.run("exec", fleet.container("fetcher-1"), "python", "-c", probe, check=False)
    assert reach.returncode == 0, reach.stderr
    for other in ("stack", "watcher"):
        cut = engine.run("exec", fleet.container(other), "python", "-c", probe, check=False)
        assert cut.returncode != 0


def test_logs_are_json_lines_on_stdout_without_secrets(
    fleet: ContainerFleet, engine: ContainerEngine
) -> None:
    import tomllib

    secrets: list[str] = []
    for role in ("fetcher", "watcher"):
        table = tomllib.loads((fleet.home / f"{role}.toml").read_text(encoding="utf-8"))
        secrets.append(str(table["aws"]["secret_access_key"]))
    pem = tomllib.loads((fleet.home / "fetcher.toml").read_text(encoding="utf-8"))
    key_body = str(pem["fetcher"]["fleet_key_pem"]).splitlines()[1]
    for part in ("fetcher-1", "watcher"):
        name = fleet.container(part)
        # podman logs writes the container's stdout to its own stdout, stderr to stderr.
        done = engine.run("logs", name)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        # The fetcher says it started; a quiet watcher may have had nothing to say yet.
        assert lines or part == "watcher", f"{name} logged nothing on stdout"
        for line in lines:
            entry = json.loads(line)
            assert "msg" in entry or "message" in entry
        everything = done.stdout + done.stderr
        for secret in [*secrets, key_body, "PRIVATE KEY"]:
            assert secret not in everything


def test_sigterm_drains_a_fetcher_within_its_stop_timeout(
    fleet: ContainerFleet, engine: ContainerEngine, desktop: Desktop, tmp_path: Path
) -> None:
    name = fleet.container("fetcher-1")
    one_more = claimed(fleet, "fetcher-1")
    job = desktop.submit(slow_file(tmp_path, "drain.pdf"))
    wait_for(one_more, timeout=120, what="the fetcher to claim the job")
    started = time.monotonic()
    engine.run("stop", "--time", str(STOP_SECONDS), name)
    took = time.monotonic() - started
    code = engine.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    logs = fleet.logs(name)
    # Exit 0 by itself: not killed (137) at the stop timeout.
    assert code == "0", logs[-2000:]
    assert took < STOP_SECONDS + 5
    last = logs[logs.rindex("claimed ") :]
    assert "giving " in last or "completed " in last, logs[-2000:]
    engine.run("start", name)
    assert result_of(job)["analysis"]  # the job given back is done by the fetcher again


def test_a_killed_fetcher_ends_in_exactly_one_result(
    fleet: ContainerFleet, engine: ContainerEngine, desktop: Desktop, tmp_path: Path
) -> None:
    name = fleet.container("fetcher-1")
    before = fleet.logs(name).count("claimed ")
    job = desktop.submit(slow_file(tmp_path, "kill.pdf"))
    wait_for(
        lambda: fleet.logs(name).count("claimed ") > before,
        timeout=120,
        what="the fetcher to claim the job",
    )
    engine.run("kill", name)
    # A fetcher back after the kill: the watcher's sweep restarts the stalled job.
    engine.run("start", name)
    out, err = job.communicate(timeout=scaled(300))
    assert job.returncode == 0, err[-3000:]
    assert json.loads(out)["analysis"]
    found = re.search(r"as (file-[0-9a-f-]{36})", err)
    assert found, err
    admin = load_settings(fleet.settings_file("admin"), admin=True).aws
    record = JobTable(Aws(admin, "test-admin").dynamodb, admin.table).get(found.group(1))
    # One result, from the second claim: the killed one's work left nothing behind.
    assert record is not None and record.status is Status.COMPLETED
    assert record.attempts == 2


def test_health_turns_unhealthy_without_processor_or_aws(
    fleet: ContainerFleet, engine: ContainerEngine
) -> None:
    fetcher = fleet.container("fetcher-1")
    watcher = fleet.container("watcher")
    # Each part's health check answers once the part runs: the fleet may have just started.
    wait_for(lambda: fleet.healthy(fetcher), timeout=60, interval=2, what="a healthy fetcher")
    wait_for(lambda: fleet.healthy(watcher), timeout=60, interval=2, what="a healthy watcher")
    engine.run("network", "disconnect", fleet.processor_network, fetcher)
    try:
        assert not fleet.healthy(fetcher)
    finally:
        engine.run("network", "connect", fleet.processor_network, fetcher)
    wait_for(lambda: fleet.healthy(fetcher), timeout=60, interval=2, what="healthy again")
    engine.run("network", "disconnect", fleet.aws_network, fetcher)
    engine.run("network", "disconnect", fleet.aws_network, watcher)
    try:
        assert not fleet.healthy(fetcher)
        assert not fleet.healthy(watcher)
    finally:
        engine.run("network", "connect", fleet.aws_network, fetcher)
        engine.run("network", "connect", fleet.aws_network, watcher)
    wait_for(lambda: fleet.healthy(watcher), timeout=60, interval=2, what="healthy again")
