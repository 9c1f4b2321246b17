"""Rasa's conversation state in our database, at a cost that does not grow with the conversation.

`ConversationStore` is Rasa's `SQLTrackerStore` (same table, same rows, so Rasa's tools and our
`forget`/`purge` keep working) with three changes, each measured with `make bench`:

* **A window.** Rasa rebuilds the tracker from *every* event of the session on every message, and
  then computes the dialogue state over all of them, so the 50th question of a session cost four
  times the first. Veiviser's rules look at the latest user turn and the slots the previous answer
  set, so the tracker is rebuilt from the last `window` events (cut at a user message). Saving
  appends only the events added since the tracker was read, as before.
* **The same SQLite settings as our store** (WAL, `synchronous=NORMAL`) and a pooled connection:
  Rasa's own engine opened a new connection and waited for an fsync on every commit.
* Nothing else: the rows written are exactly Rasa's.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Iterator, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 60  # events: about eight question-and-answer turns
_STORED = "_veiviser_stored_events"  # how many of a tracker's events are already in the table


class ConversationStore(SQLTrackerStore):
    def __init__(self, url: str, domain: Any = None, window: int = DEFAULT_WINDOW, **kwargs: Any):
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite"):
            super().__init__(domain, dialect="sqlite", db=parsed.database, **kwargs)
            from bot.store.store import _sqlite_pragmas

            # Rasa's engine: pooled (one connection reused, not one per query) with our pragmas.
            self.engine.dispose()
            self.engine = sa.create_engine(self.engine.url, future=True, poolclass=sa.pool.QueuePool,
                                           connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        else:
            super().__init__(domain, dialect=parsed.drivername, host=parsed.host, port=parsed.port,
                             db=parsed.database, username=parsed.username, password=parsed.password, **kwargs)
            self.engine.dispose()
            self.engine = sa.create_engine(self.engine.url, future=True, pool_pre_ping=True)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        self.window = window

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        if fetch_events_from_all_sessions or not self.window:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            # Only the JSON column, newest first: no ORM objects for rows we only decode.
            rows = (query.with_entities(self.SQLEvent.data).order_by(None)
                    .order_by(self.SQLEvent.id.desc()).limit(self.window).all())
        if not rows or not self.domain:
            return None
        events = [json.loads(data) for (data,) in reversed(rows)]
        if len(rows) == self.window:
            # A cut window starts at a user message, so the first turn in it is whole.
            first_user = next((i for i, e in enumerate(events) if e.get("event") == UserUttered.type_name), 0)
            events = events[first_user:]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, _STORED, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        setattr(tracker, _STORED, len(tracker.events))

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        stored = getattr(tracker, _STORED, None)
        if stored is None:  # a tracker this store did not read: count what is stored, as Rasa does
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))
