"""The real bundle: build it once (PyInstaller), publish versions A and B to
the local stack's release bucket, run A, ask it for an update, install it,
and find B running with A's settings, key and state; then a tampered
archive and a rolled-back repository are refused while B keeps working.

One build serves every version: the version is stamped into the bundle
after PyInstaller, as ``fpw release build --version`` does.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.updates import Installation
from infra.local.stack import LocalStack
from infra.local.up import aws_table
from infra.release.bundle import ReleaseHome, build, bundle_program, stamp, upload
from shared.aws import Aws
from shared.config import dump_toml
from tests.helpers import scaled
from tests.releases import fake_bundle

pytest.importorskip("PyInstaller")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

A, B, C = "0.1.0", "0.2.0", "0.3.0"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        # Never the keyring of the machine the tests run on: the key is a file.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def wait_for_line(log: Path, pattern: str, timeout: float = 60.0) -> re.Match[str]:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = re.search(pattern, text)
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not in {log}:\n{text[-3000:]}")


def run(
    program: Path, *args: str, home: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(program), *args],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=scaled(120),
        check=check,
    )


def test_bundle_a_updates_itself_to_b_keeping_state_and_key_and_refuses_bad_updates(
    stack: LocalStack,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    started = time.monotonic()
    release = ReleaseHome(tmp_path / "release")
    release.init()
    bundle_a = build(tmp_path / "dist", A, release.root_json, work=tmp_path / "build")
    built = time.monotonic() - started
    bundle_b = tmp_path / "b" / "fpw"
    shutil.copytree(bundle_a, bundle_b, symlinks=True)
    stamp(bundle_b, B, release.root_json)
    release.add(bundle_a, A, "first release", patch=False)
    release.add(bundle_b, B, "Faster uploads.", patch=False)
    prefix = f"releases-{uuid.uuid4().hex[:8]}"  # the stack is shared by the session
    url = f"s3://{stack.outputs['ReleaseBucket']}/{prefix}"
    admin_s3 = Aws(stack.admin_settings(), "release").client("s3")
    upload(release, admin_s3, url)

    # The desktop: A installed as the first install puts it, settings outside it.
    home = tmp_path / "home"
    root = home / "fpw-app"
    shutil.copytree(bundle_a, root / "versions" / A, symlinks=True)
    installation = Installation(root, executable_name=bundle_program(bundle_a).name)
    (root / "current").write_text(A + "\n")
    program_a = installation.executable(A)
    config = home / "config.toml"
    config.write_text(
        dump_toml(
            {
                "aws": aws_table(stack.role_settings("client")),
                "client": {
                    "inbox": str(home / "inbox"),
                    "state_dir": str(home / "state"),
                    "update_url": url,
                },
            }
        )
    )
    assert run(program_a, "--version", home=home).stdout.strip() == f"fpw {A}"

    # A runs: it makes its key and its state database.
    log_a = home / "a.log"
    with log_a.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [str(program_a), "--config", str(config)], env=env(home), stdout=out, stderr=out
            )
        )
    wait_for_line(log_a, rf"fpw {re.escape(A)} starting")
    client_id = wait_for_line(log_a, r"agent started; client id (\S+)…").group(1)
    processes[-1].send_signal(signal.SIGTERM)
    processes[-1].wait(20)
    key_files = {p.name: p.read_bytes() for p in (home / "state").iterdir() if "key" in p.name}
    assert key_files, "A keeps its key in the state folder"

    # The user asks A for an update: it says what is new, and installs nothing yet.
    checked = run(program_a, "--config", str(config), "--check-updates", home=home)
    assert f"fpw {B} is available" in checked.stdout
    assert "Faster uploads." in checked.stdout
    assert installation.installed() == [A]

    # Install: A installs B and becomes it (same process), with the same key and state.
    log_b = home / "b.log"
    with log_b.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [str(program_a), "--config", str(config), "--install-update"],
                env=env(home),
                stdout=out,
                stderr=out,
            )
        )
    wait_for_line(log_b, rf"installed fpw {re.escape(B)}", timeout=120)
    wait_for_line(log_b, rf"fpw {re.escape(B)} starting")
    assert wait_for_line(log_b, r"agent started; client id (\S+)…").group(1) == client_id
    processes[-1].send_signal(signal.SIGTERM)
    processes[-1].wait(20)
    assert installation.installed() == [A, B] and installation.current() == B
    assert {p.name: p.read_bytes() for p in (home / "state").iterdir() if "key" in p.name} == (
        key_files
    )
    # Starting the old program (an autostart entry, a shortcut) now runs B.
    assert run(installation.executable(B), "--version", home=home).stdout.strip() == f"fpw {B}"
    log_again = home / "again.log"
    with log_again.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [str(program_a), "--config", str(config)], env=env(home), stdout=out, stderr=out
            )
        )
    wait_for_line(log_again, rf"fpw {re.escape(B)} starting")
    processes[-1].send_signal(signal.SIGTERM)
    processes[-1].wait(20)

    # C is published, but its archive is tampered with in the bucket: refused.
    before_c = tmp_path / "repository-before-c"
    shutil.copytree(release.repository, before_c)
    # (Its content never gets as far as running: a small stand-in will do.)
    release.add(fake_bundle(tmp_path, C), C, "Not to be trusted.", patch=False)
    upload(release, admin_s3, url)
    bucket, key = stack.outputs["ReleaseBucket"], f"{prefix}/targets/fpw-{C}.tar.gz"
    archive = admin_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    admin_s3.put_object(Bucket=bucket, Key=key, Body=archive[:-64] + bytes(64))
    program_b = installation.executable(B)
    refused = run(program_b, "--config", str(config), "--install-update", home=home, check=False)
    assert refused.returncode == 1
    assert "update refused" in refused.stderr and "signed size or hash" in refused.stderr
    assert installation.installed() == [A, B] and installation.current() == B
    assert run(program_b, "--version", home=home).stdout.strip() == f"fpw {B}"

    # The repository is rolled back to the state before C: refused as well.
    for path in (before_c / "metadata").iterdir():
        admin_s3.upload_file(str(path), bucket, f"{prefix}/metadata/{path.name}")
    refused = run(program_b, "--config", str(config), "--check-updates", home=home, check=False)
    assert refused.returncode == 1
    assert "rolled back" in refused.stderr
    assert installation.current() == B
    print(f"build {built:.0f} s, whole test {time.monotonic() - started:.0f} s")
