"""Tables. Message and comment texts are always redacted before they get here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_users_channel_external"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    external_id = Column(String(128), nullable=False)
    role = Column(String(16), nullable=False, default="practitioner")
    # Rasa's sender id: opaque, so the tracker never holds a Telegram id or a login name.
    conversation_id = Column(String(64), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class Invitation(Base):
    __tablename__ = "invitations"

    id = Column(Integer, primary_key=True)
    code_hash = Column(String(64), nullable=False, unique=True)  # sha256 of the code; the code is never stored
    role = Column(String(16), nullable=False, default="practitioner")
    created_by = Column(String(128), nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime, nullable=True)
    used_by = Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class Message(Base):
    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    text = Column(Text, nullable=False)  # redacted
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    answer_type = Column(String(16), nullable=True)
    cited_sections = Column(Text, nullable=False, default="")  # headings, "|"-separated
    redacted_kinds = Column(String(200), nullable=False, default="")  # what the guard masked (kinds only)
    reviewed_at = Column(DateTime, nullable=True)  # set by `veiviser review --annotate`


class Feedback(Base):
    __tablename__ = "feedback"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    value = Column(Integer, nullable=False)  # +1 / -1
    comment = Column(Text, nullable=True)  # redacted


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    actor = Column(String(128), nullable=False)
    action = Column(String(64), nullable=False)
    subject = Column(String(128), nullable=False, default="")
    detail = Column(Text, nullable=False, default="")  # counts and kinds, never content
