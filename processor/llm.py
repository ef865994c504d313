"""Optional analysis by a language model behind an OpenAI-compatible endpoint.

The endpoint, model and key are the container's configuration (environment
or flags; the key from the environment or a secret file), never a job's:
a job may only choose the prompt. The request carries the file's extracted
text, or the image itself for vision models, and the answer is returned as
part of the result. The key never appears in a result, a message or a log.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import AnalysisError, BadParams

URL_ENV = "FPW_PROCESSOR_LLM_URL"
KEY_ENV = "FPW_PROCESSOR_LLM_KEY"
KEY_FILE_ENV = "FPW_PROCESSOR_LLM_KEY_FILE"
MODEL_ENV = "FPW_PROCESSOR_LLM_MODEL"
TIMEOUT_ENV = "FPW_PROCESSOR_LLM_TIMEOUT"
DEFAULT_PROMPT = "Summarise this document in a few sentences, then list its key facts."
MAX_PROMPT_CHARS = 4_000
MAX_INPUT_CHARS = 60_000
"""Text sent to the model (about 15,000 tokens): enough for most documents, bounded in cost."""
MAX_IMAGE_SIDE = 1_568
"""Longest side of an image sent to a vision model; larger ones are scaled down."""
MAX_ANSWER_CHARS = 100_000


@dataclass(frozen=True)
class LlmConfig:
    """Where the model is and how to reach it."""

    url: str
    """Base URL (``https://host/v1``) or the full ``.../chat/completions`` URL."""
    model: str
    key: str = field(default="", repr=False)
    """Bearer token; empty for endpoints that need none (a local server)."""
    timeout: float = 60.0
    """Seconds to wait for an answer; keep it under the processor's time limit."""

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        model: str | None = None,
        key_file: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> LlmConfig | None:
        """Flags first, then the environment; None when no endpoint is configured."""
        env = os.environ if environ is None else environ
        url = url or env.get(URL_ENV, "")
        if not url:
            return None
        key = env.get(KEY_ENV, "")
        key_file = key_file or env.get(KEY_FILE_ENV, "")
        if key_file:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        return cls(
            url=url,
            model=model or env.get(MODEL_ENV, "") or "gpt-4o-mini",
            key=key,
            timeout=float(env.get(TIMEOUT_ENV, "60")),
        )


def check_prompt(params: dict[str, Any]) -> str:
    prompt = params.get("prompt", DEFAULT_PROMPT)
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadParams('"prompt" must be a non-empty string')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadParams(f'"prompt" has {len(prompt)} characters; at most {MAX_PROMPT_CHARS}')
    return prompt


def image_data_url(image: Any) -> str:
    """The image as a PNG data URL, scaled down to what vision models accept."""
    copy = image.convert("RGB")
    copy.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    buffer = io.BytesIO()
    copy.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def ask(
    config: LlmConfig, prompt: str, *, text: str | None = None, image_url: str | None = None
) -> dict[str, Any]:
    """One chat completion over the document; the answer with the model's own accounting."""
    import requests

    content: Any
    truncated = False
    if image_url is not None:
        content = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_url}},
        ]
    else:
        body = text or ""
        truncated = len(body) > MAX_INPUT_CHARS
        content = f"{prompt}\n\n--- document ---\n{body[:MAX_INPUT_CHARS]}"
    headers = {"Content-Type": "application/json"}
    if config.key:
        headers["Authorization"] = f"Bearer {config.key}"
    request = {"model": config.model, "messages": [{"role": "user", "content": content}]}
    started = time.monotonic()
    try:
        response = requests.post(
            config.endpoint, json=request, headers=headers, timeout=(10, config.timeout)
        )
    except requests.RequestException as exc:
        # The endpoint's trouble, not the file's: let the fleet try again later.
        raise AnalysisError(
            f"the language model endpoint could not be reached: {type(exc).__name__}", 503
        ) from exc
    if response.status_code in (400, 413, 422):
        raise BadParams(f"the language model refused the request: {_reason(response)}")
    if response.status_code != 200:
        raise AnalysisError(
            f"the language model endpoint failed ({response.status_code}): {_reason(response)}",
            503,
        )
    try:
        data = response.json()
        answer = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AnalysisError("the language model's answer is not a chat completion", 502) from exc
    return {
        "model": str(data.get("model") or config.model),
        "input": "image" if image_url is not None else "text",
        "input_truncated": truncated,
        "prompt": prompt,
        "answer": str(answer or "")[:MAX_ANSWER_CHARS],
        "finish_reason": data["choices"][0].get("finish_reason"),
        "usage": data.get("usage"),
        "duration_ms": round((time.monotonic() - started) * 1000),
    }


def _reason(response: Any) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        error = response.json().get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)[:300]
    return str(response.reason or "no reason given")[:300]
