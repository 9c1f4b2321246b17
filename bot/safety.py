"""Acute danger: whatever the model predicts, a message about a planned attack, weapons or threats
to life gets «ring 112 / politiet». Patterns are data (content/safety.yml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.content import fold


class DangerDetector:
    def __init__(self, patterns: list[str]):
        self._patterns = [re.compile(p) for p in patterns]

    @classmethod
    def load(cls, content_dir: Path) -> "DangerDetector":
        raw = yaml.safe_load((Path(content_dir) / "safety.yml").read_text(encoding="utf-8"))
        return cls(list(raw.get("acute_danger") or []))

    def is_acute(self, message: str) -> bool:
        folded = fold(message)
        return any(p.search(folded) for p in self._patterns)
