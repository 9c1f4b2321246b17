"""What a practitioner sees: cited answers, contacts, asking back, out of scope, danger, bad input."""

from __future__ import annotations

import pytest

SOURCE_PREFIX = "Kilde: Veileder for exit-arbeid › "


def assert_cited_answer(reply, heading: str) -> None:
    assert reply.type == "answer", (reply.type, reply.intent, reply.text)
    assert reply.citations and reply.citations[0]["section"] == heading, reply.citations
    assert SOURCE_PREFIX in reply.text
    source_line = SOURCE_PREFIX + " › ".join(reply.citations[0]["path"])
    assert source_line in reply.text
    assert reply.citations[0]["url"] in reply.text.split(source_line, 1)[1]


async def test_duty_to_avert_versus_confidentiality(assistant):
    reply = await assistant.handle("Når går avvergingsplikten foran taushetsplikten?")
    assert_cited_answer(reply, "Informasjonsutveksling")
    assert "straffeloven § 196" in reply.text
    assert "fritak fra taushetsplikten" in reply.text
    assert reply.text.rstrip().splitlines()[-1].startswith("Se også") or reply.text.rstrip().endswith(reply.citations[0]["url"])


@pytest.mark.parametrize("question", ["hvordan når jeg PST?", "PST sitt nummer", "kontaktinfo til pst"])
async def test_pst_contact_however_it_is_asked(assistant, question):
    reply = await assistant.handle(question)
    assert_cited_answer(reply, "Politiets sikkerhetstjeneste – PST")
    assert "23305000" in reply.text and "post@pst.politiet.no" in reply.text


async def test_rvts_contact_has_exactly_the_printed_number(assistant):
    reply = await assistant.handle("telefonnummeret til RVTS Øst?")
    assert_cited_answer(reply, "Nasjonal veilednings- og ressursfunksjon ved RVTS")
    assert "22 58 60 00" in reply.text and "post@rvtsost.no" in reply.text


async def test_contact_the_guideline_does_not_print_is_not_invented(assistant):
    reply = await assistant.handle("hva er telefonnummeret til skolen?")
    assert reply.type == "answer"
    assert reply.citations[0]["section"] == "Skole"
    assert "oppgir ingen kontaktinformasjon" in reply.text
    answer = reply.text.split("Kilde:")[0]  # the source line carries the edition's date
    digits = [c for c in answer if c.isdigit()]
    assert digits == [], reply.text


async def test_individual_plan_right_coordinator_and_laws(assistant):
    right = await assistant.handle("har han rett på individuell plan?")
    assert_cited_answer(right, "Individuell plan")
    assert "langvarige og koordinerte tjenester" in right.text
    laws = await assistant.handle("hvilke lover hjemler retten til individuell plan")
    assert_cited_answer(laws, "Individuell plan")
    assert "Helse- og omsorgstjenesteloven § 7-1" in laws.text
    coordinator = await assistant.handle("hvem skal være koordinator for IP?")
    assert "oppnevnes som koordinator" in coordinator.text


async def test_duty_to_inform_child_welfare(assistant):
    reply = await assistant.handle("må jeg melde fra til barnevernet selv om jeg har taushetsplikt?")
    assert_cited_answer(reply, "Informasjonsutveksling")
    assert "opplysningsplikten til barnevernstjenesten" in reply.text.lower()


async def test_answers_are_short(assistant):
    for question in ["hva er exit-arbeid?", "hva gjør NAV i exit-arbeid", "hva er konfliktrådet"]:
        reply = await assistant.handle(question)
        body = reply.text.split(SOURCE_PREFIX)[0]
        sentences = [s for s in body.replace("\n", " ").split(". ") if s.strip()]
        assert 1 <= len(sentences) <= 7, body


async def test_out_of_scope_says_so_and_points_to_rvts_guidance_line(assistant):
    reply = await assistant.handle("hva blir været i Bergen i morgen?")
    assert reply.type == "fallback"
    assert "dekker ikke" in reply.text
    assert "22 58 60 00" in reply.text and "RVTS Øst" in reply.text


async def test_unsure_asks_back_with_up_to_three_suggestions(assistant):
    reply = await assistant.handle("tiltak")
    assert reply.type == "clarify", (reply.intent, reply.confidence)
    assert 1 <= len(reply.suggestions) <= 3
    assert all(s["section"] and s["title"] for s in reply.suggestions)
    assert len(reply.buttons) == len(reply.suggestions)


@pytest.mark.parametrize("message", [
    "Eleven sier han planlegger et angrep på skolen i morgen, hva gjør jeg?",
    "en bruker har skaffet seg våpen og truer med å drepe naboen",
    "he is planning to attack a mosque",
])
async def test_acute_danger_always_says_call_112(assistant, message):
    reply = await assistant.handle(message)
    assert "ring 112 / politiet" in reply.text


async def test_a_question_about_the_law_is_not_an_emergency(assistant):
    reply = await assistant.handle("Gjelder avvergingsplikten også drap og terrorisme?")
    assert "112" not in reply.text


@pytest.mark.parametrize("message, expected", [
    ("", "tom"),
    ("   \n\t ", "tom"),
    ("🙂🙂🙂", "fant ingen ord"),
    ("\x00\x01\x02\x03", "tom"),
    ("x" * 5000, "for lang"),
])
async def test_bad_input_gets_a_polite_norwegian_reply(assistant, message, expected):
    reply = await assistant.handle(message)
    assert reply.type == "clarify"
    assert expected in reply.text
    assert reply.question == message


@pytest.mark.parametrize("message", [
    "<script>alert('x')</script> hva er taushetsplikt?",
    "'; DROP TABLE users; --",
    "Wie kann ich mich für einen Deutschkurs anmelden?",
    "¿Dónde está la estación de tren?",
    "\u200b\u200bhva er exit-arbeid\u200b",
])
async def test_odd_input_still_gets_a_reply_and_nothing_breaks(assistant, message):
    reply = await assistant.handle(message)
    assert reply.type in {"answer", "clarify", "fallback"}
    assert reply.text.strip()
    if reply.type == "answer":
        assert reply.citations
