"""The back end in containers: ``fpw up --containers`` and the container tests.

The local stack, the reference processor, the fetchers and the watcher each
run from their image (``fpw images build``), as uid 10001 on a read-only root
file system with a tmpfs work dir, under ``--init`` so that SIGTERM reaches
them. Two networks: ``<name>-aws`` joins the stack (standing in for AWS),
the fetchers and the watcher; ``<name>-proc`` is internal and joins only the
processor and the fetchers, so nothing else reaches the processor. The
stack's port is published on loopback only, for the desktop agent on this
host. Each part gets only its own role's settings file, mounted read-only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.release.images import PARTS, ContainerEngine, build_images, image_ref
from shared.config import dump_toml
from shared.errors import FpwError
from shared.private import private_dir, write_private

UID = 10001
CONFIG_IN_CONTAINER = "/etc/fpw/config.toml"
STACK_PORT = 5000
PROCESSOR_PORT = 8080
START_SECONDS = 240.0
# Quick enough for a person watching a folder: the same pace as `fpw up`.
FETCHER_SETTINGS: dict[str, object] = {
    "poll_seconds": 0.5,
    "heartbeat_seconds": 1.0,
    "shutdown_grace_seconds": 5.0,
}
WATCHER_SETTINGS: dict[str, object] = {"interval_seconds": 5.0, "stall_seconds": 15.0}
# A fetcher's drain: its shutdown grace, then up to 10 s for its worker to end;
# the stop timeout (ECS: stopTimeout) must exceed both with room to spare.
STOP_SECONDS = 30


@dataclass
class ContainerFleet:
    """One fleet's containers, networks and volume, all named ``<name>-…``."""

    engine: ContainerEngine
    home: Path
    name: str = field(default_factory=lambda: f"fpw-{secrets.token_hex(3)}")
    variant: str = "cpu"
    fetcher_settings: dict[str, object] = field(default_factory=lambda: dict(FETCHER_SETTINGS))
    watcher_settings: dict[str, object] = field(default_factory=lambda: dict(WATCHER_SETTINGS))
    port: int = 0
    started: list[str] = field(default_factory=list)

    # --- names -------------------------------------------------------------

    def __post_init__(self) -> None:
        self.aws_network = f"{self.name}-aws"
        self.processor_network = f"{self.name}-proc"

    def container(self, part: str) -> str:
        return f"{self.name}-{part}"

    @property
    def endpoint(self) -> str:
        """The stack as this host reaches it."""
        return f"http://127.0.0.1:{self.port}"

    # --- start -------------------------------------------------------------

    def start_stack(self) -> None:
        """Networks, the state volume and the stack; the parts' settings files."""
        self.home = private_dir(self.home.resolve())
        self.engine.run("network", "create", self.aws_network)
        self.started.append(f"network:{self.aws_network}")
        self.engine.run("network", "create", "--internal", self.processor_network)
        self.started.append(f"network:{self.processor_network}")
        self.engine.run("volume", "create", f"{self.name}-state")
        self.started.append(f"volume:{self.name}-state")
        name = self.container("stack")
        publish = f"127.0.0.1:{self.port}:{STACK_PORT}" if self.port else f"127.0.0.1::{STACK_PORT}"
        self.engine.run(
            "run",
            "--detach",
            "--init",
            "--name",
            name,
            "--network",
            self.aws_network,
            "--network-alias",
            "stack",
            "--publish",
            publish,
            "--volume",
            f"{self.name}-state:/state",
            image_ref("stack"),
        )
        self.started.append(name)
        # Its health check: it has written the parts' settings (the watcher's last).
        self.wait(lambda: self.healthy(name), f"{name} did not write the parts' settings", name)
        if not self.port:
            out = self.engine.run("port", name, f"{STACK_PORT}/tcp").stdout.strip()
            self.port = int(out.splitlines()[0].rsplit(":", 1)[1])
        for role in ("fetcher", "watcher"):
            self._settings(role, endpoint=None)
        for role in ("admin", "client"):
            self._settings(f"host-{role}", endpoint=self.endpoint)

    def _settings(self, role: str, endpoint: str | None) -> Path:
        """The stack's settings file for ``role``, with our pace and endpoint, in home."""
        text = self.engine.run(
            "exec", self.container("stack"), "cat", f"/state/configs/{role}.toml"
        ).stdout
        table = tomllib.loads(text)
        if endpoint:
            table["aws"]["endpoint_url"] = endpoint
        pace = {"fetcher": self.fetcher_settings, "watcher": self.watcher_settings}.get(role)
        if pace is not None:
            table[role] = {**table.get(role, {}), **pace}
        path = write_private(self.home / f"{role}.toml", dump_toml(table))
        if not role.startswith("host-") and os.geteuid() == 0:
            # Mounted into the part's container, read by its uid only.
            os.chown(path, UID, UID)
        return path

    def settings_file(self, role: str) -> Path:
        """``admin``/``client``: for this host; ``fetcher``/``watcher``: for containers."""
        host = self.home / f"host-{role}.toml"
        return host if host.is_file() else self.home / f"{role}.toml"

    def _part(
        self, part: str, role: str, networks: list[str], *extra: str, command: Sequence[str] = ()
    ) -> str:
        """Create, connect and start one part's container (``command`` in place of the
        image's); return its name."""
        name = self.container(part)
        args = [
            "create",
            "--init",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp:rw,size=512m,mode=1777",
            "--stop-timeout",
            str(STOP_SECONDS),
            "--network",
            networks[0],
            *extra,
        ]
        if role:
            args += [
                "--volume",
                f"{self.home / f'{role}.toml'}:{CONFIG_IN_CONTAINER}:ro",
                "--env",
                f"FPW_CONFIG={CONFIG_IN_CONTAINER}",
            ]
        image = image_ref("processor", self.variant) if part == "processor" else image_ref(role)
        self.engine.run(*args, image, *command)
        self.started.append(name)
        for network in networks[1:]:
            self.engine.run("network", "connect", network, name)
        self.engine.run("start", name)
        return name

    def start_processor(self, *extra: str, command: Sequence[str] = ()) -> str:
        """The processor image, healthy; ``extra`` options and ``command`` run another
        server that answers on its port (a benchmark's instant one)."""
        name = self._part(
            "processor",
            "",
            [self.processor_network],
            "--network-alias",
            "processor",
            *extra,
            command=command,
        )
        self.wait(lambda: self.healthy(name), f"{name} did not turn healthy", name)
        return name

    def start_fetcher(self, index: int = 1) -> str:
        return self._part(
            f"fetcher-{index}",
            "fetcher",
            [self.aws_network, self.processor_network],
            "--env",
            f"FPW_FETCHER_PROCESSOR_URL=http://processor:{PROCESSOR_PORT}",
        )

    def start_watcher(self) -> str:
        return self._part("watcher", "watcher", [self.aws_network])

    def start(self, fetchers: int = 1) -> None:
        self.start_stack()
        self.start_processor()
        for index in range(1, fetchers + 1):
            self.start_fetcher(index)
        self.start_watcher()

    # --- watching ----------------------------------------------------------

    def healthy(self, name: str) -> bool:
        """Run the image's health check now (podman runs it only on a timer under systemd)."""
        if self.engine.podman:
            return self.engine.run("healthcheck", "run", name, check=False).returncode == 0
        status = self.engine.run(
            "inspect", "--format", "{{.State.Health.Status}}", name, check=False
        ).stdout.strip()
        return status == "healthy"

    def running(self, name: str) -> bool:
        out = self.engine.run(
            "inspect", "--format", "{{.State.Running}}", name, check=False
        ).stdout.strip()
        return out == "true"

    def logs(self, name: str) -> str:
        done = self.engine.run("logs", name, check=False)
        return done.stdout + done.stderr

    def wait(self, ready: object, what: str, name: str, timeout: float = START_SECONDS) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not self.running(name):
                raise FpwError(f"{what}: it stopped. Its log ends:\n{self.logs(name)[-2000:]}")
            time.sleep(1.0)
        raise FpwError(f"{what} within {timeout:.0f} s. Its log ends:\n{self.logs(name)[-2000:]}")

    # --- stop --------------------------------------------------------------

    def stop(self) -> None:
        """Containers (fetchers first), then the volume and networks; errors ignored."""
        containers = [n for n in self.started if ":" not in n]
        order = sorted(containers, key=lambda n: ("fetcher" not in n, n.endswith("-stack")))
        for name in order:
            with contextlib.suppress(FpwError):
                self.engine.run("stop", "--time", str(STOP_SECONDS), name, check=False)
            with contextlib.suppress(FpwError):
                self.engine.run("rm", "--force", name, check=False)
        for item in reversed([n for n in self.started if ":" in n]):
            kind, name = item.split(":", 1)
            with contextlib.suppress(FpwError):
                self.engine.run(kind, "rm", "--force", name, check=False)
        self.started.clear()


def ensure_images(engine: ContainerEngine, home: Path) -> None:
    """Build the images this version and commit lack (``fpw images build``)."""
    missing = tuple(p for p in PARTS if not engine.has_image(image_ref(p)))
    if missing:
        print(f"building the images first: {', '.join(missing)} (fpw images build)", flush=True)
        build_images(engine, home, parts=missing)


def run_up_containers(inbox: Path, fetchers: int, port: int, home: Path) -> int:
    """``fpw up --containers``: the back end in containers, a desktop agent on this host."""
    import signal
    import sys

    from infra.admin import register_client
    from infra.local.up import Part
    from infra.release.images import require_engine
    from shared.config import ADMIN_CONFIG, LOCAL_CONFIG, load_settings
    from shared.keys import load_or_create_key
    from shared.signing import client_id

    inbox = inbox.resolve()
    home = private_dir(home.resolve())
    inbox.mkdir(parents=True, exist_ok=True)
    engine = require_engine(home)
    ensure_images(engine, home)
    fleet = ContainerFleet(engine, home / "containers", port=port)
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: signals.append(signum))
    client_link = home / LOCAL_CONFIG.name
    admin_link = home / ADMIN_CONFIG.name
    agent: Part | None = None
    try:
        print("starting the fleet in containers (stack, processor, fetchers, watcher)…", flush=True)
        fleet.start(fetchers)
        state_dir = home / "client"
        admin = load_settings(fleet.settings_file("admin"), admin=True).aws
        me = client_id(load_or_create_key(state_dir).public_key())
        register_client(admin, me, "local headless client")
        table = tomllib.loads(fleet.settings_file("client").read_text(encoding="utf-8"))
        table.setdefault("client", {}).update(
            {
                "inbox": str(inbox),
                "state_dir": str(state_dir),
                "stable_seconds": 0.5,
                "poll_seconds": 0.5,
            }
        )
        client_config = write_private(home / "client.toml", dump_toml(table))
        write_private(client_link, client_config.read_text(encoding="utf-8"))
        write_private(admin_link, fleet.settings_file("admin").read_text(encoding="utf-8"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
        env["FPW_CONFIG"] = str(client_config)
        argv = [sys.executable, "-m", "shared.cli", "client", "--headless"]
        agent = Part("client", argv, env, home / "logs", True)
        print(
            "\n"
            f"  fpw is running in containers ({fleet.name}-*): local stack at {fleet.endpoint},\n"
            f"  {fetchers} fetcher(s), the processor (reachable by the fetchers only),\n"
            f"  the watcher; a desktop agent on this host.\n\n"
            f"  Drop files into   {inbox}\n"
            f"  Results appear in {inbox / 'results'}\n"
            f"  Logs: {engine.command} logs {fleet.container('fetcher-1')}    Stop: Ctrl-C\n",
            flush=True,
        )
        while not signals:
            time.sleep(0.5)
            if not agent.alive():
                agent.restart()
        print("\nstopping…", flush=True)
        return 0
    finally:
        if agent is not None:
            agent.stop()
        fleet.stop()
        client_link.unlink(missing_ok=True)
        admin_link.unlink(missing_ok=True)
        print("stopped.", flush=True)
