"""Settings end up in reprs (tracebacks, test failures, a `%r` in a log line):
the AWS secret must not come with them."""

from __future__ import annotations

from shared.config import Settings

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_secret_key_never_shows_in_a_repr() -> None:
    settings = Settings()
    settings.aws.secret_access_key = SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in repr(settings.aws)
    assert settings.aws.secret_access_key == SECRET
