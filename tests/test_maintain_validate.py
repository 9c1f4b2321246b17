"""`veiviser content validate`: the repository is clean, and each kind of mistake a maintainer can
make is reported with the right file and line, a way to fix it, and exit code 1."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import ROOT

PST_EXAMPLE = 'hvordan når jeg [PST]{"entity":"service","value":"pst"}?'


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of everything `content validate` reads; the command runs against it."""
    for folder in ("content", "nlu", "domain", "actions"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "config.yml", tmp_path / "config.yml")
    (tmp_path / "tests" / "eval").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "eval" / "questions.yml", tmp_path / "tests" / "eval" / "questions.yml")
    monkeypatch.setenv("VEIVISER_ROOT", str(tmp_path))
    monkeypatch.delenv("VEIVISER_CONTENT_DIR", raising=False)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, needle: str, start: int = 1) -> int:
    """The first line at or after `start` that contains `needle`."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if n >= start and needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def validate(capsys) -> tuple[int, list[str]]:
    code = main(["content", "validate"])
    out, err = capsys.readouterr()
    return code, err.splitlines()


def reported(errors: list[str], where: str, *words: str) -> str:
    """The error at `where` (path:line) that mentions every word, with a fix after « — »."""
    found = [e for e in errors if e.startswith(where + ":") and all(w in e for w in words)]
    assert found, f"nothing at {where} about {words}:\n" + "\n".join(errors)
    assert " — " in found[0], f"no fix in: {found[0]}"
    return found[0]


def test_the_repository_validates_clean(capsys):
    assert main(["content", "validate"]) == 0
    out, err = capsys.readouterr()
    assert "28 avsnitt" in out and "evalueringsspørsmål" in out
    assert err == ""


def test_a_copy_validates_clean(project, capsys):
    assert validate(capsys) == (0, [])


def test_a_section_no_intent_reaches(project, capsys):
    sections = project / "content" / "sections" / "01-innledning.yml"
    edit(sections, "intents: [ask_why_exit]", "intents: []")
    code, errors = validate(capsys)
    assert code == 1
    section_line = line_of(sections, "- id: hvorfor-exit-arbeid")
    reported(errors, f"content/sections/01-innledning.yml:{section_line}", "Hvorfor exit-arbeid?", "kan ikke nås")
    # …and the intent that used to reach it now has no section to answer from.
    rule_line = line_of(project / "nlu" / "rules.yml", "intent: ask_why_exit")
    reported(errors, f"nlu/rules.yml:{rule_line}", "ask_why_exit", "action_answer", "ingen seksjon")
    assert errors[-1].startswith(f"{len(errors) - 2} feil")


def test_an_intent_with_neither_section_nor_response(project, capsys):
    """A new small-talk intent routed to action_chitchat needs `utter_<intent>`: read from the
    action's code, not from a list in the validator."""
    edit(project / "domain" / "chitchat.yml", "- out_of_scope\n", "- out_of_scope\n- compliment\n")
    examples = "".join(f"    - {w} jobba, veiviser\n" for w in ("bra", "godt", "flott", "fint", "supert"))
    (project / "nlu" / "compliment.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: compliment\n  examples: |\n{examples}', encoding="utf-8")
    (project / "nlu" / "rules.yml").write_text(
        (project / "nlu" / "rules.yml").read_text(encoding="utf-8")
        + "\n- rule: compliments\n  steps:\n  - intent: compliment\n  - action: action_chitchat\n"
        + "\n- rule: forgotten\n  steps:\n  - intent: ask_weather\n  - action: action_weather\n",
        encoding="utf-8")
    code, errors = validate(capsys)
    assert code == 1
    rules = project / "nlu" / "rules.yml"
    reported(errors, f"nlu/rules.yml:{line_of(rules, 'intent: compliment')}", "utter_compliment", "mangler")
    reported(errors, f"nlu/rules.yml:{line_of(rules, 'intent: ask_weather')}", "ask_weather", "domain/")
    reported(errors, f"nlu/rules.yml:{line_of(rules, 'action: action_weather')}", "action_weather")


def test_an_intent_without_a_rule_or_examples(project, capsys):
    domain = project / "domain" / "guideline.yml"
    edit(domain, "- ask_resources\n", "- ask_resources\n- ask_budget\n")
    code, errors = validate(capsys)
    assert code == 1
    where = f"domain/guideline.yml:{line_of(domain, '- ask_budget')}"
    reported(errors, where, "ask_budget", "ingen regel")
    reported(errors, where, "ask_budget", "ingen treningseksempler")


def test_an_example_under_two_intents_names_both_places(project, capsys):
    extra = project / "nlu" / "extra.yml"
    # The same question as under ask_contact, with other case, spacing and without æøå.
    extra.write_text('version: "3.1"\nnlu:\n- intent: ask_service_pst\n  examples: |\n'
                     "    - noe annet om pst\n    - Hvordan  nar jeg PST\n", encoding="utf-8")
    code, errors = validate(capsys)
    assert code == 1
    first = f"nlu/contact.yml:{line_of(project / 'nlu' / 'contact.yml', PST_EXAMPLE)}"
    error = reported(errors, "nlu/extra.yml:6", "ask_contact", "ask_service_pst")
    assert first in error


def test_an_evaluation_question_that_is_a_training_example(project, capsys):
    questions = project / "tests" / "eval" / "questions.yml"
    questions.write_text(questions.read_text(encoding="utf-8")
                         + '- q: "Hvordan når jeg PST?"\n  expect: "Politiets sikkerhetstjeneste – PST"\n'
                         + '- q: "Kan PST hjelpe oss?"\n  expect: "Politiets sikkerhetstjeneste - PST"\n',
                         encoding="utf-8")
    code, errors = validate(capsys)
    assert code == 1
    copied = reported(errors, f"tests/eval/questions.yml:{line_of(questions, 'Hvordan når jeg PST?')}",
                      "evalueringsspørsmålet", "ask_contact")
    assert f"nlu/contact.yml:{line_of(project / 'nlu' / 'contact.yml', PST_EXAMPLE)}" in copied
    expect_line = line_of(questions, 'expect: "Politiets sikkerhetstjeneste - PST"')
    wrong = reported(errors, f"tests/eval/questions.yml:{expect_line}", "sikkerhetstjeneste - PST", "finnes ikke")
    assert "mente du «Politiets sikkerhetstjeneste – PST»?" in wrong


def test_a_bad_heading_and_bad_contacts(project, capsys):
    services = project / "content" / "sections" / "04-tjenester.yml"
    edit(services, "heading: Familievern\n", "heading: familievern.\n")
    edit(services, 'phone: "23305000"', "phone: 23305000")
    edit(services, "email: post@pst.politiet.no", "emial: post@pst.politiet.no")
    code, errors = validate(capsys)
    assert code == 1
    heading_at = f"content/sections/04-tjenester.yml:{line_of(services, '- id: familievern')}"
    reported(errors, heading_at, "overskriften «familievern.»", "liten bokstav")
    reported(errors, heading_at, "overskriften «familievern.»", "slutter med «.»")
    contact_at = f"content/sections/04-tjenester.yml:{line_of(services, 'organisation: PST')}"
    reported(errors, contact_at, "23305000", "anførselstegn")
    reported(errors, contact_at, "ukjent felt «emial»")
    # The evaluation set still expects the old heading.
    expect_line = line_of(project / "tests" / "eval" / "questions.yml", 'expect: "Familievern"')
    reported(errors, f"tests/eval/questions.yml:{expect_line}", "«Familievern»", "finnes ikke")


def test_references_between_sections_and_from_the_actions(project, capsys):
    planning = project / "content" / "sections" / "03-gjennomforing.yml"
    edit(planning, "see_also: [barnevern]", "see_also: [barnevernet]")
    prep = project / "content" / "sections" / "02-forberedelser.yml"
    edit(prep, "\n- id: veiledning\n", "\n- id: veiledningen\n")
    code, errors = validate(capsys)
    assert code == 1
    assert any(re.match(r"content/sections/03-gjennomforing\.yml:\d+: .*ukjent seksjon «barnevernet»", e)
               for e in errors), errors
    contact_py = project / "actions" / "contact.py"
    code_line = line_of(contact_py, 'section("veiledning")')
    reported(errors, f"actions/contact.py:{code_line}", "«veiledning»")


def test_config_without_fallback_and_rules_to_unknown_actions(project, capsys):
    config = project / "config.yml"
    edit(config, "- name: FallbackClassifier\n  threshold: 0.4\n  ambiguity_threshold: 0.05\n", "")
    edit(project / "nlu" / "rules.yml", "  - action: action_source\n", "  - action: action_sourse\n")
    code, errors = validate(capsys)
    assert code == 1
    reported(errors, f"config.yml:{line_of(config, 'pipeline:')}", "FallbackClassifier")
    rules = project / "nlu" / "rules.yml"
    reported(errors, f"nlu/rules.yml:{line_of(rules, 'intent: nlu_fallback')}", "FallbackClassifier")
    reported(errors, f"nlu/rules.yml:{line_of(rules, 'action_sourse')}", "action_sourse")


def test_broken_yaml_and_undeclared_intents(project, capsys):
    nlu = project / "nlu" / "followup.yml"
    text = nlu.read_text(encoding="utf-8")
    nlu.write_text(text.replace("- intent: show_full_section", "- intent: show_full_sectoin", 1), encoding="utf-8")
    (project / "domain" / "broken.yml").write_text('version: "3.1"\nintents:\n- [unclosed\n', encoding="utf-8")
    code, errors = validate(capsys)
    assert code == 1
    reported(errors, "domain/broken.yml:4", "ugyldig YAML")
    reported(errors, f"nlu/followup.yml:{line_of(nlu, 'show_full_sectoin')}", "show_full_sectoin",
             "står ikke i domain/")


def test_a_section_under_itself(project, capsys):
    chapters = project / "content" / "sections" / "03-gjennomforing.yml"
    edit(chapters, "- id: gjennomforing\n  heading: Gjennomføring\n  parent: null",
         "- id: gjennomforing\n  heading: Gjennomføring\n  parent: individuell-plan")
    code, errors = validate(capsys)
    assert code == 1
    reported(errors, f"content/sections/03-gjennomforing.yml:{line_of(chapters, '- id: gjennomforing')}",
             "ligger under seg selv")
