"""Conversations: follow-ups, the source, the whole section, and choosing a suggestion."""

from __future__ import annotations


async def test_who_to_contact_then_and_pst(conversation):
    first = await conversation("hvem bør jeg kontakte?")
    assert first.type == "answer"
    assert "radikaliseringskontakten" in first.text.lower()
    follow = await conversation("og PST?")
    assert follow.type == "answer"
    assert follow.citations[0]["section"] == "Politiets sikkerhetstjeneste – PST"
    assert "23305000" in follow.text


async def test_after_a_role_answer_a_service_follow_up_gives_that_services_role(conversation):
    await conversation("hva gjør NAV i exit-arbeid?")
    follow = await conversation("hva med barnevernet?")
    assert follow.type == "answer"
    assert follow.citations[0]["section"] == "Barnevern"
    assert "barn og unge" in follow.text


async def test_contact_follow_ups_chain(conversation):
    await conversation("telefonnummer til NAV")
    follow = await conversation("og politiet?")
    assert follow.citations[0]["section"] == "Politi"
    assert "02800" in follow.text


async def test_where_does_it_say_that_repeats_the_citation(conversation):
    answer = await conversation("Når går avvergingsplikten foran taushetsplikten?")
    source = await conversation("hvor står det?")
    assert source.type == "answer"
    assert source.citations[0] == answer.citations[0]
    assert "Kilde: Veileder for exit-arbeid › Gjennomføring › Informasjonsutveksling" in source.text


async def test_where_does_it_say_without_an_answer_explains(conversation):
    reply = await conversation("hvor står det?")
    assert reply.type == "clarify"
    assert "ikke gitt deg noe svar" in reply.text


async def test_show_the_whole_section(conversation):
    await conversation("har personen rett til individuell plan?")
    full = await conversation("vis hele avsnittet")
    assert full.type == "answer"
    assert full.citations[0]["section"] == "Individuell plan"
    assert "Lov om sosiale tjenester i arbeids- og velferdsforvaltningen § 28 og § 33" in full.text
    assert "helsenorge.no" in full.text


async def test_choosing_a_suggestion_answers_that_section(conversation):
    unsure = await conversation("tiltak")
    assert unsure.type == "clarify" and unsure.buttons
    chosen = unsure.buttons[0]
    reply = await conversation(chosen["payload"])
    assert reply.type == "answer"
    assert reply.citations[0]["section"] == unsure.suggestions[0]["section"]


async def test_greeting_then_question_then_thanks(conversation):
    hello = await conversation("hei")
    assert "Veiviser" in hello.text and hello.suggestions
    answer = await conversation("hva er exit-arbeid?")
    assert answer.citations[0]["section"] == "Hva er exit-arbeid?"
    thanks = await conversation("tusen takk!")
    assert "hyggelig" in thanks.text
