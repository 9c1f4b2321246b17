"""One service (model loaded once) for every Telegram test: each test talks in its own chats."""

from __future__ import annotations

import dataclasses

import pytest

from bot.service import Service


@pytest.fixture(scope="package")
def service(settings, tmp_path_factory):
    path = tmp_path_factory.mktemp("tg") / "veiviser.db"
    local = dataclasses.replace(settings, database_url=f"sqlite:///{path}", allowlist=(), rate_limit_per_minute=100)
    svc = Service.build(local)
    yield svc
    svc.store.dispose()
