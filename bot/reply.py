"""The one reply type every channel renders, and the `veiviser ask --jsonl` contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What Veiviser answers to one message.

    `type` is "answer" (from the guideline, with at least one citation; the first is the section the
    answer comes from), "clarify" (asks back, usually with suggestions) or "fallback" (outside the
    guideline). `buttons` carry the payloads a channel sends back when a suggestion is chosen.
    """

    question: str
    type: str
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    message_id: int | None = None  # the stored (redacted) message, for feedback; not in the contract
    personal_data: dict[str, int] = field(default_factory=dict)  # what the guard masked (kinds, counts)
    retry_after: float = 0.0  # > 0 when the per-user rate limit stopped the message

    def as_json(self) -> dict[str, Any]:
        """The public JSONL contract (other tools read it: add fields only with care)."""
        return {
            "question": self.question,
            "type": self.type,
            "text": self.text,
            "citations": self.citations,
            "suggestions": self.suggestions,
            "intent": self.intent,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
        }
