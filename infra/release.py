"""Releases of the desktop agent: build the bundle, keep the signed update
repository (tufup), publish it to S3.

The release manager's folder (``--home``, default ``./release``) holds::

    keys/          private signing keys: never uploaded, keep the root key offline
    repository/    metadata/ and targets/ (archives and patches): what clients read
    .tufup-repo-config

Only ``repository/`` is uploaded. Clients trust the ``root.json`` that
their bundle carries and every later root signed by it, so losing ``keys/``
means shipping a new bundle by hand; leaking it means rotating keys.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from shared.errors import ConfigError

log = logging.getLogger(__name__)

APP_NAME = "fpw"
SPEC = Path(__file__).parent / "pyinstaller" / "fpw.spec"
EXPIRY_DAYS = {"root": 365, "targets": 180, "snapshot": 180, "timestamp": 30}
"""Days each role's metadata stays valid after signing. A client refuses
expired metadata, so ``fpw release keys renew`` must run before the
timestamp's 30 days are up (a monthly CRON job does)."""
METADATA_ORDER = ("targets.json", "snapshot.json", "root.json", "timestamp.json")
"""Upload order: what a file points to is in place before the file itself."""


@dataclass
class ReleaseHome:
    """The release manager's folder and the tufup repository in it."""

    path: Path

    @property
    def keys(self) -> Path:
        return self.path / "keys"

    @property
    def repository(self) -> Path:
        return self.path / "repository"

    @property
    def root_json(self) -> Path:
        return self.repository / "metadata" / "root.json"

    @contextlib.contextmanager
    def _here(self) -> Iterator[None]:
        # tufup keeps its configuration in the working directory.
        self.path.mkdir(parents=True, exist_ok=True)
        with contextlib.chdir(self.path):
            yield

    def _open(self) -> Any:
        from tufup.repo import Repository

        if not (self.path / Repository.config_filename).is_file():
            raise ConfigError(
                f"no release repository in {self.path}", hint="run 'fpw release keys init'"
            )
        return Repository.from_config()

    def init(self, expiry: dict[str, int] | None = None) -> Path:
        """Create the keys and the first signed root; returns root.json (ship it in bundles)."""
        from tufup.repo import Repository

        with self._here():
            if (self.path / Repository.config_filename).exists():
                raise ConfigError(f"{self.path} already holds a release repository")
            repo = Repository(
                app_name=APP_NAME,
                repo_dir="repository",
                keys_dir="keys",
                expiration_days=dict(expiry or EXPIRY_DAYS),
            )
            repo.initialize()
            repo.save_config()
        for key in self.keys.iterdir():
            if key.suffix != ".pub":
                key.chmod(0o600)
        return self.root_json

    def add(self, bundle: Path, version: str, notes: str = "", required: bool = False) -> None:
        """Archive ``bundle`` as ``version`` (and a patch from the last one); sign."""
        from tufup.common import TargetMeta

        archive = (
            self.repository
            / "targets"
            / TargetMeta.compose_filename(name=APP_NAME, version=version, is_archive=True)
        )
        if archive.exists():
            raise ConfigError(f"version {version} is already in the repository")
        with self._here():
            repo = self._open()
            latest = repo.roles.get_latest_archive()
            if (
                latest is not None
                and latest.version >= TargetMeta(name=APP_NAME, version=version).version
            ):
                raise ConfigError(
                    f"version {version} is not newer than the latest release {latest.version}"
                )
            repo.add_bundle(
                new_bundle_dir=bundle.resolve(),
                new_version=version,
                custom_metadata={"notes": notes},
                required=required,
            )
            repo.publish_changes(private_key_dirs=[self.keys])

    def renew(self, roles: tuple[str, ...] = ("targets", "snapshot", "timestamp")) -> None:
        """Sign the roles again with fresh expiry dates (nothing else changes)."""
        with self._here():
            repo = self._open()
            for role in roles:
                repo.refresh_expiration_date(role)
            repo.publish_changes(private_key_dirs=[self.keys])

    def rotate_root(self) -> Path:
        """Replace the root key: the new root is signed by the old and the new key."""
        from tufup.repo import Keys

        with self._here():
            repo = self._open()
            old = repo.key_map["root"][0]
            name = f"root-{time.strftime('%Y%m%d%H%M%S')}"
            public = Keys.create_key_pair(self.keys / name, encrypted=False)
            (self.keys / name).chmod(0o600)
            repo.replace_key(old, public, new_private_key_encrypted=False)
            repo.publish_changes(private_key_dirs=[self.keys])
        return self.keys / name


# -- publishing ---------------------------------------------------------------


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without slashes)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"{url!r} is not an s3://bucket/prefix address")
    return parsed.netloc, parsed.path.strip("/")


def upload(home: ReleaseHome, s3: Any, url: str) -> list[str]:
    """Copy the repository to S3: new targets, then metadata, the timestamp last."""
    bucket, prefix = split_url(url)
    base = f"{prefix}/" if prefix else ""
    present: set[str] = set()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + "targets/")
    for page in pages:
        present.update(item["Key"] for item in page.get("Contents", []))
    sent: list[str] = []
    for path in sorted((home.repository / "targets").iterdir()):
        key = f"{base}targets/{path.name}"
        if key not in present:
            # Archives never change once signed: upload only the new ones.
            s3.upload_file(str(path), bucket, key)
            sent.append(key)
    metadata = home.repository / "metadata"
    numbered = sorted(
        (p for p in metadata.glob("*.root.json")), key=lambda p: int(p.name.split(".")[0])
    )
    for path in [*numbered, *(metadata / name for name in METADATA_ORDER)]:
        key = f"{base}metadata/{path.name}"
        s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"CacheControl": "no-cache", "ContentType": "application/json"},
        )
        sent.append(key)
    log.info("uploaded %d files to s3://%s/%s", len(sent), bucket, base)
    return sent


# -- building -----------------------------------------------------------------


def bundle_program(bundle: Path) -> Path:
    return bundle / ("fpw.exe" if os.name == "nt" else "fpw")


def contents_dir(bundle: Path) -> Path:
    """Where the bundle's code and data live (``sys._MEIPASS`` at run time)."""
    return bundle / "_internal"


def stamp(bundle: Path, version: str, root_json: Path | None) -> None:
    """Write the version (and the trusted root) into a built bundle."""
    from client.updates import ROOT_FILE, VERSION_FILE

    inside = contents_dir(bundle)
    (inside / VERSION_FILE).write_text(version + "\n", encoding="utf-8")
    if root_json is not None:
        shutil.copyfile(root_json, inside / ROOT_FILE)


def build(out: Path, version: str, root_json: Path | None, work: Path | None = None) -> Path:
    """Run PyInstaller on the spec; returns the bundle folder ``<out>/fpw``."""
    work = work or out.parent / "build"
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level=WARN",
            f"--distpath={out}",
            f"--workpath={work}",
            str(SPEC),
        ],
        check=True,
    )
    bundle = out / APP_NAME
    stamp(bundle, version, root_json)
    log.info("built %s in %.0f s", bundle, time.monotonic() - started)
    return bundle
