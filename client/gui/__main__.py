"""``python -m client.gui`` (and the PyInstaller bundle's entry point).

Started from an older version's folder (an autostart entry, a shortcut), a
bundle hands over to the version that ``current`` names, so installing an
update is enough to move every way of starting fpw to it.
"""

from __future__ import annotations

import argparse
import os
import sys

from shared import __version__


def _hand_off(config: str | None) -> None:
    """Run the installed current version instead of this one, when they differ."""
    from client import updates
    from shared.config import load_settings

    try:
        root = updates.install_root(load_settings(config))
    except Exception:  # a broken settings file is reported by the app itself
        return
    program = updates.Installation(root).hand_off(__version__)
    if program is not None:
        os.environ[updates.HANDED_OFF] = "1"
        os.execv(program, [str(program), *sys.argv[1:]])


def _update(config: str | None, install: bool) -> int:
    """The command-line way to ask for an update (the same checks as the tray's)."""
    from client import updates
    from shared.config import load_settings
    from shared.errors import FpwError
    from shared.logs import setup

    setup(json_lines=False)
    settings = load_settings(config)
    try:
        if not install:
            info = updates.check(settings)
            print(info.message)
            if info.notes:
                print(info.notes)
            return 0
        installed = updates.install(settings)
    except FpwError as exc:
        print(f"fpw: {exc}", file=sys.stderr)
        return 1
    print(f"installed fpw {installed.version}; starting it", flush=True)
    argv = [a for a in sys.argv[1:] if a != "--install-update"]
    os.environ[updates.HANDED_OFF] = "1"
    os.execv(installed.executable, [str(installed.executable), *argv])


def cli() -> int:
    parser = argparse.ArgumentParser(prog="fpw-tray", description="the fpw tray app")
    parser.add_argument("--version", action="version", version=f"fpw {__version__}")
    parser.add_argument("--config", help="settings file (default: the user's)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--check-updates", action="store_true", help="say whether a newer version exists, and exit"
    )
    parser.add_argument(
        "--install-update",
        action="store_true",
        help="install the newest verified version, then start it",
    )
    args = parser.parse_args()
    if args.check_updates or args.install_update:
        return _update(args.config, args.install_update)
    if getattr(sys, "frozen", False):
        _hand_off(args.config)
    from client.gui.app import main

    return main(config=args.config, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(cli())
