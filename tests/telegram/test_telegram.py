"""A whole practitioner session through python-telegram-bot's real network stack, against a fake
Bot API server on 127.0.0.1: invite, question, clarification, cited answer, feedback, deletion."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from bot.channels.telegram import build_application, split_text, start_channel, stop_channel
from bot.service import Service
from tests.telegram.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token-for-tests"


@pytest.fixture
async def telegram(service):
    async with FakeBotApi(token=TOKEN) as api:
        root = api.base_url[: -len("/bot")]
        app = build_application(service.settings, service, TOKEN, base_url=root)
        async with app:
            await start_channel(app, poll_timeout=1)
            try:
                yield api
            finally:
                await stop_channel(app)


def _register(service: Service, user_id: int, role: str = "practitioner") -> str:
    return service.store.create_invitation(role, timedelta(days=1), created_by="test")


async def _say(api: FakeBotApi, chat: int, text: str, expect: int = 1, timeout: float = 15) -> list[dict]:
    before = len(api.sent("sendMessage"))
    api.push_message(chat, text)
    sent = await api.wait_for("sendMessage", count=before + expect, timeout=timeout)
    return sent[before:]


def _buttons(params: dict) -> list[dict]:
    markup = params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def test_whole_session_invite_question_clarify_answer_feedback_delete(telegram, service):
    api, chat = telegram, 5001
    code = _register(service, chat)

    [welcome] = await _say(api, chat, f"/start {code}")
    assert "registrert" in welcome["text"] and "Ikke skriv navn" in welcome["text"]

    [answer] = await _say(api, chat, "Når går avvergingsplikten foran taushetsplikten?")
    assert answer["parse_mode"] == "HTML"
    assert "straffeloven § 196" in answer["text"]
    assert "Kilde: Veileder for exit-arbeid › Gjennomføring › Informasjonsutveksling" in answer["text"]
    assert re.search(r'<a href="https://[^"]+">https://', answer["text"])
    assert [b["text"] for b in _buttons(answer)] == ["👍", "👎"]

    [unsure] = await _say(api, chat, "tiltak")
    suggestions = [b for b in _buttons(unsure) if b["callback_data"].startswith("s:")]
    assert 1 <= len(suggestions) <= 3
    before = len(api.sent("sendMessage"))
    api.push_callback(chat, suggestions[0]["callback_data"], message_id=99)
    chosen = (await api.wait_for("sendMessage", count=before + 1))[-1]
    assert "Kilde: Veileder for exit-arbeid ›" in chosen["text"]
    assert (await api.wait_for("answerCallbackQuery", count=1))

    feedback = next(b for b in _buttons(answer) if b["text"] == "👍")
    api.push_callback(chat, feedback["callback_data"], message_id=7)
    edits = await api.wait_for("editMessageReplyMarkup", count=1)
    assert not (edits[-1].get("reply_markup") or {}).get("inline_keyboard")
    thanks = [c for c in api.sent("answerCallbackQuery") if c.get("text")]
    assert thanks and "Takk" in thanks[-1]["text"]
    user = service.store.find_user("telegram", str(chat))
    assert service.store.stats()["feedback"] >= 1

    [deleted] = await _say(api, chat, "/slett")
    assert "slettet" in deleted["text"]
    assert service.store.find_user("telegram", str(chat)) is None
    assert user.conversation_id
    [refused] = await _say(api, chat, "hva er exit-arbeid?")
    assert "bare for inviterte brukere" in refused["text"]


async def test_unknown_user_is_refused_and_nothing_is_stored(telegram, service):
    [refused] = await _say(telegram, 6001, "Ola Nordmann planlegger noe, hva gjør jeg?")
    assert "bare for inviterte brukere" in refused["text"]
    assert service.store.find_user("telegram", "6001") is None
    [bad] = await _say(telegram, 6001, "/start feil-kode")
    assert "ugyldig" in bad["text"]


async def test_commands_are_registered_in_norwegian(telegram):
    calls = await telegram.wait_for("setMyCommands", count=1)
    names = [c["command"] for c in calls[0]["commands"]]
    assert {"start", "hjelp", "tema", "kontakt", "sok", "personvern", "slett"} <= set(names)


async def test_personal_data_is_deleted_from_the_chat(telegram, service):
    chat = 5002
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    before = len(telegram.sent("sendMessage"))
    update = telegram.push_message(chat, "Ola Nordmann, fnr 010190 12345, tlf 912 34 567 – kan jeg dele dette med NAV?")
    deletes = await telegram.wait_for("deleteMessage", count=1)
    assert deletes[-1]["message_id"] == update["message"]["message_id"]
    reply = (await telegram.wait_for("sendMessage", count=before + 1))[-1]
    assert "slettet meldingen din" in reply["text"]
    assert "010190" not in reply["text"] and "Nordmann" not in reply["text"]
    stored = service.store.messages_of(service.store.find_user("telegram", str(chat)))[-1].text
    assert "[fødselsnummer]" in stored and "Nordmann" not in stored


async def test_personal_data_that_cannot_be_deleted_is_explained(telegram, service):
    chat = 5003
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    telegram.fail_next("deleteMessage", status=400, description="Bad Request: message can't be deleted")
    [reply] = await _say(telegram, chat, "tlf 912 34 567 hva gjør NAV?")
    assert "fikk ikke slettet" in reply["text"]


async def test_browse_the_guideline_with_buttons(telegram, service):
    chat = 5004
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    [menu] = await _say(telegram, chat, "/tema")
    chapters = {b["text"]: b["callback_data"] for b in _buttons(menu)}
    assert "Gjennomføring" in chapters and "Forberedelser" in chapters
    telegram.push_callback(chat, chapters["Gjennomføring"], message_id=50)
    edit = (await telegram.wait_for("editMessageText", count=1))[-1]
    sections = {b["text"]: b["callback_data"] for b in _buttons(edit)}
    assert "Informasjonsutveksling" in sections
    before = len(telegram.sent("sendMessage"))
    telegram.push_callback(chat, sections["Informasjonsutveksling"], message_id=50)
    text = (await telegram.wait_for("sendMessage", count=before + 1))[-1]["text"]
    assert "Avvergingsplikten (straffeloven § 196)" in text
    assert "Kilde: Veileder for exit-arbeid › Gjennomføring › Informasjonsutveksling" in text


async def test_contact_and_search_commands(telegram, service):
    chat = 5005
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    [pst] = await _say(telegram, chat, "/kontakt pst")
    assert "23305000" in pst["text"]
    [found] = await _say(telegram, chat, "/sok samtykke")
    assert "Planlegging og kartlegging" in found["text"] and "samtykke" in found["text"]


async def test_a_5000_character_message_gets_a_clear_reply(telegram, service):
    chat = 5006
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    [reply] = await _say(telegram, chat, "a" * 5000)
    assert "for lang" in reply["text"]


def test_long_replies_are_split_under_telegrams_limit():
    text = "\n\n".join(("Avsnitt %d. " % i) + "ord " * 300 for i in range(8))
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


async def test_an_exception_in_a_handler_gets_a_generic_reply_and_no_user_text_in_logs(telegram, service, caplog,
                                                                                       monkeypatch):
    chat = 5007
    await _say(telegram, chat, f"/start {_register(service, chat)}")
    caplog.set_level(logging.DEBUG)

    async def boom(*args, **kwargs):
        raise RuntimeError("kaboom with user text inside")

    monkeypatch.setattr(service, "handle", boom)
    [reply] = await _say(telegram, chat, "hemmelig spørsmål om saken")
    assert "noe gikk galt" in reply["text"]
    logs = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "hemmelig spørsmål" not in logs
    assert not re.search(r"bot\d+:", logs), "the bot token must never be logged"


async def test_admin_commands_only_for_admins(telegram, service):
    admin, practitioner = 5008, 5009
    await _say(telegram, admin, f"/start {service.store.create_invitation('admin', timedelta(days=1), created_by='t')}")
    await _say(telegram, practitioner, f"/start {_register(service, practitioner)}")
    [denied] = await _say(telegram, practitioner, "/stats")
    assert "bare for administratorer" in denied["text"]
    [stats] = await _say(telegram, admin, "/stats")
    assert re.search(r"Brukere: \d+", stats["text"])
    [invite] = await _say(telegram, admin, "/invitasjon")
    code = invite["text"].strip().splitlines()[-1]
    newcomer = 5010
    [welcome] = await _say(telegram, newcomer, f"/start {code}")
    assert "registrert" in welcome["text"]
    [reloaded] = await _say(telegram, admin, "/reload", timeout=90)
    assert "Lastet inn modellen" in reloaded["text"]
    [answer] = await _say(telegram, newcomer, "hva gjør NAV i exit-arbeid?")
    assert "Kilde: Veileder for exit-arbeid › Relevante tjenester i exit-samarbeid › NAV" in answer["text"]
