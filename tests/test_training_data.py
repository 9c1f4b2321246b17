"""Domain, NLU data, rules and the evaluation set agree with each other and with content/."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from bot.maintain.validate import Paths, validate
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def validation(settings):
    """`veiviser content validate` on the repository: content/, nlu/, domain/, config.yml, the
    actions and the evaluation set checked together (bot/maintain/validate.py)."""
    return validate(Paths.from_settings(settings))


def test_every_intent_maps_to_a_section_or_a_fixed_response(validation):
    """Every intent has a rule to a known action; an action that answers from content/ finds a
    section with an answer; one that replies with `utter_<intent>` finds it; every section is reached."""
    for check in ("intent", "rule", "action", "response", "section", "config"):
        assert not validation.of(check), "\n".join(map(str, validation.of(check)))


def test_every_intent_has_at_least_25_varied_examples(validation):
    counts = Counter(e.intent for e in validation.project.examples)
    assert set(counts) == set(validation.project.domain_intents)
    for intent, n in counts.items():
        assert n >= 25, intent


def test_no_example_is_repeated_or_labelled_with_two_intents(validation):
    assert not validation.of("example"), "\n".join(map(str, validation.of("example")))


def test_service_synonyms_cover_every_service_section(validation):
    assert not validation.of("synonym"), "\n".join(map(str, validation.of("synonym")))


def test_evaluation_set_is_broad_and_independent_of_training(store, validation):
    questions = validation.project.questions
    assert len(questions) >= 150
    expected = [q.expect for q in questions]
    assert sum(e == "out_of_scope" for e in expected) >= 20
    headings = {s.heading for s in store.sections.values()}
    assert headings - {"Veileder for exit-arbeid"} <= set(expected), "every section needs questions"
    # No question is a training example (case, whitespace, æøå and end punctuation folded), and
    # every expected heading exists.
    assert not validation.of("evaluation"), "\n".join(map(str, validation.of("evaluation")))


@pytest.mark.timeout(300) if hasattr(pytest.mark, "timeout") else (lambda f: f)
def test_rasa_data_validate_passes():
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--domain", "domain", "--data", "nlu",
         "--config", "config.yml", "--fail-on-warnings"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
