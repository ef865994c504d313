"""``client.html_reports``: the headless agent (``fpw client --headless``, a
process of its own) writes a readable report beside each JSON result, with
the picture it found where it moved the original (``done/``)."""

from __future__ import annotations

import base64
from pathlib import Path

from infra.local.stack import LocalStack
from infra.local.up import System
from tests import samples
from tests.helpers import wait_for


def test_the_headless_agent_writes_a_report_with_the_original_picture_beside_the_result(
    stack: LocalStack, system: System, tmp_path: Path
) -> None:
    inbox, state_dir = tmp_path / "inbox", tmp_path / "client-state"
    system.register_client(state_dir)
    system.start_fetcher("reports", poll_seconds=0.5)
    client = system.start_client(system.client_config(inbox, state_dir, html_reports=True))
    wait_for(lambda: "client id" in client.output() or not client.alive(), what="the client")
    staging = tmp_path / "staging"
    staging.mkdir()
    picture = samples.make_text_image(staging / "label 7.png", ["Label 7 passed"])
    notes = samples.make_text(staging / "notes.txt", "<b>bold</b> claims in a note\n")
    inbox.mkdir(exist_ok=True)
    for path in (picture, notes):
        path.rename(inbox / path.name)

    results = inbox / "results"
    wait_for(lambda: len(list(results.glob("*.html"))) == 2, timeout=120, what="both reports")
    reports = sorted(p.name for p in results.glob("*.result.*"))
    assert reports == [
        "label 7.png.result.html",
        "label 7.png.result.json",
        "notes.txt.result.html",
        "notes.txt.result.json",
    ], client.output()[-3000:]
    page = (results / "label 7.png.result.html").read_text(encoding="utf-8")
    original = (inbox / "done" / "label 7.png").read_bytes()
    assert f"data:image/png;base64,{base64.b64encode(original).decode()}" in page
    assert "Label 7 passed" in page and "<polygon" in page
    note = (results / "notes.txt.result.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;bold&lt;/b&gt; claims" in note and "<b>bold" not in note
    assert "report saved to" in client.output()
