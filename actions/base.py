"""Shared machinery for Veiviser's actions: the content store, phrases, and the reply payload."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.content import DEFAULT_CONTENT_DIR, Answer, ContentStore, Section

# The key under which every action puts its structured reply in the bot message's `custom` payload.
PAYLOAD_KEY = "veiviser"

SPECIAL_INTENTS = {"nlu_fallback", "out_of_scope", "greet", "thanks", "goodbye", "help",
                   "ask_source", "show_full_section", "inform_service", "ask_contact"}


@lru_cache(maxsize=4)
def _load_store(directory: str, stamp: tuple = ()) -> ContentStore:
    return ContentStore.load(directory) if directory else ContentStore.load()


def _stamp(directory: str) -> tuple:
    """Changes when a content file changes, so an edited guideline text is used without a restart
    (also in the action server, which is its own process)."""
    root = Path(directory) if directory else DEFAULT_CONTENT_DIR
    try:
        return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*.yml")))
    except OSError:
        return ()


def content_store() -> ContentStore:
    """The content store, loaded on first use (never at import time) and again after an edit.
    A broken edit keeps the last good content (the maintainer sees the error in `content validate`)."""
    directory = os.environ.get("VEIVISER_CONTENT_DIR", "")
    try:
        store = _load_store(directory, _stamp(directory))
    except Exception:  # noqa: BLE001
        if _last_good:
            return _last_good[0]
        raise
    _last_good[:] = [store]
    return store


_last_good: list[ContentStore] = []


def phrase(domain: dict[str, Any], name: str, **values: Any) -> str:
    """The first text of a domain response, with `{placeholders}` filled in."""
    variants = (domain.get("responses") or {}).get(name) or []
    if not variants:
        raise KeyError(f"domain response {name} is missing")
    text = variants[0].get("text", "")
    return text.format(**values) if values else text


def latest_entity(tracker: Tracker, entity: str) -> str | None:
    """The (synonym-mapped) value of `entity` in the latest user message, if any."""
    found = [e for e in tracker.latest_message.get("entities", []) if e.get("entity") == entity and e.get("value")]
    if not found:
        return None
    # The longest mention wins: "Police Security Service" is PST, not the police.
    best = max(found, key=lambda e: (int(e.get("end", 0)) - int(e.get("start", 0))))
    return str(best["value"]).lower()


class VeiviserAction(Action, ABC):
    """Base for every action: builds the reply payload the channels render.

    Abstract (rasa-sdk registers only concrete subclasses), so shared bases are never registered.
    """

    @abstractmethod
    def name(self) -> str:
        """The action's name as listed in the domain."""

    @property
    def store(self) -> ContentStore:
        return content_store()

    def answer_text(self, answer: Answer) -> str:
        """An answer's text with the line breaks of the YAML block folded to single spaces."""
        paragraphs = [" ".join(p.split()) for p in answer.text.split("\n\n")]
        return "\n".join(p for p in paragraphs if p)

    def contact_lines(self, domain: dict[str, Any], section: Section, intro: bool = True) -> list[str]:
        """The section's contacts exactly as the guideline prints them, one line per contact."""
        lines: list[str] = [phrase(domain, "utter_contact_intro")] if intro and section.contacts else []
        for c in section.contacts:
            name = f"{c.organisation}, {c.role[0].lower()}{c.role[1:]}" if c.role else c.organisation
            details = [phrase(domain, f"utter_contact_{kind}", **{kind: value})
                       for kind, value in (("phone", c.phone), ("email", c.email), ("web", c.web)) if value]
            lines.append(phrase(domain, "utter_contact_line", organisation=name, details=", ".join(details)))
        return lines

    def previous_sections(self, tracker: Tracker) -> list[Section]:
        """The sections the previous answer cited (still present in content/), first = its source."""
        ids = tracker.get_slot("last_sections") or []
        return [self.store.section(i) for i in ids if i in self.store.sections]

    def suggestions_for(self, intents: Iterable[str], limit: int = 3) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        seen: set[str] = set()
        for intent in intents:
            section = self.store.for_intent(intent)
            if not section or section.id in seen:
                continue
            seen.add(section.id)
            out.append({"section": section.heading, "title": section.label, "payload": f"/{intent}"})
            if len(out) == limit:
                break
        return out

    def send(
        self,
        dispatcher: CollectingDispatcher,
        domain: dict[str, Any],
        *,
        kind: str,
        text: str,
        sections: list[Section] = (),  # type: ignore[assignment]
        suggestions: list[dict[str, str]] = (),  # type: ignore[assignment]
        answer_kind: str = "section",
    ) -> list[EventType]:
        """Send one reply. An `answer` ends with its source line and link; the first section is
        the one the answer comes from, the others are 'see also'."""
        citations = [self.store.citation(s) for s in sections]
        full = text
        if citations:
            first = citations[0]
            full += f"\n\n{first.source_line}\n{first.url}"
            if len(citations) > 1:
                full += "\n" + phrase(domain, "utter_see_also", sections=", ".join(c.section for c in citations[1:]))
        payload = {
            "type": kind,
            "text": full,
            "citations": [c.as_json() for c in citations],
            "suggestions": [{"section": s["section"], "title": s["title"]} for s in suggestions],
            "section_ids": [c.id for c in citations],
        }
        buttons = [{"title": s["title"], "payload": s["payload"]} for s in suggestions]
        dispatcher.utter_message(text=full, buttons=buttons, json_message={PAYLOAD_KEY: payload})
        if kind == "answer" and citations:
            return [SlotSet("last_sections", [c.id for c in citations]), SlotSet("last_kind", answer_kind)]
        return []
