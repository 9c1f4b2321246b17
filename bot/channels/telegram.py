"""The Telegram channel (python-telegram-bot 22): invited practitioners, guided browsing, cited
answers, feedback, and nothing sensitive kept. Every message goes through `Service` (the guard).

Nothing lost, nothing twice: every incoming update is handled once (`RecentUpdates`, or a shared
`claim_update` hook), its answer is computed once, and only the delivery of requests to the Bot API
is retried (`RetryingRateLimiter`)."""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from telegram import BotCommand, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.reply import Reply
from bot.search import search
from bot.service import Service
from bot.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "telegram"
MAX_MESSAGE = 4096
TEXTS_FILE = Path(__file__).with_name("telegram.yml")


@dataclass
class TelegramTexts:
    commands: dict[str, str]
    admin_commands: dict[str, str]
    texts: dict[str, str]

    @classmethod
    def load(cls) -> "TelegramTexts":
        raw = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
        return cls(raw["commands"], raw["admin_commands"], raw["texts"])

    def __call__(self, name: str, **values: Any) -> str:
        return self.texts[name].format(**values) if values else self.texts[name]


class VeiviserContext(CallbackContext[ExtBot, dict, dict, dict]):
    """Typed access to the shared services (instead of untyped bot_data look-ups)."""

    @property
    def service(self) -> Service:
        return self.application.bot_data["service"]

    @property
    def texts(self) -> TelegramTexts:
        return self.application.bot_data["texts"]


# -- delivery: retried requests, updates handled once ----------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try to get one Bot API request (a reply, an edit, a callback answer) through.

    Connection errors, timeouts and 5xx answers are retried with exponential back-off and jitter,
    at most `attempts` times and only while the whole stays within `budget` seconds. A 429 (flood
    control) is waited out exactly as long as Telegram asks, by AIORateLimiter, which holds every
    other request back meanwhile; at most `attempts - 1` times. `timeout` is how long to wait for
    one answer (the read timeout; a long poll adds its own duration)."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0
    budget: float = 30.0
    timeout: float = 5.0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1, 2, ...): doubling up to `max_delay`,
        a random half of it dropped so that workers that failed together do not retry together."""
        ceiling = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


# A request that failed like this may have reached Telegram with only its answer lost. Retrying it
# is still the choice (a reply shown twice beats a reply lost), but if the first attempt did take
# effect, the repeat of these methods fails with this error, which then means "done".
_MAYBE_DELIVERED = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
_DONE_ALREADY = {
    "editMessageText": "message is not modified",
    "editMessageReplyMarkup": "message is not modified",
    "deleteMessage": "message to delete not found",
    "answerCallbackQuery": "query is too old",
}


def _transient(error: BaseException) -> bool:
    """Worth another attempt: a connection error, a timeout or a 5xx. (PTB raises NetworkError for
    those and for unexpected statuses; BadRequest is a NetworkError too, but final.)"""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


class RetryingRateLimiter(AIORateLimiter):
    """Telegram's rate limits (AIORateLimiter, including its 429 handling), plus retries of transient
    failures. PTB passes every Bot API request except getUpdates through here, so a retry repeats one
    request, never the handler: the answer is computed once, only its delivery is tried again.

    Logs name the method, the attempt and the error class, never parameters (message text, chat)."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retries=max(0, policy.attempts - 1))
        self.policy = policy

    async def process_request(self, callback: Callable[..., Awaitable[Any]], args: Any, kwargs: dict[str, Any],
                              endpoint: str, data: dict[str, Any], rate_limit_args: int | None) -> Any:
        loop = asyncio.get_running_loop()
        started = loop.time()
        maybe_delivered = False
        for attempt in itertools.count(1):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except BadRequest as exc:
                done = _DONE_ALREADY.get(endpoint)
                if maybe_delivered and done and done in exc.message.lower():
                    log.info("telegram.request_done_before method=%s attempt=%d", endpoint, attempt)
                    return True
                raise
            except NetworkError as exc:
                maybe_delivered = maybe_delivered or isinstance(exc.__cause__, _MAYBE_DELIVERED)
                delay = self.policy.delay(attempt)
                if attempt >= self.policy.attempts or loop.time() - started + delay > self.policy.budget:
                    log.error("telegram.request_failed method=%s attempts=%d error=%s", endpoint, attempt,
                              type(exc).__name__)
                    raise
                log.warning("telegram.request_retry method=%s attempt=%d error=%s delay=%.2f", endpoint, attempt,
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)


ClaimUpdate = Callable[[int], Awaitable[bool]]
"""`await claim(update_id)`: True the first time an update id is claimed, False for a repeat. With
several workers it must be shared and atomic (e.g. Redis SET NX with an expiry, or a unique insert)."""


class RecentUpdates:
    """The ids of the most recent updates, in this process: enough for one worker. Telegram numbers
    updates in sequence and re-sends only recent ones, so a bounded window suffices."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    async def claim(self, update_id: int) -> bool:
        if update_id in self._ids:
            return False
        self._ids[update_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


async def handle_once(update: Update, context: VeiviserContext) -> None:
    """Runs before every handler: a repeated update (Telegram re-sends a webhook update after an
    error or timeout; getUpdates serves unconfirmed updates again after a restart) stops here.
    The claim is taken before handling, so an update is answered at most once; its delivery is
    what gets retried. If the claim store fails, the update is handled (an answer twice beats none)."""
    claim: ClaimUpdate = context.application.bot_data["claim_update"]
    try:
        first = await claim(update.update_id)
    except Exception as exc:  # noqa: BLE001 - any failure of an external store
        log.warning("telegram.claim_failed error=%s", type(exc).__name__)
        return
    if not first:
        log.info("telegram.duplicate_update update_id=%d", update.update_id)
        raise ApplicationHandlerStop


def _polling_failed(error: TelegramError) -> None:
    """getUpdates failed (not a timeout; PTB retries those at once): PTB's Updater backs off
    (1 s, ×1.5, at most 30 s) and keeps polling. One line, without PTB's traceback."""
    log.warning("telegram.poll_failed error=%s", type(error).__name__)


# -- rendering ---------------------------------------------------------------------------------
def split_text(text: str, limit: int = MAX_MESSAGE - 96) -> list[str]:
    """Split on paragraph, then line, then word boundaries so every part fits in one message."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p]


def to_html(text: str, links: list[str]) -> str:
    """Escape everything, then turn the cited links into anchors."""
    out = html.escape(text, quote=False)
    for url in dict.fromkeys(links):
        escaped = html.escape(url, quote=False)
        out = out.replace(escaped, f'<a href="{html.escape(url, quote=True)}">{escaped}</a>')
    return out


def keyboard(reply: Reply, texts: TelegramTexts) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(b["title"], callback_data=f"s:{b['payload']}"[:64])] for b in reply.buttons]
    if reply.type == "answer" and reply.message_id:
        rows.append([
            InlineKeyboardButton(texts("feedback_up"), callback_data=f"f:{reply.message_id}:1"),
            InlineKeyboardButton(texts("feedback_down"), callback_data=f"f:{reply.message_id}:-1"),
        ])
    return InlineKeyboardMarkup(rows) if rows else None


async def send_reply(update: Update, context: VeiviserContext, reply: Reply) -> None:
    chat_id = update.effective_chat.id
    links = [c["url"] for c in reply.citations]
    parts = split_text(reply.text)
    markup = keyboard(reply, context.texts)
    for i, part in enumerate(parts):
        await context.bot.send_message(chat_id, to_html(part, links), parse_mode=ParseMode.HTML,
                                       disable_web_page_preview=True,
                                       reply_markup=markup if i == len(parts) - 1 else None)


def _user(update: Update) -> str:
    return str(update.effective_user.id)


async def _acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press (stops the spinner). Only a courtesy: the reply that follows matters
    more, so a failure is logged and passed over."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.warning("telegram.callback_answer_failed error=%s", type(exc).__name__)


# -- handlers ----------------------------------------------------------------------------------
async def start(update: Update, context: VeiviserContext) -> None:
    """/start <invitation code>: register, then the privacy notice."""
    code = context.args[0] if context.args else ""
    await send_reply(update, context, context.service.start(CHANNEL, _user(update), code))


async def help_command(update: Update, context: VeiviserContext) -> None:
    """/hjelp: what Veiviser can help with."""
    await send_reply(update, context, await context.service.handle(CHANNEL, _user(update), "hva kan du hjelpe med?"))


async def privacy(update: Update, context: VeiviserContext) -> None:
    """/personvern: what is stored and for how long."""
    if not context.service.is_registered(CHANNEL, _user(update)):
        await send_reply(update, context, context.service.start(CHANNEL, _user(update), ""))
        return
    text = context.service.phrase("utter_privacy_notice", days=context.service.settings.retention_days)
    await send_reply(update, context, Reply(question="", type="clarify", text=text))


async def delete_me(update: Update, context: VeiviserContext) -> None:
    """/slett: delete everything stored about the user."""
    await send_reply(update, context, context.service.forget(CHANNEL, _user(update)))


async def contact(update: Update, context: VeiviserContext) -> None:
    """/kontakt [tjeneste]: who to contact, from content/."""
    query = " ".join(context.args)
    text = f"kontaktinformasjon til {query}" if query else "hvem bør jeg kontakte?"
    await send_reply(update, context, await context.service.handle(CHANNEL, _user(update), text))


async def search_command(update: Update, context: VeiviserContext) -> None:
    """/sok <ord>: full-text search in the guideline."""
    service, texts = context.service, context.texts
    if not service.is_registered(CHANNEL, _user(update)):
        await send_reply(update, context, service.start(CHANNEL, _user(update), ""))
        return
    query = " ".join(context.args).strip()
    if not query:
        await send_reply(update, context, Reply(question="", type="clarify", text=texts("search_usage")))
        return
    from bot.guard.redact import redact

    query = redact(query).text
    hits = search(service.assistant.content, query)
    if not hits:
        await send_reply(update, context, Reply(question="", type="clarify", text=texts("search_none", query=query)))
        return
    content = service.assistant.content
    lines = [texts("search_title", query=query)]
    for hit in hits:
        citation = content.citation(hit.section)
        lines.append(f"\n{hit.section.heading}\n{hit.snippet}\n{citation.source_line}")
    citations = [content.citation(h.section).as_json() for h in hits]
    await send_reply(update, context, Reply(question=query, type="answer", text="\n".join(lines) + f"\n{citations[0]['url']}",
                                            citations=citations))


async def browse(update: Update, context: VeiviserContext) -> None:
    """/tema: browse the guideline chapter by chapter."""
    service, texts = context.service, context.texts
    if not service.is_registered(CHANNEL, _user(update)):
        await send_reply(update, context, service.start(CHANNEL, _user(update), ""))
        return
    content = service.assistant.content
    rows = [[InlineKeyboardButton(s.heading, callback_data=f"t:{s.id}")]
            for s in content.sections.values() if s.parent is None]
    await context.bot.send_message(update.effective_chat.id, html.escape(texts("browse_title")),
                                   parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup(rows))


async def on_callback(update: Update, context: VeiviserContext) -> None:
    """Buttons: a suggestion (s:), feedback (f:) or browsing (t:)."""
    query = update.callback_query
    data = query.data or ""
    service, texts = context.service, context.texts
    if not service.is_registered(CHANNEL, _user(update)):
        await _acknowledge(query)
        await send_reply(update, context, service.start(CHANNEL, _user(update), ""))
        return
    if data.startswith("f:"):
        _, message_id, value = data.split(":")
        service.feedback(CHANNEL, _user(update), int(message_id), int(value))
        await _acknowledge(query, texts("feedback_thanks"))
        await query.edit_message_reply_markup(reply_markup=None)
        return
    await _acknowledge(query)
    if data.startswith("s:"):
        await send_reply(update, context, await service.handle(CHANNEL, _user(update), data[2:]))
    elif data.startswith("t:"):
        await _browse_section(update, context, data[2:])


async def _browse_section(update: Update, context: VeiviserContext, section_id: str) -> None:
    content, texts = context.service.assistant.content, context.texts
    if section_id not in content.sections:
        return
    section = content.section(section_id)
    children = content.children(section)
    if children:
        rows = [[InlineKeyboardButton(c.heading, callback_data=f"t:{c.id}")] for c in children]
        if section.body:
            rows.insert(0, [InlineKeyboardButton(texts("browse_whole"), callback_data=f"w:{section.id}")])
        rows.append([InlineKeyboardButton(texts("browse_back"), callback_data="t:__top__")])
        await update.callback_query.edit_message_text(html.escape(texts("browse_children", heading=section.heading)),
                                                      parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup(rows))
        return
    await send_reply(update, context, _section_reply(content, section))


def _section_reply(content, section) -> Reply:
    """A whole section with its citation, as browsing ends."""
    citation = content.citation(section)
    text = f"{section.heading}\n\n{content.full_text(section)}\n\n{citation.source_line}\n{citation.url}"
    return Reply(question="", type="answer", text=text, citations=[citation.as_json()])


async def browse_top(update: Update, context: VeiviserContext) -> None:
    """The back button: the chapter list again."""
    await _acknowledge(update.callback_query)
    content, texts = context.service.assistant.content, context.texts
    rows = [[InlineKeyboardButton(s.heading, callback_data=f"t:{s.id}")]
            for s in content.sections.values() if s.parent is None]
    await update.callback_query.edit_message_text(html.escape(texts("browse_title")), parse_mode=ParseMode.HTML,
                                                  reply_markup=InlineKeyboardMarkup(rows))


async def on_text(update: Update, context: VeiviserContext) -> None:
    """A question: guard → assistant → store; personal data is deleted from the chat."""
    message = update.effective_message
    reply = await context.service.handle(CHANNEL, _user(update), message.text or "")
    if reply.personal_data:
        try:
            await context.bot.delete_message(update.effective_chat.id, message.message_id)
            notice = context.texts("pii_deleted")
        except TelegramError:  # too old, no permission, or Telegram unreachable: the answer still goes out
            notice = context.texts("pii_not_deleted")
        reply.text = notice + "\n\n" + reply.text
    await send_reply(update, context, reply)


async def on_other(update: Update, context: VeiviserContext) -> None:
    """Photos, files, stickers: ask for text (nothing is stored)."""
    reply = await context.service.handle(CHANNEL, _user(update), "")
    await send_reply(update, context, reply)


async def admin_stats(update: Update, context: VeiviserContext) -> None:
    """/stats (admin): usage figures."""
    if await _admin(update, context):
        text = context.texts("stats", **context.service.store.stats())
        await send_reply(update, context, Reply(question="", type="clarify", text=text))


async def admin_invite(update: Update, context: VeiviserContext) -> None:
    """/invitasjon [rolle] (admin): a new one-time invitation code."""
    if await _admin(update, context):
        from datetime import timedelta

        role = context.args[0] if context.args and context.args[0] in ("practitioner", "admin") else "practitioner"
        code = context.service.store.create_invitation(role, timedelta(days=7), created_by=f"{CHANNEL}:{_user(update)}")
        text = context.texts("invitation", role=role, expires="7d", code=code)
        await send_reply(update, context, Reply(question="", type="clarify", text=text))


async def admin_reload(update: Update, context: VeiviserContext) -> None:
    """/reload (admin): load the model in service and the content now, without a restart."""
    if await _admin(update, context):
        try:
            path = await context.service.reload(f"{CHANNEL}:{_user(update)}")
            text = context.texts("reloaded", model=path.name)
        except Exception as exc:  # noqa: BLE001 - the running model stays; the admin is told why
            log.error("telegram.reload_refused reason=%s", exc)
            text = context.texts("reload_refused", reason=str(exc))
        await send_reply(update, context, Reply(question="", type="clarify", text=text))


async def _admin(update: Update, context: VeiviserContext) -> bool:
    if context.service.role(CHANNEL, _user(update)) == "admin":
        return True
    await send_reply(update, context, Reply(question="", type="clarify", text=context.texts("admin_only")))
    return False


async def on_error(update: object, context: VeiviserContext) -> None:
    """Log the failure without user text or its traceback, and reply with a generic message, unless
    the failure was Telegram itself: then the reply was already retried, and so would this be."""
    err = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if _transient(err) or isinstance(err, RetryAfter):
        log.error("telegram.reply_undelivered update_id=%s error=%s", update_id, type(err).__name__)
        return
    log.error("telegram.handler_failed update_id=%s error=%s", update_id, type(err).__name__)
    if isinstance(update, Update) and update.effective_chat:
        try:
            await context.bot.send_message(update.effective_chat.id, html.escape(context.texts("error")))
        except TelegramError:
            log.error("telegram.error_reply_failed")


def register_handlers(app: Application) -> None:
    app.add_handler(TypeHandler(Update, handle_once), group=-1)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("hjelp", help_command))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("tema", browse))
    app.add_handler(CommandHandler("kontakt", contact))
    app.add_handler(CommandHandler("sok", search_command))
    app.add_handler(CommandHandler("personvern", privacy))
    app.add_handler(CommandHandler("slett", delete_me))
    app.add_handler(CommandHandler("stats", admin_stats))
    app.add_handler(CommandHandler("invitasjon", admin_invite))
    app.add_handler(CommandHandler("reload", admin_reload))
    app.add_handler(CallbackQueryHandler(browse_top, pattern=r"^t:__top__$"))
    app.add_handler(CallbackQueryHandler(_whole_chapter, pattern=r"^w:"))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL, on_other))
    app.add_error_handler(on_error)


async def _whole_chapter(update: Update, context: VeiviserContext) -> None:
    await _acknowledge(update.callback_query)
    content = context.service.assistant.content
    section_id = (update.callback_query.data or "")[2:]
    if section_id in content.sections:
        await send_reply(update, context, _section_reply(content, content.section(section_id)))


async def start_channel(app: Application, webhook_url: str = "", secret: str = "", poll_timeout: int = 10) -> None:
    """Start the (initialised) application: commands in Norwegian, then webhook or long polling.
    Used by the service and the tests alike, on the caller's event loop."""
    texts: TelegramTexts = app.bot_data["texts"]
    commands = [BotCommand(k, v) for k, v in texts.commands.items()]
    await app.bot.set_my_commands(commands)
    await app.bot.set_my_commands(commands, language_code="nb")
    await app.start()
    if webhook_url:
        await app.bot.set_webhook(webhook_url, secret_token=secret or None)
    else:
        await app.updater.start_polling(poll_interval=0.0, timeout=poll_timeout, error_callback=_polling_failed)


async def stop_channel(app: Application) -> None:
    if app.updater and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()


def build_application(settings: Settings, service: Service, token: str, base_url: str | None = None, *,
                      retry: RetryPolicy = RetryPolicy(), claim_update: ClaimUpdate | None = None) -> Application:
    """The Telegram application, sharing the service (and its event loop) with the rest. `retry`: how
    requests to Telegram are retried; `claim_update`: a store shared by several workers that lets each
    update be handled once (default: this process remembers the recent update ids)."""
    # httpx logs every request URL (Telegram's URLs carry the bot token), and python-telegram-bot
    # logs whole updates (user text) at debug level: neither may ever reach a log.
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.WARNING)
    builder = (ApplicationBuilder().token(token).context_types(ContextTypes(context=VeiviserContext))
               .rate_limiter(RetryingRateLimiter(retry))
               .read_timeout(retry.timeout).get_updates_read_timeout(retry.timeout))
    if base_url:
        builder = builder.base_url(base_url.rstrip("/") + "/bot").base_file_url(base_url.rstrip("/") + "/file/bot")
    app = builder.build()
    app.bot_data["service"] = service
    app.bot_data["texts"] = TelegramTexts.load()
    app.bot_data["claim_update"] = claim_update or RecentUpdates().claim
    register_handlers(app)
    return app
