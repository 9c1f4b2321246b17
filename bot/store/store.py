"""One engine and one sessionmaker, built from settings; every database operation lives here,
including purge and forget on Rasa's tracker table (which shares the database)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import create_engine, delete, event, func, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from bot.store.models import AuditEntry, Feedback, Invitation, Message, User

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RASA_EVENTS_TABLE = "events"
ROLES = ("practitioner", "admin")
MIGRATION_LOCK = 0x7665_6976_6973_6572  # "veiviser": the advisory lock key for migrations


@dataclass(frozen=True)
class UserInfo:
    """A detached, read-only view of a user row."""

    id: int
    channel: str
    external_id: str
    role: str
    conversation_id: str

    @classmethod
    def of(cls, u: User) -> "UserInfo":
        return cls(u.id, u.channel, u.external_id, u.role, u.conversation_id)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def parse_duration(value: str) -> timedelta:
    """`7d`, `12h`, `30m` → timedelta."""
    value = value.strip().lower()
    unit = {"d": "days", "h": "hours", "m": "minutes"}.get(value[-1:])
    if not unit or not value[:-1].isdigit():
        raise ValueError(f"ugyldig varighet «{value}» (bruk f.eks. 7d, 12h, 30m)")
    return timedelta(**{unit: int(value[:-1])})


class Store:
    """Users, invitations, messages, feedback and the audit log."""

    def __init__(self, url: str):
        self.url = url
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if parsed.drivername.startswith("sqlite"):
            # A pooled connection (SQLAlchemy 1.4 opens a new one per session for SQLite files).
            self.engine = create_engine(url, future=True, poolclass=QueuePool,
                                        connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, future=True, pool_pre_ping=True)
        self.Session = sessionmaker(self.engine, future=True, expire_on_commit=False)

    # -- schema ------------------------------------------------------------------------------
    def upgrade(self) -> None:
        """Apply Alembic migrations up to the newest (`veiviser db upgrade`). On PostgreSQL an
        advisory lock (held until the migration commits) makes workers that start together migrate
        one after the other — the later ones find the schema current — instead of colliding."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- users and access --------------------------------------------------------------------
    def find_user(self, channel: str, external_id: str) -> UserInfo | None:
        with self.Session.begin() as s:
            u = s.execute(select(User).where(User.channel == channel, User.external_id == external_id)).scalar_one_or_none()
            if u is None:
                return None
            u.last_seen_at = datetime.utcnow()
            return UserInfo.of(u)

    def register(self, channel: str, external_id: str, role: str, *, via: str) -> UserInfo:
        """Create the user (or return the existing one); audit-logged."""
        if role not in ROLES:
            raise ValueError(f"ukjent rolle {role}")
        try:
            with self.Session.begin() as s:
                u = s.execute(select(User).where(User.channel == channel, User.external_id == external_id)).scalar_one_or_none()
                if u is None:
                    u = User(channel=channel, external_id=external_id, role=role, conversation_id=uuid.uuid4().hex)
                    s.add(u)
                    s.flush()
                    s.add(AuditEntry(actor=f"{channel}:{external_id}", action="register", subject=f"user:{u.id}",
                                     detail=f"role={role} via={via}"))
                return UserInfo.of(u)
        except IntegrityError:  # another worker registered the same user a moment ago
            user = self.find_user(channel, external_id)
            if user is None:
                raise
            return user

    def create_invitation(self, role: str, expires_in: timedelta, *, created_by: str) -> str:
        """A one-time code; only its hash is stored."""
        if role not in ROLES:
            raise ValueError(f"ukjent rolle {role}")
        code = secrets.token_urlsafe(12)
        with self.Session.begin() as s:
            s.add(Invitation(code_hash=hash_code(code), role=role, created_by=created_by,
                             expires_at=datetime.utcnow() + expires_in))
            s.add(AuditEntry(actor=created_by, action="invite_create", subject=f"role:{role}",
                             detail=f"expires_in={expires_in}"))
        return code

    def redeem_invitation(self, code: str, channel: str, external_id: str) -> UserInfo | None:
        """Register the user with a valid, unused, unexpired code; None otherwise. Atomic: a code
        can be used once even when two people try at the same moment."""
        now = datetime.utcnow()
        with self.Session.begin() as s:
            inv = s.execute(select(Invitation).where(Invitation.code_hash == hash_code(code))).scalar_one_or_none()
            if inv is None or inv.used_at is not None or inv.expires_at < now:
                s.add(AuditEntry(actor=f"{channel}:?", action="invite_refused", subject="",
                                 detail="unknown" if inv is None else ("used" if inv.used_at else "expired")))
                return None
            claimed = s.execute(update(Invitation).where(Invitation.id == inv.id, Invitation.used_at.is_(None))
                                .values(used_at=now)).rowcount
            if claimed != 1:
                return None
            role = inv.role
            inv_id = inv.id
        user = self.register(channel, external_id, role, via=f"invitation:{inv_id}")
        with self.Session.begin() as s:
            s.execute(update(Invitation).where(Invitation.id == inv_id).values(used_by=user.id))
        return user

    # -- messages and feedback ---------------------------------------------------------------
    def record_message(self, user: UserInfo, *, text: str, intent: str | None, confidence: float | None,
                       answer_type: str, cited_sections: Iterable[str], redacted_kinds: Iterable[str]) -> int:
        with self.Session.begin() as s:
            m = Message(user_id=user.id, text=text, intent=intent, confidence=confidence, answer_type=answer_type,
                        cited_sections="|".join(cited_sections), redacted_kinds=",".join(sorted(set(redacted_kinds))))
            s.add(m)
            s.flush()
            return int(m.id)

    def record_feedback(self, user: UserInfo, *, message_id: int | None, value: int, comment: str | None) -> int:
        """One 👍/👎 per answer: sending it again (a retry, or a change of mind) replaces the first.
        Feedback on a message that is not the user's own is refused (0)."""
        value = 1 if value > 0 else -1
        with self.Session.begin() as s:
            if message_id is not None:
                owner = s.execute(select(Message.user_id).where(Message.id == message_id)).scalar_one_or_none()
                if owner != user.id:
                    return 0
                f = s.execute(select(Feedback).where(Feedback.user_id == user.id, Feedback.message_id == message_id)
                              .order_by(Feedback.id)).scalars().first()
                if f is not None:
                    f.value, f.comment, f.created_at = value, comment if comment is not None else f.comment, datetime.utcnow()
                    return int(f.id)
            f = Feedback(user_id=user.id, message_id=message_id, value=value, comment=comment)
            s.add(f)
            s.flush()
            return int(f.id)

    def messages_of(self, user: UserInfo) -> list[Message]:
        with self.Session() as s:
            return list(s.execute(select(Message).where(Message.user_id == user.id).order_by(Message.id)).scalars())

    def audit(self, actor: str, action: str, subject: str = "", detail: str = "") -> None:
        with self.Session.begin() as s:
            s.add(AuditEntry(actor=actor, action=action, subject=subject, detail=detail))

    def audit_log(self) -> list[AuditEntry]:
        with self.Session() as s:
            return list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())

    # -- retention and deletion --------------------------------------------------------------
    def _has_events_table(self) -> bool:
        return inspect(self.engine).has_table(RASA_EVENTS_TABLE)

    def purge(self, older_than_days: int, *, actor: str = "system") -> dict[str, int]:
        """Delete messages, feedback and tracker events older than the retention period."""
        cutoff = datetime.utcnow() - timedelta(days=older_than_days)
        with self.Session.begin() as s:
            counts = {
                "feedback": s.execute(delete(Feedback).where(Feedback.created_at < cutoff)).rowcount,
                "messages": s.execute(delete(Message).where(Message.created_at < cutoff)).rowcount,
                "tracker_events": 0,
            }
            if self._has_events_table():
                counts["tracker_events"] = s.execute(
                    text(f"DELETE FROM {RASA_EVENTS_TABLE} WHERE timestamp < :cutoff"),
                    {"cutoff": cutoff.timestamp()},
                ).rowcount
            s.add(AuditEntry(actor=actor, action="purge", subject=f"older_than_days:{older_than_days}",
                             detail=" ".join(f"{k}={v}" for k, v in counts.items())))
        return counts

    def forget(self, user: UserInfo, *, actor: str) -> dict[str, int]:
        """Remove everything about a user, tracker included; the audit entry keeps only counts."""
        with self.Session.begin() as s:
            counts = {
                "feedback": s.execute(delete(Feedback).where(Feedback.user_id == user.id)).rowcount,
                "messages": s.execute(delete(Message).where(Message.user_id == user.id)).rowcount,
                "tracker_events": 0,
            }
            if self._has_events_table():
                counts["tracker_events"] = s.execute(
                    text(f"DELETE FROM {RASA_EVENTS_TABLE} WHERE sender_id = :sender"),
                    {"sender": user.conversation_id},
                ).rowcount
            s.execute(update(Invitation).where(Invitation.used_by == user.id).values(used_by=None))
            counts["users"] = s.execute(delete(User).where(User.id == user.id)).rowcount
            s.add(AuditEntry(actor=actor, action="forget", subject=f"user:{user.id}",
                             detail=" ".join(f"{k}={v}" for k, v in counts.items())))
        return counts

    def stats(self) -> dict[str, Any]:
        with self.Session() as s:
            return {
                "users": s.execute(select(func.count(User.id))).scalar_one(),
                "messages": s.execute(select(func.count(Message.id))).scalar_one(),
                "feedback": s.execute(select(func.count(Feedback.id))).scalar_one(),
            }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL (kept in the file, so Rasa's tracker connections get it too) lets readers and the writer
    work side by side; NORMAL sync is safe with WAL and avoids an fsync per commit."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def tracker_store_for(url: str, domain: Any) -> Any:
    """Rasa's conversation state in the same database as ours (see `bot.store.tracker`)."""
    from bot.store.tracker import ConversationStore

    return ConversationStore(url, domain)
