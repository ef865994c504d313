"""What every benchmark shares: the machine's description, statistics, the
local stack (started once per run), the parts as real processes, and the
outcome each benchmark reports.

Benchmarks measure the project against a named reference in the same run and
report the ratio; figures are medians over repeated runs, and the machine and
its load are printed with them, because a ratio means little without both.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.agent import Agent
    from client.events import Event
    from infra.local.stack import LocalStack
    from infra.local.up import Part, System
    from shared.config import AwsSettings, Settings

MiB = 1024 * 1024


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    load: tuple[float, float, float]
    python: str

    def describe(self) -> str:
        one, five, _ = self.load
        return (
            f"{self.cores} × {self.cpu}, {self.memory_gib:.0f} GiB, Python {self.python},"
            f" load {one:.2f} (1 min) {five:.2f} (5 min)"
        )


def machine() -> Machine:
    cpu = platform.processor() or platform.machine()
    lscpu = shutil.which("lscpu")
    if lscpu:
        out = subprocess.run([lscpu], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    memory_kib = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 1,
        memory_gib=memory_kib / 1024 / 1024,
        load=os.getloadavg(),
        python=platform.python_version(),
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: a value that was observed, never an interpolation."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return float(ordered[int(rank) - 1])


@dataclass
class Outcome:
    """What one benchmark found: its headline ratio line and the figures behind it."""

    name: str
    headline: str
    figures: dict[str, Any] = field(default_factory=dict)
    met: bool | None = None
    """Whether the benchmark's target was met (None where it has no target)."""


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


class Context:
    """One bench run: its scratch folder, its flags and the shared local stack."""

    def __init__(self, home: Path, quick: bool, scale: float = 1.0) -> None:
        self.home = home
        self.quick = quick
        self.scale = scale
        self.fleet = "processes"
        """The fleet a benchmark that can choose measures (``bench/fleets.py``)."""
        self._stack: LocalStack | None = None

    def pick(self, quick: float, full: float, multiple: int = 1) -> int:
        """A size or count (quick or full) times ``--scale``, rounded to ``multiple``."""
        value = (quick if self.quick else full) * self.scale
        return max(multiple, round(value / multiple) * multiple)

    def stack(self) -> LocalStack:
        """The local stack, started on first use and shared by the benchmarks of a run."""
        if self._stack is None:
            from infra.local.stack import start_local_stack

            say("starting the local stack …")
            self._stack = start_local_stack(
                self.home / "stack", log_file=self.home / "logs" / "stack.log"
            )
        return self._stack

    def folder(self, name: str) -> Path:
        path = self.home / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def close(self) -> None:
        if self._stack is not None:
            self._stack.stop()
            self._stack = None


def forget_jobs(stack: LocalStack, client: str, file_ids: list[str]) -> None:
    """Delete jobs no fetcher will ever take (their records and every object of the
    client), so that the fetchers of later benchmarks do not wait for their chunks."""
    from shared.aws import Aws

    admin = Aws(stack.admin_settings(), "bench-admin")
    for file_id in file_ids:
        admin.dynamodb.delete_item(
            TableName=stack.outputs["JobsTable"], Key={"file": {"S": file_id}}
        )
    bucket = stack.outputs["Bucket"]
    pages = admin.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{client}/")
    for page in pages:
        for item in page.get("Contents", []):
            admin.s3.delete_object(Bucket=bucket, Key=item["Key"])


def say(text: str) -> None:
    """Progress goes to stderr; the ratio lines and figures go to stdout."""
    print(f"  · {text}", file=sys.stderr, flush=True)


@contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


def via(stack: LocalStack, endpoint: str) -> LocalStack:
    """The same stack reached through another endpoint (a counting proxy)."""
    return dataclasses.replace(stack, endpoint=endpoint, process=None)


def part_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    env["FPW_CONFIG"] = str(config)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_fetcher(system: System, name: str, settings: Mapping[str, object]) -> Part:
    """A fetcher process with structured logs and exactly the given fetcher settings.

    Unlike the test suite's fetchers, nothing is shortened: what is not given
    is the shipped default.
    """
    from infra.fleetkey import local_key_file
    from infra.local.up import Part

    # The fleet key is no tuning knob: without it every result would be refused.
    fetcher = {"fleet_key_file": str(local_key_file(system.stack, system.home)), **settings}
    config = system.config_file("fetcher", {"fetcher": fetcher})
    named = config.with_name(f"{name}.toml")
    config.replace(named)
    argv = [sys.executable, "-m", "shared.cli", "fetcher", "--json-logs"]
    part = Part(name, argv, part_env(named), system.home / "logs", echo=False)
    system.parts[name] = part
    return part


def start_instant_processor(system: System) -> Part:
    """The instant processor (``bench.instant``) as the system's processor."""
    from infra.local.up import Part, free_port, wait_http

    port = free_port()
    argv = [sys.executable, "-m", "bench.instant", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    part = Part("processor", argv, env, system.home / "logs", echo=False)
    system.parts["processor"] = part
    system.processor_url = f"http://127.0.0.1:{port}"
    wait_http(f"{system.processor_url}/health", part)
    return part


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among a part's output lines (structured logs)."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def process_memory_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MiB, from /proc."""
    found: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)


# -- a desktop agent in-process ----------------------------------------------


class Timeline:
    """The agent's events by file name, each with the time it happened."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, dict[str, float]] = {}
        self.ids: dict[str, str] = {}
        self.finished = threading.Condition(self.lock)

    def on_event(self, event: Event) -> None:
        from client.state import Phase

        now = time.time()
        with self.lock:
            marks = self.seen.setdefault(event.name, {})
            self.ids[event.name] = event.file_id
            if event.phase is Phase.WAITING and event.detail == "downloading the result":
                marks.setdefault("notice", now)
            else:
                marks.setdefault(event.phase.value, now)
            if event.phase.finished:
                self.finished.notify_all()

    def wait(self, name: str, timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not {"DONE", "FAILED"} & set(self.seen.get(name, {})):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no result for {name} within {timeout:.0f} s")
                self.finished.wait(left)
            marks = dict(self.seen[name])
        if "FAILED" in marks:
            raise SystemExit(f"{name} failed")
        return marks


def start_agent(
    client_stack: LocalStack,
    admin_stack: LocalStack,
    home: Path,
    label: str,
    client: Mapping[str, object] | None = None,
) -> tuple[Agent, Timeline]:
    """A registered desktop agent in-process, watching ``home/inbox``, its events timed.

    ``client_stack`` is the stack as the client sees it (through a counting
    proxy, say); ``admin_stack`` registers the client's key; ``client`` sets
    client settings other than the shipped defaults.
    """
    from infra.fleetkey import local_pins
    from shared.config import Settings

    settings = Settings()
    settings.aws = client_stack.role_settings("client")
    settings.client.fleet_keys = local_pins(admin_stack)
    return start_agent_with(settings, admin_stack.admin_settings(), home, label, client)


def start_agent_with(
    settings: Settings,
    admin: AwsSettings,
    home: Path,
    label: str,
    client: Mapping[str, object] | None = None,
) -> tuple[Agent, Timeline]:
    """``start_agent`` for any stack: ``settings`` give the client's AWS access and
    fleet pins (the rest as shipped, but ``client``); ``admin`` registers the client's key."""
    from client.agent import Agent
    from infra.admin import register_client
    from shared.keys import load_or_create_key

    settings.client.inbox = home / "inbox"
    settings.client.state_dir = home / "state"
    for name, value in (client or {}).items():
        if not hasattr(settings.client, name):
            raise SystemExit(f"no client setting {name!r}")
        setattr(settings.client, name, value)
    agent = Agent(settings, key=load_or_create_key(settings.client.state_dir))
    register_client(admin, agent.client_id, label)
    timeline = Timeline()
    agent.engine.add_listener(timeline.on_event)
    agent.start()
    return agent, timeline


def wait_for_reader(output: Callable[[], str], alive: Callable[[], bool]) -> None:
    """The fetcher is ready once it holds the stream lease (its first read follows)."""
    deadline = time.monotonic() + 60
    while "reading the job stream" not in output():
        if time.monotonic() > deadline or not alive():
            raise SystemExit(f"the fetcher did not start:\n{output()[-2000:]}")
        time.sleep(0.2)
    time.sleep(2.0)
