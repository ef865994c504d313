"""``fpw images``: build the fleet's container images, with or without a registry.

The Dockerfiles (infra/docker/) take their base image as the build argument
``BASE``: the official ``python:*-slim-bookworm`` where a registry is reachable,
or a Debian base that ``fpw images base`` makes with mmdebstrap from this
machine's own apt sources. Either way the images run the same Python (3.11)
with the same locked dependencies. Image names are defined here only
(:func:`image_ref`), so that building, testing, ``fpw up --containers`` and
pushing agree on them.

podman or docker, whichever answers, builds and runs them. podman's engine
settings that this kind of host needs (runc, cgroupfs, ulimits within the
hard limits) go into a containers.conf under the state folder that
``CONTAINERS_CONF`` points at; nothing in /etc is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared import __version__
from shared.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "infra" / "docker"
# The base for people with a registry; fully qualified, so podman needs no search list.
DEFAULT_BASE = "docker.io/library/python:3.11.11-slim-bookworm"
# The base made here from Debian's packages (`fpw images base`).
LOCAL_BASE = "localhost/fpw-base:bookworm"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
# The parts with an image, in build order; the processor has two variants.
PARTS = ("fetcher", "watcher", "processor", "stack")
VARIANTS = ("cpu", "cuda")
REGISTRY = "localhost"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PULL_SECONDS = 120


@functools.cache
def source_commit(repo: Path = REPO) -> str:
    """The commit the images are built from (``unknown`` outside a git checkout);
    read once, so that a commit made meanwhile cannot split one run's tags."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=10", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def image_ref(
    part: str,
    variant: str = "cpu",
    *,
    registry: str = REGISTRY,
    version: str | None = None,
    commit: str | None = None,
) -> str:
    """The name of a part's image, e.g. ``localhost/fpw-fetcher:0.1.0-1a2b3c4d5e``: its
    tag is ``<version>-<commit>``, and ``-cuda`` for the processor's CUDA variant.

    ``registry`` replaces ``localhost`` for a push (an ECR repository's host).
    Only the processor has a CUDA variant; ``variant`` is ignored for the others.
    """
    if part not in PARTS:
        raise ConfigError(f"no image for {part!r}", hint=f"one of {', '.join(PARTS)}")
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}", hint="cpu or cuda")
    tag = f"{version or __version__}-{commit or source_commit()}"
    cuda = "-cuda" if part == "processor" and variant == "cuda" else ""
    return f"{registry.rstrip('/')}/fpw-{part}:{tag}{cuda}"


def image_refs(variant: str = "cpu", **kwargs: str) -> dict[str, str]:
    """Every part's image name, for one processor variant."""
    return {part: image_ref(part, variant, **kwargs) for part in PARTS}


# --- the engine -------------------------------------------------------------


def containers_conf(home: Path) -> Path:
    """Write podman's engine settings for this host under ``home``; return the file.

    runc (crun refuses a host with mixed cgroup v1/v2 hierarchies), cgroupfs
    (no systemd as PID 1 in many build hosts), and default ulimits no higher
    than this process's hard limits (podman's defaults can exceed them, and
    then no container starts).
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else min(nofile, 1048576)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    text = (
        "# Written by `fpw images`: podman's settings for this host (CONTAINERS_CONF).\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    path = home.resolve() / "containers.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


@dataclass
class ContainerEngine:
    """podman or docker: the command and the environment it runs with."""

    command: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def podman(self) -> bool:
        return Path(self.command).name == "podman"

    def run(
        self,
        *args: str,
        check: bool = True,
        capture: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``<engine> args``; a failure raises ConfigError with the engine's words."""
        argv = [self.command, *args]
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, **self.env},
                capture_output=capture,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"{' '.join(argv[:3])} … took over {timeout:.0f} s") from exc
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
            raise ConfigError(
                f"{' '.join(argv[:3])} … failed ({done.returncode}): {' | '.join(detail)}"
            )
        return done

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0


def find_engine(home: Path = Path(".fpw")) -> ContainerEngine | None:
    """podman if installed and working, else docker if its daemon answers, else None."""
    podman = shutil.which("podman")
    if podman:
        engine = ContainerEngine(podman, {"CONTAINERS_CONF": str(containers_conf(home))})
        if engine.run("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False).returncode == 0:
            return engine
    docker = shutil.which("docker")
    if docker:
        engine = ContainerEngine(docker)
        with contextlib.suppress(ConfigError):
            if engine.run("info", check=False, timeout=30).returncode == 0:
                return engine
    return None


def require_engine(home: Path = Path(".fpw")) -> ContainerEngine:
    engine = find_engine(home)
    if engine is None:
        raise ConfigError(
            "neither podman nor docker works on this machine",
            hint="apt-get install podman runc (or start the docker daemon)",
        )
    return engine


# --- the Debian base --------------------------------------------------------


def debian_sources(paths: list[Path] | None = None, suite: str = DEBIAN_SUITE) -> str:
    """This machine's apt sources for ``suite`` (and its -updates, -security), deb822.

    Read at run time so that the repository names no mirror: the base comes from
    wherever this machine gets its Debian packages.
    """
    if paths is None:
        folder = Path("/etc/apt/sources.list.d")
        paths = [Path("/etc/apt/sources.list")]
        paths += sorted(folder.glob("*.list")) + sorted(folder.glob("*.sources"))
    wanted = re.compile(rf"^{re.escape(suite)}(-updates|-security|/updates)?$")
    stanzas: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if path.suffix == ".sources":
            for block in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in block.splitlines():
                    if line.startswith("#") or ":" not in line or line[0].isspace():
                        continue
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
                suites = [s for s in fields.get("suites", "").split() if wanted.match(s)]
                if "deb" not in fields.get("types", "").split() or not suites:
                    continue
                stanzas.append(_stanza(fields["uris"], suites, fields.get("components", "main")))
        else:
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb" and wanted.match(parts[2]):
                    stanzas.append(_stanza(parts[1], [parts[2]], " ".join(parts[3:]) or "main"))
    if not stanzas:
        raise ConfigError(
            f"this machine's apt sources name no Debian {suite} repository",
            hint="the Debian base is made from this machine's apt sources; "
            "or build on a registry's base: fpw images build --base IMAGE",
        )
    return "\n".join(stanzas)


def _stanza(uris: str, suites: list[str], components: str) -> str:
    return f"Types: deb\nURIs: {uris}\nSuites: {' '.join(suites)}\nComponents: {components}\n"


def build_base(engine: ContainerEngine, home: Path, ref: str = LOCAL_BASE) -> float:
    """Make the Debian base image with mmdebstrap; return the seconds it took."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ConfigError("mmdebstrap is not installed", hint="apt-get install mmdebstrap")
    started = time.monotonic()
    work = home.resolve() / "images"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        sources = Path(tmp) / "debian.sources"
        sources.write_text(debian_sources(), encoding="utf-8")
        tarball = Path(tmp) / "base.tar"
        print(f"making {ref} with mmdebstrap (a few minutes)", flush=True)
        argv = [
            mmdebstrap,
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            # Merged /usr without the usrmerge package (and the perl it pulls in).
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            # As Debian's slim images: no manuals, documentation or translations
            # (kept out of later installs too, by the dpkg setting this leaves).
            *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "info", "doc", "locale")),
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            # No apt lists or caches in the image.
            "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*",
            DEBIAN_SUITE,
            str(tarball),
            str(sources),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise ConfigError(f"mmdebstrap failed: {tail}")
        engine.run("import", "--change", 'CMD ["/bin/bash"]', str(tarball), ref)
    return time.monotonic() - started


# --- building ---------------------------------------------------------------


def can_pull(engine: ContainerEngine, ref: str) -> bool:
    if engine.has_image(ref):
        return True
    try:
        return engine.run("pull", "--quiet", ref, check=False, timeout=PULL_SECONDS).returncode == 0
    except ConfigError:
        return False


def choose_base(engine: ContainerEngine, home: Path, base: str | None) -> str:
    """``base`` as given; else the official base if it can be had, else the local one."""
    if base:
        if base == LOCAL_BASE and not engine.has_image(LOCAL_BASE):
            build_base(engine, home)
        return base
    if can_pull(engine, DEFAULT_BASE):
        return DEFAULT_BASE
    print(f"cannot pull {DEFAULT_BASE}: building on the local Debian base {LOCAL_BASE}", flush=True)
    if not engine.has_image(LOCAL_BASE):
        build_base(engine, home)
    return LOCAL_BASE


def build_image(
    engine: ContainerEngine, part: str, variant: str, base: str, *, quiet: bool = True
) -> float:
    """Build one part's image on ``base``; return the seconds it took."""
    ref = image_ref(part, variant)
    argv = [
        "build",
        "--file",
        str(DOCKER_DIR / f"{part}.Dockerfile"),
        "--tag",
        ref,
        "--build-arg",
        f"BASE={base}",
        "--label",
        f"org.opencontainers.image.version={__version__}",
        "--label",
        f"org.opencontainers.image.revision={source_commit()}",
    ]
    if part == "processor":
        argv += ["--build-arg", f"VARIANT={variant}"]
    if HOST_CA.is_file():
        # A TLS-intercepting proxy's CA, for pip; a secret never lands in a layer.
        argv += ["--secret", f"id=hostca,src={HOST_CA}"]
    if engine.podman:
        # Docker's image format: OCI's has no HEALTHCHECK, and podman would drop it.
        argv += ["--format", "docker"]
        argv += ["--pull=never" if base.startswith("localhost/") else "--pull=missing"]
    argv += ["--network", "host", str(REPO)]
    started = time.monotonic()
    engine.run(*argv, capture=quiet)
    return time.monotonic() - started


def build_images(
    engine: ContainerEngine,
    home: Path,
    *,
    parts: tuple[str, ...] = PARTS,
    variant: str = "cpu",
    base: str | None = None,
    quiet: bool = True,
) -> dict[str, float]:
    """Build ``parts`` (the processor as ``variant``); return each image's build seconds."""
    chosen = choose_base(engine, home, base)
    times: dict[str, float] = {}
    for part in parts:
        ref = image_ref(part, variant)
        print(f"building {ref} on {chosen}", flush=True)
        times[ref] = build_image(engine, part, variant, chosen, quiet=quiet)
    return times


# --- the command line -------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = subparsers.add_parser("images", help="build the fleet's container images")
    images.add_argument(
        "--home", type=Path, default=Path(".fpw"), help="engine settings and work (default ./.fpw)"
    )
    actions = images.add_subparsers(dest="action", metavar="ACTION", required=True)
    base = actions.add_parser("base", help=f"make {LOCAL_BASE} from this machine's apt sources")
    base.set_defaults(func=_base)
    build = actions.add_parser("build", help="build the images (podman or docker)")
    build.add_argument("parts", nargs="*", metavar="PART", help=f"{', '.join(PARTS)} (default all)")
    build.add_argument("--base", help=f"base image (default {DEFAULT_BASE}, else {LOCAL_BASE})")
    build.add_argument("--variant", choices=VARIANTS, default="cpu", help="the processor's")
    build.add_argument("--verbose-build", action="store_true", help="show the engine's output")
    build.set_defaults(func=_build)
    names = actions.add_parser("names", help="the image names for this version and commit")
    names.add_argument("--variant", choices=VARIANTS, default="cpu")
    names.set_defaults(func=_names)


def _base(args: argparse.Namespace) -> int:
    seconds = build_base(require_engine(args.home), args.home)
    print(f"{LOCAL_BASE} made in {seconds:.0f} s")
    return 0


def _build(args: argparse.Namespace) -> int:
    engine = require_engine(args.home)
    parts = tuple(args.parts) or PARTS
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"no image for {', '.join(unknown)}", hint=f"one of {', '.join(PARTS)}")
    times = build_images(
        engine,
        args.home,
        parts=parts,
        variant=args.variant,
        base=args.base,
        quiet=not args.verbose_build,
    )
    for ref, seconds in times.items():
        size = int(engine.run("image", "inspect", "--format", "{{.Size}}", ref).stdout) / 1e6
        print(f"{ref}  {size:.0f} MB  built in {seconds:.0f} s")
    return 0


def _names(args: argparse.Namespace) -> int:
    json.dump(image_refs(args.variant), sys.stdout, indent=2)
    print()
    return 0
