"""The conversation store: Rasa's rows, every event stored once, follow-ups intact in long
conversations, and a tracker rebuilt from a bounded window however long the conversation is."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import create_engine, text

from bot.store.tracker import ConversationStore

QUESTIONS = [
    "Kan jeg dele opplysninger med politiet?",
    "hvem kontakter jeg i PST",
    "Har han rett på individuell plan?",
    "Hva er SLT?",
    "takk",
    "Hva gjør radikaliseringskontakten?",
]


@contextlib.contextmanager
def using(assistant, tracker_store):
    """Run the loaded model against another tracker store for the duration of a test."""
    agent = assistant.agent
    saved = agent.tracker_store, agent.processor.tracker_store
    tracker_store.domain = agent.domain
    agent.tracker_store = agent.processor.tracker_store = tracker_store
    try:
        yield
    finally:
        agent.tracker_store, agent.processor.tracker_store = saved


def rows(url: str, sender: str) -> list[tuple]:
    engine = create_engine(url, future=True)
    with engine.connect() as conn:
        result = conn.execute(text("SELECT type_name, intent_name, action_name FROM events "
                                   "WHERE sender_id = :s ORDER BY id"), {"s": sender}).all()
    engine.dispose()
    return [tuple(r) for r in result]


async def talk(assistant, sender: str, turns: int) -> list:
    return [await assistant.handle(QUESTIONS[i % len(QUESTIONS)], sender_id=sender) for i in range(turns)]


async def test_every_event_is_stored_once_exactly_as_rasa_stores_it(assistant, tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    sender = uuid.uuid4().hex
    plain_url, ours_url = f"sqlite:///{tmp_path / 'rasa.db'}", f"sqlite:///{tmp_path / 'ours.db'}"
    with using(assistant, SQLTrackerStore(dialect="sqlite", db=str(tmp_path / "rasa.db"))):
        await talk(assistant, sender, 14)
    with using(assistant, ConversationStore(ours_url, window=12)):
        await talk(assistant, sender, 14)
    expected = rows(plain_url, sender)
    assert len(expected) > 14 * 4
    assert rows(ours_url, sender) == expected


async def test_the_tracker_is_rebuilt_from_a_window_that_starts_at_a_user_message(assistant, tmp_path):
    sender = uuid.uuid4().hex
    store = ConversationStore(f"sqlite:///{tmp_path / 'c.db'}", window=20)
    with using(assistant, store):
        await talk(assistant, sender, 12)
        tracker = await store.retrieve(sender)
        full = await store.retrieve_full_tracker(sender)
    assert len(full.events) > 60
    assert 0 < len(tracker.events) <= 20
    assert tracker.events[0].type_name == "user"
    assert tracker.latest_message.text == QUESTIONS[11 % len(QUESTIONS)]


async def test_follow_ups_still_work_late_in_a_long_conversation(assistant, tmp_path):
    sender = uuid.uuid4().hex
    with using(assistant, ConversationStore(f"sqlite:///{tmp_path / 'c.db'}", window=30)):
        await talk(assistant, sender, 20)
        answer = await assistant.handle("Kan jeg dele opplysninger med politiet uten samtykke?", sender_id=sender)
        source = await assistant.handle("hvor står det?", sender_id=sender)
    assert answer.type == "answer" and answer.citations
    assert source.citations and source.citations[0]["section"] == answer.citations[0]["section"]


async def test_window_zero_reads_the_session_as_rasa_does(assistant, tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    sender = uuid.uuid4().hex
    store = ConversationStore(f"sqlite:///{tmp_path / 'c.db'}", window=0)
    with using(assistant, store):
        await talk(assistant, sender, 6)
        ours = await store.retrieve(sender)
    plain = SQLTrackerStore(assistant.agent.domain, dialect="sqlite", db=str(tmp_path / "c.db"))
    theirs = await plain.retrieve(sender)
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in theirs.events]
