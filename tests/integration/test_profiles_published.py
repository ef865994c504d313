"""The fleet's profiles: a fetcher publishes them, a desktop reads them, nobody else writes them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from infra.local.stack import LocalStack
from processor.analysis import catalog as reference_catalog
from shared import profiles
from shared.aws import Aws
from shared.errors import IntegrityError


def test_a_fetcher_publishes_the_profiles_and_a_desktop_reads_them(stack: LocalStack) -> None:
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    client = Aws(stack.role_settings("client"), "test-client")
    bucket = stack.outputs["Bucket"]
    published = profiles.parse(reference_catalog(llm=False))
    profiles.publish(fetcher.s3, bucket, published)
    assert profiles.read(client.s3, bucket) == published
    with pytest.raises(ClientError) as denied:  # a desktop may not offer its own
        client.s3.put_object(Bucket=bucket, Key=profiles.KEY, Body=b"{}")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_a_crafted_document_reads_as_an_error_not_as_profiles(stack: LocalStack) -> None:
    fetcher = Aws(stack.role_settings("fetcher"), "test-fetcher")
    client = Aws(stack.role_settings("client"), "test-client")
    bucket = stack.outputs["Bucket"]
    try:
        fetcher.s3.put_object(Bucket=bucket, Key=profiles.KEY, Body=b'{"profiles": "all"}')
        with pytest.raises(IntegrityError, match="no profiles"):
            profiles.read(client.s3, bucket)
        big = b'{"profiles": [' + b" " * (2 * profiles.MAX_BYTES) + b"]}"
        fetcher.s3.put_object(Bucket=bucket, Key=profiles.KEY, Body=big)
        with pytest.raises(IntegrityError, match="over 65536 bytes"):
            profiles.read(client.s3, bucket)  # read up to the bound only
    finally:
        profiles.publish(fetcher.s3, bucket, profiles.parse(reference_catalog(llm=False)))
