"""The intranet channel: an HTTP API and a chat widget served by Veiviser's own aiohttp server,
on the same event loop as Telegram. Every message goes through `Service` (the guard)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

import yaml
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.reply import Reply
from bot.service import Service
from bot.settings import Settings
from bot.tokens import verify_token

log = logging.getLogger(__name__)
CHANNEL = "web"
STATIC = Path(__file__).with_name("web_static")
OPENAPI = Path(__file__).with_name("openapi.yml")
CLIENT_HEADER = "X-Veiviser-Client"
SERVICE_KEY: web.AppKey[Service] = web.AppKey("service", Service)
SECRET_KEY: web.AppKey[bytes] = web.AppKey("secret", bytes)
SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings", Settings)
ERRORS = {
    400: "Ugyldig forespørsel.",
    401: "Du er ikke logget inn, eller innloggingen har utløpt.",
    403: "Forespørselen ble avvist.",
    404: "Finnes ikke.",
    405: "Metoden er ikke tillatt.",
    413: "Forespørselen er for stor.",
    429: "For mange forespørsler.",
    500: "Noe gikk galt.",
    503: "Tjenesten er midlertidig utilgjengelig. Prøv igjen om litt.",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": ERRORS.get(status, "Feil.")}, status=status, headers=headers)


def security_headers(frame_ancestors: tuple[str, ...]) -> Any:
    csp = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
           f"base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {' '.join(frame_ancestors)}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _error(exc.status) if exc.status >= 400 else exc
        except SQLAlchemyError:  # the database is down: say so, the monitor sees it in /health
            log.error("web.database_unavailable path=%s", request.path)
            response = _error(503)
        except Exception:  # noqa: BLE001 - never a traceback to the client, never user text in the log
            log.error("web.handler_failed path=%s", request.path)
            response = _error(500)
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return middleware


def authenticate(request: web.Request) -> str | None:
    """The user: a valid portal token, or the user header from a trusted proxy address."""
    settings = request.app[SETTINGS_KEY]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return verify_token(request.app[SECRET_KEY], auth[len("Bearer "):])
    header = settings.proxy_user_header
    if header in request.headers and _trusted(request.remote, settings.trusted_proxies):
        user = request.headers[header].strip()
        return user[:128] or None
    return None


def _trusted(remote: str | None, proxies: tuple[str, ...]) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
        return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)
    except ValueError:
        return False


def api(handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]]) -> Handler:
    """401 without a user, 403 without the widget header on state-changing calls."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        user = authenticate(request)
        if user is None:
            return _error(401)
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.headers.get(CLIENT_HEADER) != "widget":
            return _error(403)
        request.app[SERVICE_KEY].admit_authenticated(CHANNEL, user)
        return await handler(request, user)

    return wrapped


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001
        raise web.HTTPBadRequest() from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest()
    return body


def _reply_json(reply: Reply, conversation_id: str) -> dict[str, Any]:
    out = reply.as_json()
    out.update(buttons=reply.buttons, message_id=reply.message_id, conversation_id=conversation_id)
    return out


async def _answer(request: web.Request, user: str, message: Any) -> tuple[Reply, str] | web.Response:
    if not isinstance(message, str):
        raise web.HTTPBadRequest()
    service = request.app[SERVICE_KEY]
    reply = await service.handle(CHANNEL, user, message)
    if reply.retry_after:
        return web.json_response({"error": reply.text}, status=429,
                                 headers={"Retry-After": str(int(reply.retry_after))})
    found = service.store.find_user(CHANNEL, user)
    return reply, found.conversation_id if found else ""


@api
async def chat(request: web.Request, user: str) -> web.StreamResponse:
    body = await _json(request)
    result = await _answer(request, user, body.get("message"))
    if isinstance(result, web.Response):
        return result
    reply, conversation = result
    return web.json_response(_reply_json(reply, conversation))


@api
async def rest_webhook(request: web.Request, user: str) -> web.StreamResponse:
    """Rasa's REST-channel format, so existing Rasa chat widgets can talk to Veiviser."""
    body = await _json(request)
    result = await _answer(request, user, body.get("message"))
    if isinstance(result, web.Response):
        return result
    reply, _ = result
    recipient = str(body.get("sender") or user)
    message: dict[str, Any] = {"recipient_id": recipient, "text": reply.text}
    if reply.buttons:
        message["buttons"] = reply.buttons
    return web.json_response([message])


@api
async def feedback(request: web.Request, user: str) -> web.StreamResponse:
    body = await _json(request)
    message_id, value = body.get("message_id"), body.get("value")
    if not isinstance(message_id, int) or value not in (1, -1):
        raise web.HTTPBadRequest()
    comment = body.get("comment") if isinstance(body.get("comment"), str) else None
    request.app[SERVICE_KEY].feedback(CHANNEL, user, message_id, value, comment)
    return web.json_response({"ok": True})


@api
async def delete_conversation(request: web.Request, user: str) -> web.StreamResponse:
    reply = request.app[SERVICE_KEY].forget(CHANNEL, user)
    return web.json_response({"ok": True, "text": reply.text})


async def health(request: web.Request) -> web.Response:
    """Each part (model, actions, database, Redis, Telegram): 200 when all that is configured
    works, 503 otherwise, so a monitor can alert."""
    parts = await request.app[SERVICE_KEY].health()
    healthy = all(v in ("ok", "off") for k, v in parts.items() if k != "model") and parts["model"] != "missing"
    return web.json_response({"status": "ok" if healthy else "degraded", **parts}, status=200 if healthy else 503)


@api
async def admin_reload(request: web.Request, user: str) -> web.StreamResponse:
    """Load the model in service and the content now (admins: role admin, or VEIVISER_ADMINS)."""
    service, settings = request.app[SERVICE_KEY], request.app[SETTINGS_KEY]
    if f"{CHANNEL}:{user}" not in settings.admins and service.role(CHANNEL, user) != "admin":
        return _error(403)
    try:
        path = await service.reload(f"{CHANNEL}:{user}")
    except Exception as exc:  # noqa: BLE001 - the running model stays; say why
        log.error("web.reload_refused reason=%s", exc)
        return web.json_response({"error": "Modellen ble ikke lastet; den som var i drift, brukes fortsatt.",
                                  "reason": str(exc)}, status=409)
    return web.json_response({"model": path.name})


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))


def _static(name: str, content_type: str) -> Handler:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=(STATIC / name).read_bytes(), content_type=content_type, charset="utf-8")

    return serve


def add_routes(app: web.Application, settings: Settings, service: Service, secret: bytes) -> None:
    app[SETTINGS_KEY] = settings
    app[SERVICE_KEY] = service
    app[SECRET_KEY] = secret
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/feedback", feedback)
    app.router.add_delete("/api/conversation", delete_conversation)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_post("/api/admin/reload", admin_reload)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/", _static("index.html", "text/html"))
    app.router.add_get("/widget.js", _static("widget.js", "application/javascript"))
    app.router.add_get("/widget.css", _static("widget.css", "text/css"))
