"""The store: the only module that talks to the database (ours and Rasa's tracker tables)."""

from bot.store.models import AuditEntry, Feedback, Invitation, Message, User
from bot.store.store import Store, tracker_store_for

__all__ = ["AuditEntry", "Feedback", "Invitation", "Message", "Store", "User", "tracker_store_for"]
