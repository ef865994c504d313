"""``fpw images push``: the fleet's images into ECR, pinned by digest.

Takes local image references (``localhost/fpw-fetcher:0.1.0-abc1234``, as
the image build names them), refuses any not built for the instances'
``linux/amd64``, creates the ECR repositories that are missing (scan on
push, immutable tags), logs the container tool in with an ECR token, tags and
pushes each image, then reads each digest back from the registry and writes
the deploy's image parameters as ``repository@sha256:...`` (a tag can move,
a digest cannot) to a file that ``fpw infra deploy`` reads.

The registry side is ECR, or any registry speaking the Docker v2 API
(``PlainRegistry``: the tests push a tiny image to one on loopback).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import ClientError

from shared.aws import Aws
from shared.config import AwsSettings
from shared.errors import ConfigError, FpwError
from shared.private import write_private

IMAGES_FILE = Path(".fpw") / "images.json"
"""Where ``fpw images push`` writes the image parameters and ``fpw infra deploy`` reads them."""
PARTS = {"fetcher": "FetcherImage", "processor": "ProcessorImage", "watcher": "WatcherImage"}
"""Each image of the fleet and the template parameter that names it."""
PLATFORM = "linux/amd64"
"""The GPU instances' platform: an image built for another one cannot start there."""
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MANIFESTS = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)
Printer = Callable[[str], None]


@dataclass(frozen=True)
class Pushed:
    part: str
    repository: str
    """Registry host and repository name, without tag or digest."""
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"


def split_tag(reference: str) -> tuple[str, str]:
    """``name[:tag]`` as (name, tag); no tag is refused (``latest`` says nothing)."""
    if "@" in reference:
        raise ConfigError(f"{reference}: give the local image by tag, not by digest")
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        raise ConfigError(f"{reference} has no tag: give the built image's version tag")
    if tag == "latest":
        raise ConfigError(f"{reference}: `latest` is no version; give the built image's tag")
    return name, tag


class ContainerTool:
    """podman or docker, run as a command."""

    def __init__(self, program: str | None = None) -> None:
        found = program or next((p for p in ("podman", "docker") if shutil.which(p)), None)
        if found is None or shutil.which(found) is None:
            raise ConfigError(
                f"{program or 'podman or docker'} is not installed",
                hint="install podman or docker, or name it with --tool",
            )
        self.program = found

    def run(self, *args: str, stdin: str | None = None, timeout: float = 3600) -> str:
        done = subprocess.run(
            [self.program, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise FpwError(f"`{self.program} {args[0]}` failed: {' / '.join(tail)}")
        return done.stdout

    def platform(self, reference: str) -> str:
        return self.run(
            "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", reference
        ).strip()

    def login(self, host: str, user: str, password: str, *, insecure: bool) -> None:
        args = ["login", "--username", user, "--password-stdin"]
        if insecure and self.program.endswith("podman"):
            args.append("--tls-verify=false")
        self.run(*args, host, stdin=password)

    def push(self, source: str, target: str, *, insecure: bool) -> str | None:
        """Tag ``source`` as ``target`` and push it; the digest the tool reports, if any."""
        self.run("tag", source, target)
        if self.program.endswith("podman"):
            with tempfile.TemporaryDirectory(prefix="fpw-push-") as tmp:
                digest_file = Path(tmp) / "digest"
                args = ["push", f"--digestfile={digest_file}"]
                if insecure:
                    args.append("--tls-verify=false")
                self.run(*args, target)
                found = DIGEST.search(digest_file.read_text(encoding="utf-8"))
        else:
            found = DIGEST.search(self.run("push", target))
        return found.group(0) if found else None


class Registry:
    """Where images go: repositories, credentials and digests as the registry has them."""

    host: str
    insecure: bool = False
    login: tuple[str, str] | None = None
    """User and password to log the container tool in with; None: no login."""

    def repository(self, name: str) -> str:
        """The repository ``name`` (created if missing), as ``host/name``."""
        return f"{self.host}/{name}"

    def digest(self, name: str, tag: str) -> str:
        raise NotImplementedError


class PlainRegistry(Registry):
    """A registry speaking the Docker v2 API, without login (plain HTTP when ``insecure``)."""

    def __init__(self, host: str, *, insecure: bool = False) -> None:
        if insecure and host.rpartition(":")[0] not in ("127.0.0.1", "localhost", "[::1]"):
            raise ConfigError(
                f"plain HTTP to {host} is refused: only a registry on loopback may go without TLS"
            )
        self.host = host
        self.insecure = insecure

    def digest(self, name: str, tag: str) -> str:
        scheme = "http" if self.insecure else "https"
        answer = requests.head(
            f"{scheme}://{self.host}/v2/{name}/manifests/{tag}",
            headers={"Accept": MANIFESTS},
            timeout=30,
        )
        found = answer.headers.get("Docker-Content-Digest", "")
        if answer.status_code != 200 or not DIGEST.fullmatch(found):
            raise FpwError(f"{self.host}/{name}:{tag} has no digest (HTTP {answer.status_code})")
        return found


class EcrRegistry(Registry):
    """The account's private ECR registry in the settings' region."""

    def __init__(self, settings: AwsSettings) -> None:
        self.ecr: Any = Aws(settings, "fpw-images").client("ecr")
        token = self.ecr.get_authorization_token()["authorizationData"][0]
        user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
        self.login = (user, password)
        self.host = str(token["proxyEndpoint"]).removeprefix("https://").rstrip("/")

    def repository(self, name: str) -> str:
        try:
            self.ecr.describe_repositories(repositoryNames=[name])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                raise
            self.ecr.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "AES256"},
            )
        return f"{self.host}/{name}"

    def digest(self, name: str, tag: str) -> str:
        images = self.ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        found = str(images["imageDetails"][0]["imageDigest"]) if images["imageDetails"] else ""
        if not DIGEST.fullmatch(found):
            raise FpwError(f"ECR has no digest for {name}:{tag}")
        return found


def push_images(
    images: Mapping[str, str],
    registry: Registry,
    tool: ContainerTool,
    *,
    prefix: str = "fpw",
    printer: Printer = print,
) -> list[Pushed]:
    """Each part's local image pushed as ``<prefix>-<part>:<its tag>``, its digest read back."""
    unknown = set(images) - set(PARTS)
    if unknown:
        raise ConfigError(f"unknown image part(s) {', '.join(sorted(unknown))}: {', '.join(PARTS)}")
    tags = {part: split_tag(source)[1] for part, source in images.items()}
    for source in images.values():
        platform = tool.platform(source)
        if platform != PLATFORM:
            raise ConfigError(
                f"{source} is built for {platform}; the GPU instances run {PLATFORM}",
                hint=f"build it again with --platform {PLATFORM}",
            )
    if registry.login is not None:
        tool.login(registry.host, *registry.login, insecure=registry.insecure)
    pushed: list[Pushed] = []
    for part, source in images.items():
        name = f"{prefix}-{part}"
        repository = registry.repository(name)
        printer(f"pushing {source} to {repository}:{tags[part]}")
        reported = tool.push(source, f"{repository}:{tags[part]}", insecure=registry.insecure)
        digest = registry.digest(name, tags[part])
        if reported is not None and reported != digest:
            raise FpwError(
                f"{repository}:{tags[part]} is {digest} in the registry, not the {reported} "
                "just pushed",
                hint="someone else pushed the same tag; push a new version",
            )
        pushed.append(Pushed(part, repository, digest))
        printer(f"  {PARTS[part]}={repository}@{digest}")
    return pushed


def write_image_parameters(path: Path, parameters: Mapping[str, str]) -> None:
    """Merged into what the file already pins (a push of one part keeps the others)."""
    current = read_image_parameters(path) if path.exists() else {}
    current.update(parameters)
    write_private(path, json.dumps(current, indent=2, sort_keys=True) + "\n")


def read_image_parameters(path: Path) -> dict[str, str]:
    """The image parameters in ``path``; each must be pinned by digest."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read image parameters from {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object of image parameters")
    found: dict[str, str] = {}
    for key, value in data.items():
        if key not in PARTS.values() or not isinstance(value, str):
            names = ", ".join(PARTS.values())
            raise ConfigError(f"{path}: {key!r} is not an image parameter ({names})")
        if not re.search(r"@sha256:[0-9a-f]{64}$", value):
            raise ConfigError(f"{path}: {key} {value!r} is not pinned by digest")
        found[key] = value
    return found


def placeholder_images(effective: Mapping[str, str], defaults: Mapping[str, str]) -> list[str]:
    """The image parameters a fleet would run at the template's placeholders.

    The template's image defaults name no registry of the operator's, so a
    fleet deployed with them starts nothing; a parameter counts as given once
    it differs from its default (by digest, or a tag the operator chose)."""
    if effective.get("Fleet") != "ecs":
        return []
    return [key for key in PARTS.values() if effective.get(key, "") in ("", defaults.get(key))]


def push_options(parser: argparse.ArgumentParser) -> None:
    """What ``fpw images push`` and ``fpw infra deploy`` (when it pushes) take."""
    for part in PARTS:
        parser.add_argument(f"--{part}", metavar="IMAGE", help=f"the local {part} image (name:tag)")
    parser.add_argument(
        "--variant",
        choices=["cpu", "cuda"],
        default="cuda",
        help="the processor variant of the images built from this checkout, where no image is "
        "named (default cuda); missing ones are built first",
    )
    parser.add_argument("--tool", help="podman or docker (default: the first installed)")
    parser.add_argument(
        "--registry",
        help="a Docker v2 registry host instead of the account's ECR (no login)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="plain HTTP to --registry (loopback only)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=IMAGES_FILE,
        help=f"where the pinned image parameters go (default {IMAGES_FILE})",
    )


def publish(
    args: argparse.Namespace,
    settings: AwsSettings,
    *,
    prefix: str,
    parts: tuple[str, ...] = tuple(PARTS),
    home: Path = Path(".fpw"),
) -> dict[str, str]:
    """``parts``' images pushed and pinned into ``args.output``; their deploy parameters.

    Each part is the image named on the command line, else the one built from
    this checkout (``fpw images build``), built first where it is missing."""
    from infra.release.images import build_images, image_refs, require_engine

    named = {part: getattr(args, part) for part in parts if getattr(args, part, None)}
    built = image_refs(args.variant)
    unbuilt = [part for part in parts if part not in named]
    if unbuilt:
        engine = require_engine(home)
        absent = tuple(p for p in unbuilt if not engine.has_image(built[p]))
        if absent:
            print(f"building {', '.join(absent)} ({args.variant}) first", flush=True)
            build_images(engine, home, parts=absent, variant=args.variant)
    images = {part: named.get(part) or built[part] for part in parts}
    registry: Registry
    if args.registry:
        registry = PlainRegistry(args.registry, insecure=args.insecure)
    else:
        registry = EcrRegistry(settings)
    pushed = push_images(images, registry, ContainerTool(args.tool), prefix=prefix)
    parameters = {PARTS[p.part]: p.pinned for p in pushed}
    write_image_parameters(args.output, parameters)
    return parameters


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Beside the actions of `fpw images` that images.register made (build and the rest).
    images = subparsers.choices["images"]
    actions = next(a for a in images._actions if isinstance(a, argparse._SubParsersAction))
    push = actions.add_parser(
        "push", help="push the fleet's images to ECR and pin their digests for `fpw infra deploy`"
    )
    push_options(push)
    push.add_argument("--prefix", default="fpw", help="repositories are PREFIX-PART (default fpw)")
    push.set_defaults(func=_push, admin_config=True)


def _push(args: argparse.Namespace) -> int:
    from shared.config import load_settings

    named = tuple(part for part in PARTS if getattr(args, part))
    publish(
        args,
        load_settings(args.config, admin=True).aws,
        prefix=args.prefix,
        parts=named or tuple(PARTS),
        home=args.home,
    )
    print(f"wrote {args.output}: `fpw infra deploy` deploys these digests")
    return 0
