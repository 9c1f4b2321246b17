"""Understanding, measured on questions written independently of the training data."""

from __future__ import annotations

from bot.evaluate import evaluate, load_questions
from tests.conftest import ROOT


async def test_top1_citation_accuracy_and_out_of_scope(assistant):
    questions = load_questions(ROOT / "tests" / "eval" / "questions.yml")
    result = await evaluate(assistant, questions)
    misses = "\n".join(f"{q!r}: expected {e}, got {g} ({d})" for q, e, g, d in result.misses)
    assert result.out_of_scope_answered == [], misses
    assert result.accuracy >= 0.90, f"top-1 {result.accuracy:.1%}\n{misses}"
