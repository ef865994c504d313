"""``fpw images``: names, the base's apt sources and podman's settings, without an engine."""

from __future__ import annotations

import resource
import tomllib
from pathlib import Path

import pytest

from infra.release.images import (
    LOCAL_BASE,
    PARTS,
    containers_conf,
    debian_sources,
    image_ref,
    image_refs,
)
from shared import __version__
from shared.errors import ConfigError


def test_image_names_carry_version_commit_and_the_processors_variant() -> None:
    assert image_ref("fetcher", commit="abc") == f"localhost/fpw-fetcher:{__version__}-abc"
    assert image_ref("fetcher", "cuda", commit="abc").endswith(f"{__version__}-abc")
    assert image_ref("processor", "cuda", commit="abc").endswith("-abc-cuda")
    pushed = image_ref("watcher", registry="1.dkr.ecr.eu-west-1.amazonaws.com/", commit="c")
    assert pushed == f"1.dkr.ecr.eu-west-1.amazonaws.com/fpw-watcher:{__version__}-c"
    assert set(image_refs()) == set(PARTS)
    with pytest.raises(ConfigError):
        image_ref("client")
    with pytest.raises(ConfigError):
        image_ref("processor", "rocm")


def test_the_base_takes_only_this_machines_debian_sources(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main contrib\n\n"
        "Types: deb\nURIs: https://other.example/node\nSuites: nodistro\nComponents: main\n",
        encoding="utf-8",
    )
    one_line = tmp_path / "extra.list"
    one_line.write_text(
        "deb [arch=amd64] http://old.example/debian bookworm main\n"
        "deb https://vendor.example/apt cloud-sdk-bookworm main\n"
        "# deb http://commented.example/debian bookworm main\n",
        encoding="utf-8",
    )
    text = debian_sources([deb822, one_line])
    assert "Suites: bookworm bookworm-updates" in text
    assert "URIs: http://mirror.example/debian-security" in text
    assert "Components: main contrib" in text
    assert "http://old.example/debian" in text
    for foreign in ("other.example", "vendor.example", "commented.example"):
        assert foreign not in text
    with pytest.raises(ConfigError, match="no Debian trixie"):
        debian_sources([one_line], suite="trixie")
    assert LOCAL_BASE.startswith("localhost/")


def test_podmans_settings_keep_ulimits_within_the_hard_limits(tmp_path: Path) -> None:
    conf = tomllib.loads(containers_conf(tmp_path).read_text(encoding="utf-8"))
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["cgroup_manager"] == "cgroupfs"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for limit in conf["containers"]["default_ulimits"]:
        name, values = limit.split("=")
        soft, most = (int(v) for v in values.split(":"))
        assert soft <= most
        if name == "nofile" and hard != resource.RLIM_INFINITY:
            assert most <= hard


def test_a_fleet_is_never_deployed_on_the_templates_placeholder_images() -> None:
    from infra.release.ecr import placeholder_images

    defaults = {
        "Fleet": "ecs",
        "FetcherImage": "example/fpw-fetcher:0.1.0",
        "ProcessorImage": "example/fpw-processor:0.1.0",
        "WatcherImage": "example/fpw-watcher:0.1.0",
    }
    assert placeholder_images(defaults, defaults) == [
        "FetcherImage",
        "ProcessorImage",
        "WatcherImage",
    ]
    pinned = "reg/fpw-fetcher@sha256:" + "ab" * 32
    chosen = {**defaults, "FetcherImage": pinned, "ProcessorImage": "reg/analyzer:2.3"}
    assert placeholder_images(chosen, defaults) == ["WatcherImage"]
    assert placeholder_images({**chosen, "WatcherImage": ""}, defaults) == ["WatcherImage"]
    # No fleet, no images needed.
    assert placeholder_images({**defaults, "Fleet": "none"}, defaults) == []
