"""``python -m client.gui`` (and the PyInstaller bundle's entry point)."""

from __future__ import annotations

import argparse
import sys

from client.gui.app import main


def cli() -> int:
    parser = argparse.ArgumentParser(prog="fpw-tray", description="the fpw tray app")
    parser.add_argument("--config", help="settings file (default: the user's)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    return main(config=args.config, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(cli())
