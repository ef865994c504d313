"""A release repository in a folder, made of small fake bundles, served over
loopback HTTP: the update logic runs against real signed metadata without
building anything."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from client.updates import VERSION_FILE, Installation
from infra.release.bundle import ReleaseHome


def fake_bundle(folder: Path, version: str) -> Path:
    """A bundle folder: a program that prints its version, and a data folder."""
    bundle = folder / f"bundle-{version}"
    (bundle / "_internal").mkdir(parents=True)
    program = bundle / "fpw"
    program.write_text(f"#!/bin/sh\necho fpw {version}\n", encoding="utf-8")
    program.chmod(0o755)
    (bundle / "_internal" / VERSION_FILE).write_text(version + "\n", encoding="utf-8")
    # Some bulk that stays the same between versions: patches are small.
    (bundle / "_internal" / "library.bin").write_bytes(bytes(range(256)) * 400)
    return bundle


def publish(home: ReleaseHome, work: Path, version: str, notes: str = "") -> None:
    home.add(fake_bundle(work, version), version, notes or f"what is new in {version}")


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on loopback; yields its base URL."""
    handler = functools.partial(Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def seed_root(installation: Installation, home: ReleaseHome) -> None:
    """What a released bundle carries: the trusted root metadata."""
    installation.metadata_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(home.root_json, installation.metadata_dir / "root.json")
