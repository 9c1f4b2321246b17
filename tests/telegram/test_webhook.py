"""Webhook mode (several workers): only Telegram, which knows the secret, may post updates."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient, TestServer

from bot.channels.telegram import build_application, stop_channel
from bot.runner import SECRET_HEADER, build_web_app
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.test_telegram import TOKEN

SECRET = "s3cret-webhook-token"


async def test_webhook_checks_the_secret_and_processes_updates(service):
    settings = dataclasses.replace(service.settings, telegram_webhook_secret=SECRET,
                                   telegram_webhook_url="https://veiviser.example/telegram/webhook")
    async with FakeBotApi(token=TOKEN) as api:
        app = build_application(settings, service, TOKEN, base_url=api.base_url[: -len("/bot")])
        async with app:
            await app.start()
            client = TestClient(TestServer(build_web_app(settings, service, b'secret', app)))
            await client.start_server()
            try:
                update = {"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000, "text": "hei",
                                                      "chat": {"id": 4242, "type": "private"},
                                                      "from": {"id": 4242, "is_bot": False, "first_name": "T"}}}
                assert (await client.post("/telegram/webhook", json=update)).status == 403
                wrong = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: "wrong"})
                assert wrong.status == 403
                assert api.sent("sendMessage") == []
                ok = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
                assert ok.status == 200
                sent = await api.wait_for("sendMessage", count=1)
                assert "bare for inviterte brukere" in sent[0]["text"]
                assert (await client.get("/health")).status == 200
            finally:
                await client.close()
                await stop_channel(app)
