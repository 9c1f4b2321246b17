"""`veiviser content validate`: `content/`, `nlu/`, `domain/`, `config.yml`, the actions and the
evaluation set, checked together, so a maintainer finds every mistake before training.

Every problem names the file and line and says how to fix it: `path:line: what is wrong — how to fix`.

What is checked:

* `content/` loads (`ContentStore.load`: headings, labels, contacts, links, answers, references).
* Every intent in `domain/` has training examples, a rule, and what its action needs; every intent in
  `nlu/` is declared in `domain/`; rules name known intents and actions or responses.
* Every section is reachable: it claims an intent, and that intent's rule goes to an action that
  answers from the section.
* No training example stands under two intents, and no evaluation question is also a training
  example (compared with case, whitespace, æøå, accents and end punctuation folded away); no example
  stands twice under one intent (there «vapen» next to «våpen» is deliberate); every heading the
  evaluation set expects exists.
* Every service a section answers for has a synonym list in `nlu/`, so users can name it.
* `config.yml`: language (the guideline's), a pipeline with a FallbackClassifier whose intent
  `nlu_fallback` has a rule, policies with a RulePolicy whose fallback action exists.

What an action needs is read from its code in `actions/`, not from a list kept here. An action whose
code looks up `for_intent`, `best_answer` or `answers_for` with the intent of the latest message
answers from the section that claims that intent; one that calls `phrase(domain, f"utter_{intent}")`
with it needs that response. Responses, section ids, services and suggested intents the actions name
literally must exist too.
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

import yaml
from rasa.shared.core.constants import DEFAULT_ACTION_NAMES, DEFAULT_INTENTS

from bot.content import ContentError, ContentStore, fold

OUT_OF_SCOPE = "out_of_scope"
EVALUATION_FILE = Path("tests") / "eval" / "questions.yml"
_INTENT_LOOKUPS = {"for_intent", "best_answer", "answers_for"}
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
_CONTENT_PROBLEM = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+|\?): (?P<message>.*)$", re.DOTALL)


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Where:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One mistake: `check` groups problems of a kind (for tests and summaries)."""

    check: str
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    problems: list[Problem]
    counts: dict[str, int]
    project: "Project"

    @property
    def ok(self) -> bool:
        return not self.problems

    def of(self, check: str) -> list[Problem]:
        return [p for p in self.problems if p.check == check]

    def summary(self) -> str:
        c = self.counts
        return (
            f"Alt stemmer: {c['sections']} avsnitt med {c['answers']} svar i content/; "
            f"{c['intents']} intenter, {c['examples']} treningseksempler og {c['rules']} regler i nlu/ og domain/; "
            f"{c['responses']} faste svar og {c['actions']} handlinger; config.yml med FallbackClassifier; "
            f"{c['questions']} evalueringsspørsmål."
        )


# -- YAML that remembers lines -----------------------------------------------------------------------
class _Text(str):
    """A YAML string that remembers the line it starts on, and whether it is a `|` block (whose
    lines are the file's lines, one for one, from the next line on)."""

    line: int = 0
    block: bool = False


class _Loader(yaml.SafeLoader):
    pass


def _construct_text(loader: _Loader, node: yaml.ScalarNode) -> _Text:
    text = _Text(loader.construct_scalar(node))
    text.line = node.start_mark.line + 1
    text.block = node.style == "|"
    return text


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_text)


def _line(value: Any, default: int = 1) -> int:
    return getattr(value, "line", default)


def _first_line(mapping: Any, default: int = 1) -> int:
    """The line of a mapping: the line of its first key."""
    if isinstance(mapping, dict):
        for key in mapping:
            return _line(key, default)
    return default


# -- the project -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paths:
    root: Path
    content: Path

    @classmethod
    def from_settings(cls, settings: Any) -> "Paths":
        return cls(Path(settings.root), Path(settings.content_dir))

    @property
    def domain(self) -> Path:
        return self.root / "domain"

    @property
    def nlu(self) -> Path:
        return self.root / "nlu"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def actions(self) -> Path:
        return self.root / "actions"

    @property
    def questions(self) -> Path:
        return self.root / EVALUATION_FILE

    def show(self, path: Path) -> str:
        """A path as the maintainer types it: relative to the project when it is inside it."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def at(self, path: Path, line: int) -> Where:
        return Where(self.show(path), line)


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    where: Where


@dataclass(frozen=True)
class Route:
    """A rule step pair: this intent is answered by this action (or response)."""

    intent: str
    action: str
    intent_at: Where
    action_at: Where


@dataclass(frozen=True)
class Question:
    q: str
    expect: str
    where: Where
    expect_at: Where


@dataclass
class ActionCode:
    """What an action in `actions/` needs, read from its code."""

    name: str
    where: Where
    answers_intent: bool = False  # answers the message's intent from the section that claims it
    response_templates: set[tuple[str, str]] = field(default_factory=set)  # (prefix, suffix) around the intent


@dataclass(frozen=True)
class CodeRef:
    kind: str  # "response", "section", "service" or "intent"
    value: str
    where: Where


@dataclass
class Project:
    paths: Paths
    problems: list[Problem] = field(default_factory=list)
    store: ContentStore | None = None
    content_language: str = ""
    content_intents: dict[tuple[str, str], Where] = field(default_factory=dict)  # (section id, intent) → where
    section_at: dict[str, Where] = field(default_factory=dict)
    domain_intents: dict[str, Where] = field(default_factory=dict)
    responses: dict[str, Where] = field(default_factory=dict)
    actions: dict[str, Where] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    example_intents: dict[str, Where] = field(default_factory=dict)  # intent → its `- intent:` line
    synonyms: dict[str, Where] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    config: dict[str, Any] | None = None
    questions: list[Question] = field(default_factory=list)
    code: dict[str, ActionCode] = field(default_factory=dict)
    code_refs: list[CodeRef] = field(default_factory=list)

    def problem(self, check: str, where: Where, what: str, fix: str) -> None:
        self.problems.append(Problem(check, where, f"{what} — {fix}"))

    def read(self, path: Path, *, report: bool = True) -> Any:
        """A YAML file with line-aware strings, or None (and a problem, if `report`) when it cannot
        be read."""
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
        except FileNotFoundError:
            if report:
                self.problem("file", self.paths.at(path, 0), "filen mangler", "legg den tilbake (se git log)")
        except OSError as exc:
            if report:
                self.problem("file", self.paths.at(path, 0), f"kan ikke lese filen ({exc.strerror})",
                             "sjekk at filen kan leses")
        except yaml.YAMLError as exc:
            if not report:
                return None
            mark = getattr(exc, "problem_mark", None)
            self.problem("file", self.paths.at(path, mark.line + 1 if mark else 1),
                         f"ugyldig YAML ({getattr(exc, 'problem', None) or exc})",
                         "rett innrykk, kolon eller anførselstegn på linjen")
        return None

    @property
    def routed(self) -> dict[str, Route]:
        """The first rule for each intent."""
        out: dict[str, Route] = {}
        for route in self.routes:
            out.setdefault(route.intent, route)
        return out

    @property
    def answering(self) -> list[str]:
        """The actions that answer an intent from the section that claims it."""
        return sorted(name for name, code in self.code.items() if code.answers_intent)

    @property
    def known_actions(self) -> set[str]:
        return set(self.actions) | set(self.responses) | set(DEFAULT_ACTION_NAMES)


def example_key(text: str, *, letters: bool = True) -> str:
    """A training example or question as compared: annotations removed, case, whitespace and end
    punctuation folded away, and with `letters` also æøå and accents («våpen» = «vapen»)."""
    plain = _ANNOTATION.sub(r"\1", text).lower()
    return " ".join((fold(plain) if letters else plain).strip(" ?!.").split())


def load_project(paths: Paths) -> Project:
    project = Project(paths)
    _load_content(project)
    _load_domain(project)
    _load_nlu(project)
    project.config = _mapping(project.read(paths.config))
    _load_questions(project)
    _scan_actions(project)
    return project


def _mapping(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) else None


def _load_content(project: Project) -> None:
    paths = project.paths
    try:  # not strict: whatever loads is still checked against the rest
        project.store = ContentStore.load(paths.content, strict=False)
        content_problems = project.store.problems
    except ContentError as exc:
        content_problems = exc.problems
    project.problems.extend(_content_problem(paths, text) for text in content_problems)
    # The loader has reported what cannot be read; here only the lines of the intents are wanted.
    document = _mapping(project.read(paths.content / "document.yml", report=False)) or {}
    project.content_language = str(document.get("language") or "")
    for path in sorted((paths.content / "sections").glob("*.yml")):
        data = _mapping(project.read(path, report=False))
        for item in (data or {}).get("sections") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            project.section_at[item["id"]] = paths.at(path, _first_line(item))
            claims = list(item.get("intents") or [])
            for answer in item.get("answers") or []:
                if isinstance(answer, dict):
                    claims.extend(answer.get("intents") or [])
            for intent in claims:
                project.content_intents.setdefault((item["id"], str(intent)), paths.at(path, _line(intent)))


def _content_problem(paths: Paths, text: str) -> Problem:
    """A `ContentStore` problem (`04-tjenester.yml:12: …`) with its path from the project root."""
    match = _CONTENT_PROBLEM.match(text)
    if not match:
        return Problem("content", paths.at(paths.content, 0), text)
    name, line = match["file"], match["line"]
    path = paths.content / name if name == "document.yml" else paths.content / "sections" / name
    return Problem("content", paths.at(path, int(line) if line.isdigit() else 0), match["message"])


def _load_domain(project: Project) -> None:
    paths = project.paths
    files = sorted(paths.domain.glob("*.yml"))
    if not files:
        project.problem("domain", paths.at(paths.domain, 0), "ingen domenefiler", "legg domenet i domain/*.yml")
    for path in files:
        data = _mapping(project.read(path)) or {}
        for item in data.get("intents") or []:
            name = next(iter(item)) if isinstance(item, dict) and item else item
            _declare(project, project.domain_intents, str(name), paths.at(path, _line(name)), "intentet")
        for name in (data.get("responses") or {}):
            _declare(project, project.responses, str(name), paths.at(path, _line(name)), "svaret")
        for name in data.get("actions") or []:
            _declare(project, project.actions, str(name), paths.at(path, _line(name)), "handlingen")


def _declare(project: Project, table: dict[str, Where], name: str, where: Where, what: str) -> None:
    if name in table:
        project.problem("domain", where, f"{what} «{name}» er deklarert to ganger (også i {table[name]})",
                        "fjern den ene")
        return
    table[name] = where


def _load_nlu(project: Project) -> None:
    paths = project.paths
    for path in sorted(paths.nlu.glob("*.yml")):
        data = _mapping(project.read(path)) or {}
        for item in data.get("nlu") or []:
            if not isinstance(item, dict):
                continue
            if "intent" in item:
                _load_examples(project, path, item)
            elif "synonym" in item:
                project.synonyms.setdefault(str(item["synonym"]), paths.at(path, _line(item["synonym"])))
        for rule in (data.get("rules") or []) + (data.get("stories") or []):
            _load_steps(project, path, rule)


def _load_examples(project: Project, path: Path, item: dict[str, Any]) -> None:
    intent = str(item["intent"])
    where = project.paths.at(path, _line(item["intent"]))
    project.example_intents.setdefault(intent, where)
    block = item.get("examples")
    if not isinstance(block, str):
        project.problem("example", where, f"intentet «{intent}» har ingen «examples: |»",
                        "skriv eksemplene som en blokk: «examples: |» og ett «- eksempel» per linje")
        return
    first = block.line + 1 if getattr(block, "block", False) else _line(block)
    for offset, raw in enumerate(block.splitlines()):
        line = raw.strip()
        if line.startswith("- ") and line[2:].strip():
            project.examples.append(Example(intent, line[2:].strip(), project.paths.at(path, first + offset)))


def _load_steps(project: Project, path: Path, rule: Any) -> None:
    steps = rule.get("steps") if isinstance(rule, dict) else None
    if not isinstance(steps, list):
        return
    pending: list[tuple[str, Where]] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        if "intent" in step:
            pending = [(str(step["intent"]), project.paths.at(path, _line(step["intent"])))]
        elif "or" in step and isinstance(step["or"], list):
            pending = [(str(s["intent"]), project.paths.at(path, _line(s["intent"])))
                       for s in step["or"] if isinstance(s, dict) and "intent" in s]
        elif "action" in step:
            action_at = project.paths.at(path, _line(step["action"]))
            for intent, intent_at in pending:
                project.routes.append(Route(intent, str(step["action"]), intent_at, action_at))
            pending = []


def _load_questions(project: Project) -> None:
    path = project.paths.questions
    if not path.exists():
        return
    data = _mapping(project.read(path)) or {}
    for item in data.get("questions") or []:
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            continue
        expect = item.get("expect")
        expect_at = project.paths.at(path, _line(expect, _line(item["q"])))
        project.questions.append(Question(item["q"], str(expect or ""), project.paths.at(path, _line(item["q"])),
                                          expect_at))


# -- reading the actions -----------------------------------------------------------------------------
def _scan_actions(project: Project) -> None:
    """What every action class needs (with what its base classes need), and what the code names."""
    paths = project.paths
    classes: dict[str, tuple[ast.ClassDef, Path, dict[str, ast.expr]]] = {}
    for path in sorted(paths.actions.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            project.problem("action", paths.at(path, exc.lineno or 1), f"Python-feil ({exc.msg})", "rett koden")
            continue
        constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (node, path, constants)
            elif isinstance(node, ast.Call):
                project.code_refs.extend(_literal_refs(node, path, constants, paths))

    own: dict[str, ActionCode] = {}
    for name, (node, path, _) in classes.items():
        own[name] = _action_code(node, paths.at(path, node.lineno))

    def needs(name: str, seen: frozenset[str] = frozenset()) -> ActionCode:
        code = ActionCode(own[name].name, own[name].where, own[name].answers_intent,
                          set(own[name].response_templates))
        for base in classes[name][0].bases:
            if isinstance(base, ast.Name) and base.id in own and base.id not in seen:
                inherited = needs(base.id, seen | {name})
                code.answers_intent |= inherited.answers_intent
                code.response_templates |= inherited.response_templates
        return code

    for name in own:
        code = needs(name)
        if code.name:
            project.code[code.name] = code


def _action_code(node: ast.ClassDef, where: Where) -> ActionCode:
    code = ActionCode("", where)
    for method in node.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if method.name == "name":
            for ret in ast.walk(method):
                if isinstance(ret, ast.Return) and isinstance(getattr(ret.value, "value", None), str):
                    code.name = ret.value.value
        intent_names = _message_intent_names(method)
        for call in ast.walk(method):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            func = _func_name(call)
            if func in _INTENT_LOOKUPS and _uses(call.args[0], intent_names):
                code.answers_intent = True
            if func == "phrase" and len(call.args) > 1 and isinstance(call.args[1], ast.JoinedStr):
                template = _template(call.args[1], intent_names)
                if template:
                    code.response_templates.add(template)
    return code


def _message_intent_names(method: ast.AST) -> set[str]:
    """Variables that hold the intent of the latest message."""
    names: set[str] = set()
    for node in ast.walk(method):
        if isinstance(node, ast.Assign) and _is_message_intent(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_message_intent(expr: ast.expr) -> bool:
    parts = list(ast.walk(expr))
    if any(isinstance(n, ast.Attribute) and n.attr == "get_intent_of_latest_message" for n in parts):
        return True
    return (any(isinstance(n, ast.Attribute) and n.attr == "latest_message" for n in parts)
            and any(isinstance(n, ast.Constant) and n.value == "intent" for n in parts))


def _uses(expr: ast.expr, names: set[str]) -> bool:
    return (isinstance(expr, ast.Name) and expr.id in names) or _is_message_intent(expr)


def _template(expr: ast.JoinedStr, intent_names: set[str]) -> tuple[str, str] | None:
    """`f"utter_{intent}"` → ("utter_", "") when the only placeholder is the message's intent."""
    values = expr.values
    holes = [i for i, v in enumerate(values) if isinstance(v, ast.FormattedValue)]
    if len(holes) != 1 or not _uses(values[holes[0]].value, intent_names):
        return None
    text = ["".join(str(v.value) for v in part if isinstance(v, ast.Constant))
            for part in (values[:holes[0]], values[holes[0] + 1:])]
    return text[0], text[1]


def _func_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return ""


def _literal_refs(call: ast.Call, path: Path, constants: dict[str, ast.expr], paths: Paths) -> Iterator[CodeRef]:
    func = _func_name(call)
    args = call.args

    def literal(expr: ast.expr) -> str | None:
        return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None

    if func == "phrase" and len(args) > 1 and literal(args[1]):
        yield CodeRef("response", literal(args[1]), paths.at(path, args[1].lineno))
    elif func == "section" and args and literal(args[0]):
        yield CodeRef("section", literal(args[0]), paths.at(path, args[0].lineno))
    elif func == "for_service" and args and literal(args[0]):
        yield CodeRef("service", literal(args[0]), paths.at(path, args[0].lineno))
    elif func in _INTENT_LOOKUPS and args and literal(args[0]):
        yield CodeRef("intent", literal(args[0]), paths.at(path, args[0].lineno))
    elif func == "suggestions_for" and args:
        for node in ast.walk(args[0]):
            lists = [constants[node.id]] if isinstance(node, ast.Name) and node.id in constants else [node]
            for value in lists:
                if isinstance(value, (ast.List, ast.Tuple)):
                    for elt in value.elts:
                        if literal(elt):
                            yield CodeRef("intent", literal(elt), paths.at(path, elt.lineno))


# -- checks ------------------------------------------------------------------------------------------
def check_config(project: Project) -> None:
    config, where = project.config, project.paths.at(project.paths.config, 1)
    if config is None:
        if not any(p.where.path == where.path for p in project.problems):
            project.problem("config", where, "config.yml er ikke en mapping",
                            "skriv language, pipeline og policies på øverste nivå")
        return
    language = config.get("language")
    if not language:
        project.problem("config", where, "config.yml mangler «language»", "skriv «language: nb»")
    elif project.content_language and str(language) != project.content_language:
        project.problem("config", project.paths.at(project.paths.config, _line(language)),
                        f"språket «{language}» er ikke veilederens («{project.content_language}» i document.yml)",
                        "bruk samme språkkode begge steder")
    pipeline = _components(project, config, "pipeline", where)
    policies = _components(project, config, "policies", where)
    fallback = pipeline.get("FallbackClassifier")
    if pipeline and fallback is None:
        project.problem("config", _key_at(project, config, "pipeline"), "pipeline har ingen FallbackClassifier",
                        "legg til «- name: FallbackClassifier» med threshold, så usikre spørsmål får oppklaring")
    elif fallback is not None:
        for key in ("threshold", "ambiguity_threshold"):
            value = fallback.get(key)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value < 1):
                project.problem("config", project.paths.at(project.paths.config, _first_line(fallback)),
                                f"FallbackClassifier: {key} er {value!r}", "bruk et tall mellom 0 og 1, f.eks. 0.4")
        if "nlu_fallback" not in project.routed:
            project.problem("rule", project.paths.at(project.paths.config, _first_line(fallback)),
                            "FallbackClassifier gir intentet nlu_fallback, men ingen regel svarer på det",
                            "legg til en regel i nlu/rules.yml: intent nlu_fallback → action_clarify")
    rule_policy = policies.get("RulePolicy")
    if policies and rule_policy is None and project.routes:
        project.problem("config", _key_at(project, config, "policies"), "policies har ingen RulePolicy",
                        "legg til «- name: RulePolicy», ellers brukes ikke reglene i nlu/")
    if rule_policy is not None:
        name = rule_policy.get("core_fallback_action_name")
        if name and str(name) not in project.known_actions:
            project.problem("config", project.paths.at(project.paths.config, _line(name)),
                            f"RulePolicy: core_fallback_action_name «{name}» er ikke en kjent handling",
                            "skriv navnet på en handling fra «actions:» i domain/")
    if fallback is None and "nlu_fallback" in project.routed:
        route = project.routed["nlu_fallback"]
        project.problem("rule", route.intent_at, "regelen svarer på nlu_fallback, men config.yml har ingen "
                        "FallbackClassifier", "legg FallbackClassifier til i pipeline, eller fjern regelen")


def _key_at(project: Project, mapping: dict[str, Any], key: str) -> Where:
    line = next((_line(k) for k in mapping if k == key), 1)
    return project.paths.at(project.paths.config, line)


def _components(project: Project, config: dict[str, Any], key: str, where: Where) -> dict[str, dict[str, Any]]:
    items = config.get(key)
    if not isinstance(items, list) or not items:
        project.problem("config", _key_at(project, config, key) if key in config else where,
                        f"config.yml mangler «{key}» (eller listen er tom)",
                        f"skriv «{key}:» med minst én «- name: …»")
        return {}
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or not item.get("name"):
            project.problem("config", project.paths.at(project.paths.config, _first_line(item, where.line)),
                            f"et element i «{key}» mangler «name»", "skriv «- name: Komponent»")
            continue
        found.setdefault(str(item["name"]), item)
    return found


def check_intents(project: Project) -> None:
    """Domain, examples, rules and actions agree; every intent gets an answer."""
    declared, routed = project.domain_intents, project.routed
    for intent, where in project.example_intents.items():
        if intent not in declared:
            project.problem("intent", where, f"intentet «{intent}» har eksempler, men står ikke i domain/",
                            "legg det til under «intents:» i domain/ (eller rett skrivefeilen)")
    with_examples = {e.intent for e in project.examples}
    for intent, where in declared.items():
        if intent not in with_examples:
            project.problem("intent", where, f"intentet «{intent}» har ingen treningseksempler i nlu/",
                            "legg til «- intent: " + intent + "» med eksempler i nlu/")
        if intent not in routed:
            project.problem("intent", where, f"intentet «{intent}» har ingen regel",
                            f"legg til en regel i nlu/rules.yml som sender det til {' eller '.join(project.answering)} "
                            "(svar fra veilederen) eller en annen handling")
    first: dict[str, Route] = {}
    for route in project.routes:
        if route.intent not in declared and route.intent not in DEFAULT_INTENTS:
            project.problem("rule", route.intent_at,
                            f"regelen bruker intentet «{route.intent}», som ikke står i domain/",
                            "legg intentet til i domain/ eller rett navnet")
        if route.action not in project.known_actions:
            project.problem("rule", route.action_at,
                            f"«{route.action}» er verken en handling eller et fast svar i domain/",
                            "skriv en handling fra «actions:» eller et svar fra «responses:» i domain/")
        earlier = first.setdefault(route.intent, route)
        if earlier.action != route.action:
            project.problem("rule", route.intent_at,
                            f"intentet «{route.intent}» sendes til «{route.action}» her, men til «{earlier.action}» "
                            f"i {earlier.intent_at}", "behold bare én regel for intentet")
        code = project.code.get(route.action)
        if code is None:
            continue
        if code.answers_intent:
            _needs_section(project, route)
        for prefix, suffix in code.response_templates:
            response = f"{prefix}{route.intent}{suffix}"
            if response not in project.responses:
                project.problem("response", route.intent_at,
                                f"«{route.action}» svarer på «{route.intent}» med svaret «{response}», som mangler",
                                f"legg til «{response}:» under «responses:» i domain/")
    for name, where in project.actions.items():
        if name not in project.code:
            project.problem("action", where, f"handlingen «{name}» finnes ikke i actions/",
                            "skriv den i actions/*.py, eller fjern den fra domain/")
    for name, code in project.code.items():
        if name not in project.actions:
            project.problem("action", code.where, f"handlingen «{name}» står ikke i domain/",
                            "legg den til under «actions:» i domain/core.yml")


def _needs_section(project: Project, route: Route) -> None:
    store = project.store
    if store is None:
        return
    if store.for_intent(route.intent) is None:  # (a section without an answer is the loader's to report)
        project.problem("section", route.intent_at,
                        f"«{route.action}» svarer fra veilederen, men ingen seksjon i content/ har intentet "
                        f"«{route.intent}»",
                        f"legg «{route.intent}» til under «intents:» i avsnittet som svarer på det")


def check_sections(project: Project) -> None:
    """Every section is reachable by an intent whose action answers from the section."""
    store = project.store
    if store is None:
        return
    answering, routed = project.answering, project.routed
    for section in store.sections.values():
        where = project.section_at.get(section.id, Where(section.file, section.line))
        claims = [(intent, at) for (sid, intent), at in project.content_intents.items() if sid == section.id]
        if not claims:
            project.problem("section", where, f"avsnittet «{section.heading}» kan ikke nås: ingen intent peker hit",
                            "legg til «intents: [ask_…]», og intentet med eksempler i nlu/ og domain/")
        for intent, at in claims:
            if intent not in project.domain_intents:
                close = difflib.get_close_matches(intent, list(project.domain_intents), n=1)
                hint = f"mente du «{close[0]}»?" if close else "legg det til i domain/ med eksempler i nlu/"
                project.problem("section", at, f"intentet «{intent}» står ikke i domain/", hint)
            elif intent in routed and routed[intent].action not in answering:
                project.problem("section", at,
                                f"intentet «{intent}» besvares av «{routed[intent].action}», ikke fra dette avsnittet",
                                f"fjern intentet her, eller send det til {' eller '.join(answering)} i nlu/rules.yml")


def check_examples(project: Project) -> None:
    """No training example under two intents (even with æøå written differently), and none twice
    under one intent (there a variant without æøå is deliberate: people type that way)."""
    seen: dict[str, Example] = {}
    repeated: dict[tuple[str, str], Example] = {}
    for example in project.examples:
        other = seen.setdefault(example_key(example.text), example)
        if other.intent != example.intent:
            project.problem("example", example.where,
                            f"eksempelet «{example.text}» står under både «{other.intent}» ({other.where}) "
                            f"og «{example.intent}»", "behold det bare under intentet det hører til")
            continue
        first = repeated.setdefault((example.intent, example_key(example.text, letters=False)), example)
        if first is not example:
            project.problem("example", example.where,
                            f"eksempelet «{example.text}» står to ganger under «{example.intent}» (også {first.where})",
                            "fjern det ene")


def check_evaluation(project: Project) -> None:
    """Evaluation questions are not training examples, and expect headings that exist."""
    trained: dict[str, Example] = {}
    for example in project.examples:
        trained.setdefault(example_key(example.text), example)
    headings = {s.heading for s in project.store.sections.values()} if project.store else None
    for question in project.questions:
        copy = trained.get(example_key(question.q))
        if copy:
            project.problem("evaluation", question.where,
                            f"evalueringsspørsmålet «{question.q}» er også treningseksempel under «{copy.intent}» "
                            f"({copy.where})", "skriv spørsmålet om, eller fjern eksempelet fra nlu/ (ellers måler "
                            "evalueringen bare det modellen har pugget)")
        if headings is not None and question.expect != OUT_OF_SCOPE and question.expect not in headings:
            close = difflib.get_close_matches(question.expect, sorted(headings), n=1)
            project.problem("evaluation", question.expect_at,
                            f"forventet overskrift «{question.expect}» finnes ikke i content/",
                            f"mente du «{close[0]}»?" if close else
                            f"skriv en overskrift nøyaktig som i content/sections, eller {OUT_OF_SCOPE}")


def check_code(project: Project) -> None:
    """What the actions name literally exists: responses, sections, services, suggested intents."""
    store = project.store
    for ref in project.code_refs:
        if ref.kind == "response" and ref.value not in project.responses:
            project.problem("response", ref.where, f"svaret «{ref.value}» brukes i koden, men finnes ikke i domain/",
                            f"legg til «{ref.value}:» under «responses:» i domain/")
        elif ref.kind == "intent" and ref.value not in project.domain_intents:
            project.problem("intent", ref.where, f"koden bruker intentet «{ref.value}», som ikke står i domain/",
                            "rett navnet i koden, eller legg intentet til i domain/")
        if store is None:
            continue
        if ref.kind == "section" and ref.value not in store.sections:
            project.problem("section", ref.where, f"koden bruker avsnittet «{ref.value}», som ikke finnes i content/",
                            "gi avsnittet tilbake den id-en, eller rett id-en i koden")
        elif ref.kind == "service" and store.for_service(ref.value) is None:
            project.problem("section", ref.where, f"koden bruker tjenesten «{ref.value}», men ingen seksjon har "
                            f"«service: {ref.value}»", "legg «service:» tilbake på avsnittet")


def check_services(project: Project) -> None:
    """Every service a section answers for is an entity value users can name (a synonym list)."""
    if project.store is None:
        return
    for section in project.store.sections.values():
        if section.service and section.service not in project.synonyms:
            where = project.section_at.get(section.id, Where(section.file, section.line))
            project.problem("synonym", where, f"tjenesten «{section.service}» har ingen synonymliste i nlu/",
                            f"legg til «- synonym: {section.service}» i nlu/synonyms.yml med navnene brukerne skriver")


CHECKS = (check_config, check_intents, check_sections, check_examples, check_evaluation, check_code, check_services)


def validate(paths: Paths) -> Report:
    project = load_project(paths)
    for check in CHECKS:
        check(project)
    store = project.store
    counts = {
        "sections": len(store.sections) if store else 0,
        "answers": sum(len(s.answers) for s in store.sections.values()) if store else 0,
        "intents": len(project.domain_intents),
        "examples": len(project.examples),
        "rules": len(project.routes),
        "responses": len(project.responses),
        "actions": len(project.actions),
        "questions": len(project.questions),
    }
    problems = sorted(dict.fromkeys(project.problems), key=lambda p: (p.where.path, p.where.line))
    return Report(problems, counts, project)


def run(settings: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The command: the summary on stdout and 0, or every problem on stderr and 1."""
    report = validate(Paths.from_settings(settings))
    if report.ok:
        print(report.summary(), file=out or sys.stdout)
        return 0
    err = err or sys.stderr
    for problem in report.problems:
        print(problem, file=err)
    print(f"\n{len(report.problems)} feil. Rett dem og kjør «veiviser content validate» igjen.", file=err)
    return 1
