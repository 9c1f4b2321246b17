"""When the model is unsure: ask back and offer the most likely sections."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import SPECIAL_INTENTS, VeiviserAction, phrase

FALLBACK_TOPICS = ["ask_planning", "ask_information_sharing", "ask_individual_plan"]


class ActionClarify(VeiviserAction):
    """Offer up to three sections from the intent ranking as suggestions."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        ranking = tracker.latest_message.get("intent_ranking") or []
        candidates = [r["name"] for r in ranking if r.get("name") not in SPECIAL_INTENTS]
        suggestions = self.suggestions_for(candidates or FALLBACK_TOPICS)
        return self.send(dispatcher, domain, kind="clarify", text=phrase(domain, "utter_clarify"),
                         suggestions=suggestions)
