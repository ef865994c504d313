"""The bundle's program: the tray app (``client.gui.__main__``)."""

import sys

from client.gui.__main__ import cli

sys.exit(cli())
