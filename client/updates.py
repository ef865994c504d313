"""Self-update on request: look in a signed TUF repository (tufup), install
only when the user says so, into a new versioned folder of the installation
(``client.installation``), switched atomically.

A download or an extraction cut short leaves the running version as it was;
the next try starts again (tuf keeps nothing it has not verified). Every file
is verified against the repository's signed metadata before use: a bad
signature, expired metadata, a rolled-back repository or an archive that
does not match its signed hash is refused (``UpdateRefused``) and nothing is
installed.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tuf.api import exceptions as tuf
from tuf.api.exceptions import DownloadHTTPError
from tufup.client import AuthRequestsFetcher, Client

# Re-exported: the faces and the release tooling know installations as updates.
from client.installation import HANDED_OFF as HANDED_OFF
from client.installation import ROOT_FILE as ROOT_FILE
from client.installation import VERSION_FILE as VERSION_FILE
from client.installation import Installation as Installation
from client.installation import Installed as Installed
from client.installation import UpdateError as UpdateError
from client.installation import UpdateRefused as UpdateRefused
from client.installation import bundle_file
from client.installation import install_root as install_root
from shared import __version__
from shared.errors import FpwError, TransientError
from shared.store import Store

if TYPE_CHECKING:
    from shared.config import Settings

log = logging.getLogger(__name__)

APP_NAME = "fpw"


@dataclass(frozen=True)
class UpdateInfo:
    current: str
    available: str | None
    """The newer version, or None when there is none (or no source)."""
    message: str
    notes: str = ""
    """Release notes of ``available`` (signed with the rest of its metadata)."""


# -- where releases come from -------------------------------------------------


class S3Fetcher(AuthRequestsFetcher):  # type: ignore[misc]
    """tuf's network layer over S3 GetObject, with the client's AWS credentials."""

    def __init__(self, s3: Any) -> None:
        super().__init__()
        self.store = Store(s3)

    def _fetch(self, url: str) -> Iterator[bytes]:
        parsed = urlparse(url)
        try:
            opened = self.store.open(parsed.netloc, parsed.path.lstrip("/"))
        except FpwError as exc:
            # tuf reads 403 and 404 as "not there" (the end of the root versions).
            status = 503 if isinstance(exc, TransientError) else 403
            raise DownloadHTTPError(f"{url}: {exc}", status) from exc
        if opened is None:
            raise DownloadHTTPError(f"{url}: not found", 404)
        body = opened.body

        def chunks() -> Iterator[bytes]:
            for chunk in body.iter_chunks(64 * 1024):
                self._progress(bytes_new=len(chunk))
                yield chunk

        return chunks()


def _base_urls(source: str) -> tuple[str, str]:
    base = source.rstrip("/") + "/"
    if urlparse(base).scheme not in ("s3", "http", "https"):
        raise UpdateError(
            f"update source {source!r} is neither s3:// nor http(s)://",
            hint="set client.update_url",
        )
    return base + "metadata/", base + "targets/"


# Which verification failed, in words; the first class that matches says it.
REFUSALS = (
    (tuf.ExpiredMetadataError, "the release metadata has expired"),
    (tuf.BadVersionNumberError, "the release repository was rolled back to older metadata"),
    (tuf.UnsignedMetadataError, "the release metadata is not signed by trusted keys"),
    (tuf.LengthOrHashMismatchError, "a downloaded file does not match its signed size or hash"),
    (tuf.RepositoryError, "the release metadata did not verify"),
)


def _refusal(exc: Exception) -> UpdateError:
    """Say in words which check failed."""
    for kind, what in REFUSALS:
        if isinstance(exc, kind):
            return UpdateRefused(
                f"update refused: {what} ({exc})",
                hint="the version you run stays as it is; tell your administrator",
            )
    if isinstance(exc, tuf.DownloadError):
        return UpdateError(f"cannot reach the update source ({exc})", hint="try again later")
    return UpdateError(f"update failed: {exc}")


class OnceClient(Client):  # type: ignore[misc]
    """Refresh once, and let failures through (tufup would log them and go on)."""

    refreshed = False

    def refresh(self) -> None:
        if not self.refreshed:
            super().refresh()
            self.refreshed = True


@dataclass
class Updater:
    """Checks and installs releases of one installation from one source."""

    source: str
    installation: Installation
    _: KW_ONLY
    current: str = __version__
    trusted_root: Path | None = None
    s3: Any | None = None

    def _client(self) -> Any:
        metadata_url, targets_url = _base_urls(self.source)
        inst = self.installation
        inst.metadata_dir.mkdir(parents=True, exist_ok=True)
        inst.targets_dir.mkdir(parents=True, exist_ok=True)
        trusted = inst.metadata_dir / "root.json"
        if not trusted.exists():
            if self.trusted_root is None or not self.trusted_root.is_file():
                raise UpdateError(
                    "this build carries no trusted release key (root metadata)",
                    hint="install a released bundle, or pass the repository's root.json",
                )
            shutil.copyfile(self.trusted_root, trusted)
        client = OnceClient(
            app_name=APP_NAME,
            app_install_dir=inst.root,
            current_version=self.current,
            metadata_dir=inst.metadata_dir,
            metadata_base_url=metadata_url,
            target_dir=inst.targets_dir,
            target_base_url=targets_url,
        )
        if urlparse(metadata_url).scheme == "s3":
            if self.s3 is None:
                raise UpdateError("an s3:// update source needs AWS settings")
            client._fetcher = S3Fetcher(self.s3)
        return client

    def _refresh(self) -> Any:
        try:
            client = self._client()
            client.refresh()
            latest = client.check_for_updates()
        except UpdateError:
            raise
        except Exception as exc:
            raise _refusal(exc) from exc
        return client, latest

    def check(self) -> UpdateInfo:
        """Verify the repository and say whether a newer version exists; installs nothing."""
        _, latest = self._refresh()
        if latest is None:
            return UpdateInfo(self.current, None, f"fpw {self.current} is the newest version")
        version = str(latest.version)
        notes = str((latest.custom or {}).get("notes", ""))
        return UpdateInfo(self.current, version, f"fpw {version} is available", notes)

    def install(self, progress: Callable[[int, int], None] | None = None) -> Installed:
        """Download, verify, extract into a new folder, then switch ``current`` to it."""
        client, latest = self._refresh()
        if latest is None:
            raise UpdateError(f"fpw {self.current} is the newest version; nothing to install")
        version = str(latest.version)
        staged = self.installation.staging(version)
        done: list[Installed] = []

        def install(src_dir: Path, dst_dir: Path, **_: Any) -> None:
            done.append(self.installation.commit(Path(src_dir), version))

        def hook(bytes_downloaded: int, bytes_expected: int) -> None:
            if progress is not None:
                progress(bytes_downloaded, bytes_expected)

        client.extract_dir = staged
        try:
            client.download_and_apply_update(
                skip_confirmation=True, install=install, progress_hook=hook
            )
        except Exception as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise _refusal(exc) from exc
        if not done:
            shutil.rmtree(staged, ignore_errors=True)
            raise UpdateRefused(
                f"update refused: fpw {version} could not be rebuilt from its verified parts",
                hint="try again; the full archive is downloaded next time",
            )
        log.info("installed fpw %s in %s", version, done[0].folder)
        return done[0]


# -- what the faces call ------------------------------------------------------


def updater(settings: Settings) -> Updater | None:
    """The updater for these settings, or None when no source is configured."""
    source = settings.client.update_url
    if not source:
        return None
    s3 = None
    if source.startswith("s3://"):
        from shared.aws import Aws

        s3 = Aws(settings.aws, "fpw-client").client("s3")
    home = Installation(install_root(settings))
    return Updater(source, home, trusted_root=bundle_file(ROOT_FILE), s3=s3)


def check(settings: Settings) -> UpdateInfo:
    """Ask the configured update source; never installs anything."""
    found = updater(settings)
    if found is None:
        return UpdateInfo(__version__, None, "no update source configured")
    return found.check()


def install(settings: Settings) -> Installed:
    """Install the newest verified version (the user asked for it)."""
    found = updater(settings)
    if found is None:
        raise UpdateError("no update source configured", hint="set client.update_url")
    return found.install()
