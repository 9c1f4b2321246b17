"""Domain, NLU data, rules and the evaluation set agree with each other and with content/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict

import pytest
import yaml

from tests.conftest import ROOT

FIXED_ACTIONS = {"action_contact", "action_service_followup", "action_source", "action_full_section",
                 "action_chitchat", "action_out_of_scope", "action_clarify"}


def _examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in item:
                for line in item["examples"].splitlines():
                    if line.strip().startswith("- "):
                        out[item["intent"]].append(line.strip()[2:])
    return out


def _plain(example: str) -> str:
    """An annotated example as typed: `[PST]{...}` → `PST`, lower-case, no end punctuation."""
    text = re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", example)
    return " ".join(text.lower().strip(" ?!.").split())


def _domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (ROOT / "domain").glob("*.yml"):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("intents", []) or []:
            intents.add(item if isinstance(item, str) else next(iter(item)))
    return intents


def _rules() -> dict[str, str]:
    data = yaml.safe_load((ROOT / "nlu" / "rules.yml").read_text(encoding="utf-8"))
    return {r["steps"][0]["intent"]: r["steps"][1]["action"] for r in data["rules"]}


def test_every_intent_maps_to_a_section_or_a_fixed_response(store):
    rules = _rules()
    for intent in _domain_intents():
        assert intent in rules, f"{intent} has no rule"
        action = rules[intent]
        if action == "action_answer":
            assert store.for_intent(intent) is not None, f"{intent} → action_answer but no section"
            assert store.answers_for(intent), f"{intent} has no answer in content/"
        else:
            assert action in FIXED_ACTIONS, f"{intent} → unknown action {action}"
    assert set(store.intents) <= _domain_intents()


def test_every_intent_has_at_least_25_varied_examples():
    examples = _examples()
    assert set(examples) == _domain_intents()
    for intent, items in examples.items():
        assert len(items) >= 25, intent
        assert len({_plain(e) for e in items}) == len(items), f"{intent} repeats an example"


def test_no_example_is_labelled_with_two_intents():
    owner: dict[str, str] = {}
    for intent, items in _examples().items():
        for e in items:
            key = _plain(e)
            assert owner.setdefault(key, intent) == intent, f"«{e}» under {owner[key]} and {intent}"


def test_service_synonyms_cover_every_service_section(store):
    data = yaml.safe_load((ROOT / "nlu" / "synonyms.yml").read_text(encoding="utf-8"))
    synonyms = {item["synonym"] for item in data["nlu"] if "synonym" in item}
    services = {s.service for s in store.sections.values() if s.service}
    assert services <= synonyms


def test_evaluation_set_is_broad_and_independent_of_training(store):
    questions = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yml").read_text(encoding="utf-8"))["questions"]
    assert len(questions) >= 150
    expected = [q["expect"] for q in questions]
    assert sum(e == "out_of_scope" for e in expected) >= 20
    headings = {s.heading for s in store.sections.values()}
    assert set(expected) - {"out_of_scope"} <= headings
    assert headings - {"Veileder for exit-arbeid"} <= set(expected), "every section needs questions"
    trained = {_plain(e) for items in _examples().values() for e in items}
    copied = [q["q"] for q in questions if _plain(q["q"]) in trained]
    assert not copied, f"evaluation questions also in training data: {copied}"


@pytest.mark.timeout(300) if hasattr(pytest.mark, "timeout") else (lambda f: f)
def test_rasa_data_validate_passes():
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--domain", "domain", "--data", "nlu",
         "--config", "config.yml", "--fail-on-warnings"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
