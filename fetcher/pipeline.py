"""The job pipeline: what a holder does with a claimed job, as named steps.

verify -> merge -> analyze -> deliver -> clean up. Each step raises what went
wrong; ``outcome`` turns that into one of three ends (the one error policy):
the job ends in ERROR, goes back to the queue for another attempt, or was lost
to another holder and is left alone.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from fetcher.claims import ROOM_MARGIN_BYTES, Claim
from fetcher.fences import Fences, completed_by
from fetcher.processor_client import Answer, Busy, analyze
from fetcher.transfer import UploadAbandoned, merge
from shared import fleet, hpke, signing, transitions
from shared.aws import Backoff
from shared.clients import Clients
from shared.config import Settings
from shared.disk import room_for
from shared.errors import (
    ClaimLost,
    FpwError,
    IntegrityError,
    PermanentError,
    TransientError,
    UnknownClientError,
)
from shared.record import RESULTS_POINTER_PREFIX, Job, chunk_key, iso, results_key, utc_now
from shared.store import Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


class JobOutcome(enum.Enum):
    FAIL = "fail"
    """The job can never succeed: it ends in ERROR."""
    GIVE_BACK = "give back"
    """Another attempt may succeed: the job goes back to the queue."""
    LOST = "lost"
    """Another holder has the job now: local work is abandoned, nothing is written."""


POLICY: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], JobOutcome], ...] = (
    (ClaimLost, JobOutcome.LOST),
    ((IntegrityError, PermanentError, UploadAbandoned), JobOutcome.FAIL),
    (Exception, JobOutcome.GIVE_BACK),
)
"""The first class that matches decides. Any other failure, a defect included,
gives the job back: it ends in ERROR once it has failed ``max_attempts`` times."""


def outcome(exc: BaseException, lost: bool) -> JobOutcome:
    """What becomes of a job whose step raised ``exc`` (``lost``: the claim was taken away)."""
    end = next((end for kinds, end in POLICY if isinstance(exc, kinds)), JobOutcome.GIVE_BACK)
    if end is JobOutcome.GIVE_BACK and lost and isinstance(exc, FpwError):
        if not isinstance(exc, TransientError):
            return JobOutcome.LOST  # a step cancelled because the claim was taken away
    return end


class Pipeline:
    """The steps of one claimed job, and the policy that ends it."""

    def __init__(
        self,
        settings: Settings,
        s3: S3Client,
        clients: Clients,
        fences: Fences,
        signer: fleet.Signer,
    ) -> None:
        self.settings = settings
        self.fs = settings.fetcher
        self.s3 = s3
        self.store = Store(s3)
        self.clients = clients
        self.fences = fences
        self.signer = signer

    def run(
        self,
        claim: Claim,
        merged: Path,
        slot: contextlib.AbstractContextManager[None] | None = None,
    ) -> None:
        """Every step in turn; whatever goes wrong ends the job by the policy. Never
        raises but for ``BaseException`` (the job goes back first).

        ``slot``, when given, is held for the analysis alone: a pipelined fetcher
        prepares this job while others hold the container's slots (phase ``wait``
        until it has one)."""
        job = claim.job
        try:
            with claim.timed("verify"):
                self.verify(claim)
            with claim.timed("download"):
                self.merge(claim, merged)
            with contextlib.ExitStack() as held:
                if slot is not None:
                    with claim.timed("wait"):
                        held.enter_context(slot)
                with claim.timed("analyze"):
                    answer = self.analyze(claim, merged)
            with claim.timed("deliver"):
                self.deliver(claim, hpke.Payload(answer.content_type, answer.body))
            with claim.timed("cleanup"):
                self.clean_up(job)
            log.info(
                "completed %s",
                job.file,
                extra=claim.extra(
                    size=job.size, chunks=job.chunks, durations_ms=claim.durations_ms
                ),
            )
        except Exception as exc:
            self.end(claim, exc)
        except BaseException:
            # KeyboardInterrupt and the like: the job goes back before the fetcher stops.
            self.fences.release(claim, "the fetcher stopped")
            raise

    def end(self, claim: Claim, exc: Exception) -> None:
        """Apply the policy's outcome for ``exc``."""
        end = outcome(exc, claim.lost.is_set())
        file_id = claim.job.file
        if end is JobOutcome.LOST:
            what = "to another holder" if isinstance(exc, ClaimLost) else "while working on it"
            log.warning("lost %s %s; abandoning local work", file_id, what, extra=claim.extra())
        elif end is JobOutcome.FAIL:
            self.fences.fail(claim, _reason(exc))
        elif isinstance(exc, FpwError | BotoCoreError):
            self.fences.release(claim, _reason(exc))
        else:
            log.exception("unexpected failure on %s", file_id, extra=claim.extra())
            self.fences.release(claim, f"unexpected failure: {type(exc).__name__}: {exc}")

    # -- the steps -------------------------------------------------------

    def verify(self, claim: Claim) -> None:
        """Attempts, signature and registration before any work: nothing unverified
        reaches the processor. The registry is read at every claim, never cached,
        so a revocation takes effect at once."""
        job = claim.job
        if claim.fence > self.settings.watcher.max_attempts:
            reason = job.last_error or "no reason recorded"
            raise PermanentError(
                f"gave up after {claim.fence - 1} failed attempts; the last one: {reason}"
            )
        signing.verify_job(job)
        registration = self.clients.get(job.client)
        if registration is None:
            raise UnknownClientError(
                f"client key {job.client[:20]}… is not registered", job=job.file
            )
        if not registration.active:
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

    def merge(self, claim: Claim, merged: Path) -> None:
        """The chunks, checked and joined into ``merged``; then the record says so."""
        job = claim.job
        merged.parent.mkdir(parents=True, exist_ok=True)
        # Room was there at the claim; something else may have taken it since.
        room = room_for(
            merged.parent,
            job.size + ROOM_MARGIN_BYTES,
            f"job {job.file}",
            setting="fetcher.work_dir",
            undo=lambda: merged.unlink(missing_ok=True),
        )
        with room:
            merge(
                self.s3,
                job,
                merged,
                wait_seconds=self.fs.chunk_wait_seconds,
                retry_seconds=self.fs.chunk_retry_seconds,
                concurrency=self.fs.download_concurrency,
                cancelled=claim.lost,
            )
            self.fences.write(
                claim, transitions.downloaded(claim.holder, claim.fence, iso(utc_now()))
            )

    def analyze(self, claim: Claim, merged: Path) -> Answer:
        """The processor's answer, within the analysis deadline.

        A retryable failure is retried up to ``processor_retries`` times; a busy
        processor (503) is asked again after its Retry-After without counting as
        a failure, for as long as the deadline allows. Past the deadline the job
        goes back to the queue, or ends as ERROR when this was its last attempt.
        """
        job = claim.job
        budget = self.fs.analysis_deadline_seconds
        claim.deadline = time.monotonic() + budget
        waits = Backoff(first=1.0, cap=30.0)
        failures = 0
        while True:
            if claim.lost.is_set():
                raise ClaimLost("reaped while waiting for the processor", job=job.file)
            left = claim.deadline - time.monotonic()
            if left <= 0:
                message = f"the analysis did not finish within {budget:.0f} s"
                if claim.fence >= self.settings.watcher.max_attempts:
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
                wait = min(exc.retry_after, max(0.0, claim.deadline - time.monotonic()))
                log.info("%s; asking again in %.0f s", exc.message, wait, extra=claim.extra())
                claim.lost.wait(wait)
            except TransientError as exc:
                failures += 1
                if failures >= max(1, self.fs.processor_retries):
                    if claim.overdue():
                        continue  # the deadline's own message (and attempts rule) applies
                    raise
                delay = waits.next()
                log.warning("%s; retrying in %.0f s", exc, delay, extra=claim.extra())
                claim.lost.wait(min(delay, max(0.0, claim.deadline - time.monotonic())))

    def deliver(self, claim: Claim, result: hpke.Payload) -> None:
        """Seal the result to the client's key, sign it as the fleet, and write it back."""
        job = claim.job
        sealed = hpke.seal(result, signing.public_key_from_client_id(job.client), job.file)
        stored: bytes | str = sealed
        where = fleet.INLINE
        if len(sealed) > self.fs.inline_result_bytes:
            key = results_key(job.client, job.file)
            self.store.put(job.bucket, key, sealed)
            stored = f"{RESULTS_POINTER_PREFIX}{job.bucket}/{key}"
            where = fleet.IN_S3
        # The fleet's word that this ciphertext is the result of this very job,
        # signed as this holder holds it (the record's holder and attempts).
        signature = self.signer.sign(job, sealed, where)
        update = transitions.complete(
            claim.holder,
            claim.fence,
            iso(utc_now()),
            stored,
            self.fences.expires(),
            signature,
            self.signer.key_id,
        )
        try:
            self.fences.write(claim, update)
        except ClaimLost as exc:
            if not completed_by(exc.current, claim.holder, claim.fence):
                raise
            # The write-back's answer was lost and the SDK's retry found it done.
            log.info("the answer to the write-back was lost; it had succeeded", extra=claim.extra())

    def clean_up(self, job: Job) -> None:
        """Delete the chunks; best effort: the watcher removes whatever is left."""
        for n in range(job.chunks):
            try:
                self.store.delete(job.bucket, chunk_key(job.client, job.file, n))
            except (FpwError, BotoCoreError) as exc:
                log.warning("could not delete chunk %d of %s: %s", n, job.file, exc)
                return


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FpwError):
        return exc.message
    return f"AWS error: {exc}"
