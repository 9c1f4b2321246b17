"""`veiviser review` and `veiviser review --annotate`: what went wrong, grouped; annotations land in
the right block of the right NLU file (a copy of nlu/ here), tidy, loadable by Rasa, never twice,
never an evaluation question; reviewed messages do not come back. On SQLite and PostgreSQL."""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, update

from bot.maintain import review
from bot.settings import Settings
from bot.store import Message, Store
from tests.conftest import ROOT
from tests.store_backends import database

BACKENDS = ["sqlite", "postgresql"]
SETTINGS = Settings()  # the real content/ and tests/eval; nlu/ is always a copy (nlu_dir=...)
EVAL_QUESTIONS = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yml").read_text(encoding="utf-8"))["questions"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with database(request.param, tmp_path) as url:
        s = Store(url)
        s.upgrade()
        yield s
        s.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'veiviser.db'}")
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def nlu(tmp_path) -> Path:
    return Path(shutil.copytree(ROOT / "nlu", tmp_path / "nlu"))


def seed(store: Store, text: str, *, answer_type: str = "answer", intent: str | None = "ask_planning",
         confidence: float | None = 0.95, feedback: int | None = None, age_days: int = 0) -> int:
    user = store.register("web", "practitioner", "practitioner", via="test")
    message_id = store.record_message(user, text=text, intent=intent, confidence=confidence, answer_type=answer_type,
                                      cited_sections=[], redacted_kinds=[])
    if feedback is not None:
        store.record_feedback(user, message_id=message_id, value=feedback, comment=None)
    if age_days:
        with store.Session.begin() as s:
            s.execute(update(Message).where(Message.id == message_id)
                      .values(created_at=datetime.utcnow() - timedelta(days=age_days)))
    return message_id


def seed_problems(store: Store) -> None:
    """Three groups that went wrong (4, 2 and 1 messages), two good answers and an old fallback."""
    for _ in range(3):
        seed(store, "hvordan skriver jeg en bekymringsmelding?", answer_type="fallback", intent="report_concern",
             confidence=0.3)
    seed(store, "Hvordan skriver jeg bekymringsmeldingen", answer_type="clarify", intent="report_concern",
         confidence=0.45)
    seed(store, "hvem betaler for mentor?", intent="ask_tools_measures", confidence=0.35)
    seed(store, "Hvem betaler for en mentor", intent="ask_tools_measures", confidence=0.4)
    seed(store, "hva sier veilederen om taushetsplikt overfor foreldre", intent="ask_information_sharing",
         confidence=0.92, feedback=-1)
    seed(store, "hva er en individuell plan", intent="ask_individual_plan", confidence=0.97, feedback=1)
    seed(store, "hvem koordinerer individuell plan", intent="ask_individual_plan", confidence=0.88)
    seed(store, "blir det sol i helgen", answer_type="fallback", intent="out_of_scope", confidence=0.9, age_days=40)


def listing(store: Store, nlu: Path, **options) -> str:
    out = io.StringIO()
    assert review.show(store, SETTINGS, nlu_dir=nlu, out=out, **options) == 0
    return out.getvalue()


def annotate(store: Store, nlu: Path, *answers: str, **options) -> str:
    out = io.StringIO()
    stdin = io.StringIO("".join(f"{a}\n" for a in answers))
    assert review.annotate(store, SETTINGS, actor="cli:test", nlu_dir=nlu, inp=stdin, out=out, **options) == 0
    return out.getvalue()


def examples(path: Path, intent: str) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [e for item in data["nlu"] if item.get("intent") == intent for e in review._examples(item["examples"])]


def inserted_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if anything else changed."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), f"{op}: {old[i1:i2]} → {new[j1:j2]}"
        if op == "insert":
            added.extend(new[j1:j2])
    return added


# -- the schema -------------------------------------------------------------------------------
def test_migration_adds_a_nullable_reviewed_at(store):
    store.upgrade()  # repeatable
    columns = {c["name"]: c for c in inspect(store.engine).get_columns("messages")}
    assert "reviewed_at" in columns and columns["reviewed_at"]["nullable"]
    message_id = seed(store, "hei")
    with store.Session() as s:
        assert s.get(Message, message_id).reviewed_at is None


# -- veiviser review -----------------------------------------------------------------------------
def test_listing_groups_similar_questions_most_frequent_first(store, nlu):
    seed_problems(store)
    text = listing(store, nlu, days=30)
    first, second, third = (text.index(t) for t in ("4 × «hvordan skriver jeg en bekymringsmelding?»",
                                                    "2 × «hvem betaler for mentor?»",
                                                    "1 × «hva sier veilederen om taushetsplikt overfor foreldre»"))
    assert first < second < third
    assert "7 meldinger i 3 grupper" in text
    assert "grunn: fallback (3), oppklaring (1), lav sikkerhet (4)" in text
    assert "også spurt som: «Hvordan skriver jeg bekymringsmeldingen»" in text
    assert "modellen gjettet: report_concern (bekymring eller akutt fare), sikkerhet 0,34" in text
    assert "grunn: lav sikkerhet (2)" in text and "ask_tools_measures (Mentor, gjenopprettende" in text
    assert "grunn: 👎 (1)" in text
    assert "individuell plan" not in text, "good answers are not problems"
    assert "sol i helgen" not in text, "older than --days"
    assert "«blir det sol i helgen»" in listing(store, nlu)


def test_listing_options_limit_and_min_confidence(store, nlu):
    seed_problems(store)
    text = listing(store, nlu, days=30, limit=1)
    assert "bekymringsmelding" in text and "mentor" not in text
    assert "… og 2 grupper til" in text
    strict = listing(store, nlu, days=30, min_confidence=0.95)
    assert "hvem koordinerer individuell plan" in strict and "hva er en individuell plan" not in strict


def test_grouping_is_deterministic_and_compares_with_the_leading_wording():
    def problem(n, text):
        return review.Problem(n, text, "ask_planning", 0.5, ("low_confidence",))

    texts = ["hva er taushetsplikt", "Hva er taushetsplikten?", "hva er taushetsplikt", "hva er avvergingsplikt",
             "hva er avvergingsplikten", "taushetsplikt og avvergingsplikt"]
    groups = review.group(problem(n, t) for n, t in enumerate(texts))
    assert [(g.count, g.representative) for g in groups] == [
        (3, "hva er taushetsplikt"), (2, "hva er avvergingsplikt"), (1, "taushetsplikt og avvergingsplikt")]
    assert groups == review.group(problem(n, t) for n, t in enumerate(texts))
    assert groups[1].variants == ["hva er avvergingsplikt", "hva er avvergingsplikten"], "first asked leads a tie"


def test_nothing_unredacted_is_shown_or_written(sqlite_store, nlu):
    with sqlite_store.Session.begin() as s:  # a row written before the guard knew this pattern
        user = sqlite_store.register("web", "x", "practitioner", via="test")
        s.add(Message(user_id=user.id, text="Ola Nordmann ringer fra 912 34 567, hva gjør jeg?", intent="ask_contact",
                      confidence=0.2, answer_type="fallback", cited_sections="", redacted_kinds=""))
    text = listing(sqlite_store, nlu)
    assert "«[navn] ringer fra [telefon], hva gjør jeg?»" in text
    assert "Nordmann" not in text and "912" not in text
    annotate(sqlite_store, nlu, "u")
    written = (nlu / "out_of_scope.yml").read_text(encoding="utf-8")
    assert "- [navn] ringer fra [telefon], hva gjør jeg?\n" in written and "Nordmann" not in written


# -- veiviser review --annotate --------------------------------------------------------------------
def test_annotate_appends_to_the_intent_block_of_its_file_and_marks_reviewed(store, nlu):
    from rasa.shared.nlu.training_data.loading import load_data

    seed_problems(store)
    before = (nlu / "rules_and_tools.yml").read_text(encoding="utf-8")
    untouched = {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml") if p.name != "rules_and_tools.yml"}
    out = annotate(store, nlu, "1", "ask_tools_measures", "h", days=30)

    assert "+ «hvordan skriver jeg en bekymringsmelding?» → nlu/rules_and_tools.yml (report_concern)" in out
    assert "+ «Hvem betaler for en mentor» → nlu/rules_and_tools.yml (ask_tools_measures)" in out
    assert "nlu/rules_and_tools.yml: report_concern +2, ask_tools_measures +2" in out
    assert "`veiviser train`" in out and "`veiviser evaluate`" in out and "`veiviser promote`" in out

    path = nlu / "rules_and_tools.yml"
    after = path.read_text(encoding="utf-8")
    added = inserted_lines(before, after)
    assert sorted(added) == sorted(["    - hvordan skriver jeg en bekymringsmelding?\n",
                                    "    - Hvordan skriver jeg bekymringsmeldingen\n",
                                    "    - hvem betaler for mentor?\n", "    - Hvem betaler for en mentor\n"])
    assert examples(path, "report_concern")[-2:] == ["hvordan skriver jeg en bekymringsmelding?",
                                                     "Hvordan skriver jeg bekymringsmeldingen"]
    assert examples(path, "ask_tools_measures")[-2:] == ["hvem betaler for mentor?", "Hvem betaler for en mentor"]
    assert {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml") if p.name != path.name} == untouched

    trained = {(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples}
    assert ("Hvordan skriver jeg bekymringsmeldingen", "report_concern") in trained
    assert ("hvem betaler for mentor?", "ask_tools_measures") in trained

    remaining = listing(store, nlu, days=30)
    assert "bekymringsmelding" not in remaining and "mentor" not in remaining
    assert "taushetsplikt overfor foreldre" in remaining, "a skipped group comes back"


def test_out_of_scope_goes_to_out_of_scope_and_the_audit_log_keeps_counts_only(store, nlu):
    seed(store, "blir det sol i helgen", answer_type="fallback", intent="ask_planning", confidence=0.5)
    out = annotate(store, nlu, "u")
    assert "nlu/out_of_scope.yml: out_of_scope +1" in out
    assert examples(nlu / "out_of_scope.yml", "out_of_scope")[-1] == "blir det sol i helgen"
    entry = store.audit_log()[-1]
    assert (entry.actor, entry.action) == ("cli:test", "review.annotate")
    assert entry.detail == "groups=1 messages=1 examples=1 out_of_scope=1 skipped=0 refused=0"
    assert "Ingenting å gå gjennom" in listing(store, nlu)


def test_a_duplicate_is_not_added_twice(sqlite_store, nlu):
    seed(sqlite_store, "hvordan skriver jeg en bekymringsmelding?", answer_type="fallback", intent="report_concern")
    annotate(sqlite_store, nlu, "report_concern")
    once = (nlu / "rules_and_tools.yml").read_text(encoding="utf-8")
    seed(sqlite_store, "Hvordan skriver jeg en bekymringsmelding", answer_type="fallback", intent="report_concern")
    out = annotate(sqlite_store, nlu, "1")
    assert "= «Hvordan skriver jeg en bekymringsmelding» finnes allerede under report_concern" in out
    assert "Ingen nye eksempler skrevet." in out and "veiviser train" not in out
    assert (nlu / "rules_and_tools.yml").read_text(encoding="utf-8") == once
    assert "Ingenting å gå gjennom" in listing(sqlite_store, nlu)


def test_an_example_of_another_intent_is_refused_until_the_right_one_is_chosen(sqlite_store, nlu):
    seed(sqlite_store, "Målgruppe for exit arbeid?", answer_type="fallback", intent="ask_what_is_exit",
         confidence=0.3)
    before = {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")}
    out = annotate(sqlite_store, nlu, "1", "ask_exit_target_group")
    assert "er allerede et eksempel under ask_exit_target_group" in out and "Ingenting er skrevet" in out
    assert "finnes allerede under ask_exit_target_group" in out
    assert {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")} == before


def test_evaluation_questions_never_become_training_examples(sqlite_store, nlu):
    question = next(q["q"] for q in EVAL_QUESTIONS if q["expect"] == "Hva er exit-arbeid?")
    seed(sqlite_store, question, answer_type="fallback", intent="ask_what_is_exit", confidence=0.3)
    seed(sqlite_store, question.lower().rstrip("?"), answer_type="fallback", intent="ask_what_is_exit",
         confidence=0.3)
    before = {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")}
    out = annotate(sqlite_store, nlu, "1")
    assert "er et evalueringsspørsmål (tests/eval/questions.yml) og kan ikke bli et treningseksempel" in out
    assert {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")} == before
    assert sqlite_store.audit_log()[-1].detail.endswith("examples=0 out_of_scope=0 skipped=0 refused=1")


def test_unknown_choices_are_asked_again_and_a_ends_the_session(sqlite_store, nlu):
    seed(sqlite_store, "hvem betaler for mentor?", intent="ask_tools_measures", confidence=0.35)
    seed(sqlite_store, "blir det sol i helgen", answer_type="fallback", intent="out_of_scope")
    before = {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")}
    out = annotate(sqlite_store, nlu, "99", "ask_nothing", "a")
    assert out.count("Ukjent valg") == 2 and "Avslutter." in out and "[2/2]" not in out
    assert {p.name: p.read_text(encoding="utf-8") for p in nlu.glob("*.yml")} == before
    assert "2 meldinger i 2 grupper" in listing(sqlite_store, nlu)


def test_the_annotated_data_passes_rasa_data_validate(sqlite_store, nlu):
    seed_problems(sqlite_store)
    seed(sqlite_store, "[navn] ringer meg stadig, hva gjør jeg", answer_type="fallback", intent="ask_contact")
    annotate(sqlite_store, nlu, "1", "2", "ask_information_sharing", "u", "report_concern")
    assert "[navn] ringer meg stadig, hva gjør jeg" in examples(nlu / "rules_and_tools.yml", "report_concern")
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--domain", "domain", "--data", str(nlu),
         "--config", "config.yml", "--fail-on-warnings"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# -- editing an NLU file -------------------------------------------------------------------------
SOURCE = """\
# A comment that stays
version: "3.1"
nlu:
- intent: first  # and a trailing one
  examples: |
    - a
    - b

# between the blocks
- intent: second
  examples: |
      - deeper
- intent: last
  examples: |
    - z"""


def test_insert_examples_goes_at_the_end_of_the_block_with_its_indentation():
    assert review.insert_examples(SOURCE, "first", ["c"]) == SOURCE.replace("    - b\n", "    - b\n    - c\n")
    assert review.insert_examples(SOURCE, "second", ["x"]) == SOURCE.replace("      - deeper\n",
                                                                              "      - deeper\n      - x\n")
    assert review.insert_examples(SOURCE, "last", ["y"]) == SOURCE + "\n    - y\n"
    crlf = SOURCE.replace("\n", "\r\n")
    assert review.insert_examples(crlf, "first", ["c"]) == crlf.replace("    - b\r\n", "    - b\r\n    - c\r\n")
    with pytest.raises(review.NluEditError):
        review.insert_examples(SOURCE, "missing", ["c"])


def test_texts_rasa_would_misread_are_refused(nlu):
    data = review.NluData(nlu)
    verdicts = data.judge("ask_contact", ["ring [PST](service) nå", "🙂", "helt ny formulering om PST"], set())
    assert [v.status for v in verdicts] == [review.UNUSABLE, review.UNUSABLE, review.NEW]


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """`veiviser` with its root in tmp_path: a copy of nlu/ and of the evaluation questions."""
    shutil.copytree(ROOT / "nlu", tmp_path / "nlu")
    (tmp_path / "tests" / "eval").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "eval" / "questions.yml", tmp_path / "tests" / "eval" / "questions.yml")
    url = f"sqlite:///{tmp_path / 'veiviser.db'}"
    for name, value in {"VEIVISER_ROOT": tmp_path, "VEIVISER_CONTENT_DIR": ROOT / "content",
                        "VEIVISER_DATA_DIR": tmp_path / "var", "VEIVISER_DATABASE_URL": url}.items():
        monkeypatch.setenv(name, str(value))
    store = Store(url)
    store.upgrade()
    seed_problems(store)
    yield tmp_path
    store.dispose()


def test_cli_review_lists_the_problems(cli_env, capsys):
    from bot.cli import main

    assert main(["review", "--days", "30", "--limit", "2", "--min-confidence", "0.5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"1\. 4 × «hvordan skriver jeg en bekymringsmelding\?»", out)
    assert "2. 2 × «hvem betaler for mentor?»" in out and "… og 1 gruppe til" in out


def test_cli_review_annotate_writes_under_the_roots_nlu(cli_env, capsys, monkeypatch):
    from bot.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("1\na\n"))
    assert main(["review", "--annotate", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "nlu/rules_and_tools.yml: report_concern +2" in out and "Avslutter." in out
    assert "Hvordan skriver jeg bekymringsmeldingen" in examples(cli_env / "nlu" / "rules_and_tools.yml",
                                                                 "report_concern")
    assert "Hvordan skriver jeg bekymringsmeldingen" not in (ROOT / "nlu" / "rules_and_tools.yml").read_text("utf-8")
    entry = Store(os.environ["VEIVISER_DATABASE_URL"]).audit_log()[-1]
    assert entry.action == "review.annotate" and entry.actor.startswith("cli:")


def test_feedback_without_a_message_is_ignored(sqlite_store, nlu):
    user = sqlite_store.register("web", "x", "practitioner", via="test")
    sqlite_store.record_feedback(user, message_id=None, value=-1, comment="generelt dårlig")
    assert sqlite_store.stats()["feedback"] == 1
    assert "Ingenting å gå gjennom" in listing(sqlite_store, nlu)
