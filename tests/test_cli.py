"""The command line as other tools use it: `veiviser ask --jsonl` is a public contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

VEIVISER = [sys.executable, "-m", "bot.cli"]
ENV = dict(os.environ, RASA_TELEMETRY_ENABLED="false")


def test_ask_jsonl_writes_one_contract_object_per_question():
    questions = [
        "Når går avvergingsplikten foran taushetsplikten?",
        "hva er været i morgen?",
        "",
        "PST sitt nummer",
        "🙂",
    ]
    result = subprocess.run(VEIVISER + ["ask", "--jsonl"], input="\n".join(questions) + "\n", cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 4, result.stdout  # the empty line is skipped
    objects = [json.loads(line) for line in lines]
    for obj in objects:
        assert set(obj) == {"question", "type", "text", "citations", "suggestions", "intent", "confidence"}
        assert obj["type"] in {"answer", "clarify", "fallback"}
        if obj["type"] == "answer":
            assert obj["citations"], obj
        for c in obj["citations"]:
            assert set(c) == {"section", "path", "url", "edition"} and c["path"][-1] == c["section"]
        for s in obj["suggestions"]:
            assert set(s) == {"section", "title"}
    first = objects[0]
    assert first["question"] == questions[0]
    assert first["type"] == "answer"
    assert first["citations"][0]["section"] == "Informasjonsutveksling"
    assert first["citations"][0]["path"] == ["Gjennomføring", "Informasjonsutveksling"]
    assert first["intent"] == "ask_information_sharing" and 0 < first["confidence"] <= 1
    assert objects[1]["type"] == "fallback"
    assert objects[2]["citations"][0]["section"] == "Politiets sikkerhetstjeneste – PST"
    assert objects[3]["type"] == "clarify"


def test_ask_prints_the_answer_as_a_person_reads_it():
    result = subprocess.run(VEIVISER + ["ask", "hvem", "koordinerer", "individuell", "plan?"], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "koordinator" in result.stdout
    assert "Kilde: Veileder for exit-arbeid › Gjennomføring › Individuell plan" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_content_validate_reports_ok():
    result = subprocess.run(VEIVISER + ["content", "validate"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "28 avsnitt" in result.stdout
