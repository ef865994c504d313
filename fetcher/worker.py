"""The fetcher's main loop: find, claim, verify, merge, analyze, deliver.

Work is found through the sparse queue index (at start, when idle and on a
jittered timer), so a job is never missed because nobody was listening when
it was created. Every write after the claim is fenced with the claim's
``attempts`` token; a heartbeat thread keeps the claim alive and notices at
once when the watcher has taken the job away.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from botocore.exceptions import BotoCoreError, ClientError

from fetcher import processor_client
from fetcher.hints import StreamHints, lease_bound_streams
from fetcher.lease import StreamLease
from fetcher.polling import CLAIM_SPREAD, claim_spread, give_up_after
from fetcher.processor_client import Busy, analyze, progress
from fetcher.protection import TaskProtection
from fetcher.scratch import Scratch
from fetcher.transfer import UploadAbandoned, merge
from shared import __version__, fleet, hpke, presence, profiles, signing, transitions
from shared.config import Settings
from shared.disk import disk_full, free_bytes, room_for
from shared.errors import (
    ClaimLost,
    FpwError,
    IntegrityError,
    PermanentError,
    RecordTooLarge,
    TransientError,
    UnknownClientError,
)
from shared.reasons import clean_reason
from shared.record import (
    RESULTS_POINTER_PREFIX,
    Job,
    Status,
    chunk_key,
    from_item,
    iso,
    queue_shard,
    results_key,
    utc_now,
)
from shared.table import JobTable
from shared.versions import satisfies

if TYPE_CHECKING:
    from shared.aws import Aws

log = logging.getLogger(__name__)

# Room a merged file needs beyond its own size (the processor's scratch files).
ROOM_MARGIN_BYTES = 1024 * 1024
# A job that does not fit is mentioned again after this long, not at every poll.
NO_ROOM_LOG_SECONDS = 60.0
# A record too large to take an ERROR write loses the attributes bigger than
# this (they hold nothing the client or the watcher needs of a failed job).
BULKY_BYTES = 1024
# What a bulky attribute becomes when the record must keep the field to stay
# readable; any other bulky attribute is removed.
EMPTIED: dict[str, Any] = {
    "chunk_sha256": [],
    "params": {},
    "version": "",
    "bucket": "",
    "sha256": "",
    "compression": "",
    "rank": "",
    "content_type": "application/octet-stream",
}
KEPT = frozenset({"file", "client", "status", "processor", "attempts", "created"})
# Pause after a failure that escaped one job's handling, before the next poll.
FAILURE_PAUSE_SECONDS = 1.0
PROFILES_EVERY_SECONDS = 6 * 3600.0
"""How often a fetcher publishes its processor's profiles again (shared.profiles)."""
PROFILES_RETRY_SECONDS = 60.0
"""How soon it asks again when the processor did not answer (still starting, say)."""


def pick(backlog: int, spread: int = CLAIM_SPREAD) -> int:
    """Which of ``backlog`` candidates, in rank order, to try next."""
    return random.randrange(min(backlog, spread))


class Held:
    """A claimed job and the token that fences every write about it."""

    def __init__(self, job: Job, processor: str, bulky: frozenset[str] = frozenset()) -> None:
        self.job = job
        self.processor = processor
        self.token = job.attempts
        self.bulky = bulky
        """Attributes of the claimed record to drop should it have to shrink."""
        self.deadline: float | None = None
        """When the analysis must be over (monotonic), once it has started."""
        self.lost = threading.Event()
        """Set when the claim is gone (reaped, given back) or the work is over."""
        self.done = threading.Event()
        """Set when the fetcher has finished with the job, whatever the outcome."""
        self.phase = "claimed"
        self.durations_ms: dict[str, int] = {}

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        self.phase = phase
        started = time.monotonic()
        try:
            yield
        finally:
            self.durations_ms[phase] = round((time.monotonic() - started) * 1000)

    def overdue(self) -> bool:
        """Whether the analysis has run past its deadline (the call is being cut off)."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def extra(self, **more: Any) -> dict[str, Any]:
        """Log fields: the job, a prefix of the client id (never a key), phase, attempt."""
        return {
            "job": self.job.file,
            "client": self.job.client[:15],
            "phase": self.phase,
            "attempt": self.token,
            **more,
        }


class Fetcher:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        processor_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fs = settings.fetcher
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.processor_id = processor_id or f"processor-{uuid.uuid4()}"
        # Loaded at start: a fetcher without the fleet key could only make
        # results that every desktop refuses.
        self.fleet = fleet.load_signer(self.fs.fleet_key_pem, self.fs.fleet_key_file)
        self.clock = clock
        self.stopping = threading.Event()
        self.work_dir = self.fs.work_dir
        self.scratch = Scratch(self.merge_dir, self.processor_id)
        self.hints: StreamHints | None = None
        self.current: Held | None = None
        self._last_file = ""
        """The job last claimed or tried, for the log line of a failure that escapes it."""
        self._announced = float("-inf")
        self._profiles_published = float("-inf")
        self._no_room: dict[str, float] = {}
        self._backlog: list[dict[str, Any]] = []
        """The rest of the last index read, in rank order."""
        self._backlog_read = float("-inf")
        """Jobs left queued for want of disk space, and when that was last logged."""
        # On ECS, scale-in spares a task while it holds a job; the protection
        # lapses by itself after the longest a job may take.
        self.protection = TaskProtection.from_env(
            self.fs.chunk_wait_seconds + self.fs.analysis_deadline_seconds + 600
        )

    # -- finding and claiming --------------------------------------------

    def candidates(self) -> list[dict[str, Any]]:
        """Queued jobs this fetcher supports, in rank order across all shards.

        Rank is each job's place in its client's backlog, so this order serves
        clients round-robin (see ``shared.record.queue_rank``).
        """
        found: list[dict[str, Any]] = []
        for shard in range(self.settings.aws.queue_shards):
            found.extend(self.table.queued(f"q{shard}"))
        found.sort(key=lambda item: str(item.get("rank", "")))
        return [
            item
            for item in found
            if satisfies(str(item.get("version", "")), self.fs.supported_versions)
        ]

    @property
    def merge_dir(self) -> Path:
        """Where merged files are written: the volume shared with the processor, if any."""
        return self.fs.processor_shared_dir or self.work_dir

    def claim(self, file_id: str) -> Held | None:
        self._last_file = file_id
        if not self._fits(file_id):
            return None
        update = transitions.claim(self.processor_id, iso(utc_now()))
        try:
            raw = self.table.apply_raw(file_id, update)
        except ClaimLost as exc:
            current = exc.current
            if not held_by(current, self.processor_id):
                return None
            # Our own claim: its answer was lost on the way back and the SDK's
            # retry found the job already ours. Dropping it here would leave it
            # PROCESSING with nobody at work until the watcher reaps it.
            log.info("%s: the answer to our claim was lost; the job is ours", file_id)
            raw = current
        except FpwError as exc:
            # A record the claim itself cannot update (a field of the wrong
            # type): leave it to the watcher, which ends it, and go on.
            log.warning("cannot claim %s: %s", file_id, exc)
            return None
        try:
            job = from_item(raw)
        except IntegrityError as exc:
            self._end_unreadable(file_id, raw, exc.message)
            return None
        held = Held(job, self.processor_id, bulky_attributes(raw))
        log.info("claimed %s (attempt %d)", file_id, job.attempts, extra=held.extra())
        return held

    def _fits(self, file_id: str) -> bool:
        """Whether a queued job's merged file fits in ``merge_dir`` now (False too when
        it is no longer queued).

        Read before the claim: a claim spends one of the job's attempts, so a job
        too big for this disk is left queued, for a fetcher with room or for this
        one once space is freed, instead of ending in ERROR after a few claims.
        """
        try:
            answer = self.aws.dynamodb.get_item(
                TableName=self.settings.aws.table,
                Key={"file": {"S": file_id}},
                ProjectionExpression="#size, #status, #processor",
                ExpressionAttributeNames={
                    "#size": "size",
                    "#status": "status",
                    "#processor": "processor",
                },
            )
        except (BotoCoreError, ClientError) as exc:
            log.warning("cannot read %s before claiming it: %s", file_id, exc)
            return False
        item = answer.get("Item") or {}
        if item.get("status") != {"S": Status.QUEUED.value} or "processor" in item:
            return False  # taken or ended since the index was read
        try:
            needed = int(item["size"]["N"]) + ROOM_MARGIN_BYTES
        except (KeyError, TypeError, ValueError):
            return True  # a record the claim will find unreadable, and end
        if needed <= free_bytes(self.merge_dir):
            self._no_room.pop(file_id, None)
            return True
        now = self.clock()
        if now - self._no_room.get(file_id, float("-inf")) >= NO_ROOM_LOG_SECONDS:
            self._no_room = {f: t for f, t in self._no_room.items() if now - t < 3600}
            self._no_room[file_id] = now
            error = disk_full(self.merge_dir, needed, f"job {file_id}", setting="fetcher.work_dir")
            log.warning("%s; the job stays queued for a fetcher with room", error)
        return False

    def run_once(self) -> bool:
        """Claim and finish at most one job; True if one was handled.

        The index is read again only once the last read is used up or older than
        ``poll_seconds``: a fetcher that finishes small jobs quickly takes the next
        ones from that read instead of querying every shard after each job (the
        claim's own check skips those others took meanwhile).
        """
        if not self._backlog or self.clock() - self._backlog_read > self.fs.poll_seconds:
            self._backlog = self.candidates()
            self._backlog_read = self.clock()
        spread = claim_spread(self.fs.fleet_size, self.fs.claim_spread)
        missed = 0
        while self._backlog and not give_up_after(missed, self.fs.claim_misses):
            if self.stopping.is_set():
                return False
            held = self.claim(str(self._backlog.pop(pick(len(self._backlog), spread))["file"]))
            if held is not None:
                self.handle(held)
                return True
            missed += 1
        self._backlog = []  # the rest of a read others have emptied is not worth its reads
        return False

    def run(self) -> None:
        log.info("fetcher %s started; processor at %s", self.processor_id, self.fs.processor_url)
        self._open_scratch()
        self.hints = self._start_hints()
        try:
            while not self.stopping.is_set():
                self._announce()
                try:
                    busy = self.run_once()
                except (TransientError, BotoCoreError, ClientError) as exc:
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
                    except (TransientError, BotoCoreError, ClientError) as exc:
                        log.warning("cannot claim an announced job, will retry: %s", exc)
                    except Exception as exc:
                        self._survive("an announced job", exc)
        finally:
            if self.hints is not None:
                self.hints.stop()
            self.scratch.close()

    def _survive(self, what: str, exc: Exception) -> None:
        """Log a failure that escaped one job's handling in one line, then go on."""
        name = self._last_file or what
        log.error(
            "failure on %s, going on: %s: %s",
            name,
            type(exc).__name__,
            clean_reason(exc, 300),
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        self.stopping.wait(FAILURE_PAUSE_SECONDS)

    def publish_profiles(self) -> bool:
        """Publish the processor's profiles for desktops to offer as a form; best effort.

        Validated before writing, so a fleet never publishes what desktops
        would refuse; a processor without ``GET /profiles`` publishes nothing.
        """
        try:
            body = processor_client.profiles(self.fs.processor_url)
        except TransientError as exc:
            log.info("profiles not published yet: %s", clean_reason(exc, 300))
            # Ask again in a minute rather than at the next regular publication.
            self._profiles_published += PROFILES_RETRY_SECONDS - PROFILES_EVERY_SECONDS
            return False
        if body is None:
            log.info("the processor lists no profiles; desktops edit params as JSON")
            return False
        try:
            found = profiles.loads(body)
            profiles.publish(self.aws.s3, self.settings.aws.bucket, found)
        except IntegrityError as exc:
            log.warning("the processor's profiles are not published: %s", clean_reason(exc, 300))
            return False
        except (BotoCoreError, ClientError) as exc:
            log.warning("cannot publish the processor's profiles: %s", clean_reason(exc, 300))
            return False
        log.info("published %d processing profiles", len(found.profiles))
        return True

    def _open_scratch(self) -> None:
        """Lock this run's merged files and remove those of fetchers that died (once)."""
        try:
            self.scratch.open()
        except OSError as exc:
            log.warning("cannot lock the scratch folder %s: %s", self.scratch.folder, exc)

    def _announce(self) -> None:
        """Tell ops (``fpw status``) this fetcher is alive and what it takes; best effort."""
        now = self.clock()
        if now - self._profiles_published >= PROFILES_EVERY_SECONDS:
            # At start, then again now and then: the bucket's lifecycle
            # expires every object, and a processor may be upgraded in place.
            self._profiles_published = now
            self.publish_profiles()
        if now - self._announced < presence.EVERY_SECONDS:
            return
        self._announced = now
        me = presence.Presence(
            self.processor_id, __version__, self.fs.supported_versions, utc_now()
        )
        try:
            self.table.apply_raw(
                presence.PRESENCE_PREFIX + self.processor_id,
                presence.announce(me, int(now) + presence.KEEP_SECONDS),
            )
        except (FpwError, BotoCoreError, ClientError) as exc:
            log.debug("presence not recorded: %s", exc)

    def _start_hints(self) -> StreamHints | None:
        """Read the stream when a lease slot is free; without one, the index is enough."""
        if self.fs.stream_readers <= 0:
            return None
        try:
            arn = self.aws.stream_arn()
        except (BotoCoreError, ClientError) as exc:
            log.warning("cannot find the job stream, using the queue index only: %s", exc)
            return None
        if not arn:
            log.warning("the jobs table has no stream; using the queue index only")
            return None
        lease = StreamLease(
            self.table,
            self.processor_id,
            slots=self.fs.stream_readers,
            seconds=self.fs.lease_seconds,
            clock=self.clock,
        )
        hints = StreamHints(
            lease,
            lease_bound_streams(self.aws, self.fs.lease_seconds),
            arn,
            poll_seconds=self.fs.stream_poll_seconds,
            clock=self.clock,
        )
        hints.start()
        return hints

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
        held = self.claim(hint.file)
        if held is not None:
            self.handle(held)

    def stop(self) -> None:
        self.stopping.set()

    def shutdown(self, grace: float) -> bool:
        """Stop claiming; finish the job at hand within ``grace`` s or give it back.

        Returns True when nothing was left half-done. Giving back is fenced like
        every write, so it cannot undo a completion that won the race.
        """
        self.stopping.set()
        held = self.current
        if held is None or held.done.wait(grace):
            return True
        log.warning(
            "%s not finished within the %.0f s shutdown grace; giving it back",
            held.job.file,
            grace,
            extra=held.extra(),
        )
        self._give_back(held, "the fetcher shut down")
        held.lost.set()
        return False

    # -- one job ------------------------------------------------------------

    def handle(self, held: Held) -> None:
        job = held.job
        self.current = held
        if self.protection is not None:
            self.protection.set(True)
        beat = threading.Thread(target=self._heartbeat, args=(held,), daemon=True)
        beat.start()
        # With a volume shared with the processor, the merged file is handed
        # over by name instead of streamed through HTTP (multi-gigabyte files).
        merged = self.scratch.path(job.file)
        try:
            with held.timed("verify"):
                self._check_attempts(held)
                self._verify(job)
            self._open_scratch()  # a run of one job (fetcher --once) locks its files too
            merged.parent.mkdir(parents=True, exist_ok=True)
            # Room was there at the claim; something else may have taken it since.
            room = room_for(
                merged.parent,
                job.size + ROOM_MARGIN_BYTES,
                f"job {job.file}",
                setting="fetcher.work_dir",
                undo=lambda: merged.unlink(missing_ok=True),
            )
            with held.timed("download"), room:
                merge(
                    self.aws.s3,
                    job,
                    merged,
                    wait_seconds=self.fs.chunk_wait_seconds,
                    concurrency=self.fs.download_concurrency,
                    cancelled=held.lost,
                )
                self._fenced(
                    held, transitions.downloaded(held.processor, held.token, iso(utc_now()))
                )
            with held.timed("analyze"):
                answer = self._analyze(held, merged)
            with held.timed("deliver"):
                self._deliver(held, hpke.Result(answer.content_type, answer.body))
            with held.timed("cleanup"):
                self._delete_chunks(job)
            log.info(
                "completed %s",
                job.file,
                extra=held.extra(size=job.size, chunks=job.chunks, durations_ms=held.durations_ms),
            )
        except ClaimLost:
            log.warning(
                "lost %s to another holder; abandoning local work", job.file, extra=held.extra()
            )
        except (IntegrityError, PermanentError, UploadAbandoned) as exc:
            self._end_in_error(held, exc.message)
        except TransientError as exc:
            self._give_back(held, exc.message)
        except (BotoCoreError, ClientError) as exc:
            self._give_back(held, f"AWS error: {exc}")
        except FpwError as exc:
            if held.lost.is_set():
                log.warning("lost %s while working on it", job.file, extra=held.extra())
            else:
                self._give_back(held, exc.message)
        except Exception as exc:
            # A defect met by one job must not stop the fetcher; the job goes
            # back and ends as ERROR once it has failed max_attempts times.
            log.exception("unexpected failure on %s", job.file, extra=held.extra())
            self._give_back(held, f"unexpected failure: {type(exc).__name__}: {exc}")
        except BaseException:
            # KeyboardInterrupt and the like: the job goes back before the fetcher stops.
            self._give_back(held, "the fetcher stopped")
            raise
        finally:
            held.lost.set()  # stops the heartbeat
            beat.join(timeout=5)
            merged.unlink(missing_ok=True)
            self.current = None
            if self.protection is not None:
                self.protection.set(False)
            held.done.set()

    def _check_attempts(self, held: Held) -> None:
        limit = self.settings.watcher.max_attempts
        if held.token > limit:
            reason = held.job.last_error or "no reason recorded"
            raise PermanentError(
                f"gave up after {held.token - 1} failed attempts; the last one: {reason}"
            )

    def _verify(self, job: Job) -> None:
        """Signature and registration before any work: nothing unverified reaches the processor."""
        signing.verify_job(job)
        status = self._registration(job.client)
        if status == "missing":
            raise UnknownClientError(
                f"client key {job.client[:20]}… is not registered", job=job.file
            )
        if status == "revoked":
            raise UnknownClientError(
                f"client revoked: key {job.client[:20]}… was revoked by an administrator",
                job=job.file,
            )
        if job.bucket != self.settings.aws.bucket:
            raise IntegrityError(
                f"the job names bucket {job.bucket!r}, not this deployment's"
                f" {self.settings.aws.bucket!r}",
                job=job.file,
            )
        if job.chunks != len(job.chunk_sha256) or job.chunks < 1:
            raise IntegrityError("chunk count and chunk hashes disagree", job=job.file)

    def _registration(self, client: str) -> str:
        """Read at every claim, never cached: a revocation takes effect at once."""
        answer = self.aws.dynamodb.get_item(
            TableName=self.settings.aws.clients_table,
            Key={"client": {"S": client}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None:
            status = "missing"
        elif item.get("revoked"):
            status = "revoked"
        else:
            status = "ok"
        return status

    def _analyze(self, held: Held, merged: Path) -> Any:
        """The processor's answer, within the analysis deadline.

        A retryable failure is retried up to ``processor_retries`` times; a busy
        processor (503) is asked again after its Retry-After without counting as
        a failure, for as long as the deadline allows. Past the deadline the job
        goes back to the queue, or ends as ERROR when this was its last attempt.
        """
        job = held.job
        budget = self.fs.analysis_deadline_seconds
        held.deadline = time.monotonic() + budget
        delay = 1.0
        failures = 0
        while True:
            if held.lost.is_set():
                raise ClaimLost("reaped while waiting for the processor", job=job.file)
            left = held.deadline - time.monotonic()
            if left <= 0:
                message = f"the analysis did not finish within {budget:.0f} s"
                if held.token >= self.settings.watcher.max_attempts:
                    raise PermanentError(
                        f"{message} (fetcher.analysis_deadline_seconds), on the last attempt",
                        job=job.file,
                    )
                raise TransientError(message, job=job.file)
            try:
                return analyze(
                    self.fs.processor_url,
                    merged,
                    job=job.file,
                    content_type=job.content_type,
                    params=job.params,
                    timeout=min(self.fs.processor_timeout_seconds, left),
                    max_bytes=self.fs.processor_max_answer_bytes,
                    shared=self.fs.processor_shared_dir is not None,
                )
            except Busy as exc:
                wait = min(exc.retry_after, max(0.0, held.deadline - time.monotonic()))
                log.info("%s; asking again in %.0f s", exc.message, wait, extra=held.extra())
                held.lost.wait(wait)
            except TransientError as exc:
                failures += 1
                if failures >= max(1, self.fs.processor_retries):
                    if held.overdue():
                        continue  # the deadline's own message (and attempts rule) applies
                    raise
                log.warning("%s; retrying in %.0f s", exc, delay, extra=held.extra())
                held.lost.wait(min(delay, max(0.0, held.deadline - time.monotonic())))
                delay = min(delay * 2, 30.0)

    def _deliver(self, held: Held, result: hpke.Result) -> None:
        job = held.job
        sealed = hpke.seal(result, signing.public_key_from_client_id(job.client), job.file)
        stored: bytes | str = sealed
        where = fleet.INLINE
        if len(sealed) > self.fs.inline_result_bytes:
            key = results_key(job.client, job.file)
            self.aws.s3.put_object(Bucket=job.bucket, Key=key, Body=sealed)
            stored = f"{RESULTS_POINTER_PREFIX}{job.bucket}/{key}"
            where = fleet.IN_S3
        # The fleet's word that this ciphertext is the result of this very job,
        # signed as this holder holds it (the record's processor and attempts).
        signature = self.fleet.sign(held.job, sealed, where)
        expires = int(self.clock()) + self.fs.result_retention_seconds
        try:
            self._fenced(
                held,
                transitions.complete(
                    held.processor,
                    held.token,
                    iso(utc_now()),
                    stored,
                    expires,
                    signature,
                    self.fleet.key_id,
                ),
            )
        except ClaimLost as exc:
            if not completed_by(exc.current, held.processor, held.token):
                raise
            # The write-back's answer was lost and the SDK's retry found it done.
            log.info("the answer to the write-back was lost; it had succeeded", extra=held.extra())

    def _delete_chunks(self, job: Job) -> None:
        """Best effort: the watcher removes whatever is left."""
        for n in range(job.chunks):
            try:
                self.aws.s3.delete_object(Bucket=job.bucket, Key=chunk_key(job.client, job.file, n))
            except (BotoCoreError, ClientError) as exc:
                log.warning("could not delete chunk %d of %s: %s", n, job.file, exc)
                return

    def _fenced(self, held: Held, update: transitions.Update) -> None:
        if held.lost.is_set():
            raise ClaimLost("the claim was lost", job=held.job.file)
        # Raw: the answer is not needed, and a record someone else damaged
        # meanwhile must not keep the holder from finishing its own write.
        self.table.apply_raw(held.job.file, update)

    def _end_in_error(self, held: Held, reason: str) -> None:
        """End the held job as ERROR; never raises (the watcher ends what this cannot)."""
        reason = clean_reason(reason)
        log.error("%s ends in ERROR: %s", held.job.file, reason, extra=held.extra())
        self._fail(held.job.file, held.processor, held.token, reason, held.bulky)

    def _fail(
        self, file_id: str, processor: str, token: int, reason: str, bulky: frozenset[str]
    ) -> None:
        """The fenced ERROR write; a record too large to take it loses its bulky attributes."""
        expires = int(self.clock()) + self.fs.result_retention_seconds
        now = iso(utc_now())
        try:
            try:
                self.table.apply_raw(
                    file_id, transitions.fail(processor, token, now, reason, expires)
                )
            except RecordTooLarge:
                log.warning("%s: the record is too large to take the error; shrinking it", file_id)
                emptied = {name: EMPTIED[name] for name in bulky if name in EMPTIED}
                removed = tuple(name for name in bulky if name not in EMPTIED)
                self.table.apply_raw(
                    file_id,
                    transitions.shrink(processor, token, emptied=emptied, removed=removed),
                )
                note = " (the record was too large: its bulky fields were removed)"
                self.table.apply_raw(
                    file_id,
                    transitions.fail(
                        processor, token, now, clean_reason(reason, 900) + note, expires
                    ),
                )
        except ClaimLost:
            pass
        except (FpwError, BotoCoreError, ClientError) as exc:
            log.warning("could not end %s (the watcher will): %s", file_id, clean_reason(exc))

    def _end_unreadable(self, file_id: str, raw: dict[str, Any], reason: str) -> None:
        """A claimed record that does not parse ends as ERROR at once: no retry can cure it."""
        reason = clean_reason(reason)
        log.error("%s ends in ERROR: %s", file_id, reason)
        try:
            token = int(raw["attempts"]["N"])  # written by our own claim
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("could not end %s (the watcher will): %s", file_id, exc)
            return
        self._fail(file_id, self.processor_id, token, reason, bulky_attributes(raw))

    def _give_back(self, held: Held, reason: str) -> None:
        """Release the held job to the queue; never raises."""
        reason = clean_reason(reason)
        log.warning("giving %s back to the queue: %s", held.job.file, reason, extra=held.extra())
        shard = queue_shard(held.job.file, self.settings.aws.queue_shards)
        try:
            self.table.apply_raw(
                held.job.file, transitions.release(held.processor, held.token, shard, reason)
            )
        except ClaimLost:
            pass
        except RecordTooLarge:
            # A record that cannot take a reason would stall every next holder too.
            self._end_in_error(held, reason)
        except (FpwError, BotoCoreError, ClientError) as exc:
            log.warning(
                "could not give %s back (the watcher will): %s", held.job.file, clean_reason(exc)
            )

    def _heartbeat(self, held: Held) -> None:
        while not held.lost.wait(self.fs.heartbeat_seconds):
            if held.overdue():
                # The analysis is over its deadline: the call is being cut off and
                # the job given back; a job nobody works on is not kept alive.
                log.warning("%s is past its analysis deadline; no more heartbeats", held.job.file)
                return
            percent = None
            if held.phase == "analyze":
                # Processors that do not report progress answer 404: no harm.
                percent = progress(self.fs.processor_url, held.job.file)
            try:
                self.table.apply(
                    held.job.file,
                    transitions.heartbeat(held.processor, held.token, iso(utc_now()), percent),
                )
            except ClaimLost as exc:
                current = exc.current
                if isinstance(current, Job) and current.status.finished:
                    if current.processor == held.processor and current.attempts == held.token:
                        return  # our own completion won the race with this beat
                log.warning("%s was taken away (stalled?); stopping", held.job.file)
                held.lost.set()
                return
            except (FpwError, BotoCoreError, ClientError) as exc:
                log.warning("heartbeat of %s failed: %s", held.job.file, exc)


def _size(attr: object) -> int:
    try:
        return len(repr(attr))
    except RecursionError:
        return 1 << 20


def bulky_attributes(raw: dict[str, Any]) -> frozenset[str]:
    """Names of a raw record's attributes to drop when it must shrink (see
    ``transitions.fail_compact``): those larger than ``BULKY_BYTES``, and any no
    part of fpw reads."""
    known = {*Job.__dataclass_fields__, "results"}
    return frozenset(
        str(name)
        for name, attr in raw.items()
        if name not in KEPT and (name not in known or _size(attr) > BULKY_BYTES)
    )


def held_by(raw: object, processor: str) -> TypeGuard[dict[str, Any]]:
    """Whether a raw record (a lost claim's ``current``) is PROCESSING under ``processor``."""
    if not isinstance(raw, dict):
        return False
    return (
        raw.get("processor") == {"S": processor}
        and raw.get("status") == {"S": Status.PROCESSING.value}
        and "N" in raw.get("attempts", {})
    )


def completed_by(current: object, processor: str, token: int) -> bool:
    """Whether a record (a lost write's ``current``, parsed or raw) is this holder's
    own completion."""
    if isinstance(current, Job):
        return (
            current.status is Status.COMPLETED
            and current.processor == processor
            and current.attempts == token
        )
    if isinstance(current, dict):
        return (
            current.get("status") == {"S": Status.COMPLETED.value}
            and current.get("processor") == {"S": processor}
            and current.get("attempts") == {"N": str(token)}
        )
    return False
