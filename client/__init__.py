"""The desktop agent: watch folders, chunk+compress+hash, sign, create the
job, upload chunks, then collect and decrypt results.

One engine (``client.engine.Engine``) serves every face: the headless
daemon, ``fpw submit``, the Python API and the tray app.
"""
