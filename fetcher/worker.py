"""The fetcher's main loop: find a job, claim it, run it through the pipeline.

Work is found through the sparse queue index (at start, when idle and on a
jittered timer), so a job is never missed because nobody was listening when
it was created; stream hints only bring a claim forward. Pipelined (the
default), the fetcher keeps the container's capacity of analyses in flight and
prepares the next jobs on threads of their own meanwhile (``fetcher.feed``
bounds both); otherwise it does one job at a time. Claiming lives in
``fetcher.claims``, the steps of a job in ``fetcher.pipeline``, the fenced
writes and the heartbeat in ``fetcher.fences``, presence in ``fetcher.announce``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from fetcher.announce import Announcer
from fetcher.claims import Claim, Claimer
from fetcher.feed import Feed, Place
from fetcher.fences import Fences
from fetcher.hints import StreamHints, start_hints
from fetcher.pipeline import Pipeline
from fetcher.processor_client import capacity
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
CAPACITY_READ_SECONDS = 60.0
"""How often a pipelined fetcher asks the container its capacity again."""
PLACE_WAIT_SECONDS = 1.0
"""Longest wait for a free waiting place before the loop looks around again."""
PREPARING = frozenset({"claimed", "verify", "download", "wait"})
"""Phases of a job not yet analysed: on shutdown it is given back at once."""


class Fetcher:
    """One fetcher: a holder of one job at a time, or pipelined of as many as its
    container takes at once plus those it prepares meanwhile."""

    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fs = settings.fetcher
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.holder = holder or f"processor-{uuid.uuid4()}"
        self.clock = clock
        self.stopping = threading.Event()
        # Merged files go to the volume shared with the processor, if any.
        merge_dir = self.fs.processor_shared_dir or self.fs.work_dir
        self.scratch = Scratch(merge_dir, self.holder)
        self.fences = Fences(settings, self.table, clock)
        self.claimer = Claimer(
            settings, self.table, self.holder, merge_dir, self.fences.fail_unreadable, clock
        )
        # Loaded at start: a fetcher without the fleet key could only make
        # results that every desktop refuses.
        signer = fleet.load_signer(self.fs.fleet_key_pem, self.fs.fleet_key_file)
        clients = Clients(aws.dynamodb, settings.aws.clients_table)
        self.pipeline = Pipeline(settings, aws.s3, clients, self.fences, signer)
        self.announcer = Announcer(settings, self.table, aws.s3, self.holder, clock)
        self.hints: StreamHints | None = None
        self.held: dict[str, Claim] = {}
        """Jobs this fetcher holds now, by id."""
        self._held_lock = threading.Lock()
        self.feed = Feed(max(1, self.fs.processor_capacity), self.fs.prefetch_jobs)
        self._capacity_read = float("-inf")
        # On ECS, scale-in spares a task while it holds a job; the protection
        # lapses by itself after the longest a job may take.
        self.protection = TaskProtection.from_env(
            self.fs.chunk_wait_seconds + self.fs.analysis_deadline_seconds + 600
        )

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
            if self.fs.pipelined:
                self._run_pipelined()
                return
            while not self.stopping.is_set():
                self.announcer.tick()
                busy = False
                try:
                    busy = self.run_once()
                except (TransientError, BotoCoreError) as exc:
                    log.warning("cannot read the queue, will retry: %s", exc)
                except Exception as exc:
                    # One job, record or answer must never stop the fetcher.
                    self._survive("a job", exc)
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

    def _run_pipelined(self) -> None:
        """Claim whenever a waiting place is free; each job runs on its own thread."""
        while not self.stopping.is_set():
            self.announcer.tick()
            self._read_capacity()
            place = self.feed.place(timeout=0.0)
            if place is None:
                # Enough jobs prepared: read the queue meanwhile, so that the claim
                # made when a place frees need not wait for it.
                self.claimer.read_ahead(PLACE_WAIT_SECONDS)
                place = self.feed.place(timeout=PLACE_WAIT_SECONDS)
            if place is None:
                continue  # wait on for a slot to take one of those prepared
            try:
                claim = self.claimer.next(self.stopping)
                if claim is None:
                    # Jitter keeps a fleet from polling the index in lock-step.
                    claim = self._idle(self.fs.poll_seconds * random.uniform(0.5, 1.5), place)
                if claim is not None:
                    self._start(claim, place)
                    place = None
            except (TransientError, BotoCoreError) as exc:
                log.warning("cannot read the queue, will retry: %s", exc)
                self.stopping.wait(FAILURE_PAUSE_SECONDS)
            except Exception as exc:
                self._survive("a job", exc)
            finally:
                if place is not None:
                    place.give_up()
        # Stopped: the jobs at hand end (or ``shutdown`` gives them back) before the
        # scratch folder's lock goes.
        with self._held_lock:
            claims = list(self.held.values())
        for claim in claims:
            claim.done.wait()

    def _start(self, claim: Claim, place: Place) -> None:
        """Work on ``claim`` on a thread of its own, holding ``place`` until its analysis.

        Registered as held first, under the lock ``shutdown`` reads it with: a job
        claimed as the fetcher stops is either seen there or given back here."""
        with self._held_lock:
            stopped = self.stopping.is_set()
            if not stopped:
                self.held[claim.job.file] = claim
        if stopped:
            self.fences.release(claim, "the fetcher shut down")
            place.give_up()
            return
        name = f"job-{claim.job.file[:8]}"
        threading.Thread(
            target=self._handle_pipelined, args=(claim, place), name=name, daemon=True
        ).start()

    def _handle_pipelined(self, claim: Claim, place: Place) -> None:
        try:
            self.handle(claim, self.feed.slot(place, claim.lost, claim.job.file))
        except Exception as exc:
            self._survive(claim.job.file, exc)
        finally:
            place.give_up()

    def _read_capacity(self) -> None:
        """The container's declared capacity, unless a setting fixes it; read now and then,
        so that a container replaced by a bigger one is used fully."""
        now = time.monotonic()
        if self.fs.processor_capacity > 0 or now - self._capacity_read < CAPACITY_READ_SECONDS:
            return
        declared = capacity(self.fs.processor_url)
        if declared is None:
            self._capacity_read = now - CAPACITY_READ_SECONDS + 5.0  # ask again soon
            return
        self._capacity_read = now
        if declared != self.feed.slots.limit:
            log.info("the processor takes %d analyses at once", declared)
            self.feed.resize(declared)

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

    def _idle(self, seconds: float, place: Place | None = None) -> Claim | None:
        """Wait for the next poll, or less when the stream announces a job. The job
        announced is handled here, or returned when pipelined (``place`` given)."""
        if self.hints is None:
            self.stopping.wait(seconds)
            return None
        hint = self.hints.next(timeout=seconds)
        if hint is None or self.stopping.is_set():
            return None
        if not satisfies(hint.version, self.fs.supported_versions):
            return None
        with self._held_lock:
            if hint.file in self.held:
                # Claimed from the index before its record was read from the stream.
                # Claimed again, the claim's refusal would read as our own lost answer.
                return None
        size = None if self.fs.peek_hinted_jobs else hint.size
        claim = self.claimer.claim(hint.file, size)
        if claim is not None and place is None:
            self.handle(claim)
            return None
        return claim

    def shutdown(self, grace: float) -> bool:
        """Stop claiming; give back at once the jobs not yet analysed (pipelined: the
        next ones must not wait for the current ones), finish the others within
        ``grace`` s or give them back too.

        Returns True when nothing was left half-done. Giving back is fenced like
        every write, so it cannot undo a completion that won the race.
        """
        with self._held_lock:
            self.stopping.set()
            claims = list(self.held.values())
        for claim in claims:
            if self.fs.pipelined and claim.phase in PREPARING and not claim.done.is_set():
                self._give_back(claim, "not analysed yet")
        deadline = time.monotonic() + grace
        clean = True
        for claim in claims:
            if claim.done.wait(max(0.0, deadline - time.monotonic())):
                continue
            self._give_back(claim, f"not finished within the {grace:.0f} s shutdown grace")
            clean = False
        return clean

    def _give_back(self, claim: Claim, why: str) -> None:
        log.warning("%s %s; giving it back", claim.job.file, why, extra=claim.extra())
        claim.lost.set()  # first: no step of it writes again
        self.fences.release(claim, "the fetcher shut down")

    def handle(
        self, claim: Claim, slot: contextlib.AbstractContextManager[None] | None = None
    ) -> None:
        """Work on one claimed job, heartbeating it, until the pipeline has ended it
        (``slot``: see ``Pipeline.run``)."""
        with self._held_lock:
            first = not self.held or list(self.held) == [claim.job.file]
            self.held[claim.job.file] = claim
        if first and self.protection is not None:
            self.protection.set(True)
        beat = threading.Thread(target=self.fences.heartbeat, args=(claim,), daemon=True)
        beat.start()
        # With a volume shared with the processor, the merged file is handed
        # over by name instead of streamed through HTTP (multi-gigabyte files).
        merged = self.scratch.path(claim.job.file)
        self._open_scratch()  # a run of one job (fetcher --once) locks its files too
        try:
            self.pipeline.run(claim, merged, slot)
        finally:
            claim.lost.set()  # stops the heartbeat
            beat.join(timeout=5)
            merged.unlink(missing_ok=True)
            with self._held_lock:
                self.held.pop(claim.job.file, None)
                last = not self.held
            if last and self.protection is not None:
                self.protection.set(False)
            claim.done.set()
