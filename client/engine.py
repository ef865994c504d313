"""The client engine: every face of the desktop agent drives this object.

Life of a drop: STAGING (chunks spooled, job signed) -> UPLOADING (record
created first, then chunks in parallel) -> WAITING (result polled) -> DONE
(decrypted result saved, original moved to ``done/``) or FAILED, or
SUPERSEDED when the file changed after it was taken (a newer drop carries
its final content) or its record was lost (the file is sent again). Each
phase is written to the state database before its side effects, so a restart
picks up where it stopped and never creates a second job for one drop.

Every step of one drop (stage, upload, collect, write, retire) fails that
drop alone: the loop goes on with the others. Nothing outside the watched
folders (and the done, failed and results folders) is ever moved.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from client.names import NAME_MAX_BYTES, safe_name
from client.places import Places, one_line, read_all, result_path, too_big
from client.staging import FileChanged, fingerprint, regular, stage
from client.state import Drop, Phase, State, StateError
from shared import fleet, hpke, signing
from shared.config import Settings
from shared.disk import free_bytes, room_for
from shared.errors import ClaimLost, DiskFullError, FpwError, IntegrityError
from shared.keys import load_or_create_key
from shared.reasons import clean_reason
from shared.receipts import receipt_key, sign_receipt
from shared.record import (
    Job,
    Status,
    chunk_key,
    iso,
    new_file_id,
    results_location,
    utc_now,
    validate,
)
from shared.table import CLIENT_INDEX, JobTable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.aws import Aws

log = logging.getLogger(__name__)

# Jobs expire from the table a month after creation if nothing else sets a
# shorter time (the watcher and fetchers do once a job ends).
QUEUED_TTL_SECONDS = 30 * 24 * 3600
NETWORK_ERRORS = (BotoCoreError, ConnectionError, TimeoutError)
UNFINISHED = (Status.QUEUED.value, Status.PROCESSING.value)
# A drop that ``fpw submit`` started is that process's to finish; another
# process sharing the state (the daemon) takes it over only once it has been
# left alone this long (the submitting command was interrupted).
ABANDONED_SECONDS = 300.0
# A drop that found no room on disk is tried again once this much more is
# free, or after this long (space may have been freed and taken again).
ROOM_GROWTH_BYTES = 1024 * 1024
ROOM_RETRY_SECONDS = 60.0
# A job whose record disappeared is sent again at most this many times.
MAX_RESENDS = 3
# A step that fails in an unexpected way is tried this many times, then the
# drop fails with the reason (the others go on meanwhile).
STEP_TRIES = 3
# A result poll reads the status of every waiting job: with many waiting,
# polls are spaced so that a desktop reads about this many records a second.
POLL_RECORDS_PER_SECOND = 200


@dataclass(frozen=True)
class Event:
    """What the engine tells its faces (tray, CLI) about a drop."""

    file_id: str
    name: str
    phase: Phase
    detail: str = ""
    progress: float | None = None
    """Percent of the current step (chunks confirmed, or the processor's report)."""
    remote: str | None = None
    """The record's status while WAITING (QUEUED, PROCESSING, COMPLETED = downloading)."""


Listener = Callable[[Event], None]


class Paused(FpwError):
    """Sending is paused; the drop waits where it is and resumes on unpause."""

    recoverable = True


@dataclass(frozen=True)
class NoRoom:
    """A drop that a full disk stopped: where, and how much was free then."""

    directory: Path
    free: int
    at: float


def poll_interval(waiting: int, base: float) -> float:
    """Seconds between result polls: ``base``, or longer when a poll of ``waiting``
    jobs would read more than ``POLL_RECORDS_PER_SECOND`` records a second.

    A backlog of a thousand files takes minutes to process; noticing each result
    five seconds late costs nothing, whereas reading a thousand records twice a
    second costs the table's capacity and the desktop's CPU.
    """
    return max(base, waiting / POLL_RECORDS_PER_SECOND)


class Engine:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[Event], None] | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.settings = settings
        cs = settings.client
        self.state_dir = cs.state_dir.expanduser()
        self.inbox = cs.inbox.expanduser()
        self.results_dir = (cs.results or self.inbox / "results").expanduser()
        self.done_dir = (cs.done or self.inbox / "done").expanduser()
        self.failed_dir = self.inbox / "failed"
        self.spool = self.state_dir / "spool"
        # The faces pass the key they loaded (keyring or file); the file is the default.
        self.key: ec.EllipticCurvePrivateKey = key or load_or_create_key(self.state_dir)
        self.client_id = signing.client_id(self.key.public_key())
        self.fleet_keys = fleet.pins(cs.fleet_keys)
        """Fleet keys whose signed results this desktop accepts (``shared.fleet``)."""
        if not self.fleet_keys:
            log.warning("no fleet key is pinned (client.fleet_keys): every result will be refused")
        self.state = State(self.state_dir / "state.db")
        self.aws = aws
        self.table = JobTable(aws.dynamodb, settings.aws.table)
        self.clock = clock
        self.on_event = on_event
        self._listeners: list[Listener] = []
        self._paused = threading.Event()
        self.places = Places(
            [self.inbox.resolve()], self.results_dir, self.done_dir, cs.done is not None
        )
        """Watched folders, and where results and retired originals go."""
        self.remote: dict[str, tuple[str, int | None]] = {}
        """Last seen (status, progress) of each waiting job."""
        self._reported: dict[str, tuple[str, int | None]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fpw-job")
        self._chunks = ThreadPoolExecutor(
            max_workers=max(1, cs.upload_concurrency), thread_name_prefix="fpw-upload"
        )
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._no_room: dict[str, NoRoom] = {}
        self._in_hand: set[str] = set()
        """Fingerprints of drops already said to be in hand (said once, not every rescan)."""
        self._troubles: dict[str, int] = {}
        """Unexpected failures of each drop's current step, counted up to ``STEP_TRIES``."""
        self._waiting = 0
        """Drops the last full poll found waiting for their results."""
        """Drops a full disk stopped; they wait for room rather than retrying in a loop."""
        self.offline = False

    # -- submitting -----------------------------------------------------

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

        A watched file is taken by its own name: a link is refused, never followed.
        ``previous`` is the drop this one is sent in place of (its record was lost).
        """
        path = path.expanduser()
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raise FpwError(
                f"{path.name!r} is not a valid file name here (not UTF-8 text); rename it"
            ) from None
        if source == "watch":
            path = path.parent.resolve() / path.name
            if regular(path) is not True:
                raise FpwError(f"{path.name} is not a regular file; links are not followed")
            if self.places.root(path) is None:
                raise FpwError(f"{path} is not inside a watched folder")
        else:
            path = path.resolve()
            if not path.is_file():
                raise FpwError(f"{path} is not a file")
        drop = Drop(
            file_id=new_file_id(),
            path=path,
            name=path.name,
            fingerprint=fingerprint(path),
            source=source,
            params=dict(params if params is not None else self.settings.client.params),
            phase=Phase.STAGING,
            job=None,
            remote=None,
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
            for older in self.state.unfinished_at(path, source):
                if older.file_id != drop.file_id and self._supersede(
                    older.file_id, f"the file changed; its new content is job {drop.file_id}"
                ):
                    log.info(
                        "%s changed after it was taken: job %s is replaced by %s; only the"
                        " result for its final content is kept",
                        path.name,
                        older.file_id,
                        drop.file_id,
                    )
        self._emit(drop, Phase.STAGING)
        self._schedule(drop.file_id)
        return drop.file_id

    def _schedule(self, file_id: str) -> None:
        if not self._room_again(file_id):
            return
        with self._active_lock:
            if file_id in self._active or self._stop.is_set() or self._paused.is_set():
                return
            self._active.add(file_id)
        self._jobs.submit(self._advance, file_id)

    def _room_again(self, file_id: str) -> bool:
        """False while a drop stopped by a full disk should go on waiting for room."""
        stopped = self._no_room.get(file_id)
        if stopped is None:
            return True
        grown = free_bytes(stopped.directory) >= stopped.free + ROOM_GROWTH_BYTES
        if grown or self.clock() - stopped.at >= ROOM_RETRY_SECONDS:
            self._no_room.pop(file_id, None)
            return True
        return False

    def _wait_for_room(self, file_id: str, exc: DiskFullError) -> None:
        """Keep the drop where it is, say why where the user looks, and wait for room."""
        self._no_room[file_id] = NoRoom(exc.directory, exc.free, self.clock())
        log.warning("%s", exc)
        drop = self.state.get(file_id)
        if drop is not None:
            self.state.update(file_id, self.clock(), error=str(exc))
            self._emit(drop, drop.phase, str(exc))

    def _advance(self, file_id: str) -> None:
        """Move one drop as far as it can go now; failures leave it to be retried."""
        try:
            found = self.state.get(file_id)
            if found is not None and found.phase is Phase.STAGING:
                found = self._stage(found)
            if found is not None and found.phase is Phase.UPLOADING:
                self._upload(found)
            self.offline = False
            self._troubles.pop(file_id, None)
        except FileChanged as exc:
            log.info("%s", exc)
        except Paused:
            log.info("%s: paused; it will go on when sending resumes", file_id)
        except DiskFullError as exc:
            self._wait_for_room(file_id, exc)
        except NETWORK_ERRORS as exc:
            self.offline = True
            log.warning("%s: network problem, will retry: %s", file_id, exc)
        except IntegrityError as exc:
            self._fail(file_id, str(exc))
        except FileNotFoundError:
            self._fail(file_id, "the file disappeared before it was uploaded")
        except FpwError as exc:
            if exc.recoverable:
                log.warning("%s: will retry: %s", file_id, exc)
            else:
                self._fail(file_id, str(exc))
        except OSError as exc:
            # Unreadable (permissions), a link swapped in, a name the system refuses.
            self._fail(file_id, f"cannot be read: {one_line(exc)}")
        except Exception as exc:
            self._trouble(file_id, "sending", exc)
        finally:
            with self._active_lock:
                self._active.discard(file_id)
            self._wake.set()

    def _stage(self, drop: Drop) -> Drop | None:
        """Chunks and the signed job; None when the drop was superseded meanwhile."""
        cs = self.settings.client
        spool = self.spool / drop.file_id
        taken = fingerprint(drop.path)  # the content staged, checked unchanged by stage()
        with room_for(
            self.spool,
            drop.path.stat().st_size,  # zstd never stores much more than the input
            f"the chunks of {drop.name}",
            job=drop.file_id,
            setting="client.state_dir",
            undo=lambda: shutil.rmtree(spool, ignore_errors=True),  # no half-staged chunks
        ):
            staged = stage(drop.path, spool, cs.chunk_size, cs.zstd_level)
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
            job=_job_json(job),
            fingerprint=taken,
            error=None,
        ):
            shutil.rmtree(spool, ignore_errors=True)
            return None
        self._emit(drop, Phase.UPLOADING, f"{job.chunks} chunk(s), {job.size} bytes")
        updated = self.state.get(drop.file_id)
        assert updated is not None
        return updated

    def _upload(self, drop: Drop) -> None:
        assert drop.job is not None
        job = _job_from_json(drop.job)
        if drop.remote is None:
            try:
                self.table.create(job)
            except ClaimLost:
                # A crash after the put but before we noted it: the record is ours.
                existing = self.table.get(job.file)
                if existing is None or existing.signature != job.signature:
                    raise IntegrityError("a different job already uses this id") from None
            self.state.update(drop.file_id, self.clock(), remote="created")
        done = self.state.confirmed_chunks(job.file)
        todo = [n for n in range(job.chunks) if n not in done]
        futures = [self._chunks.submit(self._put_chunk, job, n) for n in todo]
        confirmed = len(done)
        failure: BaseException | None = None
        for future in as_completed(futures):
            error = future.exception()
            if error is None:
                confirmed += 1
                self._emit(drop, Phase.UPLOADING, progress=100.0 * confirmed / job.chunks)
            elif failure is None:
                failure = error
        if failure is not None:
            raise failure
        waiting = self.state.update(
            drop.file_id, self.clock(), expect=Phase.UPLOADING, phase=Phase.WAITING
        )
        shutil.rmtree(self.spool / job.file, ignore_errors=True)
        if not waiting:
            return  # superseded meanwhile: its result will not be collected
        self._emit(drop, Phase.WAITING)
        log.info("%s uploaded (%d chunks); waiting for the result", drop.name, job.chunks)

    def _put_chunk(self, job: Job, n: int) -> None:
        if self._paused.is_set():
            raise Paused("paused", job=job.file)
        data = (self.spool / job.file / str(n)).read_bytes()
        attempt = 0
        while True:
            try:
                self.aws.s3.put_object(
                    Bucket=job.bucket, Key=chunk_key(job.client, job.file, n), Body=data
                )
                break
            except (ClientError, *NETWORK_ERRORS) as exc:
                attempt += 1
                if attempt >= 5 or self._stop.is_set():
                    raise
                log.info("chunk %d of %s: retrying after %s", n, job.file, exc)
                self._stop.wait(min(30.0, 0.5 * 2**attempt))
        self.state.confirm_chunk(job.file, n)

    # -- results --------------------------------------------------------

    def _ours(self, drop: Drop) -> bool:
        return drop.source != "submit" or self.clock() - drop.updated > ABANDONED_SECONDS

    def poll_results(self, only: str | None = None) -> int:
        """Check waiting drops once (or just ``only``); returns how many finished."""
        waiting = [
            d
            for d in self.state.in_phase(Phase.WAITING)
            if (d.file_id == only if only else self._ours(d)) and self._room_again(d.file_id)
        ]
        if only is None:
            self._waiting = len(waiting)
        if not waiting:
            return 0
        oldest = min(d.job["created"] for d in waiting if d.job)
        statuses = self._remote_statuses(oldest)
        finished = 0
        for drop in waiting:
            status = statuses.get(drop.file_id)
            # Each drop on its own: one that cannot be collected never holds up the rest.
            try:
                if status is None:
                    self._check_record(drop)
                    continue
                if status in UNFINISHED:
                    self._note_remote(drop)
                    continue
                # Finished, or a status no part writes: reading the record tells which.
                self._collect(drop)
                self._troubles.pop(drop.file_id, None)
                finished += 1
            except NETWORK_ERRORS as exc:
                self.offline = True
                log.warning("%s: cannot fetch the result yet: %s", drop.name, exc)
            except DiskFullError as exc:
                self._wait_for_room(drop.file_id, exc)
            except Exception as exc:
                self._trouble(drop.file_id, "collecting the result", exc)
        return finished

    def _trouble(self, file_id: str, step: str, exc: BaseException) -> None:
        """Count a failed step of one drop; retry it later, or fail the drop after
        ``STEP_TRIES``. Only errors of no known kind are logged with a traceback."""
        tries = self._troubles.get(file_id, 0) + 1
        self._troubles[file_id] = tries
        reason = one_line(exc)
        if tries >= STEP_TRIES:
            self._troubles.pop(file_id, None)
            self._fail(file_id, f"{step} failed {tries} times: {reason}")
        elif isinstance(exc, OSError | ClientError | FpwError | ValueError):
            log.warning(
                "%s: %s failed (try %d of %d): %s", file_id, step, tries, STEP_TRIES, reason
            )
        else:
            log.exception("%s: %s failed (try %d of %d)", file_id, step, tries, STEP_TRIES)

    def _check_record(self, drop: Drop) -> None:
        """A waiting job missing from the index: read its record; send the file
        again if the record is gone (the stack was reset, or it was deleted or expired)."""
        if self.table.get(drop.file_id) is None:
            self._lost(drop, "its job record disappeared")
        else:
            self._note_remote(drop)

    def _lost(self, drop: Drop, why: str) -> None:
        """Send the file of a drop whose job was lost again, as a new job (bounded)."""
        resends = self.state.resends(drop.file_id)
        if resends >= MAX_RESENDS:
            self._fail(drop.file_id, f"{why}, after being sent {resends + 1} times; not sent again")
            return
        if regular(drop.path) is not True:
            self._fail(drop.file_id, f"{why}, and the file is no longer there to send again")
            return
        if not self._supersede(drop.file_id, f"{why}; the file was sent again"):
            return
        new_id = self.submit(
            drop.path, drop.params, drop.source, previous=drop.file_id, resends=resends + 1
        )
        log.warning(
            "%s: %s (job %s); sent the file again as job %s (%d of at most %d)",
            drop.name,
            why,
            drop.file_id,
            new_id or "already in hand",
            resends + 1,
            MAX_RESENDS,
        )

    def _supersede(self, file_id: str, reason: str) -> bool:
        """Mark an unfinished drop SUPERSEDED (its result, if any, is never saved)."""
        for _ in range(5):  # a worker may move it to its next phase meanwhile
            drop = self.state.get(file_id)
            if drop is None or drop.phase.finished:
                return False
            if self.state.update(
                file_id, self.clock(), expect=drop.phase, phase=Phase.SUPERSEDED, error=reason
            ):
                self._emit(drop, Phase.SUPERSEDED, reason)
                return True
        return False

    def _changed(self, drop: Drop) -> bool:
        """Whether a watched file changed since its content was taken (a newer
        drop is, or will be once the file is quiet, made for it)."""
        if drop.source != "watch" or regular(drop.path) is not True:
            return False
        try:
            return fingerprint(drop.path) != drop.fingerprint
        except OSError:
            return False

    def _remote_statuses(self, since: str) -> dict[str, str]:
        """Status of this client's jobs created since ``since``: one query, not a read per job."""
        statuses: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.settings.aws.table,
            "IndexName": CLIENT_INDEX,
            "KeyConditionExpression": "#client = :me AND #created >= :since",
            "ProjectionExpression": "#file, #status, #progress",
            "ExpressionAttributeNames": {
                "#client": "client",
                "#created": "created",
                "#file": "file",
                "#status": "status",
                "#progress": "progress",
            },
            "ExpressionAttributeValues": {":me": {"S": self.client_id}, ":since": {"S": since}},
        }
        while True:
            answer = self.aws.dynamodb.query(**kwargs)
            for item in answer.get("Items", []):
                file_id, status, progress = _remote_status(item)
                statuses[file_id] = status
                self.remote[file_id] = (status, progress)
            if "LastEvaluatedKey" not in answer:
                self.offline = False
                return statuses
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _collect(self, drop: Drop) -> None:
        self._emit(drop, Phase.WAITING, "downloading the result", remote=Status.COMPLETED.value)
        try:
            job = self.table.get(drop.file_id)
        except IntegrityError as exc:
            self._fail(drop.file_id, f"the job record cannot be read: {exc.message}")
            return
        if job is None:
            self._lost(drop, "its job record disappeared before the result was read")
            return
        if job.status is Status.ERROR:
            self._fail(drop.file_id, clean_reason(job.error or "failed without a reason"))
            return
        if not job.status.finished:
            return  # the index ran ahead of the record; look again next poll
        if job.expired:
            self._fail(drop.file_id, f"the result was deleted unread at {job.expired}")
            return
        if self._changed(drop):
            # The result is for content the file no longer has: the newer drop's counts.
            self._supersede(drop.file_id, "the file changed after it was sent; result discarded")
            log.info(
                "%s changed after it was sent; the result of job %s is discarded",
                drop.name,
                drop.file_id,
            )
            return
        try:
            ciphertext = self.sealed_result(job)
            # Checked, then opened, before anything is written: a result the
            # fleet did not sign for this very job, or that does not open,
            # leaves no file and no receipt behind.
            fleet.verify_result(job, ciphertext, _job_from_json(drop.job), self.fleet_keys)
            content_type, body = hpke.open_parts(ciphertext, self.key, job.file)
        except IntegrityError as exc:
            self._fail(drop.file_id, str(exc))
            return
        folder = self.results_dir / self.places.relative_dir(drop.path)
        folder.mkdir(parents=True, exist_ok=True)
        target = result_path(folder, drop.name, content_type)
        tmp = folder / f".{drop.file_id}.part"
        with room_for(
            folder,
            len(body),
            f"the result of {drop.name}",
            job=drop.file_id,
            setting="client.results",
            undo=lambda: tmp.unlink(missing_ok=True),  # never a half-written result
        ):
            with tmp.open("wb") as out:
                out.write(body)
        del body  # the plaintext: only the ciphertext is needed for the receipt
        tmp.replace(target)
        original = drop.path
        try:
            self._retire_original(drop, self.done_dir)
        except OSError as exc:
            log.warning(
                "%s: result saved, but the original stays where it is: %s", drop.name, one_line(exc)
            )
        self.state.update(
            drop.file_id, self.clock(), phase=Phase.DONE, result_path=target, error=None
        )
        self.places.note_result(drop.file_id, drop.name, original, target)
        self._emit(drop, Phase.DONE, str(target))
        log.info("%s: result saved to %s", drop.name, target)
        self._confirm(job, ciphertext)

    def sealed_result(self, job: Job) -> bytes | bytearray:
        """The sealed result, from the record or from the job's own result object.

        One over ``client.max_result_bytes`` is refused before it is read; an object
        is read into one buffer of its announced size (no second copy).
        """
        cap = self.settings.client.max_result_bytes
        if job.results is not None:
            if len(job.results) > cap:
                raise IntegrityError(too_big(len(job.results), cap), job=job.file)
            return job.results
        if job.results_ref is None:
            raise IntegrityError("the job completed without a result", job=job.file)
        bucket, key = results_location(job)
        try:
            answer = self.aws.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            if code not in ("NoSuchKey", "404", "AccessDenied", "403"):
                raise
            raise IntegrityError(
                f"the result object is missing or unreadable ({code})", job=job.file
            ) from exc
        stream = answer["Body"]
        try:
            size = int(answer.get("ContentLength", -1))
            if size > cap:
                raise IntegrityError(too_big(size, cap), job=job.file)
            return read_all(stream, size, cap, job.file)
        finally:
            stream.close()

    def _confirm(self, job: Job, ciphertext: bytes | bytearray) -> None:
        """Tell the watcher the result is safe here, so it deletes it from the cloud now.

        Best effort: without a receipt the result still expires after its retention.
        """
        receipt = sign_receipt(job.file, self.client_id, iso(utc_now()), ciphertext, self.key)
        try:
            self.aws.s3.put_object(
                Bucket=job.bucket,
                Key=receipt_key(self.client_id, job.file),
                Body=receipt.to_bytes(),
                ContentType="application/json",
                IfNoneMatch="*",  # create-only, as the client role demands
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                log.warning("could not confirm receipt of %s (it will expire): %s", job.file, exc)
        except BotoCoreError as exc:
            log.warning("could not confirm receipt of %s (it will expire): %s", job.file, exc)

    def _fail(self, file_id: str, reason: str) -> None:
        try:
            drop = self.state.get(file_id)
        except StateError as exc:
            # Too damaged to show or retire: at least it is not taken up again.
            self.state.update(file_id, self.clock(), phase=Phase.FAILED, error=reason)
            log.error("%s failed: %s (%s)", file_id, reason, exc)
            return
        if drop is None or drop.phase.finished:
            return
        if self._changed(drop):
            # A failure of content the file no longer has: its newer content goes on.
            self._supersede(file_id, f"the file changed after it was sent (that job: {reason})")
            log.info(
                "%s changed after it was sent; job %s (%s) is replaced", drop.name, file_id, reason
            )
            return
        retired = None
        try:
            retired = self._retire_original(drop, self.failed_dir)
        except OSError as exc:
            log.warning("%s: could not move it to failed/: %s", drop.name, one_line(exc))
        self.state.update(file_id, self.clock(), phase=Phase.FAILED, error=reason)
        shutil.rmtree(self.spool / file_id, ignore_errors=True)
        if retired is not None:
            note = retired.with_name(safe_name(retired.name, ".reason.txt", (), NAME_MAX_BYTES))
            try:
                note.write_text(f"{drop.name}: {reason}\n", encoding="utf-8", errors="replace")
            except OSError as exc:
                log.warning("could not write %s: %s", note.name, one_line(exc))
        self._emit(drop, Phase.FAILED, reason)
        log.error("%s failed: %s", drop.name, reason)

    # -- running --------------------------------------------------------

    def resume(self) -> None:
        """Pick up drops a previous run left unfinished."""
        for drop in self.state.in_phase(Phase.STAGING, Phase.UPLOADING):
            if not self._ours(drop):
                continue
            if drop.phase is Phase.STAGING and not drop.path.exists():
                self._fail(drop.file_id, "the file disappeared before it was uploaded")
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
                self.offline = True
                log.warning("cannot reach AWS, will retry: %s", exc)
            except ClientError as exc:
                log.warning("result poll failed: %s", exc)
            except Exception:
                # This thread drives every result: it must outlive any one failure.
                log.exception("result poll failed; will retry")
            if self.clock() >= retry_at:
                self.resume()
                retry_at = self.clock() + 10.0
            base = self.settings.client.poll_seconds
            spacing = poll_interval(self._waiting, base)
            self._wake.wait(spacing)
            self._wake.clear()
            # A wake (an upload just finished) brings a small backlog's poll forward;
            # a large backlog keeps its spacing, as each poll reads all of it.
            if spacing > base:
                self._stop.wait(polled + spacing - time.monotonic())

    def wait(self, file_id: str, timeout: float | None = None) -> Drop:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            drop = self.state.get(file_id)
            if drop is None:
                raise FpwError(f"unknown job {file_id}")
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
            time.sleep(min(self.settings.client.poll_seconds, 0.5))

    def wait_uploaded(self, file_id: str, timeout: float) -> Drop:
        """Block until the drop no longer needs this process (uploaded or failed)."""
        deadline = self.clock() + timeout
        while True:
            drop = self.state.get(file_id)
            if drop is None:
                raise FpwError(f"unknown job {file_id}")
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
        self._chunks.shutdown(wait=True, cancel_futures=True)
        self.state.close()

    @property
    def folders(self) -> list[Path]:
        """Watched folders; an original retires to ``done/``/``failed/`` of its own folder."""
        return self.places.folders

    @folders.setter
    def folders(self, folders: list[Path]) -> None:
        self.places.folders = list(folders)

    def _retire_original(self, drop: Drop, folder: Path) -> Path | None:
        """Move a watched original to ``folder`` (done or failed); returns where."""
        if drop.source != "watch":
            return None
        target = self.places.retire(drop.path, drop.name, done=folder == self.done_dir)
        if target is not None:
            self.state.update(drop.file_id, self.clock(), path=target)
        return target

    def _emit(
        self,
        drop: Drop,
        phase: Phase,
        detail: str = "",
        *,
        progress: float | None = None,
        remote: str | None = None,
    ) -> None:
        event = Event(drop.file_id, drop.name, phase, detail, progress, remote)
        for listener in [self.on_event, *self._listeners]:
            if listener is None:
                continue
            try:
                listener(event)
            except Exception:
                # A broken face must not stop the engine.
                log.exception("event listener failed")

    # -- control (for the tray, the CLI and the API) ----------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (from engine threads) for every event."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume sending; results of jobs already sent still arrive."""
        if paused:
            self._paused.set()
            log.info("sending paused")
        else:
            self._paused.clear()
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
        note = safe_name(drop.path.name, ".reason.txt", (), NAME_MAX_BYTES)
        drop.path.with_name(note).unlink(missing_ok=True)
        return new_id

    def _note_remote(self, drop: Drop) -> None:
        """Tell the faces when a waiting job's status or progress moved."""
        seen = self.remote.get(drop.file_id)
        if seen is None or self._reported.get(drop.file_id) == seen:
            return
        self._reported[drop.file_id] = seen
        status, progress = seen
        self._emit(drop, Phase.WAITING, status.lower(), progress=progress, remote=status)


def _remote_status(item: dict[str, Any]) -> tuple[str, str, int | None]:
    """File id, status and progress of one index item; odd values pass as they are.

    The record is written by fetchers: a status or progress no part writes
    must not stop the poll (the record is then read in full, and refused).
    """
    file_id = str(item["file"]["S"])
    status = str(item.get("status", {}).get("S", "?"))
    progress: int | None = None
    raw = item.get("progress", {}).get("N")
    if raw is not None:
        try:
            progress = max(0, min(100, int(float(raw))))
        except (TypeError, ValueError, OverflowError):
            progress = None
    return file_id, status, progress


def _job_json(job: Job) -> dict[str, Any]:
    data = job.signed_fields()
    data.update(signature=job.signature, queue=job.queue, rank=job.rank, expires=job.expires)
    return data


def _job_from_json(data: Any) -> Job:
    """The signed job kept in the state database; a damaged copy fails its drop clearly."""
    try:
        job = Job(**data)
        validate(job)
    except (TypeError, ValueError, IntegrityError) as exc:
        raise IntegrityError(
            f"the local copy of this job is damaged ({exc}); send the file again"
        ) from exc
    return job
