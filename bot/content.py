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
_WEB = re.compile(r"^(https?://)?[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(/\S*)?$", re.IGNORECASE)
_URL = re.compile(r"^(https?://[^\s/]+\.[a-z]{2,}(/\S*)?|mailto:[^@\s]+@[^@\s]+\.[a-z]{2,})$", re.IGNORECASE)
_MAX_HEADING, _MAX_LABEL = 120, 60

# The fields each record may have; anything else is a misspelt field that would be silently ignored.
_SECTION_FIELDS = {"id", "heading", "parent", "label", "intents", "body", "links", "contacts", "answers", "service",
                   "contact_note"}
_ANSWER_FIELDS = {"id", "text", "keywords", "intents", "see_also", "contacts_from"}
_LINK_FIELDS = {"title", "url"}
_CONTACT_FIELDS = {"organisation", "role", "phone", "email", "web", "url"}


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
    edition: str
    source_line: str

    def as_json(self) -> dict[str, Any]:
        return {"section": self.section, "path": list(self.path), "url": self.url, "edition": self.edition}


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
        problems.append(f"{path.name}:{line}: ugyldig YAML ({getattr(exc, 'problem', exc)}) — "
                        "rett innrykk, kolon eller anførselstegn på linjen")
        return None


class ContentStore:
    """All sections of the guideline, validated, in document order."""

    def __init__(self, document: Document, sections: Iterable[Section]):
        self.document = document
        self.problems: list[str] = []
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
    def load(cls, directory: Path | str = DEFAULT_CONTENT_DIR, *, strict: bool = True) -> "ContentStore":
        """Load `document.yml` and `sections/*.yml`; raise ContentError listing every problem.

        With `strict=False` (comparing an older edition), problems that still leave a readable
        guideline are kept in `store.problems` instead of raised.
        """
        directory = Path(directory)
        problems: list[str] = []
        doc_raw = _load_yaml(directory / "document.yml", problems) or {}
        document = None
        missing = [k for k in ("title", "publisher", "edition", "url") if not doc_raw.get(k)]
        if missing:
            problems.append(f"document.yml:1: mangler {', '.join(missing)} — "
                            "fyll inn feltet (se kommentaren øverst i filen)")
        else:
            document = Document(*(str(doc_raw[k]) for k in ("title", "publisher", "edition", "url")))

        sections: list[Section] = []
        files = sorted((directory / "sections").glob("*.yml"))
        if not files:
            problems.append(f"{directory}/sections: ingen seksjonsfiler — legg avsnittene i sections/*.yml")
        for path in files:
            raw = _load_yaml(path, problems)
            if raw is None:
                continue
            if not isinstance(raw, dict) or not isinstance(raw.get("sections"), list):
                problems.append(f"{path.name}:1: filen har ingen liste «sections:» — start filen med «sections:» "
                                "og ett «- id: …» per avsnitt")
                continue
            for item in raw["sections"]:
                section = _parse_section(item, path.name, problems)
                if section:
                    sections.append(section)
        if document is None:
            raise ContentError(problems)
        store = cls(document, sections)
        problems.extend(store._cross_check(sections))
        if problems and strict:
            raise ContentError(problems)
        store.problems = problems
        return store

    def _cross_check(self, sections: list[Section]) -> list[str]:
        problems = []
        seen_ids: set[str] = set()
        seen_headings: set[str] = set()
        intent_owner: dict[str, str] = {}
        for s in sections:
            where = f"{s.file}:{s.line}"
            if s.id in seen_ids:
                problems.append(f"{where}: id «{s.id}» finnes fra før — gi avsnittet en annen id")
            seen_ids.add(s.id)
            if s.heading in seen_headings:
                problems.append(f"{where}: overskriften «{s.heading}» finnes fra før — to avsnitt kan ikke ha "
                                "samme overskrift; slå dem sammen eller rett overskriften")
            seen_headings.add(s.heading)
            if s.parent and s.parent not in self.sections:
                problems.append(f"{where}: parent «{s.parent}» finnes ikke — skriv id-en til et avsnitt som finnes, "
                                "eller null for et kapittel")
            elif s.parent and s.id in {a.id for a in self._ancestors(self.sections[s.parent])}:
                problems.append(f"{where}: parent «{s.parent}» gjør at avsnittet ligger under seg selv — "
                                "rett parent så kjeden ender i et kapittel (parent: null)")
            if not s.body and not self.children(s):
                problems.append(f"{where}: seksjonen har verken tekst eller underavsnitt — legg teksten under «body»")
            own = list(s.intents) + [i for a in s.answers for i in a.intents]
            for intent in own:
                if intent in intent_owner and intent_owner[intent] != s.id:
                    problems.append(
                        f"{where}: intent «{intent}» brukes også av «{intent_owner[intent]}» — "
                        "et intent kan bare høre til én seksjon; fjern det fra den ene"
                    )
                intent_owner[intent] = s.id
            for a in s.answers:
                for ref in a.see_also + a.contacts_from:
                    if ref not in self.sections:
                        problems.append(f"{where}: svaret «{a.id}» viser til ukjent seksjon «{ref}» — "
                                        "skriv id-en til et avsnitt som finnes")
            for intent in s.intents:
                if not self.answers_for(intent):
                    problems.append(f"{where}: intent «{intent}» har ikke noe svar — gi seksjonen minst ett svar "
                                    "uten «intents», eller et svar med «intents: [" + intent + "]»")
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
        return tuple(s.heading for s in reversed(self._ancestors(section)))

    def _ancestors(self, section: Section) -> list[Section]:
        """The section and its parents, upwards; stops at a parent that is missing or seen before
        (the loader reports both, so a lenient load still has a path)."""
        chain, seen = [section], {section.id}
        while chain[-1].parent in self.sections and chain[-1].parent not in seen:
            seen.add(chain[-1].parent)
            chain.append(self.sections[chain[-1].parent])
        return chain

    def citation(self, section: Section) -> Citation:
        """The source line names the edition last, so a reader can tell which text an answer came
        from, and the path stays readable (and a prefix other tools and channels can match)."""
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
            edition=self.document.edition,
            source_line=f"Kilde: {' › '.join(shown)} (utgave: {self.document.edition})",
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
        problems.append(f"{filename}:?: hver seksjon må være en mapping — start avsnittet med «- id: …»")
        return None
    line = item.get("__line__", 0)
    where = f"{filename}:{line}"
    ok = True
    for key in ("id", "heading", "label"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(f"{where}: mangler «{key}» — fyll inn feltet")
            ok = False
    if ok and not _ID.match(item["id"]):
        problems.append(f"{where}: id «{item['id']}» skal være små bokstaver, tall og bindestrek — "
                        "skriv for eksempel «individuell-plan»")
    if ok:
        problems.extend(f"{where}: {p}" for p in _title_problems("overskriften", item["heading"], _MAX_HEADING))
        problems.extend(f"{where}: {p}" for p in _title_problems("knappetittelen (label)", item["label"], _MAX_LABEL))
    problems.extend(_unknown_fields(item, _SECTION_FIELDS, "avsnitt", where))
    body: list[Block] = []
    for block in item.get("body") or []:
        if isinstance(block, str) and block.strip():
            body.append(Block(text=block.strip()))
        elif isinstance(block, dict) and isinstance(block.get("list"), list) and block["list"]:
            body.append(Block(items=tuple(str(x).strip() for x in block["list"])))
        else:
            problems.append(f"{where}: ugyldig tekstblokk i «body»: {block!r} — et avsnitt er en tekst, "
                            "en punktliste er «- list: [...]»")
    links = []
    for raw in item.get("links") or []:
        ll = f"{filename}:{_line(raw, line)}"
        if not isinstance(raw, dict) or not raw.get("title") or not _URL.match(str(raw.get("url", ""))):
            problems.append(f"{ll}: lenke må ha title og url — skriv url som https://… eller mailto:…")
            continue
        problems.extend(_unknown_fields(raw, _LINK_FIELDS, "lenke", ll))
        links.append(Link(title=str(raw["title"]), url=str(raw["url"])))
    contacts = []
    for raw in item.get("contacts") or []:
        contact = _parse_contact(raw, f"{filename}:{_line(raw, line)}", problems)
        if contact:
            contacts.append(contact)
    answers = []
    answer_ids: set[str] = set()
    for raw in item.get("answers") or []:
        al = f"{filename}:{_line(raw, line)}"
        if not isinstance(raw, dict) or not raw.get("id") or not str(raw.get("text") or "").strip():
            problems.append(f"{al}: svar må ha «id» og «text» — fyll inn begge")
            continue
        problems.extend(_unknown_fields(raw, _ANSWER_FIELDS, "svar", al))
        if str(raw["id"]) in answer_ids:
            problems.append(f"{al}: svaret «{raw['id']}» finnes fra før i dette avsnittet — gi det en annen id")
        answer_ids.add(str(raw["id"]))
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
        problems.append(f"{where}: seksjonen har ingen svar («answers») — legg til minst ett svar med id og text")
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


def _title_problems(what: str, text: str, limit: int) -> list[str]:
    """A heading or label is one line of plain text, written as the guideline prints it."""
    problems = []
    if "\n" in text.strip():
        problems.append(f"{what} «{' '.join(text.split())}» går over flere linjer — skriv den på én linje")
    elif text != text.strip() or "  " in text:
        problems.append(f"{what} «{text}» har doble mellomrom eller mellomrom først/sist — fjern dem")
    if text.strip()[:1] in ("#", "*", "-", "•", ">", "_"):
        problems.append(f"{what} «{text.strip()}» begynner med et formateringstegn — skriv bare teksten")
    elif text.strip()[:1].islower():
        problems.append(f"{what} «{text.strip()}» begynner med liten bokstav — skriv den som i veilederen")
    if text.strip()[-1:] in (".", ":", ",", ";"):
        problems.append(f"{what} «{text.strip()}» slutter med «{text.strip()[-1]}» — fjern tegnet")
    if len(text.strip()) > limit:
        problems.append(f"{what} er {len(text.strip())} tegn (høyst {limit}) — er tekst fra avsnittet kommet med? "
                        "Skriv den kortere")
    return problems


def _parse_contact(raw: Any, where: str, problems: list[str]) -> Contact | None:
    if not isinstance(raw, dict) or not raw.get("organisation"):
        problems.append(f"{where}: kontakt må ha «organisation» — skriv navnet på tjenesten")
        return None
    problems.extend(_unknown_fields(raw, _CONTACT_FIELDS, "kontakt", where))
    if raw.get("phone") is not None and not isinstance(raw["phone"], str):
        problems.append(f"{where}: telefonnummeret {raw['phone']!r} står uten anførselstegn — skriv det i "
                        "anførselstegn (som phone: \"02800\"), ellers kan YAML gjøre det om til et annet tall")
    phone, email, web, url = (str(raw.get(k) or "") for k in ("phone", "email", "web", "url"))
    if not (phone or email or web):
        problems.append(f"{where}: kontakt må ha telefon, e-post eller nettside — fyll inn phone, email eller web")
    if phone and not _PHONE.match(phone):
        problems.append(f"{where}: telefonnummeret «{phone}» er ikke gyldig — bruk bare sifre og mellomrom, "
                        "som i veilederen")
    if email and not _EMAIL.match(email):
        problems.append(f"{where}: e-postadressen «{email}» er ikke gyldig — skriv den som navn@domene.no")
    if web and not _WEB.match(web):
        problems.append(f"{where}: nettsiden «{web}» er ikke gyldig — skriv adressen slik veilederen gjør, "
                        "f.eks. nav.no eller https://www.nav.no/")
    if url and not _URL.match(url):
        problems.append(f"{where}: lenken «{url}» er ikke gyldig — skriv en full adresse som begynner med "
                        "https:// (eller mailto:)")
    return Contact(
        organisation=str(raw["organisation"]),
        role=str(raw.get("role") or ""),
        phone=phone,
        email=email,
        web=web,
        url=url,
    )


def _unknown_fields(raw: dict, allowed: set[str], what: str, where: str) -> list[str]:
    unknown = sorted(str(k) for k in raw if k != "__line__" and k not in allowed)
    return [f"{where}: ukjent felt «{k}» i {what} — gyldige felt er {', '.join(sorted(allowed))}; "
            "rett skrivefeilen" for k in unknown]


def _line(raw: Any, default: int) -> int:
    return raw.get("__line__", default) if isinstance(raw, dict) else default
