"""The service path: Rasa reaches the actions over HTTP on 127.0.0.1, as `make run` starts them."""

from __future__ import annotations

import dataclasses
import socket

from bot.actions_runtime import ActionServer
from bot.assistant import Assistant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_answers_through_the_action_server_on_loopback(settings):
    local = dataclasses.replace(settings, action_port=_free_port())
    server = ActionServer(local)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", local.action_port), timeout=2):
            pass
        assistant = Assistant.load(local, actions="server")
        reply = await assistant.handle("Når går avvergingsplikten foran taushetsplikten?")
        assert reply.type == "answer"
        assert reply.citations[0]["section"] == "Informasjonsutveksling"
    finally:
        server.stop()
    assert server.process is None
