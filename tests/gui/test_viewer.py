"""The result viewer on the real reference analysis of each kind of file: it
opens on a readable page (key facts, tables, text page by page), an image's
Picture tab draws the OCR boxes over the original, and the raw JSON is a tab away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from client.gui.viewer import ResultViewer
from tests.gui.conftest import OpenViewer


def page_text(viewer: ResultViewer) -> str:
    assert viewer.page is not None and viewer.tabs is not None
    assert viewer.tabs.currentWidget() is viewer.page  # the readable page comes first
    return viewer.page.toPlainText()


def result_of(viewer: ResultViewer) -> Any:
    return json.loads(viewer.path.read_text(encoding="utf-8"))


def test_an_image_shows_its_facts_and_the_ocr_boxes_over_the_picture(
    open_viewer: OpenViewer,
) -> None:
    viewer = open_viewer("png")
    text = page_text(viewer)
    assert text.index("Key facts") < text.index("Text in the image")
    assert "720 × 200 pixels" in text and "Main colours" in text and "#ffffff" in text
    lines = result_of(viewer)["analysis"]["ocr"]["lines"]
    assert lines, "the reference OCR reads the sample image"
    assert [line["text"] for line in lines] == ["Invoice 2041", "Total 118 EUR"]
    for line in lines:
        assert line["text"] in text
    assert viewer.tabs is not None
    assert [viewer.tabs.tabText(i) for i in range(viewer.tabs.count())] == [
        "Result",
        "Picture",
        "Raw JSON",
    ]
    assert viewer.picture_label is not None and viewer.lines_text is not None
    pixmap = viewer.picture_label.full
    assert (pixmap.width(), pixmap.height()) == (720, 200)
    image = pixmap.toImage()
    (left, top), _, (right, bottom), _ = lines[0]["box"]
    edge = image.pixelColor(left, (top + bottom) // 2)
    assert edge.red() > 180 and edge.green() < 120, edge.name()  # the red box
    inside = image.pixelColor((left + right) // 2, top + 2)
    assert inside.red() > 200 and inside.green() > 200  # the white page, lightly tinted
    assert "1. Invoice 2041" in viewer.lines_text.toPlainText()
    assert viewer.picture_note is not None and "boxes show" in viewer.picture_note.text()


def test_without_the_original_the_boxes_are_drawn_alone_and_it_says_so(
    open_viewer: OpenViewer,
) -> None:
    viewer = open_viewer("png", with_picture=False)
    assert viewer.picture_note is not None and "not here" in viewer.picture_note.text()
    assert viewer.picture_label is not None
    pixmap = viewer.picture_label.full
    assert (pixmap.width(), pixmap.height()) == (720, 200)
    assert pixmap.toImage().pixelColor(700, 190) == QColor("#eeeeee")  # a blank canvas
    standalone = viewer.report_html()
    assert "data:image" not in standalone and "the boxes are drawn alone" in standalone


def test_a_photo_shows_its_camera_time_place_and_colours(open_viewer: OpenViewer) -> None:
    text = page_text(open_viewer("jpeg"))
    for fact in ("Acme Lab Camera 2", "2026:11:01 09:29:58", "48.85", "N", "80 × 60 pixels"):
        assert fact in text
    assert "Perceptual hash" in text and "Main colours" in text


def test_a_pdf_shows_its_summary_facts_and_each_page(open_viewer: OpenViewer) -> None:
    viewer = open_viewer("pdf")
    text = page_text(viewer)
    assert text.index("Summary") < text.index("Key facts") < text.index("Page 1")
    assert "\nPages\n2\n" in text  # a row of the facts table
    pages = text[text.index("Page 1") :]
    assert pages.index("greets the reader") < pages.index("Page 2") < pages.index("says farewell")
    assert "Committee" not in text and "Sample report" in text  # the PDF's title
    # The search works on the page shown, and every match is counted.
    assert viewer.search is not None
    viewer.search.setText("farewell")
    assert viewer.matches == text.lower().count("farewell") >= 2
    assert viewer.found.text() == f"{viewer.matches} found"


def test_a_scanned_pdf_says_its_text_was_read_by_recognition(open_viewer: OpenViewer) -> None:
    text = page_text(open_viewer("scan"))
    assert "Pages read by text recognition: 1" in text
    assert "text recognition, 3 words" in text and "Scanned letter text" in text


def test_text_markdown_csv_and_word_show_their_own_facts(open_viewer: OpenViewer) -> None:
    plain = page_text(open_viewer("txt"))
    assert "measured twice" in plain and "Encoding\tutf-8" in plain.replace("\n", "\t")
    guide = page_text(open_viewer("md"))
    assert guide.index("Outline") < guide.index("Setting up") < guide.index("Cleaning")
    stock = open_viewer("csv")
    table = page_text(stock)
    assert "Separated by comma" in table
    assert stock.page is not None
    html = stock.page.toHtml()
    assert html.count("<table") >= 3  # facts, columns, first rows
    for cell in ("item", "count", "numbers", "beaker", "pipette", "40"):
        assert f">{cell}<" in html, cell
    minutes = page_text(open_viewer("docx"))
    assert "Committee minutes" in minutes and "approved the budget" in minutes
    assert "Paragraphs" in minutes and "Minutes" in minutes


def test_the_raw_json_is_one_tab_away_and_searchable(open_viewer: OpenViewer) -> None:
    viewer = open_viewer("txt")
    assert viewer.tabs is not None and viewer.text is not None
    viewer.tabs.setCurrentWidget(viewer.text)
    assert json.loads(viewer.text.toPlainText())["kind"] == "text"
    assert viewer.highlight('"kind"') == 1 and viewer.found.text() == "1 found"


def test_a_malformed_or_unknown_result_still_opens(qtbot: QtBot, tmp_path: Path) -> None:
    broken = ResultViewer(tmp_path / "x.bin.result.json", b'{"kind": "text", "analysis": ')
    qtbot.addWidget(broken)
    assert "not valid JSON" in page_text(broken)
    assert broken.text is not None and broken.text.toPlainText().startswith('{"kind"')
    odd = {
        "kind": "video",
        "analysis": {"codec": "<script>alert(1)</script>", "tracks": [{"lang": "nl"}]},
    }
    viewer = ResultViewer(tmp_path / "clip.mp4.result.json", json.dumps(odd).encode())
    qtbot.addWidget(viewer)
    text = page_text(viewer)
    assert "<script>alert(1)</script>" in text and "Other details" in text
    assert viewer.page is not None and "<script>" not in viewer.page.toHtml()
    # Sizes no picture has: the Picture tab says so instead of drawing.
    nan = b'{"kind": "image", "analysis": {"width": NaN, "height": 1e999, "ocr": {"lines": []}}}'
    image = ResultViewer(tmp_path / "odd.png.result.json", nan)
    qtbot.addWidget(image)
    assert image.picture_label is not None and image.picture_label.full.isNull()
    assert "does not say the picture's size" in image.picture_label.text()


def test_open_as_report_hands_over_the_standalone_page(
    qtbot: QtBot, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer("png")
    assert viewer.report_button is not None
    with qtbot.waitSignal(viewer.save_report) as blocker:
        viewer.report_button.click()
    target, page = blocker.args
    assert target == viewer.path.with_name("invoice.png.result.html")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "Invoice 2041" in page and "<polygon" in page
