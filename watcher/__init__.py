"""The watcher: restarts stalled jobs, ends hopeless ones, deletes the data
of finished jobs. Any number may run at once: every change is a
conditional write on the state the sweep saw."""
