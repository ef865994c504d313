"""The desktop agent: watch folders, chunk+compress+hash, sign, create the
job, upload chunks, then collect and decrypt results.

One engine (``client.engine.Engine``) serves every face: the headless
daemon, ``fpw submit``, the Python API (``client.submit(path, params)``,
see ``client.api``) and the tray app (``client.gui``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.api import Client, JobFailed, Result, Submission, submit

__all__ = ["Client", "JobFailed", "Result", "Submission", "submit"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import client.state`` does not pull in boto3.
    if name in __all__:
        from client import api

        return getattr(api, name)
    raise AttributeError(name)
