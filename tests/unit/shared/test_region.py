"""The region: fpw's own settings first, then the operator's AWS configuration
(as the AWS CLI reads it), and us-east-1 only when neither names one."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.aws import Aws
from shared.config import load_settings


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config file of the test's own, with a profile that names a region."""
    path = tmp_path / "aws-config"
    path.write_text(
        "[default]\nregion = eu-north-1\n\n[profile lab]\nregion = ap-south-1\n", encoding="utf-8"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_environment_of_the_aws_cli_names_the_region(aws_config: Path) -> None:
    assert load_settings(environ={"AWS_DEFAULT_REGION": "eu-west-1"}).aws.region == "eu-west-1"
    both = {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert load_settings(environ=both).aws.region == "eu-central-1"


def test_the_profiles_region_is_used(aws_config: Path, tmp_path: Path) -> None:
    assert load_settings(environ={}).aws.region == "eu-north-1"
    assert load_settings(environ={"AWS_PROFILE": "lab"}).aws.region == "ap-south-1"
    config = tmp_path / "fpw.toml"
    config.write_text('[aws]\nprofile = "lab"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.aws.region == "ap-south-1"
    assert Aws(settings.aws).dynamodb.meta.region_name == "ap-south-1"


def test_fpw_settings_win_and_us_east_1_is_the_last_resort(
    aws_config: Path, tmp_path: Path
) -> None:
    env = {"AWS_DEFAULT_REGION": "eu-west-1"}
    assert load_settings(environ={**env, "FPW_AWS_REGION": "us-west-2"}).aws.region == "us-west-2"
    config = tmp_path / "fpw.toml"
    config.write_text('[aws]\nregion = "ca-central-1"\n', encoding="utf-8")
    assert load_settings(config, environ=env).aws.region == "ca-central-1"
    assert load_settings(environ=env, overrides={"aws.region": "sa-east-1"}).aws.region == (
        "sa-east-1"
    )
    aws_config.write_text("", encoding="utf-8")
    assert load_settings(environ={}).aws.region == "us-east-1"
    assert load_settings(environ={"AWS_PROFILE": "nowhere"}).aws.region == "us-east-1"
