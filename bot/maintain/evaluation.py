"""`veiviser evaluate`: how well a trained model does on the evaluation set, as a report.

For one model archive this runs
* Rasa's own `test nlu` on the evaluation questions (per-intent precision/recall/F1, the confusion
  matrix and the confidence histogram as images), and
* Veiviser's measures: top-1 citation accuracy (did the answer cite the expected section?), per
  section, and out-of-scope handling (was an out-of-scope question *not* answered?).

The evaluation questions name the *section* they expect; Rasa's test needs an *intent*. Several
intents can lead to one section (a topic, a contact question), so the gold intent of a question is
the predicted one when the answer cited the right section, else the section's own first intent.

Reports go to `reports/<model>/` (report.json, report.md, report.html with the images inside) and
are reused while the archive and the evaluation set are unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from bot.evaluate import OUT_OF_SCOPE, evaluate, load_questions
from bot.registry import ModelRegistry
from bot.settings import Settings

IMAGES = ("intent_confusion_matrix.png", "intent_histogram.png")


@dataclass
class ModelReport:
    model: str
    sha256: str
    eval_set: str  # hash of the evaluation questions the figures come from
    created_at: str
    questions: int
    accuracy: float  # top-1 citation accuracy on in-scope questions
    correct: int
    in_scope: int
    clarified: int
    out_of_scope: int
    out_of_scope_answered: int
    sections: dict[str, dict[str, int]] = field(default_factory=dict)  # heading → {total, correct}
    intents: dict[str, dict[str, float]] = field(default_factory=dict)  # Rasa: precision/recall/f1-score/support
    misses: list[dict[str, Any]] = field(default_factory=list)

    def section_accuracy(self, heading: str) -> float | None:
        s = self.sections.get(heading)
        return s["correct"] / s["total"] if s and s["total"] else None

    @classmethod
    def load(cls, path: Path) -> "ModelReport":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def eval_set_path(settings: Settings) -> Path:
    return settings.root / "tests" / "eval" / "questions.yml"


def eval_set_hash(settings: Settings) -> str:
    return hashlib.sha256(eval_set_path(settings).read_bytes()).hexdigest()[:16]


def report_dir(settings: Settings, archive: Path) -> Path:
    return settings.reports_dir / Path(archive).name.removesuffix(".tar.gz")


def cached_report(settings: Settings, archive: Path) -> ModelReport | None:
    path = report_dir(settings, archive) / "report.json"
    if not path.exists():
        return None
    try:
        report = ModelReport.load(path)
    except (ValueError, TypeError):
        return None
    sha = ModelRegistry(Path(archive).parent).read()["models"].get(Path(archive).name, {}).get("sha256")
    return report if report.sha256 == sha and report.eval_set == eval_set_hash(settings) else None


def _gold_intent(outcome: dict[str, Any], content: Any) -> str:
    if outcome["expect"] == OUT_OF_SCOPE:
        return OUT_OF_SCOPE
    if outcome["right"] and outcome["intent"]:
        return outcome["intent"]
    section = content.by_heading(outcome["expect"])
    if section is None:
        return outcome["expect"]
    intents = list(section.intents) or [i for a in section.answers for i in a.intents]
    return intents[0] if intents else section.id


async def _rasa_test_nlu(assistant: Any, outcomes: list[dict[str, Any]], settings: Settings, out: Path) -> dict:
    """Rasa's `test nlu` through the loaded model's own processor (no second model load)."""
    from rasa.nlu.test import run_evaluation

    examples: dict[str, list[str]] = {}
    for o in outcomes:
        examples.setdefault(_gold_intent(o, assistant.content), []).append(o["q"])
    nlu = {"version": "3.1", "nlu": [
        {"intent": intent, "examples": "".join(f"- {q.replace(chr(10), ' ')}\n" for q in qs)}
        for intent, qs in sorted(examples.items())]}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "eval_nlu.yml"
        data.write_text(yaml.safe_dump(nlu, allow_unicode=True, sort_keys=False), encoding="utf-8")
        result = await run_evaluation(str(data), assistant.agent.processor, output_directory=str(out),
                                      disable_plotting=False, report_as_dict=True,
                                      domain_path=str(settings.root / "domain"))
    report = (result.get("intent_evaluation") or {}).get("report") or {}
    return {k: v for k, v in report.items() if isinstance(v, dict) and "f1-score" in v}


async def evaluate_archive(settings: Settings, archive: Path) -> ModelReport:
    """Load `archive` (checked against its recorded hash), run both evaluations, write the report."""
    from bot.assistant import Assistant

    archive = Path(archive)
    sha = ModelRegistry(archive.parent).verify(archive)
    loop = asyncio.get_running_loop()
    assistant = await loop.run_in_executor(None, lambda: Assistant.load(settings, model_path=archive))
    result = await evaluate(assistant, load_questions(eval_set_path(settings)))
    out = report_dir(settings, archive)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    intents = await _rasa_test_nlu(assistant, result.outcomes, settings, out)
    sections: dict[str, dict[str, int]] = {}
    for o in result.outcomes:
        if o["expect"] != OUT_OF_SCOPE:
            s = sections.setdefault(o["expect"], {"total": 0, "correct": 0})
            s["total"] += 1
            s["correct"] += int(o["right"])
    report = ModelReport(
        model=archive.name, sha256=sha, eval_set=eval_set_hash(settings),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        questions=len(result.outcomes), accuracy=result.accuracy, correct=result.correct,
        in_scope=result.total_in_scope, clarified=result.clarified, out_of_scope=result.out_of_scope_total,
        out_of_scope_answered=len(result.out_of_scope_answered), sections=sections, intents=intents,
        misses=[o for o in result.outcomes if not o["right"]],
    )
    (out / "report.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    write_report(settings, report, None)  # on its own; a comparison rewrites it when there is one
    return report


async def report_for(settings: Settings, archive: Path) -> ModelReport:
    """The cached report if it is still valid, else a fresh evaluation."""
    return cached_report(settings, archive) or await evaluate_archive(settings, archive)


# -- comparing and writing ---------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def intent_changes(new: ModelReport, old: ModelReport | None) -> list[tuple[str, float | None, float | None, int]]:
    """(intent, old F1, new F1, support) for every intent, the biggest drop first."""
    names = set(new.intents) | set(old.intents if old else {})
    rows = []
    for name in names:
        n = new.intents.get(name, {})
        o = (old.intents if old else {}).get(name, {})
        rows.append((name, o.get("f1-score"), n.get("f1-score"), int(n.get("support") or o.get("support") or 0)))
    return sorted(rows, key=lambda r: ((r[2] or 0) - (r[1] if r[1] is not None else (r[2] or 0)), r[0]))


def markdown(new: ModelReport, old: ModelReport | None) -> str:
    lines = [f"# Evaluering av {new.model}", "",
             f"Laget {new.created_at} på {new.questions} evalueringsspørsmål (tests/eval/questions.yml).", ""]
    head = "| Mål | Denne modellen |" + (" I drift |" if old else "")
    lines += [head, "|---|---|" + ("---|" if old else "")]

    def row(label: str, value: str, before: str) -> None:
        lines.append(f"| {label} | {value} |" + (f" {before} |" if old else ""))

    row("Riktig kilde (topp-1)", f"{_pct(new.accuracy)} ({new.correct}/{new.in_scope})",
        f"{_pct(old.accuracy)} ({old.correct}/{old.in_scope})" if old else "")
    row("Oppklaringsspørsmål i stedet for svar", str(new.clarified), str(old.clarified) if old else "")
    row("Utenfor veilederen, men besvart (skal være 0)", f"{new.out_of_scope_answered}/{new.out_of_scope}",
        f"{old.out_of_scope_answered}/{old.out_of_scope}" if old else "")
    lines += ["", "## Per avsnitt", "", "| Avsnitt | Riktig |" + (" I drift |" if old else ""),
              "|---|---|" + ("---|" if old else "")]
    for heading in sorted(new.sections):
        s = new.sections[heading]
        before = ""
        if old and heading in old.sections:
            before = f" {old.sections[heading]['correct']}/{old.sections[heading]['total']} |"
        elif old:
            before = " – |"
        lines.append(f"| {heading} | {s['correct']}/{s['total']} |{before}")
    lines += ["", "## Per intensjon (Rasa `test nlu`, F1)", "",
              "| Intensjon | Antall | F1 |" + (" F1 i drift | Endring |" if old else ""),
              "|---|---|---|" + ("---|---|" if old else "")]
    for name, before, after, support in intent_changes(new, old):
        change = "" if not old else (f" {before:.2f} | {((after or 0) - before):+.2f} |" if before is not None else " – | ny |")
        lines.append(f"| {name} | {support} | {'–' if after is None else f'{after:.2f}'} |{change}")
    lines += ["", "## Bommer", ""]
    if not new.misses:
        lines.append("Ingen.")
    for m in new.misses:
        lines.append(f"- «{m['q']}» — ventet *{m['expect']}*, fikk *{m['got']}* "
                     f"(intensjon {m['intent']}, sikkerhet {m['confidence'] or 0:.2f})")
    lines += ["", "Bilder: intent_confusion_matrix.png (forvekslingsmatrise), intent_histogram.png (sikkerhet).", ""]
    return "\n".join(lines)


def html_page(new: ModelReport, old: ModelReport | None, folder: Path) -> str:
    """A self-contained page: the Markdown tables as HTML, the images inline."""
    body: list[str] = []
    in_table = False
    for line in markdown(new, old).splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            body.append(f"<p class=miss>{html.escape(line[2:])}</p>")
        elif line.strip() and not line.startswith("Bilder:"):
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    for name, title in zip(IMAGES, ("Forvekslingsmatrise (intensjoner)", "Sikkerhet per svar")):
        path = folder / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode()
            body.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
    style = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
             "text-align:left}img{max-width:100%}.miss{margin:.2rem 0}")
    return (f"<!doctype html><html lang=nb><meta charset=utf-8><title>Evaluering av {html.escape(new.model)}</title>"
            f"<style>{style}</style><body>{''.join(body)}</body></html>")


def write_report(settings: Settings, new: ModelReport, old: ModelReport | None) -> Path:
    folder = report_dir(settings, Path(new.model))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(markdown(new, old), encoding="utf-8")
    page = folder / "report.html"
    page.write_text(html_page(new, old, folder), encoding="utf-8")
    return page
