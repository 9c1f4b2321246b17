"""Citation accuracy and out-of-scope handling on the evaluation set in tests/eval/.

`python -m bot.evaluate` (or `make eval`) prints the figures and every miss.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.settings import Settings

OUT_OF_SCOPE = "out_of_scope"


@dataclass
class EvalResult:
    total_in_scope: int = 0
    correct: int = 0
    clarified: int = 0
    out_of_scope_total: int = 0
    out_of_scope_answered: list[str] = field(default_factory=list)
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # question, expected, got, type
    # every question: expected, what was cited (or the reply type), predicted intent, confidence, right?
    outcomes: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total_in_scope if self.total_in_scope else 0.0


def load_questions(path: Path) -> list[dict[str, str]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]


async def evaluate(assistant, questions: list[dict[str, str]]) -> EvalResult:
    result = EvalResult()
    for item in questions:
        reply = await assistant.handle(item["q"], sender_id=uuid.uuid4().hex)
        got = reply.citations[0]["section"] if reply.type == "answer" and reply.citations else reply.type
        right = (reply.type != "answer") if item["expect"] == OUT_OF_SCOPE else (reply.type == "answer" and got == item["expect"])
        result.outcomes.append({"q": item["q"], "expect": item["expect"], "got": got, "type": reply.type,
                                "intent": reply.intent, "confidence": reply.confidence, "right": right})
        if item["expect"] == OUT_OF_SCOPE:
            result.out_of_scope_total += 1
            if reply.type == "answer":
                result.out_of_scope_answered.append(item["q"])
                result.misses.append((item["q"], OUT_OF_SCOPE, got, reply.type))
            continue
        result.total_in_scope += 1
        if reply.type == "answer" and got == item["expect"]:
            result.correct += 1
        else:
            if reply.type == "clarify":
                result.clarified += 1
            result.misses.append((item["q"], item["expect"], got, f"{reply.type} {reply.intent} {reply.confidence}"))
    return result


def main() -> int:
    from bot.assistant import Assistant
    from bot.cli import _quiet_logging

    _quiet_logging()
    settings = Settings.from_env()
    assistant = Assistant.load(settings)
    path = settings.root / "tests" / "eval" / "questions.yml"
    result = asyncio.run(evaluate(assistant, load_questions(path)))
    for q, expected, got, detail in result.misses:
        print(f"MISS  {q!r}\n      expected={expected} got={got} ({detail})")
    print(f"\nTop-1 citation accuracy: {result.correct}/{result.total_in_scope} = {result.accuracy:.1%}"
          f" (clarified: {result.clarified})")
    print(f"Out of scope answered as answer: {len(result.out_of_scope_answered)}/{result.out_of_scope_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
