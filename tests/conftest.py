"""Shared fixtures. Tests that need the trained model use `assistant` (loaded once per session);
`make test` trains the model first when it is missing or stale."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"


def normalise(text: str) -> str:
    """Whitespace-insensitive form of the guideline text, without page numbers, link lines and
    bullet glyphs (the PDF extraction puts those between the words)."""
    text = re.sub(r"-[ \t]*\n[ \t\n]*(?=[a-zæøå])", "-", text)  # words hyphenated across lines
    kept = []
    for line in text.splitlines():
        s = line.strip()
        if re.fullmatch(r"\d+", s) or s.startswith(("http://", "https://", "mailto:")):
            continue
        kept.append(s.replace("\uf0b7", " ").replace("•", " "))
    return " ".join(" ".join(kept).split())


@pytest.fixture(scope="session")
def settings():
    from bot.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def store(settings):
    from bot.content import ContentStore

    return ContentStore.load(settings.content_dir)


@pytest.fixture(scope="session")
def source_text() -> str:
    return (SEEDS / "veileder-for-exit-arbeid.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def web_source_text() -> str:
    return (SEEDS / "veileder-for-exit-arbeid-nettversjon-forberedelser.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def assistant(settings):
    from bot.assistant import Assistant
    from bot.logs import configure_logging

    configure_logging()

    return Assistant.load(settings, actions="inprocess")


@pytest.fixture
def conversation(assistant):
    """A fresh conversation: `await conversation("...")` returns the Reply."""
    sender = uuid.uuid4().hex

    async def say(text: str):
        return await assistant.handle(text, sender_id=sender)

    return say
