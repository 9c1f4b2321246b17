"""`veiviser content diff OLD NEW` when the guideline is revised, and the edition in every citation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.base import PAYLOAD_KEY, VeiviserAction
from bot.cli import main
from bot.content import ContentStore
from bot.reply import Reply
from tests.conftest import ROOT

OLD_SENTENCE = "Det er derfor svært viktig å hjelpe personer som ønsker seg ut av en ekstremistisk tilværelse"
NEW_SENTENCE = "Det er derfor avgjørende å hjelpe personer som ønsker seg ut av en ekstremistisk tilværelse"
OLD_EDITION = "tekst importert 2026-11-30"
NEW_EDITION = "revidert utgave 2027-03-01"
ADDED = """
- id: etterarbeid
  heading: Etterarbeid og evaluering
  parent: gjennomforing
  label: Etterarbeid
  intents: []
  body:
  - Når tiltakene er avsluttet, bør samarbeidspartnerne evaluere arbeidet sammen.
  answers:
  - id: evaluering
    keywords: []
    text: Når tiltakene er avsluttet, bør samarbeidspartnerne evaluere arbeidet sammen.
"""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def revise(content: Path) -> None:
    """The next edition: one section's text changed, one section added, one removed."""
    _edit(content / "document.yml", f'edition: "{OLD_EDITION}"', f'edition: "{NEW_EDITION}"')
    _edit(content / "sections" / "01-innledning.yml", "Det er derfor svært viktig", "Det er derfor avgjørende")
    intro = content / "sections" / "01-innledning.yml"
    text = intro.read_text(encoding="utf-8")
    intro.write_text(text[: text.index("- id: hvordan-jobbe-med-exit-arbeid")], encoding="utf-8")
    with (content / "sections" / "03-gjennomforing.yml").open("a", encoding="utf-8") as f:
        f.write(ADDED)


@pytest.fixture
def editions(tmp_path) -> tuple[Path, Path]:
    old, new = tmp_path / "gammel", tmp_path / "ny"
    shutil.copytree(ROOT / "content", old)
    shutil.copytree(ROOT / "content", new)
    revise(new)
    return old, new


def test_revised_guideline_shows_edition_and_added_removed_and_changed_sections(editions, capsys):
    old, new = editions
    assert main(["content", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert f"Utgave: {OLD_EDITION} → {NEW_EDITION}" in out
    assert ("Nye avsnitt (1):\n"
            "  + etterarbeid «Etterarbeid og evaluering» — Gjennomføring › Etterarbeid og evaluering") in out
    assert "Fjernede avsnitt (1):\n  - hvordan-jobbe-med-exit-arbeid «Hvordan jobbe med exit-arbeid?»" in out
    assert "Endrede avsnitt (1):\n  ~ hvorfor-exit-arbeid «Hvorfor exit-arbeid?» — Hvorfor exit-arbeid?" in out
    assert "    endret: tekst\n" in out
    # A compact unified diff: the changed sentence, not the whole section.
    assert f"    -{OLD_SENTENCE}" in out and f"    +{NEW_SENTENCE}" in out
    assert "Den potensielle risikoen" not in out
    assert "Avsnitt: 1 nytt, 1 fjernet, 1 endret, 26 uendret." in out
    assert "Merk:" not in out


def test_same_content_is_no_change(tmp_path, capsys):
    shutil.copytree(ROOT / "content", tmp_path / "kopi")
    assert main(["content", "diff", str(ROOT / "content"), str(tmp_path / "kopi")]) == 0
    out = capsys.readouterr().out
    assert f"Utgave: {OLD_EDITION} (uendret)" in out
    assert "Ingen avsnitt er endret (28 like)." in out


def test_changed_sections_under_the_same_edition_are_pointed_out(tmp_path, capsys):
    old, new = tmp_path / "gammel", tmp_path / "ny"
    shutil.copytree(ROOT / "content", old)
    shutil.copytree(ROOT / "content", new)
    services = new / "sections" / "04-tjenester.yml"
    _edit(services, 'phone: "02800"', 'phone: "02801"')
    _edit(services, "- id: skole\n", "- id: skolen\n")
    assert main(["content", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "~ politi «Politi» — Relevante tjenester i exit-samarbeid › Politi\n    endret: kontakter\n" in out
    assert '    -kontakt: Politiet (02800, politiet.no, https://www.politiet.no/)' in out
    assert '    +kontakt: Politiet (02801, politiet.no, https://www.politiet.no/)' in out
    # A new id for the same heading is the same section, changed.
    assert "~ skolen «Skole»" in out and "    id: skole → skolen\n    endret: id\n" in out
    assert "Nye avsnitt" not in out and "Fjernede avsnitt" not in out
    assert "oppdater «edition» i document.yml" in out


def test_old_edition_from_git(tmp_path, monkeypatch, capsys):
    """`veiviser content diff HEAD` compares the committed content with the content in use."""
    shutil.copytree(ROOT / "content", tmp_path / "content")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=Vedlikehold", "-c", "user.email=v@example.org"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "content"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "utgave 1"], check=True)
    revise(tmp_path / "content")
    monkeypatch.setenv("VEIVISER_ROOT", str(tmp_path))
    monkeypatch.delenv("VEIVISER_CONTENT_DIR", raising=False)

    assert main(["content", "diff", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Veileder for exit-arbeid: HEAD:content → content\n")
    assert f"Utgave: {OLD_EDITION} → {NEW_EDITION}" in out and "+ etterarbeid" in out

    assert main(["content", "diff", "HEAD:content", str(tmp_path / "content")]) == 1
    assert "Avsnitt: 1 nytt, 1 fjernet, 1 endret" in capsys.readouterr().out

    assert main(["content", "diff", "HEAD", "HEAD"]) == 0
    capsys.readouterr()


def test_unreadable_edition_exits_2(tmp_path, capsys):
    assert main(["content", "diff", str(tmp_path / "finnes-ikke")]) == 2
    assert "verken en mappe eller en git-revisjon" in capsys.readouterr().err


class _Probe(VeiviserAction):
    def name(self) -> str:
        return "action_probe"

    async def run(self, dispatcher, tracker, domain):
        return []


def test_every_reply_cites_the_edition_it_came_from(editions, monkeypatch):
    """The source line under an answer and the citation in the JSON contract carry the edition, so a
    user can tell which version of the guideline an answer came from."""
    _, new = editions
    store = ContentStore.load(new)
    citation = store.citation(store.by_heading("Individuell plan"))
    assert citation.source_line == (
        f"Kilde: Veileder for exit-arbeid › Gjennomføring › Individuell plan (utgave: {NEW_EDITION})")
    assert citation.as_json()["edition"] == NEW_EDITION

    monkeypatch.setenv("VEIVISER_CONTENT_DIR", str(new))
    dispatcher = CollectingDispatcher()
    domain = {"responses": {"utter_see_also": [{"text": "Se også: {sections}"}]}}
    _Probe().send(dispatcher, domain, kind="answer", text="Svaret.",
                  sections=[store.by_heading("Individuell plan"), store.by_heading("Informasjonsutveksling")])
    [message] = dispatcher.messages
    assert f"\n\n{citation.source_line}\n{citation.url}\nSe også: Informasjonsutveksling" in message["text"]
    payload = message["custom"][PAYLOAD_KEY]
    reply = Reply(question="q", type=payload["type"], text=payload["text"], citations=payload["citations"])
    assert [c["edition"] for c in reply.as_json()["citations"]] == [NEW_EDITION, NEW_EDITION]
