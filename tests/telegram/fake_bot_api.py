"""A small fake Telegram Bot API server for tests of python-telegram-bot (PTB) applications.

Usage::

    async with FakeBotApi(token="123456:TEST") as api:
        app = (
            Application.builder().token(api.token)
            .base_url(api.base_url).base_file_url(api.base_file_url).build()
        )
        ...
        api.push_message(42, "/start")
        [params] = await api.wait_for("sendMessage")

The server speaks the Bot API wire format (``/bot<token>/<method>``, JSON or form bodies, replies
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``) for the
methods a chat bot typically uses, records every call, serves queued updates to ``getUpdates``
(offset + long-poll semantics like Telegram) and injects faults: fail the next call(s) of a method
(:meth:`fail_next`, e.g. 5xx or 429 with ``retry_after``), answer them too late for the client
(:meth:`delay_next`, with or without the call taking effect) and serve an update again
(:meth:`redeliver`). :meth:`delivered` lists the calls that took effect, as a user would see them.

Simplifications: text is echoed as sent (``parse_mode`` markup is not parsed away), every chat with
a positive id is a private chat with a user called "Test", and only inline keyboards are echoed back
as ``Message.reply_markup`` (as Telegram does). Like Telegram, an edit that changes nothing fails
with "message is not modified" and a callback query can be answered only once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["FakeBotApi", "METHODS"]

#: The supported methods, by their canonical spelling. Telegram matches method names
#: case-insensitively, and so does this server.
METHODS = (
    "getMe",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "close",
    "logOut",
    "sendChatAction",
)
_CANONICAL = {m.lower(): m for m in METHODS}

# Parameters that are always strings on the wire; every other form value is JSON-decoded when it
# parses (PTB sends ints as "42", bools as "true", objects/arrays as JSON text).
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url", "action",
    "description", "secret_token", "ip_address", "language_code", "business_connection_id",
    "data", "first_name", "last_name", "username", "title", "message_effect_id",
})

_LONG_POLL_CAP = 1.0  # seconds; getUpdates never blocks longer than this
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                 "exactly the same as a current content and reply markup of the message")
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass(frozen=True)
class _Delay:
    seconds: float
    takes_effect: bool


def _canonical(method: str) -> str:
    return _CANONICAL.get(method.lower(), method)


def _decode_value(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Telegram refuses an edit that changes neither the text nor the inline keyboard."""
    def keyboard(message: dict[str, Any]) -> list[Any]:
        return (message.get("reply_markup") or {}).get("inline_keyboard") or []

    return old.get("text") == new.get("text") and keyboard(old) == keyboard(new)


def _command_entities(text: str) -> list[dict[str, Any]]:
    """Telegram marks a leading /command (optionally /command@botname) as a bot_command entity."""
    match = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?", text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}]


class FakeBotApi:
    """Fake Bot API server on 127.0.0.1 (a free port). Use as an async context manager, or call
    :meth:`start` / :meth:`stop`.

    Attributes:
        token: the accepted bot token; requests with any other token get 401 Unauthorized.
        base_url / base_file_url: values for ``ApplicationBuilder.base_url`` / ``.base_file_url``
            (``http://127.0.0.1:PORT/bot`` and ``http://127.0.0.1:PORT/file/bot``).
        calls: every accepted request, in order, as ``(method, params)``; ``method`` canonically
            spelled, ``params`` decoded (ints, bools, reply_markup/entities/... as dicts/lists).
            Calls answered by :meth:`fail_next` and calls of unknown methods are recorded too.
        effects: the calls that took effect (answered ok, or performed before a :meth:`delay_next`
            answer came too late), as ``(method, params)``; see :meth:`delivered`.
        rejected: ``(token, method)`` of requests refused because of a wrong token.
        bot_user: the User object returned by getMe.
        commands: the command lists set by setMyCommands, keyed by ``(scope_json, language_code)``.
        webhook_url: the URL last set by setWebhook ("" after deleteWebhook).
    """

    def __init__(self, token: str = "123456:TEST", *, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port: int | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.effects: list[tuple[str, dict[str, Any]]] = []
        self.rejected: list[tuple[str, str]] = []
        head = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(head) if head.isdigit() else 123456,
            "is_bot": True,
            "first_name": "Veiviser",
            "username": "veiviser_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self._updates: list[dict[str, Any]] = []  # queued, not yet confirmed via offset
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids: dict[int | str, int] = {}  # last message_id per chat (shared by both sides)
        self._messages: dict[tuple[Any, int], dict[str, Any]] = {}  # bot messages, for edits/callbacks
        self._failures: dict[str, list[dict[str, Any]]] = {}
        self._delays: dict[str, list[_Delay]] = {}
        self._sent_updates: dict[int, dict[str, Any]] = {}  # every update ever queued, by id
        self._redeliveries: list[dict[str, Any]] = []  # served again by the next getUpdates
        self._answered_callbacks: set[str] = set()
        self._stopping = asyncio.Event()
        self._updates_changed = asyncio.Event()
        self._calls_changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self._require_port()}/file/bot"

    def _require_port(self) -> int:
        if self.port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self.port

    async def start(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        self._closing = False
        self._stopping.clear()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing = True
        self._updates_changed.set()  # release long polls
        self._stopping.set()  # and delayed answers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test helpers

    def sent(self, method: str) -> list[dict[str, Any]]:
        """Params of every recorded call of ``method``, in order."""
        method = _canonical(method)
        return [params for name, params in self.calls if name == method]

    def delivered(self, method: str) -> list[dict[str, Any]]:
        """Params of every call of ``method`` that took effect, in order: for sendMessage, the
        messages the user got (once per successful attempt)."""
        method = _canonical(method)
        return [params for name, params in self.effects if name == method]

    def bot_messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The bot's messages in a chat as they stand now (after edits), oldest first."""
        return [m for (chat, _), m in sorted(self._messages.items(), key=lambda kv: kv[0][1]) if chat == chat_id]

    def clear_calls(self) -> None:
        self.calls.clear()
        self.effects.clear()

    def fail_next(
        self,
        method: str,
        status: int = 400,
        description: str = "Bad Request: message can't be deleted",
        times: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with Telegram's error format. ``parameters``
        (e.g. ``{"retry_after": 3}`` with status 429) is included as ResponseParameters."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._failures.setdefault(_canonical(method), []).extend(dict(body) for _ in range(times))

    def delay_next(self, method: str, seconds: float, times: int = 1, *, takes_effect: bool = True) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds`` (longer than the client's
        read timeout: the client sees a timeout). With ``takes_effect`` the call is performed first, as
        when Telegram got the request and only its answer is lost (a message is delivered); without,
        it has no effect and is answered 504 Gateway Timeout at the end."""
        self._delays.setdefault(_canonical(method), []).extend(_Delay(seconds, takes_effect) for _ in range(times))

    def redeliver(self, update: dict[str, Any] | int) -> None:
        """Serve an update (or update id) again at the next getUpdates, even though it was confirmed:
        what a client sees after a restart that lost its confirmation (Telegram keeps unconfirmed
        updates for 24 hours)."""
        update_id = update if isinstance(update, int) else update["update_id"]
        self._redeliveries.append(self._sent_updates[update_id])
        self._updates_changed.set()

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10, *,
                       delivered: bool = False) -> list[dict[str, Any]]:
        """Wait until at least ``count`` calls of ``method`` are recorded (with ``delivered``: took
        effect); return the params of all those calls. Raises AssertionError (listing the calls so
        far) on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.delivered(method) if delivered else self.sent(method)
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"expected {count} call(s) of {_canonical(method)} within {timeout}s, got {len(found)}; "
                    f"calls so far: {self.calls!r}"
                )
            self._calls_changed.clear()
            try:
                await asyncio.wait_for(self._calls_changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def push_message(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        message_id: int | None = None,
        date: int | None = None,
        *,
        first_name: str = "Test",
        language_code: str = "nb",
    ) -> dict[str, Any]:
        """Queue an update with a text message from a user in a private chat; returns the update."""
        user = self._user(chat_id if user_id is None else user_id, first_name, language_code)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id, message_id),
            "from": user,
            "chat": self._chat(chat_id, first_name),
            "date": int(time.time()) if date is None else int(date),
            "text": text,
        }
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        return self._enqueue({"message": message})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        language_code: str = "nb",
    ) -> dict[str, Any]:
        """Queue a callback_query update (a press on an inline button of bot message
        ``message_id``); returns the update. The message is the one the bot sent/edited, if known."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": "(message)",
            }
        callback = {
            "id": str(next(self._callback_ids)),
            "from": self._user(chat_id if user_id is None else user_id, first_name, language_code),
            "message": json.loads(json.dumps(message)),
            "chat_instance": str(chat_id),
            "data": data,
        }
        return self._enqueue({"callback_query": callback})

    # ------------------------------------------------------------------ internals

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    @staticmethod
    def _chat(chat_id: Any, first_name: str = "Test") -> dict[str, Any]:
        if isinstance(chat_id, int) and chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": "Test group"}
        return {"id": chat_id, "type": "private", "first_name": first_name}

    def _next_message_id(self, chat_id: Any, wanted: int | None = None) -> int:
        last = self._message_ids.get(chat_id, 0)
        message_id = last + 1 if wanted is None else int(wanted)
        self._message_ids[chat_id] = max(last, message_id)
        return message_id

    def _enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._sent_updates[update["update_id"]] = update
        self._updates.append(update)
        self._updates_changed.set()
        return update

    def _record(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append((method, params))
        self._calls_changed.set()

    def _record_effect(self, method: str, params: dict[str, Any]) -> None:
        self.effects.append((method, params))
        self._calls_changed.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but no longer than the server runs."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    raw.update(body)
            else:  # application/x-www-form-urlencoded or multipart/form-data
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        value = {"filename": value.filename, "content": value.file.read()}
                    raw[key] = value
        return {key: _decode_value(key, value) for key, value in raw.items()}

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        return self._error(404, "Not Found")

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = _canonical(request.match_info["method"])
        if token != self.token:
            self.rejected.append((token, method))
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        self._record(method, params)
        failures = self._failures.get(method)
        if failures:
            body = failures.pop(0)
            return web.json_response(body, status=body["error_code"])
        delays = self._delays.get(method)
        delay = delays.pop(0) if delays else None
        if delay is not None and not delay.takes_effect:
            await self._sleep(delay.seconds)
            return self._error(504, "Gateway Timeout")
        handler = getattr(self, f"_m_{method}", None) if method in METHODS else None
        if handler is None:
            return self._error(404, "Not Found")
        result = handler(params, request) if method == "getUpdates" else handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        response = result if isinstance(result, web.Response) else self._ok(result)
        if response.status == 200:
            self._record_effect(method, params)
        if delay is not None:
            await self._sleep(delay.seconds)
        return response

    # ------------------------------------------------------------------ methods

    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return dict(self.bot_user)

    async def _m_getUpdates(self, params: dict[str, Any], request: web.Request | None = None) -> Any:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = min(float(params.get("timeout") or 0), _LONG_POLL_CAP)
        if offset < 0:  # -N: the last N updates; earlier ones are forgotten
            self._updates = self._updates[offset:]
        elif offset > 0:  # confirms (and forgets) every update before it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._redeliveries and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._updates_changed.clear()
            try:
                await asyncio.wait_for(self._updates_changed.wait(), remaining)
            except asyncio.TimeoutError:
                break
        if request is not None and (request.transport is None or request.transport.is_closing()):
            return []  # the client gave up this long poll (e.g. stopped polling): it receives nothing
        batch = {u["update_id"]: u for u in self._redeliveries + self._updates[:limit]}
        self._redeliveries.clear()
        return [batch[update_id] for update_id in sorted(batch)]

    def _message_result(self, params: dict[str, Any], message_id: int, text: str | None) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        if text is not None:
            message["text"] = text
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:  # Telegram echoes inline keyboards only
            message["reply_markup"] = markup
        return message

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        if "chat_id" not in params:
            return self._error(400, "Bad Request: chat_id is empty")
        if not str(params.get("text") or "").strip():
            return self._error(400, "Bad Request: message text is empty")
        chat_id = params["chat_id"]
        message = self._message_result(params, self._next_message_id(chat_id), params["text"])
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            return True
        if "chat_id" not in params or "message_id" not in params:
            return self._error(400, "Bad Request: message identifier is not specified")
        key = (params["chat_id"], int(params["message_id"]))
        message = self._message_result(params, key[1], params.get("text", ""))
        old = self._messages.get(key)
        if old is not None and _same_content(old, message):
            return self._error(400, _NOT_MODIFIED)
        if old is not None:
            message["date"] = old["date"]
        message["edit_date"] = int(time.time())
        self._messages[key] = message
        return message

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            return True
        if "chat_id" not in params or "message_id" not in params:
            return self._error(400, "Bad Request: message identifier is not specified")
        key = (params["chat_id"], int(params["message_id"]))
        old = self._messages.get(key)
        message = self._message_result(params, key[1], old.get("text") if old else None)
        if old is not None and _same_content(old, message):
            return self._error(400, _NOT_MODIFIED)
        if old is not None:
            message["date"] = old["date"]
            if "entities" in old:
                message["entities"] = old["entities"]
        message["edit_date"] = int(time.time())
        self._messages[key] = message
        return message

    def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        self._messages.pop((params.get("chat_id"), int(params.get("message_id") or 0)), None)
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if query_id in self._answered_callbacks:
            return self._error(400, _QUERY_TOO_OLD)
        self._answered_callbacks.add(query_id)
        return True

    def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = ""
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _m_close(self, params: dict[str, Any]) -> Any:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> Any:
        return True
