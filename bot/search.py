"""Full-text search over the guideline: the best sections for some words, with a snippet."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.content import ContentStore, Section

_WORD = re.compile(r"\w+")
_SAME_LENGTH = str.maketrans("æøåäöüé", "aoaaoue")


def fold(text: str) -> str:
    """Lower-case and fold Norwegian letters without changing the length (snippets need offsets)."""
    return text.lower().translate(_SAME_LENGTH)


@dataclass(frozen=True)
class Hit:
    section: Section
    score: float
    snippet: str


def search(store: ContentStore, query: str, limit: int = 3) -> list[Hit]:
    terms = [t for t in _WORD.findall(fold(query)) if len(t) >= 3]
    if not terms:
        return []
    hits = []
    for section in store.sections.values():
        if not section.body:
            continue
        text = store.full_text(section)
        folded = fold(text)
        words = _WORD.findall(folded)
        score = 0.0
        for term in terms:
            n = sum(1 for w in words if w.startswith(term))
            if n:
                score += 1 + n / (1 + len(words) / 100)
            if term in fold(section.heading):
                score += 2
        if score:
            hits.append(Hit(section, score, _snippet(text, folded, terms)))
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


def _snippet(text: str, folded: str, terms: list[str], width: int = 160) -> str:
    positions = [folded.find(t) for t in terms if folded.find(t) >= 0]
    at = min(positions) if positions else 0
    start = max(0, at - width // 3)
    end = min(len(text), start + width)
    snippet = " ".join(text[start:end].split())
    return ("…" if start else "") + snippet + ("…" if end < len(text) else "")
