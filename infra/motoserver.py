"""The local stack's server process: moto's server with the fidelity patches.

Run as ``python -m infra.motoserver --port N``. IAM enforcement starts once
the bootstrap (creating the admin user) has been done; see ``localstack``.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server with fpw's fidelity patches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # Until reset-auth is called, moto lets requests through unauthenticated:
    # that is the window in which the admin user is created.
    os.environ.setdefault("INITIAL_NO_AUTH_ACTION_COUNT", "1000000")
    from moto import server

    from infra import moto_fidelity

    moto_fidelity.apply()
    server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
    sys.exit(0)
