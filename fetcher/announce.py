"""What a fetcher tells the fleet about itself: its presence (for ``fpw
status``) and its processor's profiles (for desktops to offer as a form).

Both are best effort: a fetcher that cannot announce itself still works.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from fetcher import processor_client
from shared import __version__, presence, profiles
from shared.config import Settings
from shared.errors import FpwError, IntegrityError, TransientError
from shared.reasons import clean_reason
from shared.record import utc_now
from shared.table import JobTable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

PROFILES_EVERY_SECONDS = 6 * 3600.0
"""How often a fetcher publishes its processor's profiles again (shared.profiles)."""
PROFILES_RETRY_SECONDS = 60.0
"""How soon it asks again when the processor did not answer (still starting, say)."""


class Announcer:
    """Announces this fetcher's presence and publishes its processor's profiles, each
    on its own schedule."""

    def __init__(
        self,
        settings: Settings,
        table: JobTable,
        s3: S3Client,
        holder: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fs = settings.fetcher
        self.table = table
        self.s3 = s3
        self.holder = holder
        self.clock = clock
        self._announced = float("-inf")
        self._profiles_published = float("-inf")

    def tick(self) -> None:
        """Announce and publish when each is due; best effort."""
        now = self.clock()
        if now - self._profiles_published >= PROFILES_EVERY_SECONDS:
            # At start, then again now and then: the bucket's lifecycle
            # expires every object, and a processor may be upgraded in place.
            self._profiles_published = now
            self.publish_profiles()
        if now - self._announced < presence.EVERY_SECONDS:
            return
        self._announced = now
        me = presence.Presence(self.holder, __version__, self.fs.supported_versions, utc_now())
        try:
            self.table.apply_raw(
                presence.PRESENCE_PREFIX + self.holder,
                presence.announce(me, int(now) + presence.KEEP_SECONDS),
            )
        except (FpwError, BotoCoreError) as exc:
            log.debug("presence not recorded: %s", exc)

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
            profiles.publish(self.s3, self.settings.aws.bucket, found)
        except IntegrityError as exc:
            log.warning("the processor's profiles are not published: %s", clean_reason(exc, 300))
            return False
        except (FpwError, BotoCoreError) as exc:
            log.warning("cannot publish the processor's profiles: %s", clean_reason(exc, 300))
            return False
        log.info("published %d processing profiles", len(found.profiles))
        return True
