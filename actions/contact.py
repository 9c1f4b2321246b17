"""Who to contact: a service's contact details as the guideline prints them, or general advice."""

from __future__ import annotations

from abc import ABC
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import VeiviserAction, latest_entity, phrase

# Services offered as buttons when someone asks "who should I contact?" without naming one.
GENERAL_SUGGESTIONS = ["ask_service_politi", "ask_service_rvts", "ask_service_pst"]


class ContactMixin(VeiviserAction, ABC):
    """Shared by `action_contact` and the follow-up action."""

    def reply_contact(self, dispatcher: CollectingDispatcher, domain: dict[str, Any], service: str):
        section = self.store.for_service(service)
        if section is None:
            return None
        lines = self.contact_lines(domain, section)
        if not lines:
            lines = [section.contact_note or phrase(domain, "utter_contact_none")]
        elif section.contact_note:
            lines.append(section.contact_note)
        return self.send(dispatcher, domain, kind="answer", text="\n".join(lines), sections=[section],
                         answer_kind="contact")

    def reply_general(self, dispatcher: CollectingDispatcher, domain: dict[str, Any], message: str):
        planning = self.store.section("planlegging-og-kartlegging")
        answer = next(a for a in planning.answers if a.id == "samarbeidspartnere")
        guidance = self.store.section("veiledning")
        rvts = guidance.contacts[0]
        text = "\n".join([
            self.answer_text(answer),
            phrase(domain, "utter_contact_guidance", phone=rvts.phone, email=rvts.email),
            phrase(domain, "utter_contact_pick"),
        ])
        return self.send(dispatcher, domain, kind="answer", text=text, sections=[planning, guidance],
                         suggestions=self.suggestions_for(GENERAL_SUGGESTIONS), answer_kind="contact")


class ActionContact(ContactMixin):
    """Contact details for the service named in the message, or who to contact in general."""

    def name(self) -> str:
        return "action_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        service = latest_entity(tracker, "service")
        if service:
            events = self.reply_contact(dispatcher, domain, service)
            if events is not None:
                return events
        return self.reply_general(dispatcher, domain, tracker.latest_message.get("text") or "")
