"""The Python face of the client: submit a file, wait, read the result.

    import client

    job = client.submit("scan.png", {"profile": "default"})
    result = job.result()          # waits; raises JobFailed with the reason
    print(result.json())

It drives the same engine, key and state as ``fpw submit`` and the tray
app (settings from the usual places: ``$FPW_CONFIG``, ``./.fpw``, the
user's file). Uploads run in the engine's threads as soon as ``submit``
returns; results are collected by ``wait``. Like ``fpw submit``, a drop
made here is this process's to finish; an agent sharing the state takes it
over only if it is left alone for five minutes.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.engine import Engine
from client.keystore import load_client_key
from client.state import Drop, Phase
from shared.config import Settings, load_settings
from shared.errors import FpwError


class JobFailed(FpwError):
    """The job ended as an error; ``str()`` gives the reason."""


@dataclass(frozen=True)
class Result:
    """A decrypted result, as saved in the results folder."""

    path: Path
    content_type: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def text(self) -> str:
        return self.data.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(eq=False)
class Submission:
    """A file sent for processing, as the Python API follows it."""

    client: Client
    id: str
    name: str

    def __repr__(self) -> str:
        return f"Submission({self.id!r}, {self.name!r}, {self.phase.value})"

    def _drop(self) -> Drop:
        drop = self.client.engine.state.get(self.id)
        if drop is None:
            raise FpwError("unknown job", job=self.id)
        return drop

    @property
    def phase(self) -> Phase:
        return self._drop().phase

    def wait(self, timeout: float | None = None) -> Submission:
        """Block until the result is saved or the job failed (either way, it is finished)."""
        self.client.engine.wait(self.id, timeout)
        return self

    def result(self, timeout: float | None = None) -> Result:
        """The decrypted result (waiting for it first); raises ``JobFailed`` on failure."""
        drop = self.client.engine.wait(self.id, timeout)
        if drop.phase is not Phase.DONE:
            raise JobFailed(drop.error or "failed without a reason", job=self.id)
        assert drop.result_path is not None
        return Result(drop.result_path, drop.result_type or "application/octet-stream")


class Client:
    """An engine for this process; use as a context manager or call ``close``."""

    def __init__(
        self, settings: Settings | None = None, config: str | os.PathLike[str] | None = None
    ) -> None:
        from shared.aws import Aws

        self.settings = settings or load_settings(config)
        key = load_client_key(self.settings.client.state_dir.expanduser())
        self.engine = Engine(self.settings, Aws(self.settings.aws, "fpw-client"), key=key)

    @property
    def client_id(self) -> str:
        return self.engine.client_id

    def submit(
        self, path: str | os.PathLike[str], params: dict[str, Any] | None = None
    ) -> Submission:
        """Send one file; ``params`` is the processing profile (default ``client.params``)."""
        file = Path(path)
        file_id = self.engine.submit(file, params, source="submit")
        if file_id is None:
            raise FpwError(f"{file.name} is already being processed")
        return Submission(self, file_id, file.name)

    def recover(self, folder: Path | None = None) -> list[Path]:
        """Save results of this key's jobs that this computer did not send (after a key import)."""
        from client.recover import recover

        return recover(self.engine, folder)

    def close(self) -> None:
        self.engine.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide client, made on first use from the usual settings."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
            atexit.register(_default.close)
        return _default


def submit(path: str | os.PathLike[str], params: dict[str, Any] | None = None) -> Submission:
    """Send one file with the process-wide client; see ``Client.submit``."""
    return default_client().submit(path, params)
