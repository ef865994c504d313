"""Where the llm profile's endpoint, model and key come from."""

from __future__ import annotations

from pathlib import Path

from processor.llm import LlmConfig


def test_the_configuration_comes_from_flags_the_environment_or_a_secret_file(
    tmp_path: Path,
) -> None:
    assert LlmConfig.from_env(environ={}) is None
    secret = tmp_path / "key"
    secret.write_text("sk-file\n", encoding="utf-8")
    env = {
        "FPW_PROCESSOR_LLM_URL": "http://127.0.0.1:9/v1/chat/completions",
        "FPW_PROCESSOR_LLM_KEY": "sk-env",
        "FPW_PROCESSOR_LLM_MODEL": "m1",
    }
    config = LlmConfig.from_env(environ=env)
    assert config is not None and config.key == "sk-env" and config.model == "m1"
    assert config.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert "sk-env" not in repr(config)
    from_file = LlmConfig.from_env(model="m2", key_file=str(secret), environ=env)
    assert from_file is not None and from_file.key == "sk-file" and from_file.model == "m2"
