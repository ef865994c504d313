"""``fpw up``: the whole system on one machine.

The local stack (moto's server with the template deployed, IAM enforced),
the reference processor, N fetchers, the watcher and a headless client
watching a folder, each in its own process with its own role. ``System`` is
also what the end-to-end tests use to start, stop and kill parts.

Under ``fpw up`` the parts are supervised: one that dies is started again
after a back-off that doubles up to a cap, so one crash never ends the
system. Every settings file written here holds a key and is owner-only.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from infra import fleetkey
from shared.config import ADMIN_CONFIG, LOCAL_CONFIG, AwsSettings, dump_toml
from shared.errors import FpwError
from shared.private import private_dir, write_private

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

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
        "joins_table": aws.joins_table,
        "bucket": aws.bucket,
    }


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` (Linux), looked up in the parent: a forked child must not load
    libraries while another thread may hold the loader's lock."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


PRCTL = _prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, so that a killed
    ``fpw up`` leaves no part running on its own."""
    if PRCTL is not None:
        PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def spawn(
    argv: Sequence[str], env: Mapping[str, str], output: int | IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """A child in its own session (Ctrl-C goes to us; we stop children in order)
    that ends with us if we are killed.

    Linux ties that signal to the thread that starts the child, so only
    children started by the main thread (which lives as long as we do) get it.
    """
    tied = PRCTL is not None and threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if tied else None,  # noqa: PLW1509 - prctl only
    )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a child: SIGTERM, then SIGKILL once ``grace`` seconds pass."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGCONT)  # a stopped child must see it too
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def describe_exit(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with status {code}"


class Part:
    """One child process, its output prefixed and copied to ours (and a log file)."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, echo: bool
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        private_dir(log_dir)
        self._echo = echo
        self.restarts = 0
        """Times the supervisor started it again."""
        self._launch()

    def _launch(self) -> None:
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log = os.fdopen(fd, "ab")
        self.proc = spawn(self.argv, self.env, subprocess.PIPE)
        self.started = time.monotonic()
        self._pump = threading.Thread(
            target=self._copy, args=(self.proc, self._log), name=f"log-{self.name}", daemon=True
        )
        self._pump.start()

    def restart(self) -> None:
        """Start the same command again (after it died); its log goes on."""
        if self.alive():
            return
        self._pump.join(timeout=2)
        self._log.close()
        self.restarts += 1
        self._launch()

    def _copy(self, proc: subprocess.Popen[bytes], out: IO[bytes]) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            with contextlib.suppress(ValueError):  # closed by a restart or stop
                out.write(line)
                out.flush()
            if self._echo:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"[{self.name}] {line.decode('utf-8', 'replace')}")
                    sys.stderr.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def stop(self, grace: float = 10.0) -> None:
        stop_process(self.proc, grace)
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
        self._backoff: dict[str, tuple[float, float]] = {}
        private_dir(home)

    def config_file(
        self, role: str, extra: Mapping[str, Mapping[str, object]] | None = None, name: str = ""
    ) -> Path:
        """A settings file for one part (``<name or role>.toml``): the stack's endpoint
        and that part's role."""
        groups = {"aws": aws_table(self.stack.role_settings(role)), **(extra or {})}
        return write_private(self.home / f"{name or role}.toml", dump_toml(groups))

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
        config = write_private(self.home / "processor.toml", "")
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
        config = self.config_file("fetcher", {**(groups or {}), "fetcher": fetcher}, name)
        return self._start(name, ["fetcher"], config, prefix)

    def start_watcher(self, name: str = "watcher", **settings: object) -> Part:
        watcher = {
            "interval_seconds": 5.0,
            "alert_topic_arn": self.stack.outputs.get("AlertTopicArn"),
            **settings,
        }
        config = self.config_file("watcher", {"watcher": watcher}, name)
        return self._start(name, ["watcher"], config)

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

    def supervise(self, now: float | None = None) -> list[str]:
        """Start again each part that died, after a back-off; one line per event.

        The back-off doubles from ``RESTART_FIRST`` up to ``RESTART_CAP``
        seconds and starts over once a part has run for ``RESTART_RESET``.
        """
        now = time.monotonic() if now is None else now
        events: list[str] = []
        for part in self.parts.values():
            if part.alive():
                if now - part.started >= RESTART_RESET:
                    self._backoff.pop(part.name, None)
                continue
            delay, due = self._backoff.get(part.name, (0.0, 0.0))
            if due == 0.0:
                delay = min(RESTART_CAP, delay * 2) if delay else RESTART_FIRST
                self._backoff[part.name] = (delay, now + delay)
                events.append(
                    f"fpw: {part.name} {describe_exit(part.proc.returncode)};"
                    f" starting it again in {delay:g} s (see {part.log_path})"
                )
            elif now >= due:
                self._backoff[part.name] = (delay, 0.0)
                part.restart()
                log.debug("%s started again (restart %d)", part.name, part.restarts)
        return events

    def stop(self) -> None:
        # Clients first (nothing new arrives), then fetchers, then the rest.
        order = sorted(
            self.parts.values(), key=lambda p: (p.name != "client", p.name == "processor")
        )
        for part in order:
            part.stop()


RESTART_FIRST = 1.0
"""Seconds before a part that died is started again the first time."""
RESTART_CAP = 30.0
"""The longest wait between restarts of a part that keeps dying."""
RESTART_RESET = 60.0
"""A part that has run this long starts over at the first back-off when it dies."""
SNAPSHOT_SECONDS = 2.0
"""How often ``fpw up`` saves the local stack's data (and once more at Ctrl-C)."""
UP_STALL_SECONDS = 15.0
"""Under ``fpw up`` fetchers heartbeat every second; a job silent this long is stalled."""


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


def admin_config(stack: LocalStack, deployment: str) -> str:
    """Settings for admin commands run beside ``fpw up``: the admin's key, no role."""
    return dump_toml(
        {"aws": aws_table(stack.admin_settings()), "watcher": {"deployment": deployment}}
    )


def run_up(inbox: Path, fetchers: int, port: int, home: Path) -> int:
    from infra.local.stack import start_home_stack

    inbox = inbox.resolve()
    home = private_dir(home.resolve())
    inbox.mkdir(parents=True, exist_ok=True)
    print("starting the local stack (moto server, template deployed, IAM enforced)…", flush=True)
    stack = start_home_stack(home, port)
    system = System(stack, home, echo=True)
    # A plain flag: a signal handler must take no lock. Event.set() from the
    # handler could run while this same thread, inside Event.wait(), holds the
    # Event's lock, and Ctrl-C would then hang fpw up for good.
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: signals.append(signum))
    # With the default home (./.fpw) commands started in this folder find these.
    client_link = home / LOCAL_CONFIG.name
    admin_link = home / ADMIN_CONFIG.name
    try:
        state_dir = home / "client"
        system.register_client(state_dir, "local headless client")
        client_config = system.client_config(inbox, state_dir)
        # `fpw submit` in this folder finds the local stack and this client through
        # config.toml; `fpw status`, `fpw check` and `fpw clients` find admin.toml.
        write_private(client_link, client_config.read_text(encoding="utf-8"))
        write_private(admin_link, admin_config(stack, stack.outputs.get("Deployment", "fpw")))
        system.start_processor()
        for i in range(1, fetchers + 1):
            system.start_fetcher(f"fetcher-{i}")
        system.start_watcher(stall_seconds=UP_STALL_SECONDS)
        system.start_client(client_config)
        print(
            "\n"
            f"  fpw is running: local stack at {stack.endpoint}, {fetchers} fetcher(s),\n"
            f"  the reference processor at {system.processor_url}, the watcher and a client.\n\n"
            f"  Drop files into   {inbox}\n"
            f"  Results appear in {inbox / 'results'}\n"
            f"  Originals move to {inbox / 'done'}\n"
            f"  Or from another terminal here: fpw submit FILE --wait\n"
            f"  The queue, from here: fpw status   (admin settings: {admin_link})\n"
            f"  Logs: {home / 'logs'}    Data kept in: {home / 'stack' / 'data'}    Stop: Ctrl-C\n",
            flush=True,
        )
        saved = time.monotonic()
        while not signals:
            time.sleep(0.5)  # a signal ends the sleep at once
            if signals:
                break
            if stack.process is not None and stack.process.poll() is not None:
                print(
                    f"fpw: the local stack's server {describe_exit(stack.process.returncode)}"
                    f" (see {home / 'logs' / 'stack.log'}); stopping. Start fpw up again:"
                    " the data saved until now is restored.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            for line in system.supervise():
                print(line, file=sys.stderr, flush=True)
            if time.monotonic() - saved >= SNAPSHOT_SECONDS:
                saved = time.monotonic()
                stack.save_quietly()
        print("\nstopping…", flush=True)
        return 0
    finally:
        system.stop()
        if stack.process is None or stack.process.poll() is None:
            # After the parts: jobs given back by the fetchers are saved as queued.
            stack.save_quietly()
        stack.stop()
        client_link.unlink(missing_ok=True)
        admin_link.unlink(missing_ok=True)
        print("stopped.", flush=True)
