"""`veiviser content diff OLD [NEW]`: which sections of the guideline changed between two editions.

OLD and NEW are each a content directory (with `document.yml` and `sections/`), or a git revision:
`REV:PATH` reads PATH (relative to the top of the repository) as it was in REV, and a bare `REV`
reads the content directory at that revision. NEW defaults to the content directory in use. So
`veiviser content diff HEAD~1` shows what the last commit changed, and `veiviser content diff
gammel/content content` compares two folders.

Sections are matched by id (a section whose id changed but whose heading did not counts as
changed). For each changed section the output names the fields that changed and shows a compact
unified diff of its text, one sentence per line. The exit code follows diff(1): 0 when the editions
are the same, 1 when something changed, 2 when OLD or NEW cannot be read.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.content import ContentError, ContentStore, Section

# Section fields as a maintainer calls them, in the order they are reported.
FIELDS = (
    ("heading", "overskrift"),
    ("parent", "plassering"),
    ("label", "knappetittel"),
    ("intents", "intenter"),
    ("body", "tekst"),
    ("links", "lenker"),
    ("contacts", "kontakter"),
    ("answers", "svar"),
    ("service", "tjeneste"),
    ("contact_note", "kontaktmerknad"),
)
DOCUMENT_FIELDS = (("title", "tittel"), ("publisher", "utgiver"), ("edition", "utgave"), ("url", "lenke"))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9«(])")


class DiffError(Exception):
    """OLD or NEW cannot be read; the message says why, in Norwegian."""


@dataclass(frozen=True)
class Edition:
    label: str  # as the maintainer named it: "content", "HEAD~1:content"
    store: ContentStore


@dataclass
class SectionChange:
    old: Section
    new: Section
    fields: list[str]
    diff: list[str]


@dataclass
class ContentDiff:
    old: Edition
    new: Edition
    document: list[tuple[str, str, str]] = field(default_factory=list)  # (field, old, new)
    added: list[Section] = field(default_factory=list)
    removed: list[Section] = field(default_factory=list)
    changed: list[SectionChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def sections_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def has_changes(self) -> bool:
        return self.sections_changed or bool(self.document)


# -- reading an edition ------------------------------------------------------------------------------
def load_edition(spec: str, root: Path, content_dir: Path) -> Edition:
    """A content directory, `REV:PATH` or a bare git revision (then PATH is `content_dir` in git)."""
    if Path(spec).is_dir():
        return Edition(spec, _load(Path(spec), spec))
    rev, sep, sub = spec.partition(":")
    top = _git(root, "rev-parse", "--show-toplevel",
               error=f"«{spec}» er ikke en mappe, og {root} er ikke i et git-depot — oppgi en mappe med "
                     "document.yml og sections/")
    top_dir = Path(top.strip())
    if not sep:
        try:
            sub = str(content_dir.resolve().relative_to(top_dir.resolve()))
        except ValueError:
            raise DiffError(f"innholdsmappen {content_dir} ligger ikke i git-depotet — skriv REV:sti") from None
    _git(top_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
         error=f"«{spec}» er verken en mappe eller en git-revisjon — oppgi en mappe, REV eller REV:sti")
    sub = sub.strip("/") or "."
    names = _git(top_dir, "ls-tree", "-r", "--name-only", rev, "--", sub, error=f"kan ikke lese {sub} i {rev}")
    prefix = "" if sub == "." else sub + "/"
    wanted = [n for n in names.splitlines() if n == f"{prefix}document.yml"
              or (n.startswith(f"{prefix}sections/") and n.endswith(".yml") and n.count("/") == prefix.count("/") + 1)]
    if not wanted:
        raise DiffError(f"fant ikke document.yml eller sections/ under «{sub}» i {rev} — "
                        "skriv REV:sti til innholdsmappen")
    with tempfile.TemporaryDirectory(prefix="veiviser-content-") as tmp:
        for name in wanted:
            target = Path(tmp) / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git_bytes(top_dir, "show", f"{rev}:{name}"))
        return Edition(f"{rev}:{sub}", _load(Path(tmp), f"{rev}:{sub}"))


def _load(directory: Path, label: str) -> ContentStore:
    try:
        store = ContentStore.load(directory, strict=False)
    except ContentError as exc:
        raise DiffError(f"kan ikke lese innholdet i {label}:\n" + "\n".join(f"  {p}" for p in exc.problems)) from None
    if store.problems:
        print(f"Merk: {label} har {len(store.problems)} feil i innholdet (se «veiviser content validate»); "
              "sammenligner det som kunne leses.", file=sys.stderr)
    return store


def _git_bytes(cwd: Path, *args: str) -> bytes:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _git(cwd: Path, *args: str, error: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DiffError(f"{error} (git er ikke installert)") from None
    if result.returncode != 0:
        raise DiffError(error)
    return result.stdout


# -- comparing ---------------------------------------------------------------------------------------
def compare(old: Edition, new: Edition) -> ContentDiff:
    result = ContentDiff(old, new)
    for attr, name in DOCUMENT_FIELDS:
        before, after = getattr(old.store.document, attr), getattr(new.store.document, attr)
        if before != after:
            result.document.append((name, before, after))

    old_sections, new_sections = old.store.sections, new.store.sections
    pairs: dict[str, Section] = {sid: old_sections[sid] for sid in new_sections if sid in old_sections}
    by_heading = {s.heading: s for sid, s in old_sections.items() if sid not in new_sections}
    for sid, section in new_sections.items():
        if sid not in pairs and section.heading in by_heading:  # the id changed, the section did not move away
            pairs[sid] = by_heading.pop(section.heading)
    matched_old = {s.id for s in pairs.values()}
    new_id = {before.id: sid for sid, before in pairs.items()}

    for sid, section in new_sections.items():
        before = pairs.get(sid)
        if before is None:
            result.added.append(section)
            continue
        fields = _changed_fields(before, section, new_id)
        if fields:
            result.changed.append(SectionChange(before, section, fields, _text_diff(old, before, new, section)))
        else:
            result.unchanged += 1
    result.removed = [s for sid, s in old_sections.items() if sid not in matched_old]
    return result


def _changed_fields(old: Section, new: Section, new_id: dict[str, str]) -> list[str]:
    """The fields that differ; a section has moved when its parent is another section (a parent
    whose id changed is still the same parent)."""
    fields = ["id"] if old.id != new.id else []
    for attr, name in FIELDS:
        if attr == "parent":
            if new_id.get(old.parent or "", old.parent) != new.parent:
                fields.append(name)
        elif getattr(old, attr) != getattr(new, attr):
            fields.append(name)
    return fields


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


def section_lines(store: ContentStore, section: Section) -> list[str]:
    """A section as text for the diff: one sentence, list item, link or contact per line."""
    lines = [f"# {section.heading}", f"plassering: {' › '.join(store.path(section))}",
             f"knappetittel: {section.label}", f"intenter: {', '.join(section.intents) or '–'}"]
    if section.service:
        lines.append(f"tjeneste: {section.service}")
    for block in section.body:
        lines.extend([f"• {item}" for item in block.items] if block.items else _sentences(block.text))
    lines.extend(f"lenke: {link.title} <{link.url}>" for link in section.links)
    for c in section.contacts:
        details = ", ".join(v for v in (c.role, c.phone, c.email, c.web, c.url) if v)
        lines.append(f"kontakt: {c.organisation} ({details})")
    if section.contact_note:
        lines.append(f"kontaktmerknad: {section.contact_note}")
    for answer in section.answers:
        extra = [f"intenter: {', '.join(answer.intents)}"] if answer.intents else []
        extra += [f"se også: {', '.join(answer.see_also)}"] if answer.see_also else []
        extra += [f"kontakter fra: {', '.join(answer.contacts_from)}"] if answer.contacts_from else []
        lines.append(f"svar «{answer.id}»" + (f" ({'; '.join(extra)})" if extra else "") + ":")
        lines.extend(f"  {s}" for s in _sentences(answer.text))
        if answer.keywords:
            lines.append(f"  nøkkelord: {', '.join(answer.keywords)}")
    return lines


def _text_diff(old: Edition, before: Section, new: Edition, after: Section) -> list[str]:
    return list(difflib.unified_diff(section_lines(old.store, before), section_lines(new.store, after),
                                     fromfile=f"{old.label} ({before.file})", tofile=f"{new.label} ({after.file})",
                                     n=1, lineterm=""))


# -- output ------------------------------------------------------------------------------------------
def render(diff: ContentDiff) -> str:
    old_doc, new_doc = diff.old.store.document, diff.new.store.document
    out = [f"{new_doc.title}: {diff.old.label} → {diff.new.label}"]
    if old_doc.edition != new_doc.edition:
        out.append(f"Utgave: {old_doc.edition} → {new_doc.edition}")
    else:
        out.append(f"Utgave: {new_doc.edition} (uendret)")
        if diff.sections_changed:
            out.append("Merk: avsnitt er endret, men utgaven er den samme — oppdater «edition» i document.yml, "
                       "så viser kildehenvisningene hvilken tekst svarene bygger på.")
    for name, before, after in diff.document:
        if name != "utgave":
            out.append(f"Dokumentets {name}: {before} → {after}")

    def heading(section: Section, store: ContentStore) -> str:
        return f"{section.id} «{section.heading}» — {' › '.join(store.path(section))}"

    if diff.added:
        out += ["", f"Nye avsnitt ({len(diff.added)}):"]
        out += [f"  + {heading(s, diff.new.store)}" for s in diff.added]
    if diff.removed:
        out += ["", f"Fjernede avsnitt ({len(diff.removed)}):"]
        out += [f"  - {heading(s, diff.old.store)}" for s in diff.removed]
    if diff.changed:
        out += ["", f"Endrede avsnitt ({len(diff.changed)}):"]
        for change in diff.changed:
            out.append(f"  ~ {heading(change.new, diff.new.store)}")
            old_path, new_path = diff.old.store.path(change.old), diff.new.store.path(change.new)
            if change.old.id != change.new.id:
                out.append(f"    id: {change.old.id} → {change.new.id}")
            if old_path != new_path:
                out.append(f"    var: {' › '.join(old_path)}")
            out.append(f"    endret: {', '.join(change.fields)}")
            out += [f"    {line}".rstrip() for line in change.diff]
    out.append("")
    if diff.sections_changed:
        out.append(f"Avsnitt: {len(diff.added)} {'nytt' if len(diff.added) == 1 else 'nye'}, "
                   f"{len(diff.removed)} fjernet, {len(diff.changed)} endret, {diff.unchanged} uendret.")
    else:
        out.append(f"Ingen avsnitt er endret ({diff.unchanged} like).")
    return "\n".join(out)


def run(old: str, new: str | None, settings, out: TextIO | None = None) -> int:
    """The command: print the difference; 0 same, 1 changed, 2 cannot read OLD or NEW."""
    out = out or sys.stdout
    root, content_dir = Path(settings.root), Path(settings.content_dir)
    try:
        before = load_edition(old, root, content_dir)
        if new:
            after = load_edition(new, root, content_dir)
        else:
            label = _shown(content_dir, root)
            after = Edition(label, _load(content_dir, label))
    except DiffError as exc:
        print(f"veiviser content diff: {exc}", file=sys.stderr)
        return 2
    diff = compare(before, after)
    print(render(diff), file=out)
    return 1 if diff.has_changes else 0


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
