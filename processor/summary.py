"""Text statistics and an extractive summary, both pure functions of a string.

The summary picks the document's own most representative sentences (scored by
how many of the document's frequent words they carry), so it runs offline,
needs no model and can never say anything the document does not.
"""

from __future__ import annotations

import collections
import re
from typing import Any

WORD = re.compile(r"\w+", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n")
SUMMARY_SENTENCES = 3
"""Sentences in a summary (fewer when the text has fewer)."""
SUMMARY_INPUT_CHARS = 200_000
"""Only this much text is scored: enough to find a document's theme, bounded in time."""
MAX_SENTENCE_CHARS = 600
FULL_SENTENCE_WORDS = 8
"""Shorter candidates (captions, list items, link lines) are used only when a
text has too few full sentences: they score high on frequent words alone."""
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its itself just me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours also may must shall upon via per
    de la le les des et un une du en est que qui dans pour par sur au aux
    der die das und ist ein eine zu den von mit sich des auf für im
    het een van en is dat op te zijn voor met""".split()
)


def text_stats(text: str) -> dict[str, Any]:
    """Counts a reader uses to judge a document at a glance."""
    words = WORD.findall(text)
    common = collections.Counter(
        w.lower() for w in words if len(w) > 3 and w.lower() not in STOPWORDS
    ).most_common(10)
    return {
        "characters": len(text),
        "words": len(words),
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "top_words": [{"word": w, "count": c} for w, c in common],
    }


def sentences(text: str) -> list[str]:
    """Sentences and paragraph-like chunks, whitespace collapsed."""
    parts = (" ".join(chunk.split()) for chunk in SENTENCE_END.split(text))
    return [p[:MAX_SENTENCE_CHARS] for p in parts if len(WORD.findall(p)) >= 3]


def summarize(text: str, count: int = SUMMARY_SENTENCES) -> dict[str, Any]:
    """The ``count`` best sentences, in document order."""
    candidates = sentences(text[:SUMMARY_INPUT_CHARS])
    full = [c for c in candidates if len(WORD.findall(c)) >= FULL_SENTENCE_WORDS]
    if len(full) >= count:
        candidates = full
    if not candidates:
        return {"method": "extractive", "sentences": [], "text": ""}
    frequency = collections.Counter(
        w.lower()
        for s in candidates
        for w in WORD.findall(s)
        if len(w) > 2 and w.lower() not in STOPWORDS and not w.isdigit()
    )
    top = max(frequency.values(), default=1)

    def score(index: int) -> float:
        words = [w.lower() for w in WORD.findall(candidates[index])]
        weight = sum(frequency.get(w, 0) / top for w in words)
        # Long sentences should not win on length alone; early ones break ties.
        return float(weight / (len(words) ** 0.5)) - index * 1e-6

    best = sorted(range(len(candidates)), key=score, reverse=True)[:count]
    chosen = [candidates[i] for i in sorted(best)]
    return {"method": "extractive", "sentences": chosen, "text": " ".join(chosen)}
