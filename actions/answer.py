"""Answer a question from the section of the guideline its intent belongs to."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import VeiviserAction, phrase


class ActionAnswer(VeiviserAction):
    """Pick the best answer of the intent's section and cite it."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]):
        intent = (tracker.latest_message.get("intent") or {}).get("name", "")
        section = self.store.for_intent(intent)
        answer = self.store.best_answer(intent, tracker.latest_message.get("text") or "")
        if section is None or answer is None:
            return self.send(dispatcher, domain, kind="clarify", text=phrase(domain, "utter_clarify"),
                             suggestions=self.suggestions_for(["ask_planning", "ask_information_sharing", "ask_contact"]))
        lines = [self.answer_text(answer)]
        if answer.contacts_from:
            lines.append(phrase(domain, "utter_contact_intro"))
        for ref in answer.contacts_from:
            lines.extend(self.contact_lines(domain, self.store.section(ref), intro=False))
        related = [self.store.section(ref) for ref in answer.see_also]
        return self.send(dispatcher, domain, kind="answer", text="\n".join(lines), sections=[section, *related])

