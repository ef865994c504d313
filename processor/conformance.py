"""``fpw processor conformance URL``: check any analysis container against the contract.

Each check sends what a fetcher sends and judges the answer by what a fetcher
relies on (``processor/openapi.yaml``): the status code is the retry decision,
errors are JSON ``{"error": ...}`` a user can read, a result has a content
type, and bad input never costs the container its health. The checks only
use the HTTP contract, so they apply to a container written in any language.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from shared import profiles as catalog
from shared.errors import IntegrityError

JOB = "file-00000000-0000-4000-8000-00000000c0f0"
UNKNOWN_PROFILE = "fpw-conformance-no-such-profile"


@dataclass(frozen=True)
class ContractCheck:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str


class Failed(Exception):
    """A check's expectation that the answer did not meet."""


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


class Conformance:
    """The checks against one container at ``url``."""

    def __init__(
        self, url: str, timeout: float = 120.0, session: requests.Session | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = session or requests.Session()

    def _post(
        self, body: bytes, ctype: str, params: str = "{}", path: str = "/analyze"
    ) -> requests.Response:
        return self.http.post(
            self.url + path,
            data=body,
            headers={"Content-Type": ctype, "X-Fpw-Job": JOB, "X-Fpw-Params": params},
            timeout=(10, self.timeout),
        )

    @staticmethod
    def _json_error(answer: requests.Response, statuses: range | tuple[int, ...]) -> str:
        """An error answer as the fetcher needs it; returns the message."""
        if answer.status_code not in statuses:
            raise Failed(f"expected {_describe(statuses)}, got {answer.status_code}")
        ctype = answer.headers.get("Content-Type") or "none"
        data = _json(answer, f"error answered with Content-Type {ctype}, not JSON", "error body")
        if not isinstance(data, dict) or not isinstance(data.get("error"), str):
            raise Failed('error body is not an object with an "error" string')
        if not data["error"].strip():
            raise Failed('"error" is empty; say what went wrong')
        return str(data["error"])

    def health(self) -> str:
        answer = self.http.get(self.url + "/health", timeout=10)
        if answer.status_code != 200:
            raise Failed(f"GET /health answered {answer.status_code}, expected 200")
        data = _json(answer, "GET /health is not JSON", "GET /health body")
        if not isinstance(data, dict) or data.get("status") != "ok":
            raise Failed('GET /health body lacks "status": "ok"')
        return f"ready ({answer.elapsed.total_seconds() * 1000:.0f} ms)"

    def analyze_text(self) -> str:
        return self._result(
            self._post(b"Conformance check: a short plain text file.\n", "text/plain")
        )

    def analyze_image(self) -> str:
        answer = self._post(_png(), "image/png")
        if answer.status_code == 200:
            return self._result(answer)
        message = self._json_error(answer, range(400, 500))
        return f"declined with {answer.status_code} ({message[:80]})"

    def _result(self, answer: requests.Response) -> str:
        if answer.status_code != 200:
            raise Failed(f"a valid file was answered {answer.status_code}, expected 200")
        ctype = answer.headers.get("Content-Type")
        if not ctype:
            raise Failed("the result has no Content-Type; the fetcher stores it with the result")
        if ctype.startswith("application/json"):
            try:
                json.loads(answer.content)
            except ValueError:
                raise Failed("the result says application/json but is not JSON") from None
        return f"200, {ctype}, {len(answer.content)} bytes"

    def unknown_profile(self) -> str:
        params = json.dumps({"profile": UNKNOWN_PROFILE})
        answer = self._post(b"some text\n", "text/plain", params)
        return self._json_error(answer, (422,))[:100]

    def malformed_params(self) -> str:
        answer = self._post(b"some text\n", "text/plain", "{not json")
        return self._json_error(answer, range(400, 500))[:100]

    def corrupt_file(self) -> str:
        answer = self._post(b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 64, "image/png")
        if answer.status_code == 200:
            return "accepted (the container does not decode images)"
        # A 5xx would make the fleet retry a file that can never succeed.
        return self._json_error(answer, range(400, 500))[:100]

    def empty_file(self) -> str:
        answer = self._post(b"", "application/octet-stream")
        if answer.status_code == 200:
            return self._result(answer)
        return self._json_error(answer, range(400, 500))[:100]

    def profiles(self) -> str:
        """Optional: a container that lists no profiles leaves desktops with JSON params."""
        answer = self.http.get(self.url + "/profiles", timeout=10)
        if answer.status_code == 404:
            return "not offered (optional; desktops then edit params as JSON)"
        if answer.status_code != 200:
            raise Failed(f"GET /profiles answered {answer.status_code}, expected 200 or 404")
        try:
            found = catalog.loads(answer.content)
        except IntegrityError as exc:
            raise Failed(f"GET /profiles is not a usable profiles document: {exc}") from None
        return ", ".join(p.name for p in found.profiles)[:100]

    def unknown_path(self) -> str:
        answer = self.http.get(self.url + "/fpw-conformance-no-such-path", timeout=10)
        if not 400 <= answer.status_code < 500:
            raise Failed(f"an unknown path answered {answer.status_code}, expected 404")
        return str(answer.status_code)

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("health", self.health),
            ("analyze a text file", self.analyze_text),
            ("analyze an image", self.analyze_image),
            ("unknown profile is 422", self.unknown_profile),
            ("malformed X-Fpw-Params is 4xx", self.malformed_params),
            ("corrupt file is not retried (no 5xx)", self.corrupt_file),
            ("empty file", self.empty_file),
            ("profiles are listed (optional)", self.profiles),
            ("unknown path is 4xx", self.unknown_path),
            ("healthy after bad input", self.health),
        ]

    def run(self) -> list[ContractCheck]:
        results: list[ContractCheck] = []
        for name, check in self.checks():
            try:
                results.append(ContractCheck(name, True, check()))
            except Failed as exc:
                results.append(ContractCheck(name, False, str(exc)))
            except requests.RequestException as exc:
                results.append(
                    ContractCheck(name, False, f"no answer: {type(exc).__name__}: {exc}")
                )
        return results


def _json(answer: requests.Response, not_json: str, body: str) -> Any:
    """The answer's JSON body; ``Failed`` with ``not_json`` when it is not declared JSON."""
    if not answer.headers.get("Content-Type", "").startswith("application/json"):
        raise Failed(not_json)
    try:
        return answer.json()
    except ValueError:
        raise Failed(f"{body} is not JSON") from None


def _describe(statuses: Any) -> str:
    if isinstance(statuses, range):
        return f"{statuses.start}-{statuses.stop - 1}"
    return " or ".join(str(s) for s in statuses)


def report(results: list[ContractCheck]) -> str:
    """One line per check, then the verdict."""
    lines = [f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in results]
    failed = [c for c in results if not c.ok]
    if failed:
        lines.append(f"not conformant: {len(failed)} of {len(results)} checks failed")
    else:
        lines.append(f"conformant: all {len(results)} checks passed")
    return "\n".join(lines)
