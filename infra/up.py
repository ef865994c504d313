"""``fpw up``: the whole system on one machine.

The local stack (moto's server with the template deployed, IAM enforced),
the reference processor, N fetchers, the watcher and a headless client
watching a folder, each in its own process with its own role. ``System`` is
also what the end-to-end tests use to start, stop and kill parts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from infra import fleetkey
from shared.config import AwsSettings, dump_toml
from shared.errors import FpwError

if TYPE_CHECKING:
    from infra.localstack import LocalStack

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_table(aws: AwsSettings) -> dict[str, object]:
    return {
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "access_key_id": aws.access_key_id,
        "secret_access_key": aws.secret_access_key,
        "role_arn": aws.role_arn,
        "table": aws.table,
        "clients_table": aws.clients_table,
        "bucket": aws.bucket,
    }


class Part:
    """One child process, its output prefixed and copied to ours (and a log file)."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, echo: bool
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to us; we stop children in order
        )
        self._echo = echo
        self._pump = threading.Thread(target=self._copy, name=f"log-{name}", daemon=True)
        self._pump.start()

    def _copy(self) -> None:
        assert self.proc.stdout is not None
        stream: IO[bytes] = self.proc.stdout
        for line in iter(stream.readline, b""):
            self._log.write(line)
            self._log.flush()
            if self._echo:
                sys.stderr.write(f"[{self.name}] {line.decode('utf-8', 'replace')}")
                sys.stderr.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._pump.join(timeout=2)
        self._log.close()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class System:
    """The parts of a local deployment, started against one local stack."""

    def __init__(self, stack: LocalStack, home: Path, *, echo: bool = False) -> None:
        self.stack = stack
        self.home = home
        self.echo = echo
        self.parts: dict[str, Part] = {}
        self.processor_url = ""
        home.mkdir(parents=True, exist_ok=True)

    def config_file(
        self, role: str, extra: Mapping[str, Mapping[str, object]] | None = None
    ) -> Path:
        """A settings file for one part: the stack's endpoint and that part's role."""
        aws = self.stack.role_settings(role)
        groups: dict[str, Mapping[str, object]] = {"aws": aws_table(aws)}
        groups.update(extra or {})
        path = self.home / f"{role}.toml"
        path.write_text(dump_toml(groups), encoding="utf-8")
        return path

    def _env(self, config: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
        env["FPW_CONFIG"] = str(config)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start(self, name: str, args: list[str], config: Path, prefix: Sequence[str] = ()) -> Part:
        if name in self.parts and self.parts[name].alive():
            raise FpwError(f"{name} is already running")
        argv = [*prefix, sys.executable, "-m", "shared.cli", *args]
        part = Part(name, argv, self._env(config), self.home / "logs", self.echo)
        self.parts[name] = part
        return part

    def start_processor(self, port: int = 0) -> Part:
        port = port or free_port()
        self.processor_url = f"http://127.0.0.1:{port}"
        config = self.home / "processor.toml"
        config.write_text("", encoding="utf-8")
        part = self._start("processor", ["processor", "--port", str(port)], config)
        wait_http(f"{self.processor_url}/health", part)
        return part

    def start_fetcher(
        self,
        name: str = "fetcher-1",
        *,
        groups: Mapping[str, Mapping[str, object]] | None = None,
        prefix: Sequence[str] = (),
        **settings: object,
    ) -> Part:
        """A fetcher with ``settings`` for its ``[fetcher]`` group and ``groups`` for the
        others (the attempts limit it honours is ``[watcher] max_attempts``); ``prefix``
        is a command it runs under (a confined filesystem, say)."""
        fetcher = {
            "processor_url": self.processor_url,
            "work_dir": str(self.home / name),
            "poll_seconds": 0.5,
            "heartbeat_seconds": 1.0,
            # Ctrl-C should stop the system within seconds: a job at hand is
            # given back to the queue rather than finished.
            "shutdown_grace_seconds": 5.0,
            "fleet_key_file": str(fleetkey.local_key_file(self.stack, self.home)),
            **settings,
        }
        config = self.config_file("fetcher", {**(groups or {}), "fetcher": fetcher})
        named = config.with_name(f"{name}.toml")
        config.replace(named)
        return self._start(name, ["fetcher"], named, prefix)

    def start_watcher(self, name: str = "watcher", **settings: object) -> Part:
        watcher = {
            "interval_seconds": 5.0,
            "alert_topic_arn": self.stack.outputs.get("AlertTopicArn"),
            **settings,
        }
        config = self.config_file("watcher", {"watcher": watcher})
        named = config.with_name(f"{name}.toml")
        config.replace(named)
        return self._start(name, ["watcher"], named)

    def client_config(self, inbox: Path, state_dir: Path, **settings: object) -> Path:
        client = {
            "inbox": str(inbox),
            "state_dir": str(state_dir),
            "stable_seconds": 0.5,
            "poll_seconds": 0.5,
            "fleet_keys": fleetkey.local_pins(self.stack),
            **settings,
        }
        return self.config_file("client", {"client": client})

    def register_client(self, state_dir: Path, name: str = "local client") -> str:
        """Create the client's key pair (if new) and register it, as an admin would."""
        from infra.admin import register_client
        from shared.keys import load_or_create_key
        from shared.signing import client_id

        me = client_id(load_or_create_key(state_dir).public_key())
        register_client(self.stack.admin_settings(), me, name)
        return me

    def start_client(self, config: Path, name: str = "client", prefix: Sequence[str] = ()) -> Part:
        return self._start(name, ["client", "--headless"], config, prefix)

    def stop(self) -> None:
        # Clients first (nothing new arrives), then fetchers, then the rest.
        order = sorted(
            self.parts.values(), key=lambda p: (p.name != "client", p.name == "processor")
        )
        for part in order:
            part.stop()


def wait_http(url: str, part: Part | None = None, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if part is not None and not part.alive():
            raise FpwError(f"{part.name} exited during start-up; see {part.log_path}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise FpwError(f"{url} did not answer within {timeout:.0f} s")


def run_up(inbox: Path, fetchers: int, port: int, home: Path) -> int:
    from infra.localstack import start_local_stack

    inbox = inbox.resolve()
    home = home.resolve()
    inbox.mkdir(parents=True, exist_ok=True)
    print("starting the local stack (moto server, template deployed, IAM enforced)…", flush=True)
    stack = start_local_stack(home / "stack", port=port, log_file=home / "logs" / "stack.log")
    system = System(stack, home, echo=True)
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        state_dir = home / "client"
        system.register_client(state_dir, "local headless client")
        client_config = system.client_config(inbox, state_dir)
        # `fpw submit` in this folder finds the local stack and this client through it.
        (home / "config.toml").write_text(client_config.read_text(encoding="utf-8"))
        system.start_processor()
        for i in range(1, fetchers + 1):
            system.start_fetcher(f"fetcher-{i}")
        system.start_watcher()
        system.start_client(client_config)
        results = inbox / "results"
        print(
            "\n"
            f"  fpw is running: local stack at {stack.endpoint}, {fetchers} fetcher(s),\n"
            f"  the reference processor at {system.processor_url}, the watcher and a client.\n\n"
            f"  Drop files into   {inbox}\n"
            f"  Results appear in {results}\n"
            f"  Originals move to {inbox / 'done'}\n"
            f"  Or from another terminal here: fpw submit FILE --wait\n"
            f"  The queue: fpw status --config {home / 'watcher.toml'}\n"
            f"  Logs: {home / 'logs'}    Stop: Ctrl-C\n",
            flush=True,
        )
        while not stopping.wait(1.0):
            dead = [p.name for p in system.parts.values() if not p.alive()]
            if dead:
                print(
                    f"fpw: {', '.join(dead)} stopped unexpectedly; shutting down", file=sys.stderr
                )
                return 1
        print("\nstopping…", flush=True)
        return 0
    finally:
        system.stop()
        stack.stop()
        (home / "config.toml").unlink(missing_ok=True)
        print("stopped.", flush=True)
