"""Self-update against a real signed repository (tufup) of small fake
bundles, served over loopback HTTP and from the local stack's release
bucket: what is installed, what is refused, and what stays usable."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from client import updates
from client.updates import Installation, UpdateError, Updater, UpdateRefused
from infra.local.stack import LocalStack
from infra.release.bundle import ReleaseHome, upload
from shared.aws import Aws
from shared.config import Settings
from tests.releases import fake_bundle, publish, seed_root, serve

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> ReleaseHome:
    home = ReleaseHome(tmp_path / "release")
    home.init()
    publish(home, tmp_path, "0.1.0")
    publish(home, tmp_path, "0.2.0", "Faster uploads.\nA new tray icon.")
    return home


@pytest.fixture
def url(home: ReleaseHome) -> Iterator[str]:
    with serve(home.repository) as base:
        yield base


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    return Installation(tmp_path / "app", executable_name="fpw")


def updater(url: str, installation: Installation, home: ReleaseHome) -> Updater:
    # The bundle of 0.1.0 carries the root metadata it trusts.
    return Updater(url, installation, current="0.1.0", trusted_root=home.root_json)


def run(program: Path) -> str:
    return subprocess.run([program], capture_output=True, text=True, check=True).stdout.strip()


def test_a_check_shows_the_new_version_and_its_notes_and_installs_nothing(
    url: str, installation: Installation, home: ReleaseHome
) -> None:
    info = updater(url, installation, home).check()
    assert info.available == "0.2.0"
    assert info.current == "0.1.0"
    assert "Faster uploads." in info.notes
    assert installation.installed() == []
    assert installation.current() is None


def test_install_puts_the_new_version_in_its_own_folder_and_makes_it_current(
    url: str, installation: Installation, home: ReleaseHome
) -> None:
    installed = updater(url, installation, home).install()
    assert installed.version == "0.2.0"
    assert installation.installed() == ["0.2.0"]
    assert installation.current() == "0.2.0"
    assert run(installed.executable) == "fpw 0.2.0"
    # An older version started from anywhere hands over to the current one.
    assert installation.hand_off("0.1.0") == installed.executable
    assert installation.hand_off("0.2.0") is None


def test_the_newest_version_is_told_there_is_nothing_newer(
    url: str, installation: Installation, home: ReleaseHome
) -> None:
    info = Updater(url, installation, current="0.2.0", trusted_root=home.root_json).check()
    assert info.available is None
    assert "newest" in info.message
    with pytest.raises(UpdateError, match="nothing to install"):
        Updater(url, installation, current="0.2.0", trusted_root=home.root_json).install()


def test_a_later_update_is_a_small_patch_from_the_kept_archive(
    url: str, installation: Installation, home: ReleaseHome, tmp_path: Path
) -> None:
    updater(url, installation, home).install()
    publish(home, tmp_path, "0.3.0")
    seen: list[int] = []
    installed = Updater(url, installation, current="0.2.0").install(
        lambda done, _total: seen.append(done)
    )
    assert run(installed.executable) == "fpw 0.3.0"
    assert installation.installed() == ["0.2.0", "0.3.0"]
    archive = (home.repository / "targets" / "fpw-0.3.0.tar.gz").stat().st_size
    assert 0 < max(seen) < archive, "the patch, not the whole archive, was downloaded"


def test_a_tampered_archive_is_refused_and_nothing_changes(
    url: str, installation: Installation, home: ReleaseHome, tmp_path: Path
) -> None:
    archive = home.repository / "targets" / "fpw-0.2.0.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(UpdateRefused, match="does not match its signed size or hash"):
        updater(url, installation, home).install()
    assert installation.installed() == []
    assert installation.current() is None
    assert list(installation.versions.iterdir()) == []
    # The running version still checks (and would install once the file is right).
    assert updater(url, installation, home).check().available == "0.2.0"


def test_a_repository_rolled_back_to_older_metadata_is_refused(
    installation: Installation, home: ReleaseHome, tmp_path: Path
) -> None:
    old = tmp_path / "old-repository"
    shutil.copytree(home.repository, old)
    publish(home, tmp_path, "0.3.0")
    with serve(home.repository) as url:
        assert updater(url, installation, home).check().available == "0.3.0"
    # An attacker (or a botched restore) serves the older, validly signed state.
    with serve(old) as url:
        with pytest.raises(UpdateRefused, match="rolled back"):
            updater(url, installation, home).check()
        with pytest.raises(UpdateRefused, match="rolled back"):
            updater(url, installation, home).install()
    assert installation.installed() == []


def test_metadata_signed_by_another_key_is_refused(
    url: str, installation: Installation, tmp_path: Path
) -> None:
    stranger = ReleaseHome(tmp_path / "stranger")
    stranger.init()
    with pytest.raises(UpdateRefused, match="not signed by trusted keys|did not verify"):
        Updater(url, installation, current="0.1.0", trusted_root=stranger.root_json).check()


def test_expired_metadata_is_refused_until_it_is_renewed(
    url: str, installation: Installation, home: ReleaseHome
) -> None:
    import contextlib

    with contextlib.chdir(home.path):
        from tufup.repo import Repository

        repo = Repository.from_config()
        repo.roles.set_expiration_date("timestamp", -1)
        repo.publish_changes(private_key_dirs=[home.keys])
    with pytest.raises(UpdateRefused, match="expired"):
        updater(url, installation, home).check()
    home.renew(("timestamp",))
    assert updater(url, installation, home).check().available == "0.2.0"


def test_an_interrupted_install_is_swept_and_the_download_restarts(
    url: str, installation: Installation, home: ReleaseHome
) -> None:
    # What a crash mid-way leaves: a half-extracted folder and a cut-off archive.
    (installation.versions / ".0.2.0-crashed" / "_internal").mkdir(parents=True)
    installation.targets_dir.mkdir(parents=True)
    whole = (home.repository / "targets" / "fpw-0.2.0.tar.gz").read_bytes()
    (installation.targets_dir / "fpw-0.2.0.tar.gz").write_bytes(whole[: len(whole) // 3])
    assert installation.installed() == [] and installation.current() is None
    installed = updater(url, installation, home).install()
    assert run(installed.executable) == "fpw 0.2.0"
    assert sorted(p.name for p in installation.versions.iterdir()) == ["0.2.0"]


def test_an_unreachable_source_is_an_error_not_a_refusal(
    installation: Installation, home: ReleaseHome
) -> None:
    with pytest.raises(UpdateError, match="cannot reach") as caught:
        updater("http://127.0.0.1:9", installation, home).check()
    assert not isinstance(caught.value, UpdateRefused)


def test_releases_published_to_the_stacks_bucket_are_read_through_the_client_role(
    stack: LocalStack, home: ReleaseHome, installation: Installation
) -> None:
    # The stack is shared by the session: a prefix of this test's own.
    url = f"s3://{stack.outputs['ReleaseBucket']}/releases-{uuid.uuid4().hex[:8]}"
    sent = upload(home, Aws(stack.admin_settings(), "release").client("s3"), url)
    assert sent[-1].endswith("metadata/timestamp.json"), "the timestamp goes last"
    assert not any("keys" in key for key in sent), "signing keys are never uploaded"
    assert upload(home, Aws(stack.admin_settings(), "release").client("s3"), url)[0].endswith(
        "metadata/1.root.json"
    ), "archives already there are not sent again"
    settings = Settings()
    settings.aws = stack.role_settings("client")
    settings.client.update_url = url
    settings.client.install_dir = installation.root
    seed_root(installation, home)
    assert updates.check(settings).available == "0.2.0"
    installed = updates.install(settings)
    assert run(installed.executable) == "fpw 0.2.0"
    assert installation.current() == "0.2.0"
    client_s3 = Aws(settings.aws, "fpw-client").client("s3")
    # The client role reads releases and nothing else of that bucket's neighbours.
    with pytest.raises(Exception, match="AccessDenied|Forbidden|403"):
        client_s3.put_object(Bucket=stack.outputs["ReleaseBucket"], Key="releases/x", Body=b"x")


def test_a_release_folder_and_bundle_named_relative_to_the_working_directory_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `fpw release --home release publish bundle-0.2.0 …` typed in the folder above both.
    monkeypatch.chdir(tmp_path)
    home = ReleaseHome(Path("release"))
    home.init()
    fake_bundle(tmp_path, "0.1.0")
    home.add(Path("bundle-0.1.0"), "0.1.0", "first")
    home.renew()
    home.rotate_root()
    fake_bundle(tmp_path, "0.2.0")
    home.add(Path("bundle-0.2.0"), "0.2.0", "second")
    targets = sorted(p.name for p in (tmp_path / "release" / "repository" / "targets").iterdir())
    assert any("0.2.0" in name for name in targets), targets
    assert not (tmp_path / "release" / "release").exists()
