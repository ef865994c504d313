"""Files that hold a key or a credential: owner-only, written atomically.

A secret is never readable by anyone else, not even for a moment: the file is
created with mode 0600 under a temporary name in a 0700 folder, written,
flushed, and renamed over the old one. A reader sees the old file or the new
one, never a part, and never a file another user could open.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) and make it owner-only.

    Only the folder itself is tightened: parents that already exist are left
    as they are (a home directory's mode is its owner's choice).
    """
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if os.name == "posix" and folder.stat().st_mode & 0o777 != DIR_MODE:
        folder.chmod(DIR_MODE)
    return folder


def write_private(path: Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data``, mode 0600, in an owner-only folder, atomically."""
    private_dir(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            if os.name == "posix":
                os.fchmod(fh.fileno(), FILE_MODE)  # whatever the umask
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
