"""Follow-ups about the previous answer: "og PST?", "hvor står det?", "vis hele avsnittet"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import VeiviserAction, latest_entity, phrase
from actions.contact import ContactMixin


class ActionServiceFollowup(ContactMixin):
    """A message naming only a service: contact details if we were talking contacts, else its role."""

    def name(self) -> str:
        return "action_service_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        service = latest_entity(tracker, "service")
        section = self.store.for_service(service) if service else None
        if section is None:
            return self.send(dispatcher, domain, kind="clarify", text=phrase(domain, "utter_clarify"),
                             suggestions=self.suggestions_for(["ask_relevant_services", "ask_contact", "ask_planning"]))
        if tracker.get_slot("last_kind") == "contact":
            return self.reply_contact(dispatcher, domain, service) or []
        answer = section.answers[0]
        return self.send(dispatcher, domain, kind="answer", text=self.answer_text(answer), sections=[section])


class ActionSource(VeiviserAction):
    """Repeat the citation of the previous answer."""

    def name(self) -> str:
        return "action_source"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        sections = self.previous_sections(tracker)
        if not sections:
            return self.send(dispatcher, domain, kind="clarify", text=phrase(domain, "utter_no_previous"))
        return self.send(dispatcher, domain, kind="answer", text=phrase(domain, "utter_source_intro"),
                         sections=sections, answer_kind=tracker.get_slot("last_kind") or "section")


class ActionFullSection(VeiviserAction):
    """Show the whole text of the section the previous answer came from."""

    def name(self) -> str:
        return "action_full_section"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        sections = self.previous_sections(tracker)
        if not sections:
            return self.send(dispatcher, domain, kind="clarify", text=phrase(domain, "utter_no_previous"))
        section = sections[0]
        text = phrase(domain, "utter_full_section_intro", heading=section.heading) + "\n\n" + self.store.full_text(section)
        if section.links:
            text += "\n\n" + "\n".join(f"• {link.title}: {link.url}" for link in section.links)
        return self.send(dispatcher, domain, kind="answer", text=text, sections=[section])
