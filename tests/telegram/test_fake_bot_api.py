"""Self-test of the fake Bot API server: a real PTB Application polls it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from .fake_bot_api import FakeBotApi

TOKEN = "123456:TEST"


@pytest.fixture
async def api():
    async with FakeBotApi(token=TOKEN) as server:
        yield server


def build_app(api: FakeBotApi, token: str = TOKEN) -> Application:
    return Application.builder().token(token).base_url(api.base_url).base_file_url(api.base_file_url).build()


@pytest.fixture
async def polling_app(api):
    """A running application with /start, /slett, an echo and a callback handler."""
    app = build_app(api)
    errors: asyncio.Queue = asyncio.Queue()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="ja")]])
        await update.message.reply_text("Hei! Jeg er Veiviser.", reply_markup=keyboard)

    async def slett(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await context.bot.delete_message(chat_id=update.effective_chat.id, message_id=update.message.message_id)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            await errors.put(exc)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"Du skrev: {update.message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("Takk")
        await query.edit_message_reply_markup(reply_markup=None)
        await context.bot.send_message(query.message.chat.id, f"Valgt: {query.data} (på «{query.message.text}»)")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("slett", slett))
    app.add_handler(CallbackQueryHandler(button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        app.bot_data["errors"] = errors
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_start_and_echo(api, polling_app):
    assert polling_app.bot.username == "veiviser_test_bot"
    assert polling_app.bot.id == 123456
    api.push_message(42, "/start")
    api.push_message(42, "hva er exit-arbeid?")
    sent = await api.wait_for("sendMessage", count=2, timeout=5)
    assert [p["text"] for p in sent] == ["Hei! Jeg er Veiviser.", "Du skrev: hva er exit-arbeid?"]
    assert all(p["chat_id"] == 42 for p in sent)
    assert sent[0]["reply_markup"] == {"inline_keyboard": [[{"text": "Ja", "callback_data": "ja"}]]}
    assert "reply_markup" not in sent[1]
    names = [name for name, _ in api.calls]
    assert names[0] == "getMe" and "deleteWebhook" in names and "getUpdates" in names


async def test_callback_query(api, polling_app):
    api.push_message(7, "/start")
    [reply] = await api.wait_for("sendMessage")
    api.push_callback(7, "ja", message_id=2)
    await api.wait_for("sendMessage", count=2, timeout=5)
    [answer] = api.sent("answerCallbackQuery")
    assert answer["text"] == "Takk"
    [edit] = api.sent("editMessageReplyMarkup")
    assert edit["chat_id"] == 7 and edit["message_id"] == 2
    assert api.sent("sendMessage")[1]["text"] == "Valgt: ja (på «Hei! Jeg er Veiviser.»)"


async def test_delete_failure_surfaces_as_bad_request(api, polling_app):
    api.fail_next("deleteMessage")
    api.push_message(42, "/slett")
    exc = await asyncio.wait_for(polling_app.bot_data["errors"].get(), 5)
    assert isinstance(exc, BadRequest)
    assert exc.message == "Message can't be deleted"  # PTB strips "Bad Request: " and capitalises
    # only the next call fails
    assert await polling_app.bot.delete_message(chat_id=42, message_id=1) is True
    assert len(api.sent("deleteMessage")) == 2


async def test_fail_next_times_and_status(api):
    app = build_app(api)
    async with app:
        api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user", times=2)
        for _ in range(2):
            with pytest.raises(Exception, match="blocked by the user"):
                await app.bot.send_message(1, "x")
        message = await app.bot.send_message(1, "x")
        assert message.message_id == 1 and message.from_user.is_bot and message.chat.type == "private"


async def test_wrong_token_is_invalid_token(api):
    app = build_app(api, token="654321:WRONG")
    with pytest.raises(InvalidToken):
        await app.initialize()
    assert api.rejected == [("654321:WRONG", "getMe")]
    assert api.calls == []


async def test_wait_for_timeout_lists_calls(api):
    app = build_app(api)
    async with app:
        with pytest.raises(AssertionError, match="getMe"):
            await api.wait_for("sendMessage", timeout=0.2)


async def test_raw_protocol(api):
    url = f"{api.base_url}{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{api.base_url}1:x/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.get(f"{url}/getWebhookInfo") as resp:
            assert (await resp.json())["result"] == {"url": "", "has_custom_certificate": False,
                                                    "pending_update_count": 0}

        # JSON body; reply_markup given as JSON text is decoded
        body = {"chat_id": 5, "text": "hei", "reply_markup": '{"inline_keyboard": []}'}
        async with http.post(f"{url}/sendMessage", json=body) as resp:
            result = (await resp.json())["result"]
        assert result["text"] == "hei" and result["chat"] == {"id": 5, "type": "private", "first_name": "Test"}
        assert api.sent("sendMessage") == [{"chat_id": 5, "text": "hei", "reply_markup": {"inline_keyboard": []}}]

        # offset drops confirmed updates; long poll returns as soon as an update arrives
        first = api.push_message(5, "/start@veiviser_test_bot hei")
        assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 24}]
        assert first["message"]["message_id"] == 2  # after the bot's message 1 in chat 5
        second = api.push_message(5, "to")
        async with http.post(f"{url}/getUpdates", data={"offset": str(second["update_id"])}) as resp:
            assert [u["update_id"] for u in (await resp.json())["result"]] == [second["update_id"]]
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, api.push_message, 5, "tre")
        started = time.monotonic()
        async with http.post(f"{url}/getUpdates", data={"offset": str(second["update_id"] + 1), "timeout": "30"}) as resp:
            updates = (await resp.json())["result"]
        assert [u["message"]["text"] for u in updates] == ["tre"]
        assert 0.1 < time.monotonic() - started < 1.0
        started = time.monotonic()
        async with http.post(f"{url}/getUpdates", data={"offset": str(updates[0]["update_id"] + 1), "timeout": "30"}) as resp:
            assert (await resp.json())["result"] == []
        assert 0.9 < time.monotonic() - started < 1.5  # capped at 1 s


async def test_injected_faults_and_repeats(api):
    url = f"{api.base_url}{TOKEN}"
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession() as http:
        # too late, without effect: the client times out, nothing was delivered, 504 at the end
        api.delay_next("sendMessage", 0.5, takes_effect=False)
        with pytest.raises(asyncio.TimeoutError):
            await http.post(f"{url}/sendMessage", json={"chat_id": 5, "text": "a"}, timeout=timeout)
        assert len(api.sent("sendMessage")) == 1 and api.delivered("sendMessage") == []
        # too late, with effect: the message is there although the client never heard so
        api.delay_next("sendMessage", 0.5)
        with pytest.raises(asyncio.TimeoutError):
            await http.post(f"{url}/sendMessage", json={"chat_id": 5, "text": "b"}, timeout=timeout)
        await api.wait_for("sendMessage", delivered=True, timeout=1)
        [message] = api.bot_messages(5)
        assert message["text"] == "b" and [p["text"] for p in api.delivered("sendMessage")] == ["b"]

        # an edit that changes nothing, and a second answer to a callback query, fail like Telegram's
        edit = {"chat_id": 5, "message_id": message["message_id"], "text": "b"}
        async with http.post(f"{url}/editMessageText", json=edit) as resp:
            assert resp.status == 400 and "message is not modified" in (await resp.json())["description"]
        for status in (200, 400):
            async with http.post(f"{url}/answerCallbackQuery", json={"callback_query_id": "9"}) as resp:
                assert resp.status == status

        # a confirmed update is served again, in order, once
        first, second = api.push_message(5, "en"), api.push_message(5, "to")
        async with http.post(f"{url}/getUpdates", json={"offset": second["update_id"] + 1}) as resp:
            assert (await resp.json())["result"] == []
        api.redeliver(first)
        for expected in ([first["update_id"]], []):
            async with http.post(f"{url}/getUpdates", json={"offset": second["update_id"] + 1}) as resp:
                assert [u["update_id"] for u in (await resp.json())["result"]] == expected
