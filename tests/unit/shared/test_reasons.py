"""Reasons stored in records: one line, no control characters or escapes, bounded."""

from __future__ import annotations

from shared import transitions
from shared.reasons import MAX_REASON_BYTES, clean_reason


def test_a_clean_short_reason_is_kept_as_it_is() -> None:
    assert clean_reason("the PDF is encrypted; send it without a password") == (
        "the PDF is encrypted; send it without a password"
    )
    assert clean_reason("Größe: 12 Seiten – 東京") == "Größe: 12 Seiten – 東京"


def test_newlines_controls_and_escape_sequences_are_removed() -> None:
    text = (
        "bad\r\ninput\x1b[31mred\x1b[0m\tend\x07\x1b]0;a title\x07 "
        "\x9b2Jgone\u202eevil\u2028next\x00!"
    )
    cleaned = clean_reason(text)
    assert cleaned == "bad inputred end goneevil next !"  # escapes go, controls become spaces
    assert cleaned.isprintable()


def test_a_huge_reason_is_cut_to_the_limit_with_an_ellipsis() -> None:
    for huge in ("x" * 450_000, "é" * 450_000, "東" * 450_000, "a\n" * 300_000):
        cleaned = clean_reason(huge)
        assert len(cleaned.encode("utf-8")) <= MAX_REASON_BYTES
        assert cleaned.endswith("…") and cleaned.isprintable()
        assert len(cleaned.encode("utf-8")) > MAX_REASON_BYTES - 8


def test_lone_surrogates_and_non_strings_become_storable_text() -> None:
    assert clean_reason("a\udcffb") == "a?b"
    assert clean_reason(ValueError("boom\nline")) == "boom line"
    clean_reason("a\udcffb").encode("utf-8")


def test_every_transition_that_stores_a_reason_cleans_it() -> None:
    noisy = "x\n\x1b[1m" + "y" * 5000
    updates = [
        transitions.fail("p", 1, "now", noisy, 1),
        transitions.release("p", 1, "q0", noisy),
        transitions.requeue_stalled("p", 1, "hb", "q0", noisy),
        transitions.fail_stalled("p", 1, "hb", "now", noisy, 1),
        transitions.fail_queued("c", "now", noisy, 1),
        transitions.fail_unreadable("now", noisy, 1),
    ]
    for update in updates:
        stored = update.values[":reason"]
        assert len(stored.encode()) <= MAX_REASON_BYTES and "\n" not in stored
        assert "\x1b" not in stored


def test_shrinking_removes_before_it_sets_and_never_touches_the_fence() -> None:
    update = transitions.shrink(
        "p",
        1,
        emptied={"chunk_sha256": [], "params": {}},
        removed=("pad", "params", "processor", "attempts", "status"),
    )
    assert update.update.startswith("REMOVE ")
    assert update.update.index("REMOVE") < update.update.index("SET")
    assert sorted(update.names[k] for k in update.names if k.startswith("#r")) == ["pad"]
    assert sorted(update.names[k] for k in update.names if k.startswith("#e")) == [
        "chunk_sha256",
        "params",
    ]
    assert update.condition == transitions.IS_HELD_BY_ME
