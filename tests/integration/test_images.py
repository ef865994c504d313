"""``fpw images push``: ECR as far as moto's goes (repositories, the login
token, digests read back), and a real push of a tiny image with podman to a
Docker v2 registry (Debian's ``docker-registry``) on loopback, pinned by
digest into the parameters ``fpw infra deploy`` reads."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.deploy import Deployer
from infra.local.stack import LocalStack
from infra.local.up import aws_table
from infra.release.ecr import (
    DIGEST,
    ContainerTool,
    EcrRegistry,
    push_images,
    read_image_parameters,
    split_tag,
    write_image_parameters,
)
from shared.config import dump_toml
from shared.errors import ConfigError, FpwError
from tests.helpers import run_fpw, session_network, wait_for


class EcrPushingTool(ContainerTool):
    """Stands in for podman pushing to ECR, which moto cannot receive: the push
    puts a manifest through ECR's API, as a registry push ends; the image's
    platform is given."""

    def __init__(self, ecr: Any, platform: str = "linux/amd64") -> None:
        self.program = "stand-in"
        self.ecr = ecr
        self.given_platform = platform
        self.logins: list[tuple[str, str]] = []
        self.reported: str | None = None

    def platform(self, reference: str) -> str:
        return self.given_platform

    def login(self, host: str, user: str, password: str, *, insecure: bool) -> None:
        self.logins.append((host, user))

    def push(self, source: str, target: str, *, insecure: bool) -> str | None:
        repository, _, tag = target.rpartition(":")
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": source},
                "layers": [],
            }
        )
        self.ecr.put_image(
            repositoryName=repository.split("/", 1)[1], imageManifest=manifest, imageTag=tag
        )
        return self.reported


def test_push_to_ecr_creates_repositories_logs_in_and_pins_digests(stack: LocalStack) -> None:
    registry = EcrRegistry(stack.admin_settings())
    assert registry.host.endswith(".dkr.ecr.us-east-1.amazonaws.com")
    user, password = registry.login or ("", "")
    assert user == "AWS" and password
    prefix = f"e{uuid.uuid4().hex[:8]}"
    tool = EcrPushingTool(registry.ecr)
    images = {
        "fetcher": f"localhost/fpw-fetcher:0.1.0-{prefix}",
        "watcher": f"localhost/fpw-watcher:0.1.0-{prefix}",
    }
    pushed = push_images(images, registry, tool, prefix=prefix, printer=lambda _: None)
    assert tool.logins == [(registry.host, "AWS")]
    assert [p.part for p in pushed] == ["fetcher", "watcher"]
    for item in pushed:
        assert item.repository == f"{registry.host}/{prefix}-{item.part}"
        assert item.pinned == f"{item.repository}@{item.digest}" and DIGEST.fullmatch(item.digest)
    repos = registry.ecr.describe_repositories(repositoryNames=[f"{prefix}-fetcher"])
    repo = repos["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    # A second push of another version finds the repository; the digest is ECR's.
    again = push_images(
        {"fetcher": f"localhost/fpw-fetcher:0.2.0-{prefix}"},
        registry,
        tool,
        prefix=prefix,
        printer=lambda _: None,
    )
    details = registry.ecr.describe_images(
        repositoryName=f"{prefix}-fetcher", imageIds=[{"imageTag": f"0.2.0-{prefix}"}]
    )["imageDetails"]
    assert again[0].digest == details[0]["imageDigest"]
    # A tool that pushed something else than the registry now holds: refused.
    tool.reported = "sha256:" + "0" * 64
    with pytest.raises(FpwError, match="not the sha256:0000"):
        push_images(
            {"watcher": f"localhost/fpw-watcher:0.3.0-{prefix}"},
            registry,
            tool,
            prefix=prefix,
            printer=lambda _: None,
        )
    for part in ("fetcher", "watcher"):
        registry.ecr.delete_repository(repositoryName=f"{prefix}-{part}", force=True)


def test_an_image_for_another_platform_or_without_a_version_is_refused(
    stack: LocalStack,
) -> None:
    registry = EcrRegistry(stack.admin_settings())
    arm = EcrPushingTool(registry.ecr, platform="linux/arm64")
    with pytest.raises(ConfigError, match="built for linux/arm64") as err:
        push_images({"fetcher": "localhost/fpw-fetcher:0.1.0"}, registry, arm)
    assert "--platform linux/amd64" in str(err.value.hint)
    for bad in ("localhost/fpw-fetcher", "localhost:5000/fpw-fetcher", "fpw:latest"):
        with pytest.raises(ConfigError):
            split_tag(bad)
    assert split_tag("localhost/fpw-fetcher:0.1.0-abc") == ("localhost/fpw-fetcher", "0.1.0-abc")


@pytest.fixture
def admin_config(stack: LocalStack, tmp_path: Path) -> Path:
    config = tmp_path / "admin.toml"
    config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    return config


@pytest.fixture
def own_stack(stack: LocalStack) -> Iterator[tuple[str, Deployer]]:
    """A prefix and a stack name of the test's own, removed with what they retain."""
    prefix = f"i{uuid.uuid4().hex[:8]}"
    deployer = Deployer(
        stack.admin_settings(), f"{prefix}-stack", printer=lambda _: None, poll_seconds=0.1
    )
    yield prefix, deployer
    if deployer.describe() is not None:
        deployer.destroy(force=True)
    dynamodb = deployer.aws.dynamodb
    for table in (f"{prefix}-jobs", f"{prefix}-clients", f"{prefix}-joins"):
        try:
            dynamodb.delete_table(TableName=table)
        except dynamodb.exceptions.ResourceNotFoundException:
            pass


def _parameters(deployer: Deployer) -> dict[str, str]:
    found = deployer.describe()
    assert found is not None
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


def test_deploy_reads_the_pinned_images(
    admin_config: Path, own_stack: tuple[str, Deployer], tmp_path: Path
) -> None:
    digest = "sha256:" + "ab" * 32
    images = tmp_path / "images.json"
    write_image_parameters(images, {"FetcherImage": f"reg/fpw-fetcher@{digest}"})
    write_image_parameters(images, {"WatcherImage": f"reg/fpw-watcher@{digest}"})
    assert read_image_parameters(images) == {
        "FetcherImage": f"reg/fpw-fetcher@{digest}",
        "WatcherImage": f"reg/fpw-watcher@{digest}",
    }
    unpinned = tmp_path / "tags.json"
    unpinned.write_text(json.dumps({"FetcherImage": "reg/fpw-fetcher:0.1.0"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="not pinned by digest"):
        read_image_parameters(unpinned)

    prefix, deployer = own_stack
    args = ("--stack-name", deployer.stack_name, "--prefix", prefix, "--fleet", "none")
    done = run_fpw(admin_config, "infra", "deploy", *args, "--images", str(images))
    assert done.returncode == 0, done.stderr
    given = _parameters(deployer)
    assert given["FetcherImage"] == f"reg/fpw-fetcher@{digest}"
    assert given["WatcherImage"] == f"reg/fpw-watcher@{digest}"


def test_a_fleet_without_images_is_not_deployed_with_no_push(
    admin_config: Path, own_stack: tuple[str, Deployer], tmp_path: Path
) -> None:
    prefix, deployer = own_stack
    images = tmp_path / "images.json"
    digest = "sha256:" + "cd" * 32
    write_image_parameters(images, {"FetcherImage": f"reg/fpw-fetcher@{digest}"})
    args = ("--stack-name", deployer.stack_name, "--prefix", prefix, "--fleet", "ecs")
    done = run_fpw(
        admin_config, "infra", "deploy", *args, "--images", str(images), "--no-push", "--no-checks"
    )
    assert done.returncode != 0
    assert "not deploying: the fleet has no image for ProcessorImage, WatcherImage" in done.stderr
    assert "fpw images push" in done.stderr
    assert deployer.describe() is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a loopback port, storing under tmp_path."""
    program = shutil.which("docker-registry")
    if program is None or shutil.which("podman") is None:
        missing = "needs podman and docker-registry (apt-get install podman docker-registry)"
        if os.environ.get("CI"):
            pytest.fail(f"CI {missing}: .ci/setup installs them")
        pytest.skip(missing)
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n",
        encoding="utf-8",
    )
    log = (tmp_path / "registry.log").open("wb")
    process = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"http://{host}/v2/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return process.poll() is not None and pytest.fail("docker-registry exited")

    try:
        wait_for(up, timeout=30, what="docker-registry")
        yield host
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _podman(*args: str) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_real_push_pins_the_digest_the_registry_serves(
    local_registry: str, stack: LocalStack, tmp_path: Path
) -> None:
    layer = tmp_path / "layer.tar"
    (tmp_path / "hello.txt").write_text(f"fpw {uuid.uuid4()}\n", encoding="utf-8")
    with tarfile.open(layer, "w") as tar:
        tar.add(tmp_path / "hello.txt", arcname="hello.txt")
    tag = f"0.0.1-{uuid.uuid4().hex[:7]}"
    local = f"localhost/fpw-test-fetcher:{tag}"
    _podman("import", "--os", "linux", "--arch", "amd64", str(layer), local)
    config = tmp_path / "admin.toml"
    config.write_text(dump_toml({"aws": aws_table(stack.admin_settings())}), encoding="utf-8")
    out = tmp_path / "images.json"
    try:
        done = run_fpw(
            config,
            "images",
            "push",
            "--fetcher",
            local,
            "--registry",
            local_registry,
            "--insecure",
            "--tool",
            "podman",
            "--output",
            str(out),
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        pinned = read_image_parameters(out)["FetcherImage"]
        repository, _, digest = pinned.partition("@")
        assert repository == f"{local_registry}/fpw-fetcher"
        # The registry serves that manifest under that digest, and podman pulls it by digest.
        served = requests.get(
            f"http://{local_registry}/v2/fpw-fetcher/manifests/{digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            timeout=30,
        )
        assert served.status_code == 200, served.text
        _podman("pull", "--tls-verify=false", pinned)
    finally:
        subprocess.run(["podman", "rmi", "-f", local], capture_output=True, check=False)
        subprocess.run(
            ["podman", "rmi", "-f", f"{local_registry}/fpw-fetcher:{tag}"],
            capture_output=True,
            check=False,
        )


def test_deploying_a_fleet_without_images_pushes_and_pins_them_first(
    local_registry: str,
    stack: LocalStack,
    admin_config: Path,
    own_stack: tuple[str, Deployer],
    tmp_path: Path,
) -> None:
    prefix, deployer = own_stack
    tag = f"0.0.1-{uuid.uuid4().hex[:7]}"
    local: dict[str, str] = {}
    for part in ("fetcher", "processor", "watcher"):
        layer = tmp_path / f"{part}.tar"
        (tmp_path / "part.txt").write_text(f"{part} {uuid.uuid4()}\n", encoding="utf-8")
        with tarfile.open(layer, "w") as tar:
            tar.add(tmp_path / "part.txt", arcname="part.txt")
        local[part] = f"localhost/fpw-test-{part}:{tag}"
        _podman("import", "--os", "linux", "--arch", "amd64", str(layer), local[part])
    out = tmp_path / "images.json"
    try:
        done = run_fpw(
            admin_config,
            "infra",
            "deploy",
            *("--stack-name", deployer.stack_name, "--prefix", prefix, "--fleet", "ecs"),
            *("--no-checks", "--no-smoke", "--registry", local_registry, "--insecure"),
            *(f"--{part}={image}" for part, image in local.items()),
            *("--tool", "podman", "--output", str(out)),
            *(f"--param={key}={value}" for key, value in session_network(stack).items()),
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        assert "no image given for FetcherImage, ProcessorImage, WatcherImage" in done.stdout
        given = _parameters(deployer)
        pinned = read_image_parameters(out)
        for part, key in (("fetcher", "FetcherImage"), ("processor", "ProcessorImage")):
            assert pinned[key].startswith(f"{local_registry}/{prefix}-{part}@sha256:")
            assert given[key] == pinned[key]
        assert given["WatcherImage"] == pinned["WatcherImage"]
        assert DIGEST.fullmatch(given["WatcherImage"].partition("@")[2])
    finally:
        for image in local.values():
            subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
        for part in local:
            subprocess.run(
                ["podman", "rmi", "-f", f"{local_registry}/{prefix}-{part}:{tag}"],
                capture_output=True,
                check=False,
            )


def test_plain_http_is_for_a_registry_on_loopback_only() -> None:
    from infra.release.ecr import PlainRegistry

    with pytest.raises(ConfigError, match="only a registry on loopback"):
        PlainRegistry("registry.example.org:5000", insecure=True)
    assert PlainRegistry("127.0.0.1:5000", insecure=True).insecure


def test_a_push_to_a_registry_that_is_not_there_says_so(tmp_path: Path) -> None:
    if shutil.which("podman") is None:
        pytest.skip("needs podman")
    from infra.release.ecr import PlainRegistry

    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w"):
        pass
    local = f"localhost/fpw-test-watcher:0.0.1-{uuid.uuid4().hex[:7]}"
    _podman("import", "--os", "linux", "--arch", "amd64", str(layer), local)
    try:
        with pytest.raises(FpwError, match="push` failed"):
            push_images(
                {"watcher": local},
                PlainRegistry(f"127.0.0.1:{_free_port()}", insecure=True),
                ContainerTool("podman"),
                printer=lambda _: None,
            )
    finally:
        subprocess.run(["podman", "rmi", "-f", local], capture_output=True, check=False)
