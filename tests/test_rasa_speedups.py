"""The action-response validation still rejects what Rasa rejects."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError

from bot import rasa_speedups


def test_validation_still_rejects_invalid_action_responses():
    from rasa.core.actions.action import RemoteAction

    rasa_speedups.apply()
    action = RemoteAction("action_answer", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "hei"}]})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list", "responses": []})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": [{"event": "no_such_event"}], "responses": []})


def test_events_read_back_are_the_same_and_unknown_ones_still_fail():
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

    rasa_speedups.apply()
    for _ in range(2):  # the second round comes from the cache
        assert Event.resolve_by_type("user") is UserUttered
        assert Event.resolve_by_type("slot") is SlotSet
        assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    events = Event.from_parameters({"event": "slot", "name": "last_kind", "value": "answer"})
    assert isinstance(events, SlotSet) and events.value == "answer"
