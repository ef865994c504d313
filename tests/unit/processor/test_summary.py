"""Text statistics and the extractive summary, as pure functions."""

from __future__ import annotations

from processor.summary import sentences, summarize, text_stats


def test_sentences_split_on_stops_and_blank_lines_and_skip_fragments() -> None:
    text = "First one is here. Second one is here!\n\nA heading line\n\nok."
    assert sentences(text) == ["First one is here.", "Second one is here!", "A heading line"]


def test_the_summary_keeps_the_sentences_on_the_main_theme_in_document_order() -> None:
    text = (
        "Solar panels turn sunlight into power. "
        "The weather was nice on Tuesday. "
        "Modern solar panels convert more sunlight than older panels. "
        "My cousin likes chess. "
        "Solar power from panels is now cheap."
    )
    summary = summarize(text, count=3)
    assert summary["sentences"] == [
        "Solar panels turn sunlight into power.",
        "Modern solar panels convert more sunlight than older panels.",
        "Solar power from panels is now cheap.",
    ]
    assert summary["text"] == " ".join(summary["sentences"])


def test_a_text_without_sentences_has_an_empty_summary() -> None:
    assert summarize("") == {"method": "extractive", "sentences": [], "text": ""}


def test_top_words_leave_out_stopwords_and_short_words() -> None:
    stats = text_stats("the river and the river and their boat\n")
    assert stats["top_words"] == [{"word": "river", "count": 2}, {"word": "boat", "count": 1}]
    assert (stats["words"], stats["lines"]) == (8, 1)
