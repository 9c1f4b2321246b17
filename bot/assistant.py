"""The assistant: one loaded Rasa agent that turns a message into a `Reply`.

Channels call `Assistant.handle(text, sender_id)`; the guard (issue 3) sits in front of it. The
Rasa agent runs NLU and the rules; the custom actions compose the reply from `content/`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from bot.content import ContentStore
from bot.reply import Reply
from bot.safety import DangerDetector
from bot.settings import Settings

log = logging.getLogger(__name__)

PAYLOAD_KEY = "veiviser"
# Intents that never count as "the" intent of a reply (the fallback marker, not a topic).
_NOT_TOPICS = {"nlu_fallback"}
# Topics offered when a message has nothing to understand (empty, emoji only, binary).
STARTER_INTENTS = ["/ask_information_sharing", "/ask_planning", "/ask_individual_plan"]


class ModelMissing(RuntimeError):
    """No trained model: run `veiviser train` (or `make run`, which trains when needed)."""


def clean_text(text: str) -> str:
    """Drop control and format characters (binary junk, zero-width marks) and surrounding space."""
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\t" or cat[0] != "C":
            kept.append(ch)
        elif cat == "Cc":
            kept.append(" ")
    return " ".join("".join(kept).split())


def has_words(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


class Assistant:
    """A loaded model plus the content it answers from."""

    def __init__(self, agent: Any, content: ContentStore, danger: DangerDetector, settings: Settings,
                 model_path: Path | None = None):
        self.agent = agent
        self.content = content
        self.danger = danger
        self.settings = settings
        self.model_path = model_path

    @classmethod
    def load(cls, settings: Settings, actions: str = "inprocess", model_path: Path | None = None,
             tracker_store: Any = None, lock_store: Any = None) -> "Assistant":
        """Load content and the model once. `actions` is "inprocess" or "server" (127.0.0.1)."""
        from rasa.core.agent import Agent

        from bot import rasa_speedups
        from bot.actions_runtime import action_endpoint

        rasa_speedups.apply()
        content = ContentStore.load(settings.content_dir)
        danger = DangerDetector.load(settings.content_dir)
        from bot.registry import ModelRegistry
        from bot.training import model_in_service

        if model_path:
            path = Path(model_path)
            ModelRegistry(path.parent).verify(path)
        else:
            path = model_in_service(settings)
        agent = Agent.load(str(path), action_endpoint=action_endpoint(settings, actions), tracker_store=tracker_store,
                           lock_store=lock_store)
        return cls(agent, content, danger, settings, path)

    async def reload(self) -> Path:
        """Load the model in service and the content (off the event loop) and swap them in.

        The archive is checked against its recorded SHA-256 first; on any failure the running
        model stays and the error is raised. Messages in flight finish on the agent they started
        with (`handle` holds its own reference), so none is lost or fails."""
        import asyncio

        from rasa.core.agent import Agent

        from bot.training import model_in_service

        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(None, model_in_service, self.settings)
        content = ContentStore.load(self.settings.content_dir)
        danger = DangerDetector.load(self.settings.content_dir)
        if path == self.model_path:  # the same model: the content may still have changed
            self.content, self.danger = content, danger
            self._clear_action_content()
            return path
        # The new agent gets its own *copy* of the tracker store (same database or memory): loading
        # sets the store's domain, first to an empty one, and the running agent must keep its own.
        tracker_store = copy.copy(getattr(self.agent.tracker_store, "_tracker_store", self.agent.tracker_store))
        agent = await loop.run_in_executor(None, lambda: Agent.load(
            str(path), action_endpoint=self.agent.action_endpoint, tracker_store=tracker_store,
            lock_store=self.agent.lock_store))
        self.agent, self.content, self.danger, self.model_path = agent, content, danger, path
        self._clear_action_content()
        log.warning("model.loaded %s", path.name)
        return path

    @staticmethod
    def _clear_action_content() -> None:
        from actions.base import _load_store

        _load_store.cache_clear()  # in-process actions read the new content too

    # -- helpers ------------------------------------------------------------------------------
    def phrase(self, name: str, **values: Any) -> str:
        variants = self.agent.domain.responses.get(name) or [{"text": ""}]
        text = variants[0].get("text", "")
        return text.format(**values) if values else text

    def _starter_suggestions(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        suggestions, buttons = [], []
        for payload in STARTER_INTENTS:
            section = self.content.for_intent(payload[1:])
            if section:
                suggestions.append({"section": section.heading, "title": section.label})
                buttons.append({"title": section.label, "payload": payload})
        return suggestions, buttons

    def error_reply(self, question: str) -> Reply:
        """When a part fails (action server, Redis, a timeout): say so, and where to get guidance now."""
        rvts = self.content.for_service("rvts")
        contact = rvts.contacts[0] if rvts and rvts.contacts else None
        text = self.phrase("utter_error", phone=contact.phone if contact else "", email=contact.email if contact else "")
        return Reply(question=question, type="fallback", text=text)

    def _local_reply(self, question: str, response: str, **values: Any) -> Reply:
        suggestions, buttons = self._starter_suggestions()
        return Reply(question=question, type="clarify", text=self.phrase(response, **values),
                     suggestions=suggestions, buttons=buttons)

    # -- the one entry point ------------------------------------------------------------------
    async def handle(self, text: str, sender_id: str | None = None) -> Reply:
        """Answer one message in the conversation `sender_id` (a new one if not given)."""
        from rasa.core.channels.channel import UserMessage

        sender_id = sender_id or uuid.uuid4().hex
        question = text if isinstance(text, str) else str(text)
        cleaned = clean_text(question)
        if not cleaned:
            return self._local_reply(question, "utter_empty_message")
        if len(cleaned) > self.settings.max_message_chars:
            return self._local_reply(question, "utter_too_long", length=len(cleaned),
                                     limit=self.settings.max_message_chars)
        if not has_words(cleaned):
            return self._local_reply(question, "utter_no_text")

        agent = self.agent  # a model promoted meanwhile takes over from the next message
        try:
            # Parse first and hand the result to the processor: it uses it as is, and we need not
            # read the whole tracker back from the store afterwards to learn the intent.
            parse = await agent.parse_message(cleaned)
            messages = await asyncio.wait_for(
                agent.handle_message(UserMessage(cleaned, sender_id=sender_id, parse_data=parse)),
                timeout=self.settings.answer_timeout) or []
        except asyncio.TimeoutError:
            log.error("assistant.timeout seconds=%s", self.settings.answer_timeout)
            return self.error_reply(question)
        except Exception as exc:  # noqa: BLE001 - a reply must come whatever fails inside Rasa
            log.error("assistant.handle_failed error=%s", type(exc).__name__)
            return self.error_reply(question)

        reply = self._reply_from(question, messages, parse)
        if self.danger.is_acute(cleaned) or reply.intent == "report_concern":
            reply.text = self.phrase("utter_acute_danger") + "\n\n" + reply.text
        return reply

    def _reply_from(self, question: str, messages: list[dict[str, Any]], parse: dict[str, Any]) -> Reply:
        intent, confidence = _topic(parse)
        structured = [m["custom"][PAYLOAD_KEY] for m in messages
                      if isinstance(m.get("custom"), dict) and PAYLOAD_KEY in m["custom"]]
        buttons = [b for m in messages for b in (m.get("buttons") or [])]
        if not structured:
            text = "\n\n".join(m["text"] for m in messages if m.get("text"))
            if not text:
                return self.error_reply(question)
            return Reply(question=question, type="fallback", text=text, intent=intent, confidence=confidence)
        payload = structured[-1]
        return Reply(
            question=question,
            type=payload["type"],
            text=payload["text"],
            citations=payload.get("citations", []),
            suggestions=payload.get("suggestions", []),
            buttons=[{"title": b["title"], "payload": b["payload"]} for b in buttons],
            intent=intent,
            confidence=confidence,
        )

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's bare NLU parse (for the benchmark's baseline)."""
        return await self.agent.parse_message(text)


def _topic(parse: dict[str, Any]) -> tuple[str | None, float | None]:
    """The predicted intent; for a fallback, the best real intent behind it."""
    intent = (parse.get("intent") or {})
    if intent.get("name") not in _NOT_TOPICS:
        return intent.get("name"), intent.get("confidence")
    for ranked in parse.get("intent_ranking") or []:
        if ranked.get("name") not in _NOT_TOPICS:
            return ranked.get("name"), ranked.get("confidence")
    return intent.get("name"), intent.get("confidence")
