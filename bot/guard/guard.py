"""The guard every message passes through before it reaches Rasa: access, size and rate limits,
and redaction of personal data. One small interface shared by every channel."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable

from bot.guard.redact import Redaction, redact
from bot.settings import Settings
from bot.store.store import Store, UserInfo

# The words a user sees for what was masked.
KIND_NAMES = {
    "fødselsnummer": "fødselsnummer", "d-nummer": "d-nummer", "personnummer": "fødselsnummer",
    "telefon": "telefonnummer", "e-post": "e-postadresse", "adresse": "adresse", "navn": "navn",
    "saksnummer": "saksnummer", "nummer": "langt nummer", "uavklart": "mulige personopplysninger",
}


class RateLimiter:
    """A sliding one-minute window per user, in process (several workers share one in Redis later)."""

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
    def __init__(self, settings: Settings, store: Store, limiter: RateLimiter | None = None):
        self.settings = settings
        self.store = store
        self.limiter = limiter or RateLimiter(settings.rate_limit_per_minute)

    def allowed_without_invitation(self, channel: str, external_id: str) -> bool:
        allow = set(self.settings.allowlist)
        return f"{channel}:{external_id}" in allow or f"{channel}:*" in allow

    def identify(self, channel: str, external_id: str) -> tuple[UserInfo | None, bool]:
        """The registered user, registering allow-listed ones on first contact."""
        user = self.store.find_user(channel, external_id)
        if user is None and self.allowed_without_invitation(channel, external_id):
            return self.store.register(channel, external_id, "practitioner", via="allowlist"), True
        return user, False

    def admit(self, channel: str, external_id: str, text: str) -> Admission:
        """Access first (an unknown user's text is neither stored nor processed), then size and
        rate limits, then redaction."""
        user, new = self.identify(channel, external_id)
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
