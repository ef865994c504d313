"""Runtime hook: the version stamped into the bundle at build time is the
one the app reports and writes into every job (``shared.__version__``)."""

import os
import sys

import shared

_stamp = os.path.join(getattr(sys, "_MEIPASS", ""), "fpw-version.txt")
if os.path.isfile(_stamp):
    with open(_stamp, encoding="utf-8") as _file:
        shared.__version__ = _file.read().strip() or shared.__version__
