"""The store on SQLite and on the real PostgreSQL server: invitations, purge, forget, two processes."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from bot.store import Feedback, Message, Store
from tests.conftest import ROOT
from tests.store_backends import database

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with database(request.param, tmp_path) as url:
        s = Store(url)
        s.upgrade()
        yield s
        s.dispose()


def _make_events_table(store: Store) -> None:
    """Rasa's SQL tracker table, as Rasa creates it (used here without loading a model)."""
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore.SQLEvent.__table__.create(store.engine, checkfirst=True)


def test_upgrade_is_repeatable(store):
    store.upgrade()
    assert store.stats() == {"users": 0, "messages": 0, "feedback": 0}


def test_invitation_registers_once_and_is_then_refused(store):
    code = store.create_invitation("practitioner", timedelta(days=7), created_by="cli:test")
    user = store.redeem_invitation(code, "telegram", "1001")
    assert user is not None and user.role == "practitioner"
    assert store.find_user("telegram", "1001") == user
    assert store.redeem_invitation(code, "telegram", "1002") is None, "a used code must be refused"
    assert store.find_user("telegram", "1002") is None
    actions = [e.action for e in store.audit_log()]
    assert "invite_create" in actions and "register" in actions and "invite_refused" in actions


def test_expired_and_unknown_invitations_are_refused(store):
    code = store.create_invitation("admin", timedelta(seconds=-1), created_by="cli:test")
    assert store.redeem_invitation(code, "web", "alice") is None
    assert store.redeem_invitation("not-a-code", "web", "alice") is None
    assert store.find_user("web", "alice") is None


def test_the_invitation_code_itself_is_never_stored(store):
    code = store.create_invitation("practitioner", timedelta(days=1), created_by="cli:test")
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM invitations")).fetchall()
    assert code not in repr(rows)


def _age(store: Store, model, ids, days: int) -> None:
    with store.Session.begin() as s:
        s.execute(update(model).where(model.id.in_(ids)).values(created_at=datetime.utcnow() - timedelta(days=days)))


def test_purge_removes_what_is_older_than_retention_and_nothing_else(store):
    _make_events_table(store)
    a = store.register("telegram", "1", "practitioner", via="test")
    old_msg = store.record_message(a, text="gammel", intent="greet", confidence=1.0, answer_type="clarify",
                                   cited_sections=[], redacted_kinds=[])
    new_msg = store.record_message(a, text="ny", intent="greet", confidence=1.0, answer_type="clarify",
                                   cited_sections=[], redacted_kinds=[])
    old_fb = store.record_feedback(a, message_id=old_msg, value=-1, comment="gammel kommentar")
    store.record_feedback(a, message_id=new_msg, value=1, comment=None)
    _age(store, Message, [old_msg], 31)
    _age(store, Feedback, [old_fb], 31)
    old_ts = (datetime.utcnow() - timedelta(days=31)).timestamp()
    new_ts = datetime.utcnow().timestamp()
    with store.engine.begin() as conn:
        for ts in (old_ts, new_ts):
            conn.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, '{}')"),
                         {"s": a.conversation_id, "t": ts})
    counts = store.purge(30)
    assert counts == {"feedback": 1, "messages": 1, "tracker_events": 1}
    assert [m.text for m in store.messages_of(a)] == ["ny"]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
    entry = store.audit_log()[-1]
    assert entry.action == "purge" and "gammel" not in entry.detail


def test_forget_removes_one_user_entirely_tracker_included(store):
    _make_events_table(store)
    a = store.register("telegram", "1", "practitioner", via="test")
    b = store.register("telegram", "2", "practitioner", via="test")
    for user in (a, b):
        mid = store.record_message(user, text="hemmelig sak", intent="ask_planning", confidence=0.9,
                                   answer_type="answer", cited_sections=["Planlegging og kartlegging"], redacted_kinds=[])
        store.record_feedback(user, message_id=mid, value=1, comment="takk")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, '{}')"),
                         {"s": user.conversation_id, "t": datetime.utcnow().timestamp()})
    counts = store.forget(a, actor="cli:test")
    assert counts == {"feedback": 1, "messages": 1, "tracker_events": 1, "users": 1}
    assert store.find_user("telegram", "1") is None
    assert store.find_user("telegram", "2") == b
    assert len(store.messages_of(b)) == 1
    with store.engine.connect() as conn:
        senders = [r[0] for r in conn.execute(text("SELECT sender_id FROM events"))]
    assert senders == [b.conversation_id]
    entry = store.audit_log()[-1]
    assert entry.action == "forget" and "hemmelig" not in entry.detail and "takk" not in entry.detail


def test_two_processes_sharing_postgresql_see_the_same_users(tmp_path):
    with database("postgresql", tmp_path) as url:
        store = Store(url)
        store.upgrade()
        script = (
            "import sys; from bot.store import Store; s = Store(sys.argv[1]); "
            "u = s.register('web', 'from-child', 'practitioner', via='test'); "
            "print(s.find_user('web', 'from-parent') is not None)"
        )
        store.register("web", "from-parent", "admin", via="test")
        result = subprocess.run([sys.executable, "-c", script, url], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"
        child = store.find_user("web", "from-child")
        assert child is not None and child.role == "practitioner"
        store.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_feedback_is_stored_once_per_answer_and_only_on_ones_own(kind, tmp_path):
    with database(kind, tmp_path) as url:
        store = Store(url)
        store.upgrade()
        a = store.register("web", "a", "practitioner", via="test")
        b = store.register("web", "b", "practitioner", via="test")
        mid = store.record_message(a, text="Hva er SLT?", intent="ask_x", confidence=0.9, answer_type="answer",
                                   cited_sections=["SLT"], redacted_kinds=[])
        first = store.record_feedback(a, message_id=mid, value=1, comment=None)
        again = store.record_feedback(a, message_id=mid, value=-1, comment="feil kilde")  # retry / change of mind
        assert again == first
        assert store.record_feedback(b, message_id=mid, value=-1, comment=None) == 0  # not b's answer
        assert store.stats()["feedback"] == 1
        with store.Session() as s:
            row = s.execute(select(Feedback)).scalar_one()
        assert row.value == -1 and row.comment == "feil kilde"
        store.dispose()
