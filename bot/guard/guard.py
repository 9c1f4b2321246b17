"""The guard every message passes through before it reaches Rasa: access, size and rate limits,
and redaction of personal data. One small interface shared by every channel."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.guard.redact import Redaction, redact
from bot.settings import Settings
from bot.store.store import Store, UserInfo

log = logging.getLogger(__name__)

# The words a user sees for what was masked.
KIND_NAMES = {
    "fødselsnummer": "fødselsnummer", "d-nummer": "d-nummer", "personnummer": "fødselsnummer",
    "telefon": "telefonnummer", "e-post": "e-postadresse", "adresse": "adresse", "navn": "navn",
    "saksnummer": "saksnummer", "nummer": "langt nummer", "uavklart": "mulige personopplysninger",
}


class StorageUnavailable(RuntimeError):
    """The database cannot be reached and the user is not known from before."""


class LimiterUnavailable(RuntimeError):
    """The shared rate limiter (Redis) cannot be reached."""


class Limiter(Protocol):
    def hit(self, key: str) -> float: ...


class RateLimiter:
    """A sliding one-minute window per user, in process (one worker)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def hit(self, key: str) -> float:
        """Record a message; 0 if allowed, else the seconds until the next one is."""
        now = self.clock()
        window = self._hits[key]
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return 60 - (now - window[0])
        window.append(now)
        return 0.0


class RedisRateLimiter:
    """The same sliding window, shared by every worker: one sorted set per user in Redis, checked
    and updated atomically by a small Lua script. Keys hold a hash of the user, never the id."""

    SCRIPT = """
    local key, now, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 60)
    if redis.call('ZCARD', key) >= limit then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return tostring(60 - (now - tonumber(oldest[2])))
    end
    redis.call('ZADD', key, now, ARGV[3])
    redis.call('EXPIRE', key, 61)
    return '0'
    """

    def __init__(self, url: str, per_minute: int, clock: Callable[[], float] = time.time):
        import redis

        self.per_minute = per_minute
        self.clock = clock
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self.client.register_script(self.SCRIPT)
        self._errors = (redis.RedisError, OSError)

    def hit(self, key: str) -> float:
        import uuid

        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        try:
            wait = self._script(keys=[f"veiviser:rate:{digest}"],
                                args=[self.clock(), self.per_minute, uuid.uuid4().hex])
        except self._errors as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return float(wait)


def make_limiter(settings: Settings) -> Limiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_limit_per_minute)
    return RateLimiter(settings.rate_limit_per_minute)


@dataclass
class Admission:
    """What the guard decided about one message."""

    user: UserInfo | None
    verdict: str  # "ok", "refused", "too_long", "rate_limited"
    redaction: Redaction | None = None
    retry_after: float = 0.0
    new_user: bool = False
    found: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


class Guard:
    USER_CACHE_SECONDS = 60.0  # a known user is looked up again after this (role changes, deletions)
    USER_CACHE_SIZE = 10_000

    def __init__(self, settings: Settings, store: Store, limiter: Limiter | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.store = store
        self.limiter = limiter or make_limiter(settings)
        self.clock = clock
        self._known: OrderedDict[tuple[str, str], tuple[UserInfo, float]] = OrderedDict()

    def allowed_without_invitation(self, channel: str, external_id: str) -> bool:
        allow = set(self.settings.allowlist)
        return f"{channel}:{external_id}" in allow or f"{channel}:*" in allow

    def identify(self, channel: str, external_id: str) -> tuple[UserInfo | None, bool]:
        """The registered user, registering allow-listed ones on first contact. Users seen in the
        last minute come from memory; when the database is down, every user seen before does, and
        an unknown user raises `StorageUnavailable`."""
        key = (channel, external_id)
        known = self._known.get(key)
        if known and self.clock() - known[1] < self.USER_CACHE_SECONDS:
            return known[0], False
        try:
            user, new = self.store.find_user(channel, external_id), False
            if user is None and self.allowed_without_invitation(channel, external_id):
                user, new = self.store.register(channel, external_id, "practitioner", via="allowlist"), True
        except SQLAlchemyError as exc:
            if known:
                return known[0], False
            log.error("store.unreachable during=identify error=%s", type(exc).__name__)
            raise StorageUnavailable(type(exc).__name__) from exc
        self.remember(user) if user else self._known.pop(key, None)
        return user, new

    def remember(self, user: UserInfo) -> None:
        self._known[(user.channel, user.external_id)] = (user, self.clock())
        self._known.move_to_end((user.channel, user.external_id))
        while len(self._known) > self.USER_CACHE_SIZE:
            self._known.popitem(last=False)

    def forget(self, channel: str, external_id: str) -> None:
        self._known.pop((channel, external_id), None)

    @staticmethod
    def stand_in(channel: str, external_id: str) -> UserInfo:
        """A user the portal authenticated while the database is down: answered, not stored. The
        conversation id is derived, so the same person keeps one conversation during the outage."""
        digest = hashlib.sha256(f"{channel}:{external_id}".encode()).hexdigest()[:32]
        return UserInfo(0, channel, external_id, "practitioner", f"unsaved-{digest}")

    def admit(self, channel: str, external_id: str, text: str, authenticated: bool = False) -> Admission:
        """Access first (an unknown user's text is neither stored nor processed), then size and
        rate limits, then redaction. `authenticated`: the channel has proved who the user is (the
        portal's token), so a database outage does not lock them out."""
        try:
            user, new = self.identify(channel, external_id)
        except StorageUnavailable:
            if not authenticated:
                raise
            user, new = self.stand_in(channel, external_id), False
        if user is None:
            return Admission(user=None, verdict="refused")
        if len(text) > self.settings.max_message_chars:
            return Admission(user=user, verdict="too_long", new_user=new)
        wait = self.limiter.hit(f"{channel}:{external_id}")
        if wait:
            return Admission(user=user, verdict="rate_limited", retry_after=wait, new_user=new)
        redaction = redact(text)
        return Admission(user=user, verdict="ok", redaction=redaction, new_user=new, found=dict(redaction.found))


def describe_kinds(found: dict[str, int]) -> str:
    names: list[str] = []
    for kind in found:
        name = KIND_NAMES.get(kind, kind)
        if name not in names:
            names.append(name)
    return ", ".join(names)
