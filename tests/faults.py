"""A TCP proxy on loopback that injects network faults between a part and the
local stack, switchable while the parts run.

A part is pointed at the proxy by its endpoint setting (``aws.endpoint_url``,
see ``proxied``); every byte then passes through one thread per connection,
which applies the fault in force:

- pass: bytes flow unchanged;
- delay: each chunk waits before it is forwarded (and each new connection
  before it is opened upstream): a slow or congested link;
- drop: nothing is forwarded and nothing is read, so the kernel buffers fill
  and both ends stall as they would behind a dead link; new connections are
  accepted and left waiting. When the network returns, held bytes flow on,
  as TCP's retransmissions would deliver them;
- reset: a connection is cut with an RST (``SO_LINGER`` 0) once it has
  carried a number of bytes in one direction: a request lost on its way up
  or a response lost on its way down;
- flaky: random delays and random resets from a seeded generator;
- ``cut_response``: the next request carrying a byte pattern reaches the
  server, and its response is replaced by an RST. The write happened but
  the caller cannot know: the case that fenced, idempotent writes exist for.

Counters (``stats``) let a test prove that its faults really happened.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
TICK = 0.05
"""How often an idle or stalled connection looks at the fault in force."""


class Mode(StrEnum):
    PASS = "pass"
    DELAY = "delay"
    DROP = "drop"
    RESET = "reset"
    FLAKY = "flaky"


class Direction(StrEnum):
    UP = "up"
    """Client to server: requests."""
    DOWN = "down"
    """Server to client: responses."""


@dataclass(frozen=True)
class Fault:
    """The fault in force; every connection reads it before each chunk."""

    mode: Mode = Mode.PASS
    delay: tuple[float, float] = (0.0, 0.0)
    """Seconds each chunk (and each new connection) waits: uniform in [low, high]."""
    reset_after: tuple[int, int] = (0, 0)
    """Bytes a doomed connection carries in ``direction`` before its RST: uniform."""
    direction: Direction = Direction.DOWN
    probability: float = 1.0
    """Share of connections doomed to a reset (RESET and FLAKY)."""


@dataclass
class Stats:
    connections: int = 0
    resets: int = 0
    cut_responses: int = 0
    stalled: int = 0
    """Connections that had to wait through a drop."""
    delayed: int = 0
    """Chunks held back by a delay."""
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class _Cut:
    pattern: bytes
    times: int


@dataclass(eq=False)  # kept in a set by identity
class _Conn:
    client: socket.socket
    upstream: socket.socket | None = None
    generation: int = -1
    budget: int | None = None
    """Bytes left before the RST in the doomed direction; None: not doomed."""
    direction: Direction = Direction.DOWN
    carried: dict[Direction, int] = field(
        default_factory=lambda: {Direction.UP: 0, Direction.DOWN: 0}
    )
    tail: bytes = b""
    """The last bytes sent up, to find a pattern split over two reads."""
    cut_armed: bool = False
    """A request with the cut pattern went up: its response must not come down."""
    stalled: bool = False


class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target`` (``http://host:port``) with faults."""

    def __init__(self, target: str, *, seed: int = 0) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.stats = Stats()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._fault = Fault()
        self._generation = 0
        self._cuts: list[_Cut] = []
        self._closing = threading.Event()
        self._conns: set[_Conn] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TICK * 4)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._acceptor.start()

    # -- switching faults -------------------------------------------------

    def set(self, fault: Fault) -> None:
        """Put ``fault`` in force for new and open connections alike."""
        with self._lock:
            self._fault = fault
            self._generation += 1
        log.info("fault proxy: %s", fault)

    def pass_through(self) -> None:
        self.set(Fault())

    def delay(self, low: float, high: float | None = None) -> None:
        self.set(Fault(Mode.DELAY, delay=(low, low if high is None else high)))

    def drop(self) -> None:
        self.set(Fault(Mode.DROP))

    def reset(
        self,
        after: int | tuple[int, int] = 0,
        direction: Direction = Direction.DOWN,
        probability: float = 1.0,
    ) -> None:
        """Cut connections with an RST after ``after`` bytes in ``direction``."""
        span = after if isinstance(after, tuple) else (after, after)
        self.set(Fault(Mode.RESET, reset_after=span, direction=direction, probability=probability))

    def flaky(
        self,
        delay: tuple[float, float] = (0.0, 0.02),
        reset_probability: float = 0.1,
        reset_after: tuple[int, int] = (0, 16 * 1024),
    ) -> None:
        """Random delays, and a random share of connections reset in either direction."""
        self.set(
            Fault(Mode.FLAKY, delay=delay, reset_after=reset_after, probability=reset_probability)
        )

    def cut_response(self, pattern: bytes, times: int = 1) -> None:
        """The next ``times`` requests containing ``pattern`` reach the server; their
        responses are replaced by an RST."""
        with self._lock:
            self._cuts.append(_Cut(pattern, times))

    def cuts_pending(self) -> int:
        with self._lock:
            return sum(c.times for c in self._cuts)

    def close(self) -> None:
        """Stop accepting, cut every connection, and wait for the threads."""
        self._closing.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close(conn.client)
            if conn.upstream is not None:
                _close(conn.upstream)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the connections --------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = _Conn(client)
            with self._lock:
                self.stats.connections += 1
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _current(self, conn: _Conn) -> Fault:
        """The fault in force; a connection draws its fate again whenever it changes."""
        with self._lock:
            fault = self._fault
            if conn.generation != self._generation:
                conn.generation = self._generation
                conn.budget = None
                if fault.mode in (Mode.RESET, Mode.FLAKY) and (
                    self._random.random() < fault.probability
                ):
                    conn.budget = self._random.randint(*fault.reset_after)
                    conn.direction = (
                        fault.direction
                        if fault.mode is Mode.RESET
                        else self._random.choice(list(Direction))
                    )
            return fault

    def _pause(self, fault: Fault) -> None:
        if fault.mode not in (Mode.DELAY, Mode.FLAKY) or fault.delay[1] <= 0:
            return
        with self._lock:
            seconds = self._random.uniform(*fault.delay)
            self.stats.delayed += 1
        self._closing.wait(seconds)

    def _wait_through_drop(self, conn: _Conn) -> Fault:
        """Hold the connection, reading nothing, while the network is down."""
        while True:
            fault = self._current(conn)
            if fault.mode is not Mode.DROP or self._closing.is_set():
                return fault
            if not conn.stalled:
                conn.stalled = True
                with self._lock:
                    self.stats.stalled += 1
            time.sleep(TICK)

    def _serve(self, conn: _Conn) -> None:
        try:
            self._pause(self._wait_through_drop(conn))
            if self._closing.is_set():
                return
            conn.upstream = socket.create_connection(self.target, timeout=10)
            conn.upstream.settimeout(None)
            self._pump(conn)
        except (OSError, ValueError):  # ValueError: a socket closed by ``close`` meanwhile
            pass
        finally:
            _close(conn.client)
            if conn.upstream is not None:
                _close(conn.upstream)
            with self._lock:
                self._conns.discard(conn)

    def _pump(self, conn: _Conn) -> None:
        assert conn.upstream is not None
        ends = {
            conn.client: (conn.upstream, Direction.UP),
            conn.upstream: (conn.client, Direction.DOWN),
        }
        while not self._closing.is_set():
            fault = self._wait_through_drop(conn)
            readable, _, _ = select.select(list(ends), [], [], TICK)
            for source in readable:
                sink, direction = ends[source]
                data = source.recv(CHUNK)
                if not data:
                    return  # one side closed: close both, as a proxy does
                if direction is Direction.DOWN and conn.cut_armed:
                    self._cut(conn)
                    return
                self._pause(fault)
                data, doomed = self._spend(conn, direction, data)
                sink.sendall(data)
                with self._lock:
                    if direction is Direction.UP:
                        self.stats.bytes_up += len(data)
                    else:
                        self.stats.bytes_down += len(data)
                if doomed:
                    self._rst(conn)
                    return
                if direction is Direction.UP:
                    self._look_for_cut(conn, data)

    def _spend(self, conn: _Conn, direction: Direction, data: bytes) -> tuple[bytes, bool]:
        """What of ``data`` may pass before the connection's RST, and whether it is due."""
        conn.carried[direction] += len(data)
        if conn.budget is None or conn.direction is not direction:
            return data, False
        if len(data) < conn.budget:
            conn.budget -= len(data)
            return data, False
        return data[: conn.budget], True

    def _look_for_cut(self, conn: _Conn, data: bytes) -> None:
        window = conn.tail + data
        with self._lock:
            for cut in self._cuts:
                if cut.times > 0 and cut.pattern in window:
                    cut.times -= 1
                    conn.cut_armed = True
                    break
            self._cuts = [c for c in self._cuts if c.times > 0]
            longest = max((len(c.pattern) for c in self._cuts), default=64)
        conn.tail = window[-max(longest, 64) :]

    def _cut(self, conn: _Conn) -> None:
        with self._lock:
            self.stats.cut_responses += 1
        log.info("fault proxy: response cut after the server acted on the request")
        _rst(conn.client)

    def _rst(self, conn: _Conn) -> None:
        with self._lock:
            self.stats.resets += 1
        _rst(conn.client)


def _rst(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the peer sees 'connection reset'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def proxied(stack: LocalStack, proxy: FaultProxy) -> LocalStack:
    """The stack as seen through ``proxy``: settings and ``System`` built from it
    send every AWS call (STS included) through the faults."""
    return dataclasses.replace(stack, endpoint=proxy.url, process=None)


# -- a small disk of its own for one part ---------------------------------

SMALL_DISK_SCRIPT = (
    'mount -t tmpfs -o size="$1" tmpfs "$2" && if [ -n "$3" ]; then cp -a "$3/." "$2/"; fi'
    ' && shift 3 && exec "$@"'
)


def small_disk(mount: Path, size: int, seed: Path | None = None) -> list[str]:
    """A command prefix that runs a part with a ``size``-byte filesystem of its own at
    ``mount`` (a tmpfs in private user and mount namespaces: no root needed),
    first filled with a copy of ``seed``. Only that process and its children see
    it; a test reaches it through ``through_proc``."""
    mount.mkdir(parents=True, exist_ok=True)
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        SMALL_DISK_SCRIPT,
        "sh",
        str(size),
        str(mount),
        str(seed or ""),
    ]


def through_proc(pid: int, path: Path) -> Path:
    """``path`` as the process ``pid`` sees it (its own mounts included)."""
    return Path(f"/proc/{pid}/root") / path.relative_to("/")


def small_disks_unavailable(probe_dir: Path) -> str | None:
    """None when ``small_disk`` works here; else why not, as a reason to skip.

    A missing ``unshare`` command is a broken test machine, not a reason to
    skip: that raises, with what to install.
    """
    if shutil.which("unshare") is None:
        raise RuntimeError("the disk-full tests need the unshare command (util-linux): install it")
    probe_dir.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(
        [*small_disk(probe_dir, 1024 * 1024), "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode == 0:
        return None
    settings = {
        "/proc/sys/user/max_user_namespaces": "0",
        "/proc/sys/kernel/unprivileged_userns_clone": "0",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1",
    }
    for knob, off in settings.items():
        knob_path = Path(knob)
        if knob_path.exists() and knob_path.read_text().strip() == off:
            return f"user namespaces are disabled on this machine ({knob} = {off})"
    raise RuntimeError(f"cannot mount a small private filesystem: {probe.stderr.strip()}")
