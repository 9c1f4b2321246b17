"""The web channel's HTTP API: every status a client can meet, and the security headers."""

from __future__ import annotations

import dataclasses
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.runner import build_web_app
from bot.service import Service
from bot.tokens import create_token, verify_token

SECRET = b"test-secret-for-portal-tokens"
WIDGET = {"X-Veiviser-Client": "widget"}


@pytest.fixture(scope="module")
def service(settings, tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "veiviser.db"
    local = dataclasses.replace(settings, database_url=f"sqlite:///{path}", rate_limit_per_minute=5,
                                trusted_proxies=("127.0.0.1",), frame_ancestors=("'self'", "https://intranett.example"))
    svc = Service.build(local)
    yield svc
    svc.store.dispose()


@pytest.fixture
async def client(service):
    c = TestClient(TestServer(build_web_app(service.settings, service, SECRET)))
    await c.start_server()
    yield c
    await c.close()


def auth(user: str, ttl: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(SECRET, user, ttl)}", **WIDGET}


def test_tokens_expire_and_cannot_be_forged():
    token = create_token(SECRET, "alice", 60)
    assert verify_token(SECRET, token) == "alice"
    assert verify_token(SECRET, token, now=time.time() + 120) is None
    assert verify_token(b"another-secret", token) is None
    body, sig = token.split(".")
    assert verify_token(SECRET, body + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")) is None
    assert verify_token(SECRET, "garbage") is None


async def test_chat_answers_with_the_jsonl_schema_plus_buttons(client):
    r = await client.post("/api/chat", json={"message": "Når går avvergingsplikten foran taushetsplikten?",
                                             "conversation_id": None}, headers=auth("alice"))
    assert r.status == 200
    body = await r.json()
    assert {"question", "type", "text", "citations", "suggestions", "intent", "confidence", "buttons",
            "message_id", "conversation_id"} <= set(body)
    assert body["type"] == "answer" and body["citations"][0]["section"] == "Informasjonsutveksling"
    assert isinstance(body["message_id"], int)
    assert r.headers["Cache-Control"] == "no-store"


async def test_no_or_bad_token_is_401(client):
    assert (await client.post("/api/chat", json={"message": "hei"}, headers=WIDGET)).status == 401
    bad = {"Authorization": "Bearer " + create_token(b"wrong", "alice", 60), **WIDGET}
    assert (await client.post("/api/chat", json={"message": "hei"}, headers=bad)).status == 401
    expired = {"Authorization": "Bearer " + create_token(SECRET, "alice", -10), **WIDGET}
    assert (await client.post("/api/chat", json={"message": "hei"}, headers=expired)).status == 401


async def test_state_changing_calls_without_the_widget_header_are_403(client):
    token = auth("bob")
    del token["X-Veiviser-Client"]
    assert (await client.post("/api/chat", json={"message": "hei"}, headers=token)).status == 403
    assert (await client.delete("/api/conversation", headers=token)).status == 403
    assert (await client.post("/api/feedback", json={"message_id": 1, "value": 1}, headers=token)).status == 403


async def test_body_over_16_kib_is_413(client):
    r = await client.post("/api/chat", json={"message": "a" * 20_000}, headers=auth("carol"))
    assert r.status == 413


async def test_rate_limit_is_429_with_retry_after(client):
    headers = auth("dave")
    statuses = [(await client.post("/api/chat", json={"message": "hei"}, headers=headers)) for _ in range(6)]
    assert [r.status for r in statuses[:5]] == [200] * 5
    assert statuses[5].status == 429
    assert int(statuses[5].headers["Retry-After"]) >= 1


async def test_proxy_user_header_only_from_trusted_addresses(client, service):
    r = await client.post("/api/chat", json={"message": "hva er exit-arbeid?"}, headers={"X-Remote-User": "erin", **WIDGET})
    assert r.status == 200  # the test client connects from 127.0.0.1, a trusted proxy here
    untrusted = dataclasses.replace(service.settings, trusted_proxies=("10.9.9.9",))
    other = TestClient(TestServer(build_web_app(untrusted, service, SECRET)))
    await other.start_server()
    try:
        r = await other.post("/api/chat", json={"message": "hei"}, headers={"X-Remote-User": "erin", **WIDGET})
        assert r.status == 401
    finally:
        await other.close()


async def test_feedback_and_delete_conversation(client, service):
    headers = auth("frank")
    answer = await (await client.post("/api/chat", json={"message": "hva gjør NAV i exit-arbeid?"}, headers=headers)).json()
    r = await client.post("/api/feedback", json={"message_id": answer["message_id"], "value": -1}, headers=headers)
    assert r.status == 200
    assert (await client.post("/api/feedback", json={"message_id": "x", "value": 3}, headers=headers)).status == 400
    r = await client.delete("/api/conversation", headers=headers)
    assert r.status == 200 and "slettet" in (await r.json())["text"]
    assert service.store.find_user("web", "frank") is None


async def test_rasa_rest_webhook_format(client):
    r = await client.post("/webhooks/rest/webhook", json={"sender": "widget-1", "message": "PST sitt nummer"},
                          headers=auth("gina"))
    assert r.status == 200
    messages = await r.json()
    assert isinstance(messages, list) and messages[0]["recipient_id"] == "widget-1"
    assert "23305000" in messages[0]["text"]


async def test_health_openapi_and_security_headers(client):
    r = await client.get("/health")
    assert r.status == 200 and (await r.json())["database"] == "ok"
    spec = await (await client.get("/openapi.json")).json()
    assert {"/api/chat", "/api/feedback", "/api/conversation", "/webhooks/rest/webhook", "/health"} <= set(spec["paths"])
    page = await client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self' https://intranett.example" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert (await client.get("/widget.js")).headers["Content-Type"].startswith("application/javascript")


async def test_bad_json_is_400_and_nothing_breaks(client):
    r = await client.post("/api/chat", data=b"\x00\xff not json", headers={**auth("hans"), "Content-Type": "application/json"})
    assert r.status == 400
    r = await client.post("/api/chat", json={"message": "<img src=x onerror=alert(1)>"}, headers=auth("hans"))
    assert r.status == 200


async def test_admin_reload_needs_an_admin_and_reports_the_model_in_service(service):
    settings = dataclasses.replace(service.settings, admins=("web:boss",))
    c = TestClient(TestServer(build_web_app(settings, service, SECRET)))
    await c.start_server()
    try:
        assert (await c.post("/api/admin/reload", headers=auth("practitioner-1"))).status == 403
        assert (await c.post("/api/admin/reload", headers={"Authorization": auth("boss")["Authorization"]})).status == 403
        r = await c.post("/api/admin/reload", headers=auth("boss"))
        assert r.status == 200
        assert (await r.json())["model"] == service.assistant.model_path.name
        assert ("reload", service.assistant.model_path.name) in [(e.action, e.subject) for e in service.store.audit_log()]
        health = await (await c.get("/health")).json()
        assert health["model"] == service.assistant.model_path.name
        assert health["database"] == "ok" and health["redis"] == "off" and health["telegram"] == "off"
    finally:
        await c.close()
