"""Nothing lost when Telegram fails, and nothing answered twice (issue 7), against the fake Bot API:
replies are retried (5xx, 429, timeouts) without computing the answer again, repeated updates
(webhook re-sends, getUpdates after a restart) are answered once, and polling recovers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.telegram import RecentUpdates, RetryPolicy, build_application, start_channel, stop_channel
from bot.runner import SECRET_HEADER, build_web_app
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.test_telegram import TOKEN

# Small back-off and a short read timeout, so that faults cost milliseconds, not seconds.
FAST = RetryPolicy(attempts=5, first_delay=0.01, max_delay=0.05, budget=10, timeout=0.5)
LATE = 1.5  # seconds: an answer this late is a timeout for FAST
REFUSAL = "bare for inviterte brukere"
SETTLE_CHAT = 7999
SECRET = "s3cret-webhook-token"


def _root(api: FakeBotApi) -> str:
    return api.base_url[: -len("/bot")]


@pytest.fixture
async def polling(service):
    """A polling bot with fast retries: (fake Bot API, application)."""
    async with FakeBotApi(token=TOKEN) as api:
        app = build_application(service.settings, service, TOKEN, base_url=_root(api), retry=FAST)
        async with app:
            await start_channel(app, poll_timeout=1)
            try:
                yield api, app
            finally:
                await stop_channel(app)


@pytest.fixture
def handled(service, monkeypatch) -> list[str]:
    """The users `service.handle` was called for, in order: an answer must be computed once."""
    calls: list[str] = []
    original = service.handle

    async def counting(channel: str, external_id: str, text: str):
        calls.append(external_id)
        return await original(channel, external_id, text)

    monkeypatch.setattr(service, "handle", counting)
    return calls


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)

    def text() -> str:
        return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)

    return text


def _to(api: FakeBotApi, chat: int) -> list[str]:
    """The texts the user in `chat` got."""
    return [p["text"] for p in api.delivered("sendMessage") if p["chat_id"] == chat]


async def _settle(api: FakeBotApi) -> None:
    """Updates are handled one after the other, so once a later message is answered, everything
    before it is finished, retries included."""
    before = len(_to(api, SETTLE_CHAT))
    api.push_message(SETTLE_CHAT, "hei")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(_to(api, SETTLE_CHAT)) == before:
        assert loop.time() < deadline, f"no answer to the settling message; calls: {api.calls!r}"
        await api.wait_for("sendMessage", count=len(api.delivered("sendMessage")) + 1, delivered=True, timeout=10)


async def _register(api: FakeBotApi, service, chat: int) -> None:
    code = service.store.create_invitation("practitioner", timedelta(days=1), created_by="test")
    before = len(api.delivered("sendMessage"))
    api.push_message(chat, f"/start {code}")
    await api.wait_for("sendMessage", count=before + 1, delivered=True)


# -- replies: retried, computed once ------------------------------------------------------------
async def test_5xx_then_success_delivers_exactly_one_reply_computed_once(polling, handled, logs):
    api, _ = polling
    chat = 7001
    api.fail_next("sendMessage", status=500, description="Internal Server Error")
    api.fail_next("sendMessage", status=502, description="Bad Gateway")
    api.push_message(chat, "hemmelig spørsmål om saken")
    await api.wait_for("sendMessage", delivered=True)
    await _settle(api)
    [reply] = _to(api, chat)
    assert REFUSAL in reply
    assert len([p for p in api.sent("sendMessage") if p["chat_id"] == chat]) == 3
    assert handled.count(str(chat)) == 1
    assert logs().count("telegram.request_retry method=sendMessage") == 2
    assert "hemmelig" not in logs()


async def test_flood_control_is_waited_out_then_delivered(polling, handled):
    api, _ = polling
    chat = 7002
    api.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 1",
                  parameters={"retry_after": 1})
    loop = asyncio.get_running_loop()
    started = loop.time()
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True)
    assert loop.time() - started >= 1.0  # as long as Telegram asked
    await _settle(api)
    assert len(_to(api, chat)) == 1
    assert len([p for p in api.sent("sendMessage") if p["chat_id"] == chat]) == 2
    assert handled.count(str(chat)) == 1


async def test_a_timeout_before_telegram_got_the_message_is_retried_and_delivered_once(polling, handled):
    api, _ = polling
    chat = 7003
    api.delay_next("sendMessage", LATE, takes_effect=False)
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True)
    await _settle(api)
    assert len(_to(api, chat)) == 1
    assert len([p for p in api.sent("sendMessage") if p["chat_id"] == chat]) == 2
    assert handled.count(str(chat)) == 1


async def test_a_timeout_after_telegram_got_the_message_still_reaches_the_user(polling, handled):
    """The ambiguous case: the message arrived, only Telegram's answer was lost, and nothing tells
    the two apart (a bot cannot read its chat back). The reply is sent again: at least once, so
    here twice; a reply shown twice beats a reply lost. It is still computed once."""
    api, _ = polling
    chat = 7004
    api.delay_next("sendMessage", LATE, takes_effect=True)
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True)
    await _settle(api)
    first, second = _to(api, chat)
    assert REFUSAL in first and first == second
    assert handled.count(str(chat)) == 1


async def test_an_edit_or_button_answer_repeated_after_a_lost_answer_counts_as_done(polling, service, logs):
    """Repeating an edit that already took effect gets "message is not modified", repeating a
    callback answer "query is too old": after a lost answer both mean done, not an error."""
    api, _ = polling
    chat = 7005
    await _register(api, service, chat)
    before = len(api.delivered("sendMessage"))
    api.push_message(chat, "Når går avvergingsplikten foran taushetsplikten?")
    await api.wait_for("sendMessage", count=before + 1, delivered=True)
    answer = api.bot_messages(chat)[-1]
    [up] = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "👍"]
    feedback = service.store.stats()["feedback"]

    api.delay_next("answerCallbackQuery", LATE, takes_effect=True)
    api.delay_next("editMessageReplyMarkup", LATE, takes_effect=True)
    api.push_callback(chat, up["callback_data"], message_id=answer["message_id"])
    await api.wait_for("editMessageReplyMarkup", count=2)
    await _settle(api)

    assert len(api.sent("answerCallbackQuery")) == 2 and len(api.delivered("answerCallbackQuery")) == 1
    assert "Takk" in api.delivered("answerCallbackQuery")[0]["text"]
    assert len(api.sent("editMessageReplyMarkup")) == 2 and len(api.delivered("editMessageReplyMarkup")) == 1
    assert "reply_markup" not in api.bot_messages(chat)[-1]
    assert not any("noe gikk galt" in t for t in _to(api, chat))
    assert service.store.stats()["feedback"] == feedback + 1
    assert "telegram.request_done_before method=editMessageReplyMarkup" in logs()
    assert "telegram.request_done_before method=answerCallbackQuery" in logs()


async def test_a_final_error_is_not_retried(polling):
    """A 400 will not go better the next time: no retry, and the user gets the generic message."""
    api, _ = polling
    chat = 7006
    api.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True)
    await _settle(api)
    [error] = _to(api, chat)
    assert "noe gikk galt" in error
    assert len([p for p in api.sent("sendMessage") if p["chat_id"] == chat]) == 2  # the refused reply, the notice


async def test_a_reply_that_cannot_be_delivered_is_logged_and_the_bot_keeps_going(polling, handled, logs):
    api, _ = polling
    chat = 7007
    api.fail_next("sendMessage", status=500, description="Internal Server Error", times=FAST.attempts)
    api.push_message(chat, "hemmelig spørsmål om saken")
    await api.wait_for("sendMessage", count=FAST.attempts)
    await _settle(api)
    assert _to(api, chat) == []
    # given up after the bounded attempts, and no generic message that would fail the same way
    assert len([p for p in api.sent("sendMessage") if p["chat_id"] == chat]) == FAST.attempts
    assert f"telegram.request_failed method=sendMessage attempts={FAST.attempts} error=NetworkError" in logs()
    assert "telegram.reply_undelivered" in logs()
    assert "hemmelig" not in logs() and not re.search(r"bot\d+:", logs())
    assert handled.count(str(chat)) == 1

    before = len(api.delivered("sendMessage"))
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", count=before + 1, delivered=True)
    assert len(_to(api, chat)) == 1


# -- incoming updates: handled once -------------------------------------------------------------
async def test_an_update_served_again_after_a_polling_restart_is_answered_once(polling, handled, logs):
    api, app = polling
    chat = 7008
    update = api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True)
    await stop_channel(app)
    await start_channel(app, poll_timeout=1)
    api.redeliver(update)
    await _settle(api)
    assert len(_to(api, chat)) == 1
    assert handled.count(str(chat)) == 1
    assert f"telegram.duplicate_update update_id={update['update_id']}" in logs()


def _update(update_id: int, chat: int, text: str = "hva er exit-arbeid?") -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1_700_000_000, "text": text,
                                                "chat": {"id": chat, "type": "private"},
                                                "from": {"id": chat, "is_bot": False, "first_name": "T"}}}


class _Worker:
    """One `veiviser serve` worker in webhook mode: its Telegram application and HTTP server."""

    def __init__(self, service, api: FakeBotApi, **options) -> None:
        self.settings = dataclasses.replace(service.settings, telegram_webhook_secret=SECRET,
                                            telegram_webhook_url="https://veiviser.example/telegram/webhook")
        self.app = build_application(self.settings, service, TOKEN, base_url=_root(api), retry=FAST, **options)
        self.service = service

    async def __aenter__(self) -> "_Worker":
        await self.app.initialize()
        await self.app.start()
        self.client = TestClient(TestServer(build_web_app(self.settings, self.service, b"secret", self.app)))
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.close()
        await stop_channel(self.app)
        await self.app.shutdown()

    async def post(self, update: dict) -> int:
        response = await self.client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
        return response.status


async def _answered(api: FakeBotApi, chat: int, count: int) -> None:
    while len(_to(api, chat)) < count:
        await api.wait_for("sendMessage", count=len(api.delivered("sendMessage")) + 1, delivered=True)


async def test_an_update_telegram_sends_twice_to_the_webhook_is_answered_once(service, handled):
    chat = 7009
    async with FakeBotApi(token=TOKEN) as api, _Worker(service, api) as worker:
        assert await worker.post(_update(101, chat)) == 200
        assert await worker.post(_update(101, chat)) == 200  # Telegram's re-send
        assert await worker.post(_update(102, SETTLE_CHAT)) == 200
        await _answered(api, SETTLE_CHAT, 1)
        assert len(_to(api, chat)) == 1
        assert handled.count(str(chat)) == 1


async def test_workers_sharing_a_claim_store_answer_an_update_once(service, handled):
    """With several workers, Telegram may re-send an update to another one: a shared claim store
    (here a RecentUpdates both use, standing in for Redis or the database) keeps it to one answer."""
    chat = 7010
    shared = RecentUpdates()
    async with (FakeBotApi(token=TOKEN) as api, _Worker(service, api, claim_update=shared.claim) as one,
                _Worker(service, api, claim_update=shared.claim) as two):
        assert await one.post(_update(201, chat)) == 200
        await _answered(api, chat, 1)
        assert await two.post(_update(201, chat)) == 200
        assert await two.post(_update(202, SETTLE_CHAT)) == 200
        await _answered(api, SETTLE_CHAT, 1)
        assert len(_to(api, chat)) == 1
        assert handled.count(str(chat)) == 1


async def test_a_failing_claim_store_loses_no_update(service, logs):
    chat = 7011

    async def unavailable(update_id: int) -> bool:
        raise ConnectionError("redis is down")

    async with FakeBotApi(token=TOKEN) as api, _Worker(service, api, claim_update=unavailable) as worker:
        assert await worker.post(_update(301, chat)) == 200
        await _answered(api, chat, 1)
    assert "telegram.claim_failed error=ConnectionError" in logs()


# -- polling: getUpdates fails for a while ------------------------------------------------------
async def test_polling_backs_off_while_get_updates_fails_then_answers_once(polling, handled, logs):
    api, _ = polling
    chat = 7012
    polls = len(api.sent("getUpdates"))
    api.fail_next("getUpdates", status=502, description="Bad Gateway", times=2)
    # then a poll whose answer is lost: the update was served but not received, so it comes again
    api.delay_next("getUpdates", 3, takes_effect=True)
    await api.wait_for("getUpdates", count=polls + 1)  # the first failure
    loop = asyncio.get_running_loop()
    started = loop.time()
    api.push_message(chat, "hva er exit-arbeid?")
    await api.wait_for("sendMessage", delivered=True, timeout=15)
    assert loop.time() - started >= 2.0  # backed off after the failures: 1 s, then 1.5 s
    await _settle(api)
    assert len(_to(api, chat)) == 1
    assert handled.count(str(chat)) == 1
    assert logs().count("telegram.poll_failed error=NetworkError") == 2


# -- the parts ----------------------------------------------------------------------------------
def test_back_off_doubles_with_jitter_up_to_the_cap():
    policy = RetryPolicy(first_delay=0.5, max_delay=8.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    default = RetryPolicy()
    assert sum(default.delay(a) for a in range(1, default.attempts)) < default.budget


async def test_recent_updates_remember_a_bounded_window():
    recent = RecentUpdates(size=3)
    assert [await recent.claim(i) for i in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert await recent.claim(1) is True  # forgotten: only the last three are kept
    assert await recent.claim(4) is False
