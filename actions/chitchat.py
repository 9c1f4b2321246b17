"""Greetings, thanks, goodbyes, help, and questions outside the guideline."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import VeiviserAction, phrase

# Topics offered after a greeting or a request for help.
STARTER_TOPICS = ["ask_information_sharing", "ask_planning", "ask_individual_plan"]


class ActionChitchat(VeiviserAction):
    """Reply to small talk with the domain response named after the intent."""

    def name(self) -> str:
        return "action_chitchat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        intent = (tracker.latest_message.get("intent") or {}).get("name", "help")
        text = phrase(domain, f"utter_{intent}")
        offer = intent in ("greet", "help")
        return self.send(dispatcher, domain, kind="clarify", text=text,
                         suggestions=self.suggestions_for(STARTER_TOPICS) if offer else [])


class ActionOutOfScope(VeiviserAction):
    """Say plainly that the guideline does not cover it, and point to RVTS Øst's guidance line."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        rvts = self.store.for_service("rvts")
        contact = rvts.contacts[0]
        text = phrase(domain, "utter_out_of_scope", phone=contact.phone, email=contact.email)
        return self.send(dispatcher, domain, kind="fallback", text=text, sections=[rvts],
                         suggestions=self.suggestions_for(STARTER_TOPICS))
