"""Strategies shared by the fuzz tests: valid records and the many shapes of invalid ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st

from shared import signing
from shared.record import SIGNED_FIELDS, Job, Status, iso

# Key generation is slow next to the properties: a few keys serve every example.
KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
keys = st.sampled_from(KEYS)

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
file_ids = st.uuids().map(lambda u: f"file-{u}")
client_ids = keys.map(lambda k: signing.client_id(k.public_key()))
timestamps = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
).map(iso)
media_types = st.sampled_from(
    ["text/plain", "application/pdf", "image/png", "text/csv; charset=utf-8", "application/x-7z"]
)

# What JSON (and so the signature) can carry: no floats.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
params = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@st.composite
def jobs(draw: st.DrawFn, **fixed: Any) -> Job:
    """A well-formed job in any status, with any optional fields set."""
    n = draw(st.integers(1, 6))
    optional_time = st.none() | timestamps
    job = Job(
        file=draw(file_ids),
        client=draw(client_ids),
        version=draw(st.sampled_from(["0.1.0", "0.9.3", "1.0.0-rc.1"])),
        created=draw(timestamps),
        bucket=draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=3, max_size=20)),
        chunks=n,
        size=draw(st.integers(0, 2**40)),
        sha256=draw(hex64),
        chunk_sha256=draw(st.lists(hex64, min_size=n, max_size=n)),
        compression=draw(st.sampled_from(["zstd", "none"])),
        content_type=draw(media_types),
        params=draw(params),
        signature=draw(st.text("0123456789abcdef", max_size=144)),
        status=draw(st.sampled_from(list(Status))),
        holder=draw(st.none() | st.uuids().map(lambda u: f"processor-{u}")),
        assigned=draw(optional_time),
        downloaded=draw(optional_time),
        processed=draw(optional_time),
        error=draw(st.none() | st.text(max_size=40)),
        last_error=draw(st.none() | st.text(max_size=40)),
        attempts=draw(st.integers(0, 10)),
        heartbeat=draw(optional_time),
        progress=draw(st.none() | st.integers(0, 100)),
        queue=draw(st.none() | st.sampled_from(["q0", "q1", "q2"])),
        expires=draw(st.none() | st.integers(0, 2**40)),
        delivered=draw(optional_time),
        expired=draw(optional_time),
    )
    results = draw(st.sampled_from(["none", "inline", "pointer"]))
    if results == "inline":
        job.results = draw(st.binary(max_size=64))
    elif results == "pointer":
        job.results_ref = f"s3://{job.bucket}/results/{job.client}/{job.file}"
    for name, value in fixed.items():
        setattr(job, name, value)
    return job


# Any DynamoDB attribute, well-typed or not, nested or not.
scalar_attributes = (
    st.builds(lambda v: {"S": v}, st.text(max_size=20))
    | st.builds(lambda v: {"N": v}, st.text("0123456789.-eE+", max_size=12))
    | st.builds(lambda v: {"N": str(v)}, st.integers())
    | st.builds(lambda v: {"B": v}, st.binary(max_size=16))
    | st.builds(lambda v: {"BOOL": v}, st.booleans())
    | st.just({"NULL": True})
    | st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=5), max_size=3))
    | st.builds(lambda v: {"NS": v}, st.lists(st.integers().map(str), max_size=3))
    | st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=4), max_size=3))
)
junk = (
    st.none()
    | st.integers()
    | st.text(max_size=8)
    | st.just({})
    | st.builds(lambda a, b: {"S": a, "N": b}, st.text(max_size=3), st.text(max_size=3))
    | st.builds(lambda v: {"S": v}, st.integers())
    | st.builds(lambda v: {"N": v}, st.integers())
    | st.builds(lambda v: {"L": v}, st.text(max_size=3))
    | st.builds(lambda k: {k: "x"}, st.text(max_size=4))
)
attributes = st.recursive(
    scalar_attributes | junk,
    lambda inner: (
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3))
        | st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=6), inner, max_size=3))
    ),
    max_leaves=8,
)

# Only the typed shapes DynamoDB itself answers with (the values inside are anyone's).
wire_attributes = st.recursive(
    scalar_attributes,
    lambda inner: (
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3))
        | st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=6), inner, max_size=3))
    ),
    max_leaves=8,
)

signed_field_names = st.sampled_from(SIGNED_FIELDS)
