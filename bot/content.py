"""The guideline as typed records: load and validate `content/` once, then look things up.

Every answer and every citation comes from here. The store is plain data with no Rasa
dependency, so the action server, the assistant, the channels and the tests share it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ]{3,14}[0-9]$")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ContentError(ValueError):
    """Raised when `content/` is not valid; the message lists every problem as `file:line: ...`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Feil i content/:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Document:
    title: str
    publisher: str
    edition: str
    url: str


@dataclass(frozen=True)
class Contact:
    organisation: str
    role: str = ""
    phone: str = ""
    email: str = ""
    web: str = ""
    url: str = ""


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    keywords: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    contacts_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """A paragraph (`text`) or a bullet list (`items`)."""

    text: str = ""
    items: tuple[str, ...] = ()

    def render(self) -> str:
        if self.items:
            return "\n".join(f"• {item}" for item in self.items)
        return self.text


@dataclass(frozen=True)
class Section:
    id: str
    heading: str
    parent: str | None
    label: str
    intents: tuple[str, ...]
    body: tuple[Block, ...]
    links: tuple[Link, ...]
    contacts: tuple[Contact, ...]
    answers: tuple[Answer, ...]
    service: str | None
    contact_note: str
    file: str
    line: int


@dataclass(frozen=True)
class Citation:
    """What a reply cites: the heading exactly as printed, its path from the top, and the link."""

    id: str
    section: str
    path: tuple[str, ...]
    url: str
    source_line: str

    def as_json(self) -> dict[str, Any]:
        return {"section": self.section, "path": list(self.path), "url": self.url}


def fold(text: str) -> str:
    """Lower-case and fold Norwegian letters so `avvergingsplikt` matches `avvergingsplikt`,
    `grunerlokka` matches `Grünerløkka` and `barnevern` matches `barnevernet`."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping under the key `__line__`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _load_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problems.append(f"{path.name}:{line}: ugyldig YAML ({getattr(exc, 'problem', exc)})")
        return None


class ContentStore:
    """All sections of the guideline, validated, in document order."""

    def __init__(self, document: Document, sections: Iterable[Section]):
        self.document = document
        self.sections: dict[str, Section] = {s.id: s for s in sections}
        self._by_heading = {s.heading: s for s in self.sections.values()}
        self._by_intent: dict[str, Section] = {}
        self._by_service: dict[str, Section] = {}
        for s in self.sections.values():
            for intent in s.intents:
                self._by_intent[intent] = s
            for a in s.answers:
                for intent in a.intents:
                    self._by_intent[intent] = s
            if s.service:
                self._by_service[s.service] = s

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path | str = DEFAULT_CONTENT_DIR) -> "ContentStore":
        """Load `document.yml` and `sections/*.yml`; raise ContentError listing every problem."""
        directory = Path(directory)
        problems: list[str] = []
        doc_raw = _load_yaml(directory / "document.yml", problems) or {}
        document = None
        missing = [k for k in ("title", "publisher", "edition", "url") if not doc_raw.get(k)]
        if missing:
            problems.append(f"document.yml:1: mangler {', '.join(missing)}")
        else:
            document = Document(*(str(doc_raw[k]) for k in ("title", "publisher", "edition", "url")))

        sections: list[Section] = []
        files = sorted((directory / "sections").glob("*.yml"))
        if not files:
            problems.append(f"{directory}/sections: ingen seksjonsfiler")
        for path in files:
            raw = _load_yaml(path, problems)
            if raw is None:
                continue
            if not isinstance(raw, dict) or not isinstance(raw.get("sections"), list):
                problems.append(f"{path.name}:1: filen må ha en liste `sections:`")
                continue
            for item in raw["sections"]:
                section = _parse_section(item, path.name, problems)
                if section:
                    sections.append(section)
        if document is not None:
            store = cls(document, sections)
            problems.extend(store._cross_check(sections))
        if problems:
            raise ContentError(problems)
        return store

    def _cross_check(self, sections: list[Section]) -> list[str]:
        problems = []
        seen_ids: set[str] = set()
        seen_headings: set[str] = set()
        intent_owner: dict[str, str] = {}
        for s in sections:
            where = f"{s.file}:{s.line}"
            if s.id in seen_ids:
                problems.append(f"{where}: id «{s.id}» finnes fra før")
            seen_ids.add(s.id)
            if s.heading in seen_headings:
                problems.append(f"{where}: overskriften «{s.heading}» finnes fra før")
            seen_headings.add(s.heading)
            if s.parent and s.parent not in self.sections:
                problems.append(f"{where}: parent «{s.parent}» finnes ikke")
            if not s.body and not self.children(s):
                problems.append(f"{where}: seksjonen har verken tekst eller underavsnitt")
            own = list(s.intents) + [i for a in s.answers for i in a.intents]
            for intent in own:
                if intent in intent_owner and intent_owner[intent] != s.id:
                    problems.append(
                        f"{where}: intent «{intent}» brukes også av «{intent_owner[intent]}» – "
                        "et intent kan bare høre til én seksjon"
                    )
                intent_owner[intent] = s.id
            for a in s.answers:
                for ref in a.see_also + a.contacts_from:
                    if ref not in self.sections:
                        problems.append(f"{where}: svaret «{a.id}» viser til ukjent seksjon «{ref}»")
            for intent in s.intents:
                if not self.answers_for(intent):
                    problems.append(f"{where}: intent «{intent}» har ikke noe svar")
        return problems

    # -- look-ups --------------------------------------------------------------------------
    def section(self, section_id: str) -> Section:
        return self.sections[section_id]

    def by_heading(self, heading: str) -> Section | None:
        return self._by_heading.get(heading)

    def for_intent(self, intent: str) -> Section | None:
        return self._by_intent.get(intent)

    def for_service(self, service: str) -> Section | None:
        return self._by_service.get(service)

    @property
    def intents(self) -> set[str]:
        return set(self._by_intent)

    def children(self, section: Section) -> list[Section]:
        return [s for s in self.sections.values() if s.parent == section.id]

    def path(self, section: Section) -> tuple[str, ...]:
        """Headings from the top of the guideline down to this section."""
        chain = [section.heading]
        parent = section.parent
        while parent:
            node = self.sections[parent]
            chain.append(node.heading)
            parent = node.parent
        return tuple(reversed(chain))

    def citation(self, section: Section) -> Citation:
        path = self.path(section)
        if section.heading == self.document.title:  # the untitled introduction
            shown = (self.document.title, section.label)
        else:
            shown = (self.document.title,) + path
        return Citation(
            id=section.id,
            section=section.heading,
            path=path,
            url=self.document.url,
            source_line="Kilde: " + " › ".join(shown),
        )

    def answers_for(self, intent: str) -> list[Answer]:
        section = self._by_intent.get(intent)
        if not section:
            return []
        specific = [a for a in section.answers if intent in a.intents]
        if specific:
            return specific
        if intent in section.intents:
            return [a for a in section.answers if not a.intents]
        return []

    def best_answer(self, intent: str, message: str) -> Answer | None:
        """The answer for `intent` whose keywords best match the message; the first on a tie."""
        candidates = self.answers_for(intent)
        if not candidates:
            return None
        folded = fold(message)
        best, best_score = candidates[0], 0
        for answer in candidates:
            score = sum(
                len(kw) for kw in answer.keywords if re.search(r"(?<!\w)" + re.escape(fold(kw)), folded)
            )
            if score > best_score:
                best, best_score = answer, score
        return best

    def full_text(self, section: Section) -> str:
        """The section's own text, or for a chapter heading without text, its subsections'."""
        if section.body:
            return "\n\n".join(block.render() for block in section.body)
        parts = []
        for child in self.children(section):
            parts.append(f"{child.heading}\n{self.full_text(child)}")
        return "\n\n".join(parts)

    def contacts(self, section: Section) -> tuple[Contact, ...]:
        return section.contacts


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _parse_section(item: Any, filename: str, problems: list[str]) -> Section | None:
    if not isinstance(item, dict):
        problems.append(f"{filename}:?: hver seksjon må være en mapping")
        return None
    line = item.get("__line__", 0)
    where = f"{filename}:{line}"
    ok = True
    for key in ("id", "heading", "label"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(f"{where}: mangler «{key}»")
            ok = False
    if ok and not _ID.match(item["id"]):
        problems.append(f"{where}: id «{item['id']}» skal være små bokstaver, tall og bindestrek")
    body: list[Block] = []
    for block in item.get("body") or []:
        if isinstance(block, str) and block.strip():
            body.append(Block(text=block.strip()))
        elif isinstance(block, dict) and isinstance(block.get("list"), list) and block["list"]:
            body.append(Block(items=tuple(str(x).strip() for x in block["list"])))
        else:
            problems.append(f"{where}: ugyldig tekstblokk i «body»: {block!r}")
    links = []
    for raw in item.get("links") or []:
        if not isinstance(raw, dict) or not raw.get("title") or not str(raw.get("url", "")).startswith(
            ("https://", "http://", "mailto:")
        ):
            problems.append(f"{filename}:{_line(raw, line)}: lenke må ha title og url (https:// eller mailto:)")
            continue
        links.append(Link(title=str(raw["title"]), url=str(raw["url"])))
    contacts = []
    for raw in item.get("contacts") or []:
        cl = f"{filename}:{_line(raw, line)}"
        if not isinstance(raw, dict) or not raw.get("organisation"):
            problems.append(f"{cl}: kontakt må ha «organisation»")
            continue
        phone, email, web = (str(raw.get(k) or "") for k in ("phone", "email", "web"))
        if not (phone or email or web):
            problems.append(f"{cl}: kontakt må ha telefon, e-post eller nettside")
        if phone and not _PHONE.match(phone):
            problems.append(f"{cl}: telefonnummeret «{phone}» er ikke gyldig (bare sifre og mellomrom)")
        if email and not _EMAIL.match(email):
            problems.append(f"{cl}: e-postadressen «{email}» er ikke gyldig")
        contacts.append(
            Contact(
                organisation=str(raw["organisation"]),
                role=str(raw.get("role") or ""),
                phone=phone,
                email=email,
                web=web,
                url=str(raw.get("url") or ""),
            )
        )
    answers = []
    for raw in item.get("answers") or []:
        al = f"{filename}:{_line(raw, line)}"
        if not isinstance(raw, dict) or not raw.get("id") or not str(raw.get("text") or "").strip():
            problems.append(f"{al}: svar må ha «id» og «text»")
            continue
        answers.append(
            Answer(
                id=str(raw["id"]),
                text=str(raw["text"]).strip(),
                keywords=_strs(raw.get("keywords")),
                intents=_strs(raw.get("intents")),
                see_also=_strs(raw.get("see_also")),
                contacts_from=_strs(raw.get("contacts_from")),
            )
        )
    if not answers:
        problems.append(f"{where}: seksjonen har ingen svar («answers»)")
    if not ok:
        return None
    return Section(
        id=item["id"],
        heading=item["heading"].strip(),
        parent=item.get("parent"),
        label=item["label"].strip(),
        intents=_strs(item.get("intents")),
        body=tuple(body),
        links=tuple(links),
        contacts=tuple(contacts),
        answers=tuple(answers),
        service=item.get("service"),
        contact_note=" ".join(str(item.get("contact_note") or "").split()),
        file=filename,
        line=line,
    )


def _line(raw: Any, default: int) -> int:
    return raw.get("__line__", default) if isinstance(raw, dict) else default
