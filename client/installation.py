"""One installation of the desktop bundle on disk, and how a version is switched.

An installation (``Installation``) looks like this::

    <root>/versions/<version>/   one complete bundle per installed version
    <root>/current               the version to start: one line, replaced atomically
    <root>/update/metadata/      trusted TUF metadata (the first root.json ships in the bundle)
    <root>/update/targets/       verified archives, kept so that the next update can be a patch

A version folder appears only once it is complete (extracted beside it,
then renamed), and ``current`` names only complete folders, so a download or
an extraction cut short leaves the running version as it was. Settings, keys
and the state database live outside the bundle (``~/.config/fpw``, the
keyring, ``client.state_dir``): every version sees the same ones.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import FpwError

if TYPE_CHECKING:
    from shared.config import Settings

ROOT_FILE = "fpw-root.json"
"""The trusted root metadata as shipped inside a bundle (next to the code)."""
VERSION_FILE = "fpw-version.txt"
"""The version a bundle was stamped with at build time."""
HANDED_OFF = "FPW_HANDED_OFF"
"""Set in the environment of a version started by another: never hand off twice."""


class UpdateError(FpwError):
    """An update could not be checked or installed; the running version is unchanged."""

    recoverable = True


class UpdateRefused(UpdateError):
    """The repository or an archive failed verification: nothing was installed."""

    recoverable = False


@dataclass(frozen=True)
class Installed:
    version: str
    folder: Path
    executable: Path
    """The new version's program: start it to run the new version."""


# -- where things are ---------------------------------------------------------


def bundle_file(name: str) -> Path | None:
    """A data file shipped inside the running bundle."""
    base = getattr(sys, "_MEIPASS", None)
    if base is None:
        return None
    path = Path(base) / name
    return path if path.is_file() else None


def install_root(settings: Settings) -> Path:
    """``client.install_dir``, else the root above the running bundle, else under the state."""
    if settings.client.install_dir is not None:
        return settings.client.install_dir.expanduser()
    here = Path(sys.executable).resolve().parent  # a PyInstaller bundle's folder, when frozen
    if getattr(sys, "frozen", False) and here.parent.name == "versions":
        return here.parent.parent
    return settings.client.state_dir.expanduser() / "app"


def program_name() -> str:
    """The bundle's program: this one when frozen, else the name the spec gives it."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).name
    return "fpw.exe" if os.name == "nt" else "fpw"


def version_key(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


@dataclass
class Installation:
    root: Path
    executable_name: str = field(default_factory=program_name)
    """File name of the program inside each version folder."""

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def metadata_dir(self) -> Path:
        return self.root / "update" / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.root / "update" / "targets"

    def installed(self) -> list[str]:
        """Complete version folders, oldest first (half-done ones start with a dot)."""
        if not self.versions.is_dir():
            return []
        names = [p.name for p in self.versions.iterdir() if p.is_dir() and p.name[0] != "."]
        return sorted(names, key=version_key)

    def current(self) -> str | None:
        try:
            name = (self.root / "current").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if name in self.installed() else None

    def executable(self, version: str) -> Path:
        return self.versions / version / self.executable_name

    def switch(self, version: str) -> None:
        """Make ``version`` the one that starts (one atomic rename)."""
        if version not in self.installed():
            raise UpdateError(f"version {version} is not installed in {self.versions}")
        tmp = self.root / f".current-{uuid.uuid4().hex}"
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, self.root / "current")

    def staging(self, version: str) -> Path:
        """A fresh folder beside ``versions/<version>`` to extract into."""
        self.versions.mkdir(parents=True, exist_ok=True)
        self.sweep()
        return Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.versions))

    def sweep(self) -> None:
        """Remove what an interrupted install left behind."""
        for leftover in self.versions.glob(".*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(".current-*"):
            leftover.unlink(missing_ok=True)

    def commit(self, staged: Path, version: str) -> Installed:
        """Move a complete extraction into place and make it current."""
        final = self.versions / version
        if final.exists():
            # Installed before (and complete, or it would start with a dot):
            # the verified copy just extracted replaces it.
            old = self.versions / f".old-{version}-{uuid.uuid4().hex}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        staged.rename(final)
        self.switch(version)
        return Installed(version, final, self.executable(version))

    def hand_off(self, running: str) -> Path | None:
        """The program to run instead of this one: ``current`` when it names another version."""
        if os.environ.get(HANDED_OFF):
            return None
        chosen = self.current()
        if chosen is None or chosen == running:
            return None
        program = self.executable(chosen)
        return program if program.is_file() else None
