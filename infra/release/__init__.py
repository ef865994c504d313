"""Release tooling: the desktop bundle (PyInstaller) and its signed updates.

Nothing that runs in the fleet or on a desktop imports it.
"""
