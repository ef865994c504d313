"""Tampering and replay, end to end: one byte changed anywhere the signature,
the chunk hashes, the file hash or the result encryption covers is detected.

Jobs are made by hand from the real parts (tests/jobs.py), changed the way an
attacker with write access to the table or the bucket would, then handed to
one real fetcher process at once. Each must end as ERROR with a reason that
names what failed, and the processor's own request log must not show it; an
honest job in the same batch shows the log does record calls. The signed
fields are enumerated from ``shared.record.SIGNED_FIELDS``, so a field added
there is tampered with here too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from client.engine import Engine
from client.events import Event
from client.state import Phase
from infra.admin import register_client
from infra.local.stack import LocalStack
from infra.local.up import System
from shared import signing
from shared.aws import Aws
from shared.receipts import receipt_key
from shared.record import SIGNED_FIELDS, Status, chunk_key, results_key
from tests import samples
from tests.helpers import scaled, wait_for
from tests.jobs import HandMade, create_job, ended, upload_chunks

CHUNK = 4096
SIGNATURE_FAILS = "signature does not match the job's signed fields"


def flip(text: str) -> str:
    """One character changed to another of its kind, so the value keeps its shape.

    The last digit if there is one (a hash stays hex, a timestamp stays a
    timestamp, a version stays in the supported range), else the last character.
    """
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    at = digits[-1] if digits else len(text) - 1
    old = text[at]
    new = str((int(old) + 1) % 10) if old.isdigit() else ("b" if old == "a" else "a")
    return text[:at] + new + text[at + 1 :]


def one_byte_changed(attr: dict[str, Any]) -> dict[str, Any]:
    """The same DynamoDB attribute with one byte of its value changed."""
    ((kind, value),) = attr.items()
    if kind == "S":
        return {"S": flip(value)}
    if kind == "N":
        return {"N": str(int(value) + 1)}
    if kind == "B":
        raw = bytearray(value)
        raw[len(raw) // 2] ^= 0x01
        return {"B": bytes(raw)}
    if kind == "L":
        return {"L": [one_byte_changed(value[0]), *value[1:]]}
    if kind == "M":
        first = sorted(value)[0]
        return {"M": {**value, first: one_byte_changed(value[first])}}
    raise AssertionError(f"no tampering defined for a {kind} attribute: add one")


def flipped_byte(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[len(raw) // 2] ^= 0x01
    return bytes(raw)


def analyzed(system: System) -> set[str]:
    """Job ids in the processor's request log (one JSON line per POST /analyze)."""
    seen: set[str] = set()
    for line in system.parts["processor"].output().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "analyze":
            seen.add(str(entry.get("job")))
    return seen


class Tamperer:
    """What an attacker with write access to the table and the bucket can do (admin keys)."""

    def __init__(self, stack: LocalStack) -> None:
        self.aws = Aws(stack.admin_settings(), "test-attacker")
        self.table = self.aws.settings.table

    def item(self, file_id: str) -> dict[str, Any]:
        answer = self.aws.dynamodb.get_item(
            TableName=self.table, Key={"file": {"S": file_id}}, ConsistentRead=True
        )
        return dict(answer["Item"])

    def set(self, file_id: str, name: str, attr: dict[str, Any]) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key={"file": {"S": file_id}},
            UpdateExpression="SET #n = :v",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":v": attr},
        )

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.aws.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.aws.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise
        return True


@dataclass
class Case:
    file_id: str
    expect: tuple[str, ...]
    """Any of these in the job's error is the right reason."""


def test_every_tampered_field_chunk_file_and_replay_ends_in_error_before_the_processor(
    stack: LocalStack, system: System, engine: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    attacker = Tamperer(stack)
    # Three chunks of their own each; contents differ so that chunks can be swapped.
    texts = ["".join(f"{tag} line {i}: {uuid.uuid4().hex}\n" for i in range(200)) for tag in "ABC"]
    paths = [
        samples.make_text(tmp_path / f"{tag}.txt", t) for tag, t in zip("ABC", texts, strict=True)
    ]

    def made(path: Path = paths[0], **kwargs: Any) -> HandMade:
        return create_job(
            engine.aws,
            engine.key,
            path,
            spool,
            chunk_size=CHUNK,
            params={"profile": "default"},
            **kwargs,
        )

    cases: dict[str, Case] = {}

    # Every signed field, and the signature itself: one byte changed in the record.
    for name in (*SIGNED_FIELDS, "signature"):
        if name == "file":
            continue  # the key: see the replay below
        job = made()
        assert job.job.chunks == 3
        upload_chunks(engine.aws, job)
        attacker.set(job.job.file, name, one_byte_changed(attacker.item(job.job.file)[name]))
        expect = (SIGNATURE_FAILS,)
        if name == "client":
            expect = (SIGNATURE_FAILS, "not a valid P-256 public point")
        cases[f"field {name}"] = Case(job.job.file, expect)

    # A replay: an honest job's record and chunks copied under a new file id,
    # written with the client role as anyone holding a site's keys could.
    honest = made(paths[1])
    upload_chunks(engine.aws, honest)
    replay_id = f"file-{uuid.uuid4()}"
    copy = {**attacker.item(honest.job.file), "file": {"S": replay_id}}
    engine.aws.dynamodb.put_item(TableName=attacker.table, Item=copy)
    for n in range(honest.job.chunks):
        engine.aws.s3.put_object(
            Bucket=honest.job.bucket,
            Key=chunk_key(honest.job.client, replay_id, n),
            Body=(honest.spool / str(n)).read_bytes(),
        )
    cases["replay under a new file id"] = Case(replay_id, (SIGNATURE_FAILS,))

    # The signature re-used for another registered client's key.
    other = ec.generate_private_key(ec.SECP256R1())
    other_id = signing.client_id(other.public_key())
    register_client(stack.admin_settings(), other_id, "another desktop")
    borrowed = made()
    attacker.set(borrowed.job.file, "client", {"S": other_id})
    for n in range(borrowed.job.chunks):
        engine.aws.s3.put_object(
            Bucket=borrowed.job.bucket,
            Key=chunk_key(other_id, borrowed.job.file, n),
            Body=(borrowed.spool / str(n)).read_bytes(),
        )
    cases["signature under another registered key"] = Case(borrowed.job.file, (SIGNATURE_FAILS,))

    # Every chunk: one byte changed in the stored object.
    for n in range(3):
        job = made()
        upload_chunks(engine.aws, job, {n: flipped_byte((job.spool / str(n)).read_bytes())})
        cases[f"chunk {n}"] = Case(job.job.file, (f"chunk {n} does not match its signed SHA-256",))

    # Chunk 1 swapped between two jobs of the same client, and two chunks of one job swapped.
    first, second = made(paths[0]), made(paths[2])
    upload_chunks(engine.aws, first, {1: (second.spool / "1").read_bytes()})
    upload_chunks(engine.aws, second, {1: (first.spool / "1").read_bytes()})
    for label, job in (("swap from another job", first), ("swap into another job", second)):
        cases[label] = Case(job.job.file, ("chunk 1 does not match its signed SHA-256",))
    reordered = made()
    upload_chunks(
        engine.aws,
        reordered,
        {0: (reordered.spool / "1").read_bytes(), 1: (reordered.spool / "0").read_bytes()},
    )
    cases["chunks reordered"] = Case(
        reordered.job.file, ("chunk 0 does not match its signed SHA-256",)
    )

    # The whole file: correctly signed, every chunk genuine, but the file's
    # signed hash or size does not describe them.
    size = len(paths[0].read_bytes())
    for label, lies, expect in (
        ("file hash", {"sha256": "0" * 64}, "merged file does not match its signed SHA-256"),
        ("file size +1", {"size": size + 1}, f"merged file has {size} bytes"),
        ("file size -1", {"size": size - 1}, "decompresses beyond the file's declared size"),
    ):
        job = made(lies=lies)
        upload_chunks(engine.aws, job)
        cases[label] = Case(job.job.file, (expect,))

    system.start_fetcher()
    outcomes = {label: ended(stack, case.file_id) for label, case in cases.items()}
    assert ended(stack, honest.job.file).status is Status.COMPLETED
    seen = wait_for(
        lambda: s if honest.job.file in (s := analyzed(system)) else None,
        what="the honest job in the processor's request log",
    )

    wrong = {
        label: (job.status.value, job.error)
        for label, job in outcomes.items()
        if job.status is not Status.ERROR
        or not any(text in (job.error or "") for text in cases[label].expect)
    }
    assert not wrong, wrong
    reached = sorted(label for label, case in cases.items() if case.file_id in seen)
    assert not reached, f"the processor saw tampered jobs: {reached}"
    assert {f"field {n}" for n in SIGNED_FIELDS if n != "file"} <= set(cases)


@pytest.fixture
def events(engine: Engine) -> list[Event]:
    seen: list[Event] = []
    engine.add_listener(seen.append)
    return seen


def test_a_tampered_result_is_refused_and_leaves_no_file_and_no_receipt(
    stack: LocalStack, system: System, engine: Engine, events: list[Event], tmp_path: Path
) -> None:
    attacker = Tamperer(stack)
    bucket = stack.outputs["Bucket"]
    # Sealed results above 4 KiB go to S3; a short text's result stays in the record.
    system.start_fetcher(inline_result_bytes=4096)
    short = "a short note to analyse\n"
    long = "".join(f"line {i} of a longer report, {uuid.uuid4().hex}\n" for i in range(300))
    names = {
        "inline flipped": short,
        "inline swapped": short,
        "inline honest": short,
        "object flipped": long,
        "object pointer": long,
        "object honest": long,
    }
    ids: dict[str, str] = {}
    for label, text in names.items():
        path = samples.make_text(tmp_path / f"{label.replace(' ', '-')}.txt", text)
        file_id = engine.submit(path, {})
        assert file_id is not None
        ids[label] = file_id
    done = {label: ended(stack, file_id) for label, file_id in ids.items()}
    for label, job in done.items():
        assert job.status is Status.COMPLETED, (label, job.error)
        assert (job.results is not None) == label.startswith("inline"), label
        assert (job.results_ref is not None) == label.startswith("object"), label

    def object_key(label: str) -> str:
        return results_key(engine.client_id, ids[label])

    tamper: dict[str, Callable[[], None]] = {
        "inline flipped": lambda: attacker.set(
            ids["inline flipped"],
            "results",
            one_byte_changed(attacker.item(ids["inline flipped"])["results"]),
        ),
        # Another job's genuine result, sealed to the same key, moved into this record.
        "inline swapped": lambda: attacker.set(
            ids["inline swapped"], "results", attacker.item(ids["inline honest"])["results"]
        ),
        "object flipped": lambda: attacker.put(
            bucket,
            object_key("object flipped"),
            flipped_byte(attacker.get(bucket, object_key("object flipped"))),
        ),
        "object pointer": lambda: attacker.set(
            ids["object pointer"], "results", {"S": f"s3://{bucket}/{object_key('object honest')}"}
        ),
    }
    # The fleet's signature covers the ciphertext and its job, so it is what
    # refuses a changed or moved result, before anything is decrypted.
    signature_fails = "result rejected: the fleet's signature does not match this job's result"
    expect = {
        "inline flipped": signature_fails,
        "inline swapped": signature_fails,
        "object flipped": signature_fails,
        "object pointer": "does not name this job's result",
    }
    for change in tamper.values():
        change()

    for label, file_id in ids.items():
        drop = engine.wait(file_id, timeout=scaled(60))
        written = sorted(p.name for p in engine.places.results.glob(f"{label.replace(' ', '-')}*"))
        receipt = attacker.exists(bucket, receipt_key(engine.client_id, file_id))
        if label in tamper:
            assert drop.phase is Phase.FAILED, (label, drop.phase)
            assert expect[label] in (drop.error or ""), (label, drop.error)
            assert written == [], (label, written)
            assert not receipt, f"{label}: a receipt was written for a refused result"
            failed = [e for e in events if e.file_id == file_id and e.phase is Phase.FAILED]
            assert failed and expect[label] in failed[-1].detail, (label, failed)
        else:
            assert drop.phase is Phase.DONE, (label, drop.error)
            assert len(written) == 1 and not written[0].endswith(".part"), written
            assert receipt, f"{label}: no receipt for a delivered result"
