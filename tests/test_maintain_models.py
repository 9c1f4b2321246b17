"""The maintainer's loop with real models: evaluate → promote (gated) → rollback, a tampered archive
refused, and a running service switching models while it answers.

A deliberately worse model is trained once for this module (the same data, DIET for 2 epochs
instead of 100) next to a copy of the model in service, in a temporary models directory."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.registry import ModelIntegrityError, ModelRegistry
from bot.settings import Settings


@dataclasses.dataclass
class Lab:
    settings: Settings
    env: dict[str, str]
    original: Path
    worse: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    from bot.training import model_in_service, train

    base = Settings.from_env()
    tmp = tmp_path_factory.mktemp("lab")
    env = {"VEIVISER_MODELS_DIR": str(tmp / "models"), "VEIVISER_DATA_DIR": str(tmp / "var"),
           "VEIVISER_REPORTS_DIR": str(tmp / "reports"), "VEIVISER_DATABASE_URL": ""}
    settings = dataclasses.replace(base, models_dir=tmp / "models", data_dir=tmp / "var",
                                   reports_dir=tmp / "reports", database_url="")
    settings.models_dir.mkdir()
    original = Path(shutil.copy2(model_in_service(base), settings.models_dir))
    registry = ModelRegistry(settings.models_dir)
    registry.record(original)
    registry.set_current(original, by="test", action="first")

    config = tmp / "config-2-epochs.yml"
    text = (base.root / "config.yml").read_text(encoding="utf-8")
    assert "epochs: 100" in text
    config.write_text(text.replace("epochs: 100", "epochs: 2"), encoding="utf-8")
    worse = train(settings, force=True, config=config)
    assert registry.current() == original, "a trained model must not go into service by itself"
    return Lab(settings, env, original, worse)


@pytest.fixture
def in_lab(lab, monkeypatch):
    for key, value in lab.env.items():
        monkeypatch.setenv(key, value)
    return lab


def audit_actions(settings: Settings) -> list[tuple[str, str]]:
    from bot.store import Store

    store = Store(settings.db_url)
    store.upgrade()
    try:
        return [(e.action, e.subject) for e in store.audit_log()]
    finally:
        store.dispose()


def test_a_worse_model_is_refused_and_the_report_says_why(in_lab, capsys):
    assert main(["promote", str(in_lab.worse)]) == 1
    out, err = capsys.readouterr()
    assert "AVVIST" in err
    assert "Samlet riktig kilde falt" in out
    assert ModelRegistry(in_lab.settings.models_dir).current() == in_lab.original

    report = json.loads((in_lab.settings.reports_dir / in_lab.worse.name.removesuffix(".tar.gz") / "report.json").read_text())
    served = json.loads((in_lab.settings.reports_dir / in_lab.original.name.removesuffix(".tar.gz") / "report.json").read_text())
    assert report["accuracy"] < served["accuracy"] - 0.02
    assert served["accuracy"] >= 0.9
    assert served["intents"]["ask_information_sharing"]["f1-score"] > 0.8


def test_evaluate_writes_a_self_contained_report_comparing_with_the_model_in_service(in_lab, capsys):
    assert main(["evaluate", str(in_lab.worse)]) == 0
    out = capsys.readouterr().out
    assert "sammenlignet med" in out and in_lab.original.name in out
    assert "Endret F1 per intensjon" in out
    folder = in_lab.settings.reports_dir / in_lab.worse.name.removesuffix(".tar.gz")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2  # confusion matrix and histogram inside the page
    assert "src='http" not in page and 'src="http' not in page
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "| Riktig kilde (topp-1) |" in md and "F1 i drift" in md
    assert "## Per avsnitt" in md and "Informasjonsutveksling" in md


def test_force_puts_it_in_service_and_is_audit_logged_then_rollback_restores(in_lab, capsys):
    assert main(["promote", str(in_lab.worse), "--force"]) == 2  # a forced promotion needs a reason
    assert "--reason" in capsys.readouterr().err
    assert main(["promote", str(in_lab.worse), "--force", "--reason", "test av rollback"]) == 0
    assert "tvunget" in capsys.readouterr().out
    registry = ModelRegistry(in_lab.settings.models_dir)
    assert registry.current() == in_lab.worse
    last = registry.read()["history"][-1]
    assert last["forced"] is True and last["reason"] == "test av rollback" and last["gate_failures"]
    assert ("model.promote.forced", in_lab.worse.name) in audit_actions(in_lab.settings)

    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert f"I DRIFT {in_lab.worse.name}" in listing

    assert main(["rollback"]) == 0
    assert registry.current() == in_lab.original
    assert ("model.rollback", in_lab.original.name) in audit_actions(in_lab.settings)
    # Nothing before the first model: a second rollback says so instead of flipping back.
    assert main(["rollback"]) == 1
    assert "ingen tidligere modell" in capsys.readouterr().err
    assert registry.current() == in_lab.original


def test_an_archive_changed_after_training_is_refused(in_lab, tmp_path):
    from bot.assistant import Assistant

    registry = ModelRegistry(in_lab.settings.models_dir)
    tampered = in_lab.settings.models_dir / "tampered.tar.gz"
    shutil.copy2(in_lab.worse, tampered)
    registry.record(tampered)
    with open(tampered, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match="endret etter treningen"):
        Assistant.load(in_lab.settings, model_path=tampered)
    assert main(["promote", str(tampered), "--force", "--reason", "prøver"]) == 1
    assert registry.current() == in_lab.original
    tampered.unlink()


async def test_a_running_service_switches_model_without_losing_a_message(lab):
    from bot.service import Service

    settings = dataclasses.replace(lab.settings, database_url=f"sqlite:///{lab.settings.data_dir / 'reload.db'}",
                                   rate_limit_per_minute=10**6)
    registry = ModelRegistry(settings.models_dir)
    registry.set_current(lab.original, by="test", action="promote")
    service = await asyncio.get_running_loop().run_in_executor(None, Service.build, settings)
    assert service.assistant.model_path == lab.original
    service.admit_authenticated("web", "reader")
    watcher = asyncio.create_task(service.watch_models(interval_seconds=0.2))
    replies, models_seen, by_model = [], set(), {}

    async def keep_asking(stop: asyncio.Event) -> None:
        while not stop.is_set():
            model = service.assistant.model_path
            reply = await service.handle("web", "reader", "Kan jeg dele opplysninger med politiet?")
            replies.append(reply)
            if service.assistant.model_path == model:
                by_model.setdefault(model, []).append(reply)
            models_seen.add(service.assistant.model_path)
            await asyncio.sleep(0.05)

    class TrackerErrors(logging.Handler):
        seen: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.seen.append(record.getMessage())

    tracker_errors = TrackerErrors(level=logging.ERROR)
    logging.getLogger("rasa.shared.core.trackers").addHandler(tracker_errors)
    stop = asyncio.Event()
    asker = asyncio.create_task(keep_asking(stop))
    try:
        await asyncio.sleep(1)
        registry.set_current(lab.worse, by="test", action="promote")  # what `veiviser promote` does
        for _ in range(600):
            if service.assistant.model_path == lab.worse:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # and a few messages on the new model
    finally:
        stop.set()
        await asker
        watcher.cancel()
        logging.getLogger("rasa.shared.core.trackers").removeHandler(tracker_errors)
    assert tracker_errors.seen == [], tracker_errors.seen[:3]  # e.g. "Tried to set non existent slot"
    assert service.assistant.model_path == lab.worse
    assert models_seen == {lab.original, lab.worse}
    assert len(replies) > 10
    error = service.phrase("utter_error")
    assert all(r.text and error not in r.text for r in replies)
    assert all(r.message_id for r in replies), "every message answered during the switch is stored"
    # While the new model loads, the running one keeps answering exactly as before (its conversation
    # state intact: loading must not touch the tracker store the running model uses).
    assert len(by_model[lab.original]) > 5
    assert all(r.type == "answer" and r.citations for r in by_model[lab.original]), \
        [r.type for r in by_model[lab.original]]
    assert service.store.stats()["messages"] == len(replies)

    # An archive whose bytes no longer match its recorded hash is refused: the service keeps its model.
    tampered = settings.models_dir / "tampered-in-service.tar.gz"
    shutil.copy2(lab.original, tampered)
    registry.record(tampered)
    with open(tampered, "ab") as f:
        f.write(b"\0")
    data = registry.read()
    data["current"] = tampered.name  # written by hand: `set_current` itself refuses a bad archive
    registry.path.write_text(json.dumps(data), encoding="utf-8")
    watcher = asyncio.create_task(service.watch_models(interval_seconds=0.2))
    await asyncio.sleep(2)
    watcher.cancel()
    assert service.assistant.model_path == lab.worse
    still = await service.handle("web", "reader", "Kan jeg dele opplysninger med politiet?")
    assert still.text and still.message_id
    tampered.unlink()
    registry.set_current(lab.original, by="test", action="promote")
    service.store.dispose()


def test_ask_can_try_a_candidate_before_it_is_in_service(in_lab, capsys):
    question = "Kan jeg dele opplysninger med politiet uten samtykke?"
    assert main(["ask", "--model", in_lab.original.name, question]) == 0
    served = capsys.readouterr().out
    assert "Kilde: Veileder for exit-arbeid" in served and "Informasjonsutveksling" in served
    assert ModelRegistry(in_lab.settings.models_dir).current() == in_lab.original  # asking changes nothing
