"""The service every channel talks to: guard → assistant → store, plus registration, feedback,
deletion and the daily retention task. Channels never touch the store or Rasa directly."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from bot.assistant import Assistant
from bot.guard.guard import Guard, LimiterUnavailable, StorageUnavailable, describe_kinds
from bot.reply import Reply
from bot.settings import Settings
from bot.store.store import Store, UserInfo, tracker_store_for

log = logging.getLogger(__name__)

DELETE_COMMANDS = re.compile(r"^\s*(/slett|slett mine data|slett meg|slett alt om meg)\s*[.!]?\s*$", re.IGNORECASE)
START_COMMAND = re.compile(r"^\s*/start(?:\s+(\S+))?\s*$")
# Channels whose users are authenticated by someone else (the intranet portal's token or proxy).
AUTHENTICATED_CHANNELS = {"web"}


def lock_store_for(redis_url: str) -> Any:
    """Rasa's per-conversation lock: in Redis when several workers share conversations."""
    if not redis_url:
        return None
    from urllib.parse import urlparse

    from rasa.core.lock_store import RedisLockStore

    url = urlparse(redis_url)
    db = int(url.path.strip("/") or 0)
    return RedisLockStore(host=url.hostname or "localhost", port=url.port or 6379, db=db, username=url.username,
                          password=url.password, use_ssl=url.scheme == "rediss", key_prefix="veiviser", socket_timeout=2)


class Service:
    def __init__(self, settings: Settings, assistant: Assistant, store: Store, guard: Guard | None = None):
        self.settings = settings
        self.assistant = assistant
        self.store = store
        self.guard = guard or Guard(settings, store)

    @classmethod
    def build(cls, settings: Settings, actions: str = "inprocess") -> "Service":
        """Migrate the database, then load the model with Rasa's tracker in the same database."""
        store = Store(settings.db_url)
        store.upgrade()
        assistant = Assistant.load(settings, actions=actions, tracker_store=tracker_store_for(settings.db_url, None),
                                   lock_store=lock_store_for(settings.redis_url))
        return cls(settings, assistant, store)

    def phrase(self, name: str, **values: Any) -> str:
        return self.assistant.phrase(name, **values)

    def _notice(self, question: str, *names: str) -> Reply:
        text = "\n\n".join(self.phrase(n, days=self.settings.retention_days) if n == "utter_privacy_notice"
                           else self.phrase(n) for n in names)
        return Reply(question=question, type="clarify", text=text)

    # -- messages ----------------------------------------------------------------------------
    async def handle(self, channel: str, external_id: str, text: str) -> Reply:
        """One incoming message from a channel user. The raw text is never stored or logged."""
        start = START_COMMAND.match(text or "")
        if start:
            return self.start(channel, external_id, start.group(1) or "")
        try:
            admission = self.guard.admit(channel, external_id, text or "", authenticated=channel in AUTHENTICATED_CHANNELS)
        except (StorageUnavailable, LimiterUnavailable) as exc:
            log.error("guard.unavailable part=%s", "database" if isinstance(exc, StorageUnavailable) else "redis")
            return self.assistant.error_reply("")
        if admission.verdict == "refused":
            log.info("guard.refused channel=%s", channel)
            return Reply(question="", type="fallback", text=self.phrase("utter_refusal"))
        user = admission.user
        assert user is not None
        if admission.verdict == "too_long":
            return Reply(question="", type="clarify", text=self.phrase(
                "utter_too_long", length=len(text), limit=self.settings.max_message_chars))
        if admission.verdict == "rate_limited":
            seconds = max(1, int(admission.retry_after + 0.999))
            return Reply(question="", type="clarify", text=self.phrase("utter_rate_limited", seconds=seconds),
                         retry_after=seconds)
        if DELETE_COMMANDS.match(text):
            return self.forget_me(user)

        redacted = admission.redaction
        assert redacted is not None
        reply = await self.assistant.handle(redacted.text, sender_id=user.conversation_id)
        reply.question = redacted.text
        reply.personal_data = dict(admission.found)
        if admission.found:
            reply.text = self.phrase("utter_pii_warning", kinds=describe_kinds(admission.found)) + "\n\n" + reply.text
        if admission.new_user:
            reply.text = self.phrase("utter_privacy_notice", days=self.settings.retention_days) + "\n\n" + reply.text
        try:
            if not user.id:
                raise StorageUnavailable("the user could not be looked up")
            reply.message_id = self.store.record_message(
                user, text=redacted.text, intent=reply.intent, confidence=reply.confidence, answer_type=reply.type,
                cited_sections=[c["section"] for c in reply.citations], redacted_kinds=admission.found,
            )
        except Exception as exc:  # noqa: BLE001 - the answer matters more than the record
            log.error("store.record_message_failed error=%s", type(exc).__name__)
            self.guard.forget(channel, external_id)  # look the user up afresh next time
            reply.text += "\n\n" + self.phrase("utter_storage_unavailable")
        log.info("message.answered type=%s intent=%s redacted=%s", reply.type, reply.intent,
                 ",".join(sorted(admission.found)))
        return reply

    def start(self, channel: str, external_id: str, code: str) -> Reply:
        """`/start <invitation code>`: register, then show the privacy notice."""
        user, new = self.guard.identify(channel, external_id)
        if user is not None:
            notice = ("utter_registered", "utter_privacy_notice") if new else ("utter_privacy_notice",)
            return self._notice("", *notice)
        if not code:
            return Reply(question="", type="fallback", text=self.phrase("utter_refusal"))
        if self.store.redeem_invitation(code, channel, external_id) is None:
            return Reply(question="", type="fallback", text=self.phrase("utter_invitation_invalid"))
        log.info("user.registered channel=%s", channel)
        return self._notice("", "utter_registered", "utter_privacy_notice")

    def feedback(self, channel: str, external_id: str, message_id: int | None, value: int,
                 comment: str | None = None) -> bool:
        user = self.store.find_user(channel, external_id)
        if user is None:
            return False
        from bot.guard.redact import redact

        self.store.record_feedback(user, message_id=message_id, value=value,
                                   comment=redact(comment).text if comment else None)
        return True

    def admit_authenticated(self, channel: str, external_id: str) -> None:
        """A user the intranet portal (or its proxy) has already authenticated: register on first
        use. With the database down they are still answered (see `Guard.stand_in`)."""
        try:
            if self.guard.identify(channel, external_id)[0] is None:
                self.guard.remember(self.store.register(channel, external_id, "practitioner", via="portal"))
        except Exception as exc:  # noqa: BLE001
            log.error("store.unreachable during=admit error=%s", type(exc).__name__)

    def is_registered(self, channel: str, external_id: str) -> bool:
        try:
            return self.guard.identify(channel, external_id)[0] is not None
        except StorageUnavailable:
            return False

    def role(self, channel: str, external_id: str) -> str | None:
        if f"{channel}:{external_id}" in self.settings.admins:
            return "admin"
        try:
            user = self.guard.identify(channel, external_id)[0]
        except StorageUnavailable:
            return None
        return user.role if user else None

    def forget(self, channel: str, external_id: str) -> Reply:
        user = self.store.find_user(channel, external_id)
        if user is None:
            return Reply(question="", type="fallback", text=self.phrase("utter_refusal"))
        return self.forget_me(user)

    def forget_me(self, user: UserInfo) -> Reply:
        self.guard.forget(user.channel, user.external_id)
        if not user.id:
            return self.assistant.error_reply("")
        counts = self.store.forget(user, actor=f"{user.channel}:self")
        return Reply(question="", type="clarify", text=self.phrase(
            "utter_deleted", messages=counts.get("messages", 0), feedback=counts.get("feedback", 0)))

    # -- health ------------------------------------------------------------------------------
    telegram: Any = None  # the Telegram application, when that channel runs (set by the runner)

    async def health(self) -> dict[str, str]:
        """Each part's state, for `GET /health`: "ok", "off" (not configured) or what is wrong."""
        loop = asyncio.get_running_loop()
        parts = {"model": self.assistant.model_path.name if self.assistant.model_path else "missing"}
        parts["actions"] = await self._check_actions()
        parts["database"] = await loop.run_in_executor(None, self._check_database)
        parts["redis"] = await loop.run_in_executor(None, self._check_redis) if self.settings.redis_url else "off"
        if self.telegram is None:
            parts["telegram"] = "off"
        else:
            parts["telegram"] = "ok" if self.telegram.running else "stopped"
        return parts

    async def _check_actions(self) -> str:
        url = getattr(self.assistant.agent.action_endpoint, "url", "") or ""
        if not url.startswith("http"):
            return "ok"  # in process
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                async with session.get(url.rsplit("/webhook", 1)[0] + "/health") as r:
                    return "ok" if r.status == 200 else f"status {r.status}"
        except Exception:  # noqa: BLE001
            return "unreachable"

    def _check_database(self) -> str:
        from sqlalchemy import text

        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return "ok"
        except Exception:  # noqa: BLE001
            return "unreachable"

    def _check_redis(self) -> str:
        import redis

        try:
            redis.Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1).ping()
            return "ok"
        except Exception:  # noqa: BLE001
            return "unreachable"

    # -- the model in service -----------------------------------------------------------------
    async def reload(self, actor: str) -> Path:
        """Load the model the registry names (if it changed) and the content; audit-logged."""
        path = await self.assistant.reload()
        try:
            self.store.audit(actor, "reload", subject=path.name)
        except Exception:  # noqa: BLE001 - the reload happened; a missing audit row must not undo it
            log.exception("store.audit_failed")
        return path

    async def watch_models(self, interval_seconds: float = 2.0) -> None:
        """Follow `veiviser promote`/`rollback`: when the registry changes, load the model it names.
        A refused archive (hash mismatch) or a failed load keeps the running model."""
        from bot.registry import ModelRegistry

        registry = ModelRegistry(self.settings.models_dir)
        seen = registry.stamp()
        while True:
            await asyncio.sleep(interval_seconds)
            stamp = registry.stamp()
            if stamp == seen:
                continue
            seen = stamp
            try:
                await self.reload("system:registry")
            except Exception as exc:  # noqa: BLE001
                log.error("model.reload_refused reason=%s", exc)

    # -- retention ---------------------------------------------------------------------------
    async def retention_task(self, interval_seconds: float = 24 * 3600) -> None:
        """Purge on start and then daily, for as long as the service runs."""
        while True:
            try:
                counts = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: self.store.purge(self.settings.retention_days, actor="retention-task"))
                log.info("retention.purged %s", " ".join(f"{k}={v}" for k, v in counts.items()))
            except Exception:  # noqa: BLE001
                log.exception("retention.purge_failed")
            await asyncio.sleep(interval_seconds)
