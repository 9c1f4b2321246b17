"""The trust layer end to end: only invited users get in, personal data never reaches a table, a
tracker event or a log line, limits and deletion work — on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from sqlalchemy import inspect, text

from bot.service import Service
from tests.store_backends import database

# Synthetic identifiers a practitioner might type about a case.
RAW = {
    "fnr": "010190 12345",
    "fnr_plain": "01019012345",
    "phone": "912 34 567",
    "phone_intl": "+47 48 12 34 56",
    "email": "ola.nordmann@example.no",
    "address": "Storgata 12B",
    "postal": "0557 Oslo",
    "case": "2024/1234",
    "name": "Ola Nordmann",
    "name2": "Fatima Ahmed",
}
CONVERSATION = [
    f"Jeg jobber med {RAW['name']}, fnr {RAW['fnr']}. Kan jeg dele opplysninger om ham med politiet uten samtykke?",
    f"Han bor i {RAW['address']}, {RAW['postal']}, tlf {RAW['phone']} og har e-post {RAW['email']}",
    f"saksnr {RAW['case']} gjelder også søsteren {RAW['name2']}, ring {RAW['phone_intl']}",
    f"har {RAW['fnr_plain']} rett til individuell plan?",
    "hvor står det?",
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, settings, tmp_path_factory):
    with database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        local = dataclasses.replace(settings, database_url=url, allowlist=("web:allowed",), rate_limit_per_minute=20)
        svc = Service.build(local)
        yield svc
        svc.store.dispose()


def _everything_stored(service: Service) -> str:
    """Every row of every table — ours and Rasa's tracker — as one string."""
    dump = []
    with service.store.engine.connect() as conn:
        for table in inspect(service.store.engine).get_table_names():
            dump.extend(repr(row) for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    return "\n".join(dump)


def _raw_values() -> list[str]:
    values = set(RAW.values())
    values |= {v.replace(" ", "") for v in RAW.values()}
    values |= {"Nordmann", "Fatima", "ola.nordmann", "12345", "34567", "Storgata"}
    return sorted(values)


async def test_unknown_user_is_refused_and_nothing_is_stored(service):
    reply = await service.handle("telegram", "stranger", f"{RAW['name']} fnr {RAW['fnr']} planlegger noe")
    assert "bare for inviterte brukere" in reply.text
    assert service.store.find_user("telegram", "stranger") is None
    assert "stranger" not in _everything_stored(service)
    assert RAW["fnr"] not in _everything_stored(service)


async def test_invitation_then_question_then_reuse_refused(service):
    code = service.store.create_invitation("practitioner", __import__("datetime").timedelta(days=7), created_by="test")
    welcome = await service.handle("telegram", "777", f"/start {code}")
    assert "registrert" in welcome.text and "Ikke skriv navn" in welcome.text
    answer = await service.handle("telegram", "777", "Når går avvergingsplikten foran taushetsplikten?")
    assert answer.type == "answer" and answer.citations[0]["section"] == "Informasjonsutveksling"
    again = await service.handle("telegram", "888", f"/start {code}")
    assert "ugyldig, utløpt eller allerede brukt" in again.text
    assert service.store.find_user("telegram", "888") is None


async def test_a_conversation_full_of_identifiers_leaves_none_anywhere(service, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    replies = [await service.handle("web", "allowed", message) for message in CONVERSATION]
    assert "Personvern" in replies[0].text, "the first reply to a new user is the privacy notice"
    for reply in replies[:4]:
        assert "personopplysninger" in reply.text, reply.text
    assert replies[0].type == "answer" and replies[0].citations[0]["section"] == "Informasjonsutveksling"
    assert replies[3].citations and replies[3].citations[0]["section"] == "Individuell plan"

    stored = _everything_stored(service)
    captured = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err
    for value in _raw_values():
        assert value not in stored, f"raw identifier {value!r} in the database"
        assert value not in logs, f"raw identifier {value!r} in the logs"
    assert "[fødselsnummer]" in stored and "[telefon]" in stored and "[navn]" in stored
    assert not re.search(r"bot\d+:", logs)


async def test_done_when_example_is_answered_with_a_warning_and_stored_masked(service):
    reply = await service.handle("web", "allowed", "Ola Nordmann, fnr 010190 12345, tlf 912 34 567")
    assert reply.text.startswith("⚠️ Meldingen din inneholdt")
    user = service.store.find_user("web", "allowed")
    last = service.store.messages_of(user)[-1]
    assert last.text == "[navn], fnr [fødselsnummer], tlf [telefon]"
    assert "navn" in last.redacted_kinds and "telefon" in last.redacted_kinds


async def test_limits_reply_clearly_and_do_not_process(service):
    user = service.store.find_user("web", "allowed") or service.store.register("web", "allowed", "practitioner", via="t")
    before = len(service.store.messages_of(user))
    long = await service.handle("web", "allowed", "a" * (service.settings.max_message_chars + 1))
    assert "for lang" in long.text
    assert len(service.store.messages_of(user)) == before


async def test_rate_limit_replies_and_does_not_process(settings, tmp_path):
    local = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'r.db'}", allowlist=("web:*",),
                                rate_limit_per_minute=3)
    svc = Service.build(local)
    replies = [await svc.handle("web", "busy", "hei") for _ in range(4)]
    assert "mange meldinger" in replies[3].text and "sekunder" in replies[3].text
    user = svc.store.find_user("web", "busy")
    assert len(svc.store.messages_of(user)) == 3
    svc.store.dispose()


async def test_slett_deletes_everything_about_me(service):
    await service.handle("web", "allowed", "hva er exit-arbeid?")
    user = service.store.find_user("web", "allowed")
    reply = await service.handle("web", "allowed", "/slett")
    assert "slettet" in reply.text
    assert service.store.find_user("web", "allowed") is None
    assert user.conversation_id not in _everything_stored(service)
    assert any(e.action == "forget" for e in service.store.audit_log())
