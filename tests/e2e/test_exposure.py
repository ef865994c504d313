"""No part accepts connections from outside its host: the fetcher, the
watcher and the client listen on nothing; the processor listens on loopback
unless told otherwise. Checked in the kernel's socket tables of the running
processes, while they work."""

from __future__ import annotations

import socket
from pathlib import Path

from infra.local.up import System
from tests import samples
from tests.helpers import wait_for
from tests.sockets import Listener, listening


def test_running_parts_listen_on_nothing_but_the_processor_on_loopback(
    system: System, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    state = tmp_path / "state"
    system.register_client(state, "exposure test")
    system.start_fetcher()
    system.start_watcher()
    inbox.mkdir()
    system.start_client(system.client_config(inbox, state))
    samples.make_text(inbox / "probe.txt", "listening sockets\n")
    # Sample throughout the job's life, not only when the parts are idle.
    seen: dict[str, set[Listener]] = {name: set() for name in system.parts}

    def sample() -> bool:
        for name, part in system.parts.items():
            if part.alive():
                seen[name].update(listening(part.proc.pid))
        return any((inbox / "results").glob("probe*"))

    wait_for(sample, timeout=90, interval=0.1, what="the probe's result")
    sample()
    assert set(seen) == {"processor", "fetcher-1", "watcher", "client"}
    for name in ("fetcher-1", "watcher", "client"):
        assert seen[name] == set(), f"{name} listens on {seen[name]}"
    processor = seen["processor"]
    assert processor and all(s.loopback_only for s in processor), processor


def test_the_listener_reader_sees_a_socket_open_to_every_address() -> None:
    """The check above can fail: a wildcard listener is found and flagged."""
    import os

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as open_to_all:
        open_to_all.bind(("0.0.0.0", 0))
        open_to_all.listen()
        port = open_to_all.getsockname()[1]
        mine = [s for s in listening(os.getpid()) if s.port == port]
        assert mine == [Listener("tcp", "0.0.0.0", port)]
        assert not mine[0].loopback_only
