"""``fpw up``'s supervisor: a part that dies is started again, with a capped back-off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from infra.local.stack import LocalStack
from infra.local.up import RESTART_CAP, RESTART_FIRST, System
from tests.helpers import wait_for


def test_a_part_that_keeps_dying_is_started_again_after_a_doubling_capped_wait(
    tmp_path: Path,
) -> None:
    system = System(cast(LocalStack, None), tmp_path)  # no AWS: this part never calls it
    config = tmp_path / "empty.toml"
    config.write_text("")
    part = system._start("crasher", [], config, prefix=["sh", "-c", "exit 3", "sh"])
    try:
        waits = []
        now = time.monotonic()
        for restart in range(1, 8):
            wait_for(lambda: not part.alive(), timeout=10, what="the part to exit")
            events = system.supervise(now)
            assert len(events) == 1, events
            assert events[0].startswith("fpw: crasher exited with status 3; starting it again in")
            assert str(part.log_path) in events[0]
            wait = float(events[0].split(" in ")[1].split(" s ")[0])
            waits.append(wait)
            assert system.supervise(now + wait / 2) == [] and part.restarts == restart - 1
            now += wait
            assert system.supervise(now) == [] and part.restarts == restart
        assert waits == [RESTART_FIRST * 2**i for i in range(5)] + [RESTART_CAP, RESTART_CAP]
    finally:
        system.stop()
