"""`veiviser review`: what practitioners asked that went wrong, grouped, most frequent first.
`veiviser review --annotate`: the maintainer assigns each group to an intent (or marks it out of
scope), and its questions become training examples in the right file under `nlu/`.

A message is a problem when Veiviser fell back or asked back, when the model was unsure (confidence
below `--min-confidence`), or when the practitioner gave the answer 👎. Texts are stored redacted;
they are redacted once more before they are shown or written, so nothing un-redacted can surface
even from rows stored before the guard learnt a new pattern.

Grouping is simple and explainable. A question's words are lower-cased, æøå folded and punctuation
dropped; two words match when they are equal or one begins the other and both have at least four
letters ("taushetsplikt" ~ "taushetsplikten"). The most frequent wordings are placed first (the
first asked first, when equally frequent); each joins the first group whose leading wording shares
at least `SIMILARITY` of their words (matched words / all words of the two), otherwise it starts a
new group.

Annotating edits the NLU files line by line: the example goes at the end of the intent's own
`examples: |` block, with the block's indentation; everything else in the file is left as it was.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, TextIO

import yaml
from sqlalchemy import or_, select, update

from bot.content import ContentError, ContentStore, fold
from bot.guard.redact import redact
from bot.settings import Settings
from bot.store import Feedback, Message, Store

DEFAULT_MIN_CONFIDENCE = 0.6
DEFAULT_LIMIT = 20
SIMILARITY = 0.6
MAX_VARIANTS = 5  # wordings shown per group, and written as examples when it is annotated
OUT_OF_SCOPE = "out_of_scope"
EVALUATION_FILE = Path("tests") / "eval" / "questions.yml"

REASONS = {"fallback": "fallback", "clarify": "oppklaring", "low_confidence": "lav sikkerhet", "thumbs_down": "👎"}
# Intents that answer from no section of the guideline (or whose section label would mislead).
FIXED_LABELS = {
    "greet": "hilsen",
    "thanks": "takk",
    "goodbye": "avskjed",
    "help": "hva kan du hjelpe med?",
    "out_of_scope": "utenfor veilederen",
    "ask_contact": "kontaktinformasjon",
    "inform_service": "oppgir en tjeneste",
    "ask_source": "hvor står det?",
    "show_full_section": "vis hele avsnittet",
    "report_concern": "bekymring eller akutt fare",
}
NEXT_STEPS = ("Neste steg: `veiviser train` (tren en ny modell med eksemplene), så `veiviser evaluate` "
              "(sjekk at den svarer bedre) og til slutt `veiviser promote` (ta den i bruk).")

# Rasa reads `[text](entity)`, `[text]{...}` and `[text][...]` in an example as an entity annotation.
_ENTITY_MARKUP = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


# -- texts -------------------------------------------------------------------------------------
def clean(text: str) -> str:
    """One line, redacted, without control characters: fit to show and to write into YAML."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    return " ".join(redact(" ".join(text.split())).text.split())


def words(text: str) -> tuple[str, ...]:
    """The words of a text as compared: entity markup removed, lower-cased, æøå folded."""
    return tuple(re.findall(r"\w+", fold(_ENTITY_MARKUP.sub(r"\1", text))))


def key(text: str) -> str:
    """Two examples with the same key are the same example."""
    return " ".join(words(text))


def _related(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Matched words / all words of both (Jaccard, counting a word and its inflection as one)."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    unmatched = sorted(b)
    matched = 0
    for word in sorted(a):
        hit = word if word in unmatched else next((w for w in unmatched if _related(word, w)), None)
        if hit is not None:
            unmatched.remove(hit)
            matched += 1
    return matched / (len(a) + len(b) - matched)


# -- what went wrong ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    id: int
    text: str  # redacted
    intent: str | None
    confidence: float | None
    reasons: tuple[str, ...]


@dataclass
class Group:
    problems: list[Problem]
    leading: frozenset[str]  # the words of the group's most frequent wording

    @property
    def count(self) -> int:
        return len(self.problems)

    @property
    def message_ids(self) -> list[int]:
        return [p.id for p in self.problems]

    @property
    def variants(self) -> list[str]:
        """Distinct wordings, most frequent first (the first is the group's representative)."""
        by_key: dict[str, list[str]] = {}
        for p in self.problems:
            by_key.setdefault(key(p.text), []).append(p.text)
        ranked = sorted(by_key.values(), key=len, reverse=True)  # stable: first seen wins a tie
        return [Counter(texts).most_common(1)[0][0] for texts in ranked]

    @property
    def representative(self) -> str:
        return self.variants[0]

    @property
    def reasons(self) -> Counter:
        counts = Counter(r for p in self.problems for r in p.reasons)
        return Counter({r: counts[r] for r in REASONS if counts[r]})

    @property
    def guess(self) -> tuple[str | None, float | None]:
        """The intent the model chose most often, and its mean confidence."""
        intents = Counter(p.intent for p in self.problems if p.intent)
        if not intents:
            return None, None
        intent = min(intents, key=lambda i: (-intents[i], i))
        scores = [p.confidence for p in self.problems if p.intent == intent and p.confidence is not None]
        return intent, (sum(scores) / len(scores) if scores else None)


def collect(store: Store, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE, days: int | None = None,
            now: datetime | None = None) -> list[Problem]:
    """Messages not yet reviewed that fell back, were asked back, were unsure, or got 👎."""
    downvoted = select(Feedback.message_id).where(Feedback.value < 0, Feedback.message_id.is_not(None))
    query = select(Message).where(
        Message.reviewed_at.is_(None),
        or_(Message.answer_type.in_(("fallback", "clarify")), Message.confidence < min_confidence,
            Message.id.in_(downvoted)),
    )
    if days is not None:
        query = query.where(Message.created_at >= (now or datetime.utcnow()) - timedelta(days=days))
    with store.Session() as s:
        thumbs_down = set(s.execute(downvoted).scalars())
        problems = []
        for m in s.execute(query.order_by(Message.id)).scalars():
            reasons = []
            if m.answer_type in ("fallback", "clarify"):
                reasons.append(m.answer_type)
            if m.confidence is not None and m.confidence < min_confidence:
                reasons.append("low_confidence")
            if m.id in thumbs_down:
                reasons.append("thumbs_down")
            problems.append(Problem(m.id, clean(m.text), m.intent, m.confidence, tuple(reasons)))
    return problems


def group(problems: Iterable[Problem], threshold: float = SIMILARITY) -> list[Group]:
    """Similar questions together, the largest group first."""
    by_key: dict[str, list[Problem]] = {}
    for p in problems:
        by_key.setdefault(key(p.text), []).append(p)
    groups: list[Group] = []
    for k, members in sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[1][0].id)):
        found = frozenset(k.split())
        target = next((g for g in groups if similarity(found, g.leading) >= threshold), None)
        if target is None:
            groups.append(Group(list(members), found))
        else:
            target.problems.extend(members)
    groups.sort(key=lambda g: -g.count)  # stable: equal counts keep the order of their leading wording
    return groups


def mark_reviewed(store: Store, message_ids: Iterable[int]) -> None:
    with store.Session.begin() as s:
        s.execute(update(Message).where(Message.id.in_(list(message_ids))).values(reviewed_at=datetime.utcnow()))


# -- intents and their labels ------------------------------------------------------------------
def intent_labels(content_dir: Path, intents: Iterable[str]) -> dict[str, str]:
    """A short Norwegian label per intent: the section it answers from, or a fixed description."""
    try:
        content: ContentStore | None = ContentStore.load(content_dir)
    except ContentError:
        content = None
    labels = {}
    for intent in intents:
        section = content.for_intent(intent) if content else None
        labels[intent] = FIXED_LABELS.get(intent) or (section.label if section else "")
    return labels


def evaluation_keys(path: Path) -> set[str]:
    """The evaluation questions (tests/eval/questions.yml), which must never become training data
    (a deployment without tests/ has none to refuse)."""
    if not path.is_file():
        return set()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {key(str(q["q"])) for q in data.get("questions") or [] if isinstance(q, dict) and q.get("q")}


# -- the NLU files -----------------------------------------------------------------------------
class NluEditError(RuntimeError):
    """An NLU file could not be edited safely; nothing was written."""


NEW, DUPLICATE, CONFLICT, EVALUATION, UNUSABLE = "new", "duplicate", "conflict", "evaluation", "unusable"


@dataclass(frozen=True)
class Verdict:
    text: str
    status: str
    other: str = ""  # CONFLICT: the intent that already has the example; UNUSABLE: why


def _examples(block: str) -> list[str]:
    return [line.strip()[2:].strip() for line in block.splitlines() if line.strip().startswith("- ")]


def _examples_by_intent(source: str) -> dict[str, list[str]]:
    """Every intent's examples in an NLU file, sorted (an intent may have more than one block)."""
    found: dict[str, list[str]] = {}
    for item in (yaml.safe_load(source) or {}).get("nlu") or []:
        if isinstance(item, dict) and "intent" in item:
            found.setdefault(item["intent"], []).extend(_examples(str(item.get("examples") or "")))
    return {intent: sorted(items) for intent, items in found.items()}


class NluData:
    """The intents and examples under `nlu/`, and the file each intent's examples live in."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.files: dict[str, Path] = {}
        self.owner: dict[str, str] = {}  # example key → intent
        for path in sorted(self.directory.glob("*.yml")):
            for intent, examples in _examples_by_intent(path.read_text(encoding="utf-8")).items():
                self.files.setdefault(intent, path)
                for example in examples:
                    self.owner.setdefault(key(example), intent)

    @property
    def intents(self) -> list[str]:
        return list(self.files)

    def judge(self, intent: str, texts: Iterable[str], evaluation: set[str]) -> list[Verdict]:
        """What adding each text to `intent` would do, without writing anything."""
        verdicts, seen = [], set()
        for text in texts:
            k = key(text)
            if not k:
                verdicts.append(Verdict(text, UNUSABLE, "ingen ord"))
            elif _ENTITY_MARKUP.search(text):
                verdicts.append(Verdict(text, UNUSABLE, "Rasa ville lest hakeparentesene som en entitet"))
            elif k in evaluation:
                verdicts.append(Verdict(text, EVALUATION))
            elif k in seen or self.owner.get(k) == intent:
                verdicts.append(Verdict(text, DUPLICATE))
            elif k in self.owner:
                verdicts.append(Verdict(text, CONFLICT, self.owner[k]))
            else:
                verdicts.append(Verdict(text, NEW))
            seen.add(k)
        return verdicts

    def append(self, intent: str, texts: list[str]) -> Path:
        """Add `texts` at the end of the intent's examples block; the rest of the file is untouched."""
        path = self.files[intent]
        with open(path, encoding="utf-8", newline="") as f:
            source = f.read()
        edited = insert_examples(source, intent, texts)
        expected = _examples_by_intent(source)
        expected[intent] = sorted(expected.get(intent, []) + texts)
        if _examples_by_intent(edited) != expected:  # the edit must add exactly these, and nothing else
            raise NluEditError(f"{path.name}: eksemplene havnet ikke under {intent}; ingenting er skrevet")
        _write_atomically(path, edited)
        for text in texts:
            self.owner[key(text)] = intent
        return path


def insert_examples(source: str, intent: str, texts: list[str]) -> str:
    """`source` with `texts` added as `- example` lines after the last line of the intent's
    `examples: |` block, indented like the lines before them."""
    lines = source.splitlines(keepends=True)
    head_rx = re.compile(rf"^(?P<indent> *)- intent: *{re.escape(intent)} *(#.*)?$")
    head = next((i for i, line in enumerate(lines) if head_rx.match(line.rstrip("\r\n"))), None)
    if head is None:
        raise NluEditError(f"fant ikke «- intent: {intent}»")
    item_indent = len(head_rx.match(lines[head].rstrip("\r\n"))["indent"])

    def indent_of(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    block = None
    for i in range(head + 1, len(lines)):
        line = lines[i].rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if indent_of(line) <= item_indent:
            break
        if re.fullmatch(r" *examples: *\|[-+]?[1-9]?[-+]? *(#.*)?", line):
            block = i
            break
    if block is None:
        raise NluEditError(f"«{intent}» har ingen blokk «examples: |»")
    block_indent = indent_of(lines[block])

    last = None
    for i in range(block + 1, len(lines)):
        line = lines[i].rstrip("\r\n")
        if not line.strip():
            continue
        if indent_of(line) <= block_indent:
            break
        last = i
    newline = "\r\n" if lines[head].endswith("\r\n") else "\n"
    at = block if last is None else last
    indent = " " * (block_indent + 2) if last is None else lines[last][:indent_of(lines[last])]
    if not lines[at].endswith(("\n", "\r")):
        lines[at] += newline
    lines[at + 1:at + 1] = [f"{indent}- {text}{newline}" for text in texts]
    return "".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- output ------------------------------------------------------------------------------------
def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _decimal(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def _quote(text: str) -> str:
    return f"«{text}»"


def _guess_line(group_: Group, labels: dict[str, str]) -> str:
    intent, confidence = group_.guess
    if intent is None:
        return "modellen gjettet: ingenting"
    label = labels.get(intent)
    line = f"modellen gjettet: {intent}" + (f" ({label})" if label else "")
    return line + (f", sikkerhet {_decimal(confidence)}" if confidence is not None else "")


def describe(group_: Group, labels: dict[str, str]) -> list[str]:
    """A group as the listing shows it, one line per fact."""
    reasons = ", ".join(f"{REASONS[r]} ({n})" for r, n in group_.reasons.items())
    lines = [f"{group_.count} × {_quote(group_.representative)}", f"grunn: {reasons}", _guess_line(group_, labels)]
    others = group_.variants[1:]
    if others:
        shown = "; ".join(_quote(v) for v in others[:MAX_VARIANTS - 1])
        more = len(others) - (MAX_VARIANTS - 1)
        lines.append("også spurt som: " + shown + (f" (+{more} til)" if more > 0 else ""))
    return lines


def _scope(days: int | None, min_confidence: float) -> str:
    period = f"de siste {days} dagene" if days is not None else "hele lagringstiden"
    return f"{period}; fallback, oppklaring, lav sikkerhet (< {_decimal(min_confidence)}) eller 👎"


def show(store: Store, settings: Settings, *, days: int | None = None, limit: int = DEFAULT_LIMIT,
         min_confidence: float = DEFAULT_MIN_CONFIDENCE, nlu_dir: Path | None = None,
         out: TextIO | None = None) -> int:
    """`veiviser review`: the listing."""
    out = out or sys.stdout
    groups = group(collect(store, min_confidence=min_confidence, days=days))
    if not groups:
        print(f"Ingenting å gå gjennom ({_scope(days, min_confidence)}, ikke gjennomgått).", file=out)
        return 0
    nlu = NluData(nlu_dir or settings.root / "nlu")
    labels = intent_labels(settings.content_dir, nlu.intents)
    total = sum(g.count for g in groups)
    print(f"Spørsmål som gikk galt – {_count(total, 'melding', 'meldinger')} i "
          f"{_count(len(groups), 'gruppe', 'grupper')}, de vanligste først", file=out)
    print(f"({_scope(days, min_confidence)}; ikke gjennomgått ennå):\n", file=out)
    width = len(str(min(limit, len(groups))))
    for n, g in enumerate(groups[:limit], 1):
        first, *rest = describe(g, labels)
        print(f"{n:>{width}}. {first}", file=out)
        for line in rest:
            print(f"{'':>{width}}  {line}", file=out)
        print(file=out)
    if len(groups) > limit:
        print(f"… og {_count(len(groups) - limit, 'gruppe', 'grupper')} til (vis flere med --limit).", file=out)
    print("Legg dem inn i treningsdataene med `veiviser review --annotate`.", file=out)
    return 0


# -- annotating --------------------------------------------------------------------------------
@dataclass
class Tally:
    groups: int = 0
    messages: int = 0
    examples: int = 0
    out_of_scope: int = 0
    skipped: int = 0
    refused: int = 0
    written: dict[Path, Counter] = field(default_factory=dict)

    def detail(self) -> str:
        """For the audit log: counts only, never content."""
        return (f"groups={self.groups} messages={self.messages} examples={self.examples} "
                f"out_of_scope={self.out_of_scope} skipped={self.skipped} refused={self.refused}")


class Annotator:
    """One annotation session: asks about each group on `inp`, writes to `nlu`, reports on `out`."""

    def __init__(self, store: Store, nlu: NluData, labels: dict[str, str], evaluation: set[str],
                 inp: TextIO, out: TextIO):
        self.store, self.nlu, self.labels, self.evaluation = store, nlu, labels, evaluation
        self.inp, self.out = inp, out
        self.tally = Tally()

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def ask(self, prompt: str) -> str | None:
        self.out.write(prompt)
        self.out.flush()
        line = self.inp.readline()
        if not self.inp.isatty():
            self.say(line.strip())  # piped answers: show them, as a terminal would
        return line.strip() if line else None

    def choices(self, group_: Group) -> list[str]:
        guessed, _ = group_.guess
        first = [guessed] if guessed in self.nlu.files else []
        return first + [i for i in self.nlu.intents if i not in first]

    def resolve(self, answer: str, choices: list[str]) -> str | None:
        if answer.lower() == "u":
            return OUT_OF_SCOPE
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        return answer if answer in self.nlu.files else None

    def run(self, groups: list[Group]) -> None:
        for n, g in enumerate(groups, 1):
            if not self.review(g, n, len(groups)):
                self.say("Avslutter.")
                return

    def review(self, group_: Group, n: int, total: int) -> bool:
        """Ask about one group until it is settled; False when the maintainer wants to stop."""
        texts = group_.variants[:MAX_VARIANTS]
        reasons = ", ".join(f"{REASONS[r]} ({c})" for r, c in group_.reasons.items())
        self.say(f"\n[{n}/{total}] {_count(group_.count, 'melding', 'meldinger')} – {reasons}")
        for text in texts:
            self.say(f"  {_quote(text)}")
        self.say(f"  {_guess_line(group_, self.labels)}\n")
        choices = self.choices(group_)
        width = max(len(i) for i in choices)
        for number, intent in enumerate(choices, 1):
            self.say(f"  {number:>2}  {intent:<{width}}  {self.labels.get(intent, '')}".rstrip())
        self.say("   u  utenfor veilederen (out_of_scope)   h  hopp over   a  avslutt")
        while True:
            answer = self.ask(f"Velg intent (1–{len(choices)}, navn, u, h eller a): ")
            if answer is None or answer.lower() == "a":
                return False
            if answer.lower() == "h":
                self.tally.skipped += 1
                return True
            intent = self.resolve(answer, choices)
            if intent is None:
                self.say(f"Ukjent valg {_quote(answer)}.")
                continue
            if self.assign(group_, intent, texts):
                return True

    def assign(self, group_: Group, intent: str, texts: list[str]) -> bool:
        """Write the group's wordings as examples of `intent`; False (nothing written) on a conflict."""
        verdicts = self.nlu.judge(intent, texts, self.evaluation)
        conflicts = [v for v in verdicts if v.status == CONFLICT]
        if conflicts:
            for v in conflicts:
                self.say(f"  ! {_quote(v.text)} er allerede et eksempel under {v.other}; "
                         "et eksempel kan bare høre til én intent.")
            self.say("  Ingenting er skrevet. Velg en annen intent, eller h for å hoppe over.")
            return False
        new = [v.text for v in verdicts if v.status == NEW]
        try:
            path = self.nlu.append(intent, new) if new else self.nlu.files[intent]
        except NluEditError as exc:
            self.say(f"  ! Kunne ikke skrive: {exc}.")
            return False
        shown = path.relative_to(self.nlu.directory.parent)
        for v in verdicts:
            if v.status == NEW:
                self.say(f"  + {_quote(v.text)} → {shown} ({intent})")
            elif v.status == DUPLICATE:
                self.say(f"  = {_quote(v.text)} finnes allerede under {intent}")
            elif v.status == EVALUATION:
                self.say(f"  ! {_quote(v.text)} er et evalueringsspørsmål ({EVALUATION_FILE}) "
                         "og kan ikke bli et treningseksempel – ikke lagt til")
            else:
                self.say(f"  ! {_quote(v.text)} kan ikke brukes som eksempel ({v.other}) – ikke lagt til")
        mark_reviewed(self.store, group_.message_ids)
        t = self.tally
        t.groups += 1
        t.messages += group_.count
        t.examples += len(new)
        t.out_of_scope += int(intent == OUT_OF_SCOPE)
        t.refused += sum(v.status in (EVALUATION, UNUSABLE) for v in verdicts)
        if new:
            t.written.setdefault(path, Counter())[intent] += len(new)
        return True

    def summary(self) -> None:
        t = self.tally
        self.say(f"\nGjennomgått: {_count(t.groups, 'gruppe', 'grupper')} "
                 f"({_count(t.messages, 'melding', 'meldinger')}), hoppet over: {t.skipped}, "
                 f"avvist som eksempel: {t.refused}.")
        if not t.written:
            self.say("Ingen nye eksempler skrevet.")
            return
        self.say(f"Skrevet {_count(t.examples, 'nytt eksempel', 'nye eksempler')}:")
        for path, intents in t.written.items():
            added = ", ".join(f"{intent} +{n}" for intent, n in intents.items())
            self.say(f"  {path.relative_to(self.nlu.directory.parent)}: {added}")
        self.say(NEXT_STEPS)


def annotate(store: Store, settings: Settings, *, actor: str, days: int | None = None, limit: int = DEFAULT_LIMIT,
             min_confidence: float = DEFAULT_MIN_CONFIDENCE, nlu_dir: Path | None = None,
             evaluation_file: Path | None = None, inp: TextIO | None = None, out: TextIO | None = None) -> int:
    """`veiviser review --annotate`: assign each group to an intent, append it under nlu/."""
    out = out or sys.stdout
    groups = group(collect(store, min_confidence=min_confidence, days=days))[:limit]
    if not groups:
        print(f"Ingenting å gå gjennom ({_scope(days, min_confidence)}, ikke gjennomgått).", file=out)
        return 0
    nlu = NluData(nlu_dir or settings.root / "nlu")
    evaluation = evaluation_keys(evaluation_file or settings.root / EVALUATION_FILE)
    annotator = Annotator(store, nlu, intent_labels(settings.content_dir, nlu.intents), evaluation,
                          inp or sys.stdin, out)
    print(f"{_count(len(groups), 'gruppe', 'grupper')} å gå gjennom, de vanligste først. For hver: velg intenten "
          "spørsmålet burde fått (tall eller navn), u = utenfor veilederen, h = hopp over, a = avslutt.", file=out)
    try:
        annotator.run(groups)
    finally:
        store.audit(actor, "review.annotate", subject="nlu", detail=annotator.tally.detail())
    annotator.summary()
    return 0
