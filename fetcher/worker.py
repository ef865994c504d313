"""The fetcher's main loop: find a job, claim it, run it through the pipeline.

Work is found through the sparse queue index (at start, when idle and on a
jittered timer), so a job is never missed because nobody was listening when
it was created; stream hints only bring a claim forward. Claiming lives in
``fetcher.claims``, the steps of a job in ``fetcher.pipeline``, the fenced
writes and the heartbeat in ``fetcher.fences``, presence in ``fetcher.announce``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from fetcher.announce import Announcer
from fetcher.claims import Claim, Claimer
from fetcher.fences import Fences
from fetcher.hints import StreamHints, start_hints
from fetcher.pipeline import Pipeline
from fetcher.protection import TaskProtection
from fetcher.scratch import Scratch
from shared import fleet
from shared.clients import Clients
from shared.config import Settings
from shared.errors import TransientError
from shared.reasons import clean_reason
from shared.table import JobTable
from shared.versions import satisfies

if TYPE_CHECKING:
    from shared.aws import Aws

log = logging.getLogger(__name__)

FAILURE_PAUSE_SECONDS = 1.0
"""Pause after a failure that escaped one job's handling, before the next poll."""


class Fetcher:
    """One fetcher: a holder of at most one job at a time."""

    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fs = settings.fetcher
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.holder = holder or f"processor-{uuid.uuid4()}"
        self.clock = clock
        self.stopping = threading.Event()
        self.scratch = Scratch(self.merge_dir, self.holder)
        self.fences = Fences(settings, self.table, clock)
        self.claimer = Claimer(
            settings, self.table, self.holder, self.merge_dir, self._unreadable, clock
        )
        # Loaded at start: a fetcher without the fleet key could only make
        # results that every desktop refuses.
        signer = fleet.load_signer(self.fs.fleet_key_pem, self.fs.fleet_key_file)
        clients = Clients(aws.dynamodb, settings.aws.clients_table)
        self.pipeline = Pipeline(settings, aws.s3, clients, self.fences, signer, clock)
        self.announcer = Announcer(settings, self.table, aws.s3, self.holder, clock)
        self.hints: StreamHints | None = None
        self.current: Claim | None = None
        # On ECS, scale-in spares a task while it holds a job; the protection
        # lapses by itself after the longest a job may take.
        self.protection = TaskProtection.from_env(
            self.fs.chunk_wait_seconds + self.fs.analysis_deadline_seconds + 600
        )

    @property
    def merge_dir(self) -> Path:
        """Where merged files are written: the volume shared with the processor, if any."""
        return self.fs.processor_shared_dir or self.fs.work_dir

    def run_once(self) -> bool:
        """Claim and finish at most one job; True if one was handled."""
        claim = self.claimer.next(self.stopping)
        if claim is None:
            return False
        self.handle(claim)
        return True

    def run(self) -> None:
        log.info("fetcher %s started; processor at %s", self.holder, self.fs.processor_url)
        self._open_scratch()
        self.hints = start_hints(self.aws, self.table, self.holder, self.fs, self.clock)
        try:
            while not self.stopping.is_set():
                self.announcer.tick()
                try:
                    busy = self.run_once()
                except (TransientError, BotoCoreError) as exc:
                    log.warning("cannot read the queue, will retry: %s", exc)
                    busy = False
                except Exception as exc:
                    # One job, record or answer must never stop the fetcher.
                    self._survive("a job", exc)
                    busy = False
                if not busy:
                    try:
                        # Jitter keeps a fleet from polling the index in lock-step.
                        self._idle(self.fs.poll_seconds * random.uniform(0.5, 1.5))
                    except (TransientError, BotoCoreError) as exc:
                        log.warning("cannot claim an announced job, will retry: %s", exc)
                    except Exception as exc:
                        self._survive("an announced job", exc)
        finally:
            if self.hints is not None:
                self.hints.stop()
            self.scratch.close()

    def _survive(self, what: str, exc: Exception) -> None:
        """Log a failure that escaped one job's handling in one line, then go on."""
        name = self.claimer.last_file or what
        log.error(
            "failure on %s, going on: %s: %s",
            name,
            type(exc).__name__,
            clean_reason(exc, 300),
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        self.stopping.wait(FAILURE_PAUSE_SECONDS)

    def _open_scratch(self) -> None:
        """Lock this run's merged files and remove those of fetchers that died (once)."""
        try:
            self.scratch.open()
        except OSError as exc:
            log.warning("cannot lock the scratch folder %s: %s", self.scratch.folder, exc)

    def _unreadable(self, file_id: str, raw: dict[str, object], reason: str) -> None:
        self.fences.fail_unreadable(file_id, self.holder, raw, reason)

    def _idle(self, seconds: float) -> None:
        """Wait for the next poll, or less when the stream announces a job."""
        if self.hints is None:
            self.stopping.wait(seconds)
            return
        hint = self.hints.next(timeout=seconds)
        if hint is None or self.stopping.is_set():
            return
        if not satisfies(hint.version, self.fs.supported_versions):
            return
        claim = self.claimer.claim(hint.file)
        if claim is not None:
            self.handle(claim)

    def stop(self) -> None:
        self.stopping.set()

    def shutdown(self, grace: float) -> bool:
        """Stop claiming; finish the job at hand within ``grace`` s or give it back.

        Returns True when nothing was left half-done. Giving back is fenced like
        every write, so it cannot undo a completion that won the race.
        """
        self.stopping.set()
        claim = self.current
        if claim is None or claim.done.wait(grace):
            return True
        log.warning(
            "%s not finished within the %.0f s shutdown grace; giving it back",
            claim.job.file,
            grace,
            extra=claim.extra(),
        )
        self.fences.release(claim, "the fetcher shut down")
        claim.lost.set()
        return False

    def handle(self, claim: Claim) -> None:
        """Work on one claimed job, heartbeating it, until the pipeline has ended it."""
        self.current = claim
        if self.protection is not None:
            self.protection.set(True)
        beat = threading.Thread(target=self.fences.heartbeat, args=(claim,), daemon=True)
        beat.start()
        # With a volume shared with the processor, the merged file is handed
        # over by name instead of streamed through HTTP (multi-gigabyte files).
        merged = self.scratch.path(claim.job.file)
        self._open_scratch()  # a run of one job (fetcher --once) locks its files too
        try:
            self.pipeline.run(claim, merged)
        finally:
            claim.lost.set()  # stops the heartbeat
            beat.join(timeout=5)
            merged.unlink(missing_ok=True)
            self.current = None
            if self.protection is not None:
                self.protection.set(False)
            claim.done.set()
