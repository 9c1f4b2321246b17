"""When a part fails, every message still gets a polite answer, and the service recovers by
itself. Against the real servers on this machine: PostgreSQL and Redis behind a proxy the test can
cut (the servers themselves keep running for everyone else), and a real `veiviser serve` process
whose action server is killed and which is stopped with SIGTERM while answering."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
import subprocess
import time

import aiohttp
import pytest
import redis

from bot.settings import Settings
from tests.store_backends import postgres_database
from tests.workers import FaultProxy, ask, free_port, start_worker, wait_healthy

QUESTION = "Kan jeg dele opplysninger med politiet?"
RVTS_LINE = "RVTS Øst: telefon"


@pytest.fixture(scope="module")
def pg_url():
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def service_on(assistant):
    """A Service around the session's loaded model, on a database (and Redis) of the test's choice."""
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import FailSafeTrackerStore

    from bot.guard.guard import Guard
    from bot.service import Service, lock_store_for
    from bot.store import Store
    from bot.store.tracker import ConversationStore

    agent = assistant.agent
    saved = agent.tracker_store, agent.processor.tracker_store, agent.lock_store

    def build(db_url: str, redis_url: str = "") -> Service:
        settings = dataclasses.replace(Settings.from_env(), database_url=db_url, redis_url=redis_url,
                                       rate_limit_per_minute=1000)
        store = Store(db_url)
        store.upgrade()
        agent.tracker_store = agent.processor.tracker_store = FailSafeTrackerStore(ConversationStore(db_url, agent.domain))
        agent.lock_store = lock_store_for(redis_url) or InMemoryLockStore()
        return Service(settings, assistant, store, Guard(settings, store))

    yield build
    agent.tracker_store, agent.processor.tracker_store, agent.lock_store = saved


async def test_database_outage_answers_says_nothing_is_saved_and_storing_resumes(service_on, pg_url):
    proxy = FaultProxy(5432).start()
    url = pg_url.replace(":5432/", f":{proxy.port}/")
    service = service_on(url)
    try:
        service.admit_authenticated("web", "anne")
        before = await service.handle("web", "anne", QUESTION)
        assert before.type == "answer" and before.message_id
        assert "lagres ingenting" not in before.text

        proxy.cut()
        during = await service.handle("web", "anne", QUESTION)
        assert during.type == "answer" and during.citations, during.text
        assert "lagres ingenting" in during.text and during.message_id is None
        newcomer = await service.handle("web", "ny-under-brudd", "Hva er SLT?")
        assert newcomer.text and "lagres ingenting" in newcomer.text
        health = await service.health()
        assert health["database"] == "unreachable"

        proxy.restore()
        after = None
        for _ in range(20):  # the pool reconnects by itself; no restart
            after = await service.handle("web", "anne", QUESTION)
            if after.message_id:
                break
            await asyncio.sleep(0.5)
        assert after.message_id and "lagres ingenting" not in after.text
        assert (await service.health())["database"] == "ok"
        assert service.store.stats()["messages"] == 2  # before and after; nothing invented for the outage
    finally:
        proxy.close()
        service.store.dispose()


async def test_redis_outage_gives_a_clear_reply_and_health_says_so_then_recovers(service_on, pg_url):
    redis.Redis.from_url("redis://127.0.0.1:6379/7").flushdb()
    proxy = FaultProxy(6379).start()
    service = service_on(pg_url, f"redis://127.0.0.1:{proxy.port}/7")
    try:
        service.admit_authenticated("web", "berit")
        ok = await service.handle("web", "berit", QUESTION)
        assert ok.type == "answer"
        assert (await service.health())["redis"] == "ok"

        proxy.cut()
        started = time.monotonic()
        failed = await service.handle("web", "berit", QUESTION)
        assert time.monotonic() - started < 10
        assert failed.type == "fallback"
        assert "noe gikk galt" in failed.text and RVTS_LINE in failed.text and "112" in failed.text
        assert (await service.health())["redis"] == "unreachable"

        proxy.restore()
        again = await service.handle("web", "berit", QUESTION)
        assert again.type == "answer" and again.citations
        assert (await service.health())["redis"] == "ok"
    finally:
        proxy.close()
        service.store.dispose()


@pytest.fixture(scope="module")
async def worker(tmp_path_factory):
    """One real `veiviser serve` (SQLite, its own action server)."""
    action_port = free_port()
    w = start_worker(tmp_path_factory.mktemp("worker"), {"VEIVISER_ACTION_PORT": str(action_port),
                                                          "VEIVISER_RATE_LIMIT_PER_MINUTE": "1000"})
    w.action_port = action_port
    await wait_healthy(w)
    yield w
    w.stop(signal.SIGKILL)


def action_server_pid(port: int) -> int:
    out = subprocess.run(["pgrep", "-f", f"rasa_sdk.*--port {port}"], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    assert len(pids) == 1, pids
    return pids[0]


async def test_a_killed_action_server_gives_a_fallback_within_10s_and_is_restarted(worker):
    async with aiohttp.ClientSession() as session:
        status, body = await ask(session, worker.url, "kari", QUESTION)
        assert status == 200 and body["type"] == "answer"

        old = action_server_pid(worker.action_port)
        subprocess.run(["kill", "-9", str(old)], check=True)
        started = time.monotonic()
        status, body = await ask(session, worker.url, "kari", QUESTION)
        assert time.monotonic() - started < 10
        assert status == 200 and body["type"] == "fallback"
        assert RVTS_LINE in body["text"]

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            async with session.get(f"{worker.url}/health") as r:
                if (await r.json())["actions"] == "ok":
                    break
            await asyncio.sleep(0.5)
        assert action_server_pid(worker.action_port) != old
        status, body = await ask(session, worker.url, "kari", QUESTION)
        assert status == 200 and body["type"] == "answer" and body["citations"]


async def test_sigterm_finishes_the_messages_in_flight_stores_them_and_exits(worker):
    async def one(session, n):
        try:
            return await ask(session, worker.url, f"stopp-{n}", QUESTION)
        except aiohttp.ClientError as exc:
            return type(exc).__name__, None

    async with aiohttp.ClientSession() as session:
        await ask(session, worker.url, "oppvarming", QUESTION)
        tasks = [asyncio.create_task(one(session, n)) for n in range(12)]
        await asyncio.sleep(0.15)
        worker.process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*tasks)
    assert worker.process.wait(timeout=60) == 0
    answered = [body for status, body in results if status == 200]
    assert answered, results
    assert all(status in (200, "ClientConnectorError") for status, _ in results), results  # never a 5xx or a cut reply
    db = sqlite3.connect(worker.log.parent / "veiviser.db")
    stored = db.execute("SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id "
                        "WHERE u.external_id LIKE 'stopp-%'").fetchone()[0]
    assert stored == len(answered)
    assert "service.stopped" in worker.output()


async def test_a_telegram_update_is_claimed_once_across_workers_in_redis():
    from bot.runner import redis_claim

    redis.Redis.from_url("redis://127.0.0.1:6379/7").flushdb()
    first, second = redis_claim("redis://127.0.0.1:6379/7"), redis_claim("redis://127.0.0.1:6379/7")
    results = await asyncio.gather(*(claim(4242) for claim in (first, second, first, second)))
    assert sorted(results) == [False, False, False, True]
    assert await second(4243) is True
