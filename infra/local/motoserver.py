"""The local stack's server process: moto's server with the fidelity patches.

Run as ``python -m infra.local.motoserver --port N --token-file F``. IAM
enforcement starts once the bootstrap (creating the admin user) has been
done; see ``localstack``.

moto's admin API (``/moto-api/``) can reset all state, switch IAM
enforcement off and dump every key; here it answers only requests whose
``X-Fpw-Stack-Token`` header holds the token read from ``--token-file`` (an
owner-only file), so other local users and processes cannot use it.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TOKEN_HEADER = "HTTP_X_FPW_STACK_TOKEN"
REFUSED = b"the local stack's admin API needs its token (header X-Fpw-Stack-Token)\n"


def guard_admin_api(token: str) -> None:
    """Refuse every request that moto would route to its admin API without ``token``."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    expected = token.encode("utf-8")

    def __call__(  # noqa: N807 - replaces the dispatcher's own
        self: DomainDispatcherApplication,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        app = self.get_application(environ)
        if getattr(app, "service", None) == "moto_api":
            given = str(environ.get(TOKEN_HEADER, "")).encode("utf-8")
            if not expected or not hmac.compare_digest(given, expected):
                start_response("403 Forbidden", [("Content-Type", "text/plain")])
                return [REFUSED]
        return app(environ, start_response)

    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server with fpw's fidelity patches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--token-file", type=Path, required=True, help="owner-only file holding the admin token"
    )
    args = parser.parse_args(argv)
    token = args.token_file.read_text(encoding="utf-8").strip()
    # Until reset-auth is called, moto lets requests through unauthenticated:
    # that is the window in which the admin user is created.
    os.environ.setdefault("INITIAL_NO_AUTH_ACTION_COUNT", "1000000")
    from moto import server

    from infra.local import moto_fidelity

    moto_fidelity.apply()
    guard_admin_api(token)
    server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
    sys.exit(0)
