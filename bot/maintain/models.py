"""`veiviser promote`, `veiviser rollback`, `veiviser models`: putting a trained model in service.

A model goes into service only if it is not worse than the one in service on the evaluation set:
overall top-1 citation accuracy may not drop by more than `margin`, no section by more than
`section_margin`, and no more out-of-scope questions may be answered. `--force` overrides the gate
and is written to the audit log. A running service notices the change and loads the model itself.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

from bot.maintain.evaluation import ModelReport, report_for, write_report
from bot.registry import ModelRegistry, RegistryError
from bot.settings import Settings

DEFAULT_MARGIN = 0.02  # overall: about four questions of the evaluation set
DEFAULT_SECTION_MARGIN = 0.20  # per section: one miss more is allowed in a section of 5+ questions, two are not


@dataclass
class Verdict:
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


def gate(new: ModelReport, old: ModelReport | None, margin: float = DEFAULT_MARGIN,
         section_margin: float = DEFAULT_SECTION_MARGIN) -> Verdict:
    verdict = Verdict()
    if old is None:
        return verdict
    if new.accuracy < old.accuracy - margin:
        verdict.reasons.append(
            f"Samlet riktig kilde falt fra {old.accuracy:.1%} til {new.accuracy:.1%} (tillatt fall: {margin:.0%}).")
    if new.out_of_scope_answered > old.out_of_scope_answered:
        verdict.reasons.append(
            f"Flere spørsmål utenfor veilederen ble besvart: {new.out_of_scope_answered} mot {old.out_of_scope_answered}.")
    for heading in sorted(old.sections):
        before, after = old.section_accuracy(heading), new.section_accuracy(heading)
        if before is not None and after is not None and after < before - section_margin:
            s, o = new.sections[heading], old.sections[heading]
            verdict.reasons.append(f"«{heading}»: {s['correct']}/{s['total']} riktig mot {o['correct']}/{o['total']} "
                                   f"i drift (tillatt fall: {section_margin:.0%}).")
    return verdict


def actor() -> str:
    """Who is acting: `VEIVISER_ACTOR` (a named maintainer on a shared account), else the login."""
    import os

    return f"cli:{os.environ.get('VEIVISER_ACTOR') or os.environ.get('SUDO_USER') or getpass.getuser()}"


def _audit(settings: Settings, action: str, subject: str, detail: str, who: str = "") -> None:
    from bot.store import Store

    store = Store(settings.db_url)
    try:
        store.upgrade()
        store.audit(who or actor(), action, subject=subject, detail=detail)
    finally:
        store.dispose()


@dataclass
class Promotion:
    candidate: Path
    new: ModelReport
    old: ModelReport | None
    verdict: Verdict
    promoted: bool
    page: Path


async def promote(settings: Settings, candidate: Path | None = None, force: bool = False,
                  margin: float = DEFAULT_MARGIN, section_margin: float = DEFAULT_SECTION_MARGIN,
                  reason: str = "", by: str = "") -> Promotion:
    registry = ModelRegistry(settings.models_dir)
    candidate = Path(candidate) if candidate else registry.newest()
    if candidate is None:
        raise RegistryError("Ingen trent modell å sette i drift. Kjør `veiviser train` først.")
    if not candidate.is_absolute() and not candidate.exists():
        candidate = Path(settings.models_dir) / candidate
    current = registry.current()
    if current is not None and current.name == candidate.name:
        raise RegistryError(f"{candidate.name} er allerede i drift.")
    new = await report_for(settings, candidate)
    old = await report_for(settings, current) if current is not None and current.exists() else None
    page = write_report(settings, new, old)
    verdict = gate(new, old, margin, section_margin)
    promoted = verdict.ok or force
    if promoted:
        forced = force and not verdict.ok
        who = by or actor()
        registry.set_current(candidate, by=who, action="promote", forced=forced, accuracy=round(new.accuracy, 4),
                             margin=margin, section_margin=section_margin, gate_failures=verdict.reasons,
                             reason=reason)
        _audit(settings, "model.promote.forced" if forced else "model.promote", candidate.name,
               f"accuracy={new.accuracy:.4f} previous={current.name if current else '-'} margin={margin} "
               f"section_margin={section_margin}" + (f" overridden={len(verdict.reasons)}" if forced else ""),
               who)
    return Promotion(candidate, new, old, verdict, promoted, page)


def rollback(settings: Settings) -> tuple[Path, Path]:
    registry = ModelRegistry(settings.models_dir)
    current, previous = registry.current(), registry.previous()
    if current is None or previous is None:
        raise RegistryError("Det finnes ingen tidligere modell å gå tilbake til.")
    registry.set_current(previous, by=actor(), action="rollback")
    _audit(settings, "model.rollback", previous.name, f"from={current.name}")
    return current, previous
