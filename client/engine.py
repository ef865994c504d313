"""The client engine: every face of the desktop agent drives this object.

Life of a drop: STAGING (chunks spooled, job signed) -> UPLOADING (record
created first, then chunks in parallel) -> WAITING (result polled) -> DONE
(decrypted result saved, original moved to ``done/``) or FAILED, or
SUPERSEDED when the file changed after it was taken (a newer drop carries
its final content) or its record was lost (the file is sent again). Each
phase is written to the state database before its side effects, so a restart
picks up where it stopped and never creates a second job for one drop.

The engine schedules drops through these phases. Each step is an object of
its own, passed in: the state (``client.state``), the folders
(``client.places``), sending (``client.upload``), collecting results and
receipts (``client.collect``); ``client.results`` polls the waiting drops and
``client.drops`` makes the last moves. A failing step fails its drop alone,
as the rules of ``client.outcomes`` say: the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.collect import Collector, Receipts
from client.drops import Drops, reason_note
from client.events import Listener, Listeners
from client.outcomes import NETWORK_ERRORS, SENDING, ErrorPolicy
from client.places import Places
from client.results import UNFINISHED, Expected, Results, poll_interval
from client.staging import fingerprint, stage_in
from client.state import Drop, Phase, State
from client.upload import Uploader
from shared import fleet, signing
from shared.config import Settings
from shared.errors import FpwError
from shared.keys import load_or_create_key
from shared.record import new_file_id
from shared.store import Store
from shared.table import JobTable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.aws import Aws

log = logging.getLogger(__name__)

# Jobs expire from the table a month after creation if nothing else sets a
# shorter time (the watcher and fetchers do once a job ends).
QUEUED_TTL_SECONDS = 30 * 24 * 3600
# A drop that ``fpw submit`` started is that process's to finish; another
# process sharing the state (the daemon) takes it over only once it has been
# left alone this long (the submitting command was interrupted).
ABANDONED_SECONDS = 300.0


class Engine:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        clock: Callable[[], float] = time.time,
        key: ec.EllipticCurvePrivateKey | None = None,
        places: Places | None = None,
        state: State | None = None,
        uploader: Uploader | None = None,
        collector: Collector | None = None,
        receipts: Receipts | None = None,
    ) -> None:
        """Each part not passed in is made from ``settings``; the default ``places``
        watch the inbox alone."""
        self.settings = settings
        cs = settings.client
        state_dir = cs.state_dir.expanduser()
        # The faces pass the key they loaded (keyring or file); the file is the default.
        self.key: ec.EllipticCurvePrivateKey = key or load_or_create_key(state_dir)
        self.client_id = signing.client_id(self.key.public_key())
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.state = state or State(state_dir / "state.db")
        self.places = places or Places.of(settings)
        store = Store(aws.s3)
        self.uploader = uploader or Uploader(
            self.table, store, self.state, state_dir / "spool", cs.upload_concurrency
        )
        if collector is None:
            pinned = fleet.pins(cs.fleet_keys)
            if not pinned:
                log.warning("no fleet key is pinned (client.fleet_keys): every result is refused")
            collector = Collector(store, self.key, pinned, cs.max_result_bytes)
        self.collector = collector
        self.receipts = receipts or Receipts(store, self.client_id, self.key)
        self.clock = clock
        self.listeners = Listeners()
        self.drops = Drops(self.state, self.places, self.uploader, self.listeners, clock)
        self.errors = ErrorPolicy(self.drops)
        self.results = Results(
            self.table,
            self.client_id,
            self.drops,
            self.collector,
            self.receipts,
            self.errors,
            resend=self._send_again,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fpw-job")
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        # Fingerprints of drops already said to be in hand (said once, not every rescan).
        self._in_hand: set[str] = set()
        # Drops the last full poll found waiting for their results.
        self._waiting = 0
        # Recently uploaded jobs: results are polled fast until they are expected done.
        self.expected = Expected(self.clock, settings.client)

    def submit(
        self,
        path: Path,
        params: dict[str, Any] | None = None,
        source: str = "api",
        *,
        previous: str | None = None,
        resends: int = 0,
    ) -> str | None:
        """Take a file; returns its job id, or None if this very drop is already in hand.

        ``previous`` is the drop this one is sent in place of (its record was lost).
        """
        path = self.places.take(path, watched=source == "watch")
        drop = Drop(
            file_id=new_file_id(),
            path=path,
            name=path.name,
            fingerprint=fingerprint(path),
            source=source,
            params=dict(params if params is not None else self.settings.client.params),
            phase=Phase.STAGING,
            job=None,
            recorded=False,
            error=None,
            result_path=None,
            created=self.clock(),
            updated=self.clock(),
        )
        if not self.state.add(drop):
            # Said once per drop: the periodic rescan finds a file in flight every time.
            level = logging.DEBUG if drop.fingerprint in self._in_hand else logging.INFO
            self._in_hand.add(drop.fingerprint)
            log.log(level, "%s is already being processed; ignoring the repeated event", path.name)
            return None
        if previous is not None:
            self.state.note_resend(drop.file_id, previous, resends)
        log.info("took %s as %s", path.name, drop.file_id)
        if source == "watch":
            self.drops.replace_older(drop)
        self.drops.tell(drop, Phase.STAGING)
        self._schedule(drop.file_id)
        return drop.file_id

    def _schedule(self, file_id: str) -> None:
        if not self.errors.room_again(file_id):
            return
        with self._active_lock:
            if file_id in self._active or self._stop.is_set() or self.paused:
                return
            self._active.add(file_id)
        self._jobs.submit(self._advance, file_id)

    def _advance(self, file_id: str) -> None:
        """Move one drop as far as it can go now; failures leave it to be retried."""
        try:
            found = self.state.get(file_id)
            if found is not None and found.phase is Phase.STAGING:
                found = self._stage(found)
            if found is not None and found.phase is Phase.UPLOADING:
                self._upload(found)
            self.errors.offline = False
            self.errors.went_well(file_id)
        except Exception as exc:
            self.errors.handle(file_id, "sending", exc, SENDING)
        finally:
            with self._active_lock:
                self._active.discard(file_id)
            self._wake.set()

    def _stage(self, drop: Drop) -> Drop | None:
        """Chunks and the signed job; None when the drop was superseded meanwhile."""
        cs = self.settings.client
        taken = fingerprint(drop.path)  # the content staged, checked unchanged by stage()
        staged = stage_in(
            self.uploader.spool, drop.path, drop.file_id, cs.chunk_size, cs.zstd_level
        )
        job = staged.job(
            drop.file_id,
            self.client_id,
            self.settings.aws.bucket,
            self.settings.aws.queue_shards,
            self.state.backlog_before(drop),
            drop.params,
        )
        job.expires = int(self.clock()) + QUEUED_TTL_SECONDS
        signing.sign_job(job, self.key)
        if not self.state.update(
            drop.file_id,
            self.clock(),
            expect=Phase.STAGING,
            phase=Phase.UPLOADING,
            job=job,
            fingerprint=taken,
            error=None,
        ):
            self.uploader.discard(drop.file_id)
            return None
        self.drops.tell(drop, Phase.UPLOADING, f"{job.chunks} chunk(s), {job.size} bytes")
        return self.state.get(drop.file_id)

    def _upload(self, drop: Drop) -> None:
        job = drop.job
        assert job is not None
        if not drop.recorded:
            self.uploader.record(job)
            self.state.update(drop.file_id, self.clock(), recorded=True)

        def progress(percent: float) -> None:
            self.drops.tell(drop, Phase.UPLOADING, progress=percent)

        self.uploader.send_chunks(job, progress)
        waiting = self.state.update(
            drop.file_id, self.clock(), expect=Phase.UPLOADING, phase=Phase.WAITING
        )
        self.uploader.discard(job.file)
        if not waiting:
            return  # superseded meanwhile: its result will not be collected
        self.expected.uploaded(job.file, job.size)
        self.drops.tell(drop, Phase.WAITING)
        log.info("%s uploaded (%d chunks); waiting for the result", drop.name, job.chunks)

    def _send_again(self, drop: Drop, resends: int) -> str | None:
        return self.submit(
            drop.path, drop.params, drop.source, previous=drop.file_id, resends=resends
        )

    def _ours(self, drop: Drop) -> bool:
        return drop.source != "submit" or self.clock() - drop.updated > ABANDONED_SECONDS

    def poll_results(self, only: str | None = None) -> int:
        """Check waiting drops once (or just ``only``); returns how many finished."""
        waiting = [
            d
            for d in self.state.in_phase(Phase.WAITING)
            if (d.file_id == only if only else self._ours(d)) and self.errors.room_again(d.file_id)
        ]
        if only is None:
            self._waiting = len(waiting)
        if not waiting:
            return 0
        statuses = self.results.statuses(waiting)
        self.errors.offline = False
        finished = self.results.collect(waiting, statuses)
        self.expected.forget(f for f, status in statuses.items() if status not in UNFINISHED)
        return finished

    def resume(self) -> None:
        """Pick up drops a previous run left unfinished."""
        for drop in self.state.in_phase(Phase.STAGING, Phase.UPLOADING):
            if not self._ours(drop):
                continue
            if drop.phase is Phase.STAGING and not drop.path.exists():
                self.drops.fail(drop.file_id, "the file disappeared before it was uploaded")
                continue
            self._schedule(drop.file_id)

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Drive uploads and result polling until stopped (or ``until()`` is true)."""
        self.resume()
        retry_at = 0.0
        while not self._stop.is_set():
            if until is not None and until():
                return
            polled = time.monotonic()
            try:
                self.poll_results()
            except NETWORK_ERRORS as exc:
                self.errors.offline = True
                log.warning("cannot reach AWS, will retry: %s", exc)
            except FpwError as exc:
                log.warning("result poll failed: %s", exc)
            except Exception:
                # This thread drives every result: it must outlive any one failure.
                log.exception("result poll failed; will retry")
            if self.clock() >= retry_at:
                self.resume()
                retry_at = self.clock() + 10.0
            base = self.expected.interval()
            spacing = poll_interval(self._waiting, base)
            self._wake.wait(spacing)
            self._wake.clear()
            # A wake (an upload just finished) brings a small backlog's poll forward;
            # a large backlog keeps its spacing, as each poll reads all of it.
            if spacing > base:
                self._stop.wait(polled + spacing - time.monotonic())

    def _known(self, file_id: str) -> Drop:
        drop = self.state.get(file_id)
        if drop is None:
            raise FpwError(f"unknown job {file_id}")
        return drop

    def wait(self, file_id: str, timeout: float | None = None) -> Drop:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            drop = self._known(file_id)
            if drop.phase is Phase.SUPERSEDED:
                successor = self.state.successor(file_id)
                if successor is not None:
                    file_id = successor  # sent again: its result is this file's
                    continue
            if drop.phase.finished:
                return drop
            if deadline is not None and self.clock() > deadline:
                raise FpwError(f"no result after {timeout} s", job=file_id)
            if self._stop.is_set():
                raise FpwError("stopped while waiting", job=file_id)
            if drop.phase is not Phase.WAITING:
                self._schedule(file_id)  # retries an upload a network error interrupted
            self.poll_results(only=file_id)
            time.sleep(min(self.expected.interval(only=file_id), 0.5))

    def wait_uploaded(self, file_id: str, timeout: float) -> Drop:
        """Block until the drop no longer needs this process (uploaded or failed)."""
        deadline = self.clock() + timeout
        while True:
            drop = self._known(file_id)
            if drop.phase in (Phase.WAITING, Phase.DONE, Phase.FAILED):
                return drop
            if self.clock() > deadline:
                raise FpwError(f"upload not finished after {timeout} s", job=file_id)
            self._schedule(file_id)  # retries an upload a network error interrupted
            self._wake.wait(1.0)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._jobs.shutdown(wait=True, cancel_futures=True)
        self.uploader.close()
        self.state.close()

    # -- control (for the tray, the CLI and the API) ----------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (from engine threads) for every event."""
        self.listeners.add(listener)

    @property
    def paused(self) -> bool:
        return self.uploader.paused.is_set()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume sending; results of jobs already sent still arrive."""
        if paused:
            self.uploader.paused.set()
            log.info("sending paused")
        else:
            self.uploader.paused.clear()
            log.info("sending resumed")
            self.resume()
            self._wake.set()

    def retry(self, file_id: str) -> str | None:
        """Send a failed drop's file again as a new job; the failed row is hidden."""
        drop = self.state.get(file_id)
        if drop is None or drop.phase is not Phase.FAILED:
            raise FpwError("only a failed job can be retried", job=file_id)
        if not drop.path.is_file():
            raise FpwError(f"{drop.name} is no longer at {drop.path}", job=file_id)
        new_id = self.submit(drop.path, drop.params, source=drop.source)
        self.state.hide(file_id)
        # The reason written beside it in failed/ is stale now.
        reason_note(drop.path).unlink(missing_ok=True)
        return new_id
