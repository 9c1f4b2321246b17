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
