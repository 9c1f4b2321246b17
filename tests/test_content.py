"""The guideline as content: every heading, verbatim text, exact contacts, no invented numbers."""

from __future__ import annotations

import re
import shutil

import pytest

from bot.content import ContentError, ContentStore
from tests.conftest import ROOT, normalise

HEADINGS = [
    ("Hva er exit-arbeid?", None),
    ("Hvorfor exit-arbeid?", None),
    ("Hvordan jobbe med exit-arbeid?", None),
    ("Forberedelser", None),
    ("Samarbeid på tvers av sektorer og nettverk", "Forberedelser"),
    ("Individuelt tilpassede tiltak", "Forberedelser"),
    ("Veiledning", "Forberedelser"),
    ("Planlegging og kartlegging", "Forberedelser"),
    ("Gjennomføring", None),
    ("Kontaktetablering og samtaleverktøy", "Gjennomføring"),
    ("Individuell plan", "Gjennomføring"),
    ("Relevante verktøy og tiltak", "Gjennomføring"),
    ("Sentrale samarbeidspartnere i gjennomføringen", "Gjennomføring"),
    ("Informasjonsutveksling", "Gjennomføring"),
    ("Relevante tjenester i exit-samarbeid", None),
    ("Arbeidet i kommunene", "Relevante tjenester i exit-samarbeid"),
    ("Konfliktråd", "Relevante tjenester i exit-samarbeid"),
    ("NAV", "Relevante tjenester i exit-samarbeid"),
    ("Politi", "Relevante tjenester i exit-samarbeid"),
    ("Politiets sikkerhetstjeneste – PST", "Relevante tjenester i exit-samarbeid"),
    ("Barnevern", "Relevante tjenester i exit-samarbeid"),
    ("Familievern", "Relevante tjenester i exit-samarbeid"),
    ("Skole", "Relevante tjenester i exit-samarbeid"),
    ("Kriminalomsorg", "Relevante tjenester i exit-samarbeid"),
    ("Helsetjenester", "Relevante tjenester i exit-samarbeid"),
    ("Nasjonal veilednings- og ressursfunksjon ved RVTS", "Relevante tjenester i exit-samarbeid"),
    ("Nyttige ressurser og lenker i exit-arbeidet", None),
]


def test_all_27_headings_in_document_order_with_their_parents_and_text(store):
    sections = [s for s in store.sections.values() if s.id != "innledning"]
    assert [s.heading for s in sections] == [h for h, _ in HEADINGS]
    for section, (_, parent) in zip(sections, HEADINGS):
        assert (store.section(section.parent).heading if section.parent else None) == parent
        assert len(store.full_text(section)) > 100, section.heading


def test_every_heading_is_printed_in_the_guideline(store, source_text):
    lines = {line.strip() for line in source_text.splitlines()}
    for section in store.sections.values():
        assert section.heading in lines, section.heading


def test_section_text_is_verbatim_from_the_guideline(store, source_text, web_source_text):
    source = normalise(source_text) + " " + normalise(web_source_text)
    for section in store.sections.values():
        for block in section.body:
            for piece in block.items or (block.text,):
                assert " ".join(piece.split()) in source, f"{section.heading}: {piece[:60]}…"


def test_every_contact_appears_verbatim_in_the_guideline(store, source_text):
    contacts = [c for s in store.sections.values() for c in s.contacts]
    assert {c.phone for c in contacts if c.phone} == {"22 58 60 00", "55 55 33 33", "02800", "23305000"}
    for c in contacts:
        for value in (c.phone, c.email, c.web, c.url):
            if value:
                assert value in source_text, value


def test_answers_never_contain_a_number_the_guideline_does_not_print(store, source_text):
    """Phone numbers, paragraph references and counts in answers all come from the guideline."""
    flat = " ".join(source_text.split())
    for section in store.sections.values():
        for answer in section.answers:
            for number in re.findall(r"\d[\d ]*\d|\d", answer.text):
                assert number.strip() in flat, f"{section.id}/{answer.id}: {number}"


def test_citation_has_the_path_from_the_top_the_edition_and_the_document_link(store):
    edition = store.document.edition
    c = store.citation(store.by_heading("Informasjonsutveksling"))
    assert c.section == "Informasjonsutveksling"
    assert c.path == ("Gjennomføring", "Informasjonsutveksling")
    assert c.source_line == (
        f"Kilde: Veileder for exit-arbeid › Gjennomføring › Informasjonsutveksling (utgave: {edition})")
    assert c.url.startswith("https://")
    assert c.as_json() == {"section": "Informasjonsutveksling", "path": ["Gjennomføring", "Informasjonsutveksling"],
                           "url": c.url, "edition": edition}
    top = store.citation(store.by_heading("Hva er exit-arbeid?"))
    assert top.source_line == f"Kilde: Veileder for exit-arbeid › Hva er exit-arbeid? (utgave: {edition})"


def test_best_answer_follows_the_question(store):
    assert store.best_answer("ask_information_sharing", "Når går avvergingsplikten foran taushetsplikten?").id == "avvergingsplikt"
    assert store.best_answer("ask_information_sharing", "må jeg melde til barnevernet?").id == "opplysningsplikt"
    assert store.best_answer("ask_individual_plan", "hvilke lover gir rett til IP").id == "lover"
    assert store.best_answer("ask_individual_plan", "hvem er koordinator for planen?").id == "koordinator"
    assert store.best_answer("ask_individual_plan", "har han rett på individuell plan?").id == "rett"


@pytest.fixture
def broken_content(tmp_path):
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    return target


def test_loader_names_file_and_line_of_each_problem(broken_content):
    path = broken_content / "sections" / "04-tjenester.yml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('phone: "23305000"', 'phone: "2330 PST"', 1)
    text = text.replace("parent: relevante-tjenester\n  label: NAV", "parent: finnes-ikke\n  label: NAV", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as err:
        ContentStore.load(broken_content)
    problems = err.value.problems
    pst_line = next(n for n, line in enumerate(text.splitlines(), 1) if "2330 PST" in line)
    reported = [p for p in problems if "2330 PST" in p]
    assert reported and reported[0].startswith("04-tjenester.yml:"), problems
    assert pst_line - 3 <= int(reported[0].split(":")[1]) <= pst_line, problems
    assert any("04-tjenester.yml:" in p and "finnes-ikke" in p for p in problems), problems


def test_loader_reports_invalid_yaml_with_line(broken_content):
    path = broken_content / "sections" / "01-innledning.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(12, "  bad: [unclosed")
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ContentError) as err:
        ContentStore.load(broken_content)
    assert any(p.startswith("01-innledning.yml:") for p in err.value.problems)
    assert "ugyldig YAML" in str(err.value)


def test_intent_claimed_by_two_sections_is_refused(broken_content):
    path = broken_content / "sections" / "04-tjenester.yml"
    text = path.read_text(encoding="utf-8").replace("intents: [ask_service_nav]", "intents: [ask_service_nav, ask_service_pst]")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError, match="ask_service_pst"):
        ContentStore.load(broken_content)
