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

import argparse
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

    def __post_init__(self) -> None:
        # Absolute: tufup runs in this folder (_here), where a relative path would not hold.
        self.path = self.path.absolute()
        self.keys = self.path / "keys"
        self.repository = self.path / "repository"
        self.root_json = self.repository / "metadata" / "root.json"

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

    def add(
        self,
        bundle: Path,
        version: str,
        notes: str = "",
        required: bool = False,
        patch: bool = True,
    ) -> None:
        """Archive ``bundle`` as ``version`` (and a patch from the last one); sign.

        A patch (bsdiff) makes the next update a small download, but making
        one costs minutes and gigabytes of memory for a full bundle.
        """
        from tufup.common import TargetMeta

        archive = TargetMeta.compose_filename(name=APP_NAME, version=version, is_archive=True)
        if (self.repository / "targets" / archive).exists():
            raise ConfigError(f"version {version} is already in the repository")
        bundle = bundle.resolve()
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
                new_bundle_dir=bundle,
                new_version=version,
                skip_patch=not patch,
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
    present: dict[str, int] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + "targets/")
    for page in pages:
        present.update((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
    sent: list[str] = []
    for path in sorted((home.repository / "targets").iterdir()):
        key = f"{base}targets/{path.name}"
        if present.get(key) != path.stat().st_size:
            # Archives never change once signed: upload only the new ones.
            s3.upload_file(str(path), bucket, key)
            sent.append(key)
    metadata = home.repository / "metadata"
    numbered = sorted(metadata.glob("*.root.json"), key=lambda p: int(p.name.split(".")[0]))
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


# -- fpw release ----------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = subparsers.add_parser("release", help="build and publish desktop releases")
    release.add_argument(
        "--home", type=Path, default=Path("release"), help="keys and repository (default ./release)"
    )
    actions = release.add_subparsers(dest="action", metavar="ACTION", required=True)

    build_cmd = actions.add_parser("build", help="build the desktop bundle (PyInstaller)")
    build_cmd.add_argument("--out", type=Path, default=Path("dist"), help="default ./dist")
    build_cmd.add_argument("--version", help="version to stamp (default: the source's)")
    build_cmd.set_defaults(func=_build)

    publish = actions.add_parser("publish", help="add a bundle to the repository and upload it")
    publish.add_argument("bundle", type=Path, help="the bundle folder (dist/fpw)")
    publish.add_argument("--version", help="default: the version stamped in the bundle")
    publish.add_argument("--notes", default="", help="release notes shown to users")
    publish.add_argument("--notes-file", type=Path, help="release notes from a file")
    publish.add_argument(
        "--no-patch", action="store_true", help="no patch from the last version (faster)"
    )
    publish.add_argument(
        "--required", action="store_true", help="clients install this before any later one"
    )
    _upload_args(publish)
    publish.set_defaults(func=_publish)

    upload_cmd = actions.add_parser("upload", help="upload the repository as it is")
    _upload_args(upload_cmd, required=True)
    upload_cmd.set_defaults(func=_upload)

    keys = actions.add_parser("keys", help="signing keys and metadata expiry")
    key_actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    key_actions.add_parser("init", help="create the keys and the first root").set_defaults(
        func=_keys_init
    )
    rotate = key_actions.add_parser("rotate-root", help="replace the root key")
    _upload_args(rotate)
    rotate.set_defaults(func=_rotate_root)
    renew = key_actions.add_parser("renew", help="sign again with fresh expiry dates")
    renew.add_argument(
        "--roles",
        default="targets,snapshot,timestamp",
        help="comma-separated roles (default targets,snapshot,timestamp; add root yearly)",
    )
    _upload_args(renew)
    renew.set_defaults(func=_renew)


def _upload_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--to",
        required=required,
        help="s3://<ReleaseBucket>/<prefix> (AWS settings from --config); omit to keep local",
    )


def _send(args: argparse.Namespace, home: ReleaseHome) -> None:
    if not args.to:
        print(f"repository updated in {home.repository}; upload it with 'fpw release upload --to'")
        return
    from shared.aws import Aws
    from shared.config import load_settings

    s3 = Aws(load_settings(args.config).aws, "fpw-release").client("s3")
    sent = upload(home, s3, args.to)
    print(f"uploaded {len(sent)} files to {args.to}")


def _build(args: argparse.Namespace) -> int:
    from shared import __version__
    from shared.logs import setup

    setup(json_lines=False, verbose=args.verbose)
    home = ReleaseHome(args.home)
    root = home.root_json if home.root_json.is_file() else None
    if root is None:
        print("warning: no release repository yet; this bundle cannot update itself", flush=True)
    started = time.monotonic()
    bundle = build(Path(args.out), args.version or __version__, root)
    print(f"built {bundle} in {time.monotonic() - started:.0f} s")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from client.updates import VERSION_FILE

    home = ReleaseHome(args.home)
    bundle = Path(args.bundle)
    stamped = contents_dir(bundle) / VERSION_FILE
    version = args.version or (stamped.read_text().strip() if stamped.is_file() else None)
    if not version:
        raise ConfigError(f"{bundle} has no stamped version", hint="pass --version")
    notes = args.notes_file.read_text(encoding="utf-8") if args.notes_file else args.notes
    home.add(bundle, version, notes, args.required, patch=not args.no_patch)
    print(f"fpw {version} added to {home.repository}")
    _send(args, home)
    return 0


def _upload(args: argparse.Namespace) -> int:
    _send(args, ReleaseHome(args.home))
    return 0


def _keys_init(args: argparse.Namespace) -> int:
    home = ReleaseHome(args.home)
    root = home.init()
    print(f"keys in {home.keys} (keep them private; move root offline)")
    print(f"trusted root: {root} (every bundle built from now on carries it)")
    return 0


def _rotate_root(args: argparse.Namespace) -> int:
    home = ReleaseHome(args.home)
    key = home.rotate_root()
    print(f"new root key {key}; the old one may now be destroyed")
    _send(args, home)
    return 0


def _renew(args: argparse.Namespace) -> int:
    home = ReleaseHome(args.home)
    roles = tuple(role.strip() for role in args.roles.split(",") if role.strip())
    unknown = set(roles) - set(EXPIRY_DAYS)
    if unknown:
        raise ConfigError(f"unknown roles {sorted(unknown)}; expected {sorted(EXPIRY_DAYS)}")
    home.renew(roles)
    print(f"renewed {', '.join(roles)}")
    _send(args, home)
    return 0
