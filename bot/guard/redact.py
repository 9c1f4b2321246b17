"""Masks personal data in a user message before it is stored, logged or handed to the NLU model.

    >>> redact("Ola Nordmann, fnr 010190 12345, tlf 912 34 567").text
    '[navn], fnr [fødselsnummer], tlf [telefon]'

What is masked, in this order (each stage sees the output of the one before, so a placeholder is
never matched again):

1. e-mail addresses → ``[e-post]`` (the guideline's public addresses are kept);
2. case/journal/archive numbers ("saksnr 2024/1234", "ref. 24/1234-3") → ``[saksnummer]``
   (the cue word stays, the number goes);
3. every run of 11 digits, contiguous or written with spaces, dots or a hyphen, whatever its
   checksum → ``[fødselsnummer]``; counted as "fødselsnummer" or "d-nummer" when python-stdnum
   accepts it, else "personnummer". A contiguous run of 12 or more digits (account/card numbers) →
   ``[nummer]`` (kind "nummer"), so no 11 digits of the input ever survive;
4. street addresses ("Storgata 12B", "Thorvald Meyers gate 5") and postal code + place
   ("0557 Oslo") → ``[adresse]``;
5. Norwegian phone numbers (8 digits, optional +47/0047) and foreign numbers written with
   + or 00 → ``[telefon]``, found by phonenumbers' PhoneNumberMatcher (Leniency.POSSIBLE, region NO);
   the public service numbers in data/public_numbers.txt are kept;
6. personal names → ``[navn]``, one placeholder per full name ("Ola Nordmann"): names from
   data/given_names.txt and data/surnames.txt when capitalised, and the word(s) after a cue ("han
   heter X", "klienten X", "Dr. X"; after "han heter"/"navnet hans er" also in lowercase). Names
   that are also ordinary words are restricted by data/ambiguous_names.txt ("per i dag", "Liv og
   helse", "Berg kommune"); data/allow_list.txt is never masked. A word found as a name once is
   masked everywhere in the message ("Han heter Jovan. Jovan er 17.").

The stages run again on their own output until nothing changes (normally one extra pass, only when
the first found something), so ``redact(redact(x).text).text == redact(x).text``.

`redact` never raises. On an internal error it masks every digit run, every capitalised word and
every word with "@" as ``[skjult]`` and reports the kind "uavklart" (never the unmasked text).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum.no import fodselsnummer as _fnr

__all__ = ["Redaction", "redact", "MASKS"]

DATA_DIR = Path(__file__).resolve().parent / "data"

MASKS = {
    "fødselsnummer": "[fødselsnummer]",
    "d-nummer": "[fødselsnummer]",
    "personnummer": "[fødselsnummer]",
    "nummer": "[nummer]",
    "telefon": "[telefon]",
    "e-post": "[e-post]",
    "adresse": "[adresse]",
    "saksnummer": "[saksnummer]",
    "navn": "[navn]",
    "uavklart": "[skjult]",
}


@dataclass(frozen=True)
class Redaction:
    text: str  # the masked text
    found: dict[str, int] = field(default_factory=dict)  # kind -> count, e.g. {"fødselsnummer": 1, "telefon": 2}

    @property
    def has_personal_data(self) -> bool:
        return any(n > 0 for n in self.found.values())


# --------------------------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------------------------

def _lines(name: str) -> list[str]:
    out = []
    for raw in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _sections(name: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in _lines(name):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, [])
        else:
            sections.setdefault(current, []).append(line)
    return sections


def _fold(word: str) -> str:
    return word.replace("’", "'").casefold()


GIVEN = frozenset(_fold(w) for w in _lines("given_names.txt"))
SURNAMES = frozenset(_fold(w) for w in _lines("surnames.txt"))
_amb = _sections("ambiguous_names.txt")
NEVER_ALONE = frozenset(_fold(w) for w in _amb.get("never_alone", []))
NOT_INITIAL = frozenset(_fold(w) for w in _amb.get("not_sentence_initial", []))
_allow = _lines("allow_list.txt")
ALLOW_WORDS = frozenset(_fold(w) for w in _allow if " " not in w)
ALLOW_PHRASES = tuple(w for w in _allow if " " in w)
PUBLIC_NUMBERS = frozenset(re.sub(r"\D", "", n) for n in _lines("public_numbers.txt"))
PUBLIC_EMAILS = frozenset(e.casefold() for e in _lines("public_emails.txt"))
POSTAL_PLACES = frozenset(_fold(p) for p in _lines("postal_places.txt"))
_suffixes = _sections("street_suffixes.txt")
STREET_COMPOUND = tuple(sorted({s.casefold() for s in _suffixes.get("compound", [])}, key=len, reverse=True))
STREET_LOWER = tuple(sorted({s.casefold() for s in _suffixes.get("lowercase", [])}, key=len, reverse=True))
STREET_SEPARATE = frozenset(s.casefold() for s in _suffixes.get("separate", []))
STREET_PREFIX = frozenset(s.casefold().rstrip(".") for s in _suffixes.get("prefix", []))

# Function words: never a name, also not after a cue ("han heter ikke ...", "klienten Han ...").
STOPWORDS = frozenset("""
jeg eg du han hun hen ho vi me dere de dei den det dette disse denne meg deg seg oss dykk dem ham henne
hennes hans hennar sin sitt sine min mitt mine din ditt dine vår vårt våre deres
som og eller men at om så da når hvis dersom fordi for til fra med av på i ut inn opp ned over under
etter før ved hos mot mellom uten gjennom er var har hadde skal skulle vil ville kan kunne må måtte
bør burde blir ble vært være er ikke ingen noen noe alle hver hva hvem hvor hvordan hvorfor hvilken
hvilke hvilket kva kven kor korleis kvifor kvar ein eit ei en et også bare jo vel nok nå her der
egentlig faktisk visst altså heller enn nei ja ok takk hei hallo
the a an and or but he she it they we you i me him her them his its their is are was were be been
not no yes this that these those who what where when why how which to of in on at by for with from
""".split())

NAME_PARTICLES = frozenset("van von der den de da di dos du bin ibn al el abu ben".split())

# --------------------------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------------------------

_SP = r"[ \t\u00a0\u2009\u202f]"  # spaces inside a line
_SEP = rf"(?:{_SP}?[.\-–/]{_SP}?|{_SP})"  # separators inside a written number

# E-mail: found from each "@" (local part scanned leftwards, domain matched rightwards), which keeps
# the search linear on long runs of letters without "@".
EMAIL_DOMAIN_RX = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_EMAIL_LOCAL_EXTRA = frozenset("_.%+-!#$&'*/=?^`{|}~")

_CASE_STRONG = (
    r"saks?(?:nummer|nr)\.?|saks?\s+nr\.?|saks?\s+nummer|journal(?:post)?(?:nummer|nr)\.?|journal(?:post)?\s+nr\.?"
    r"|j\.?\s?nr\.?|arkiv(?:sak)?(?:nummer|nr)\.?|arkiv\s+nr\.?|ref(?:eranse)?(?:nummer|nr)\.?"
    r"|dok(?:ument)?(?:nummer|nr)\.?|(?:vår|deres|our|your)\s+ref(?:eranse)?\.?"
)
_CASE_WEAK = r"sak|saka|saken|ref\.?|referanse|journal|arkiv|case|file"
_CASE_NUM_SLASH = r"\d{2,4}\s?/\s?\d{1,7}(?:\s?[-–]\s?\d{1,4})?"
CASE_RX = re.compile(
    rf"(?<![\w])(?P<cue>(?P<strong>{_CASE_STRONG})|(?:{_CASE_WEAK}))\s*[:.]?\s*(?:nr\.?\s*)?"
    rf"(?P<num>{_CASE_NUM_SLASH}(?![\d/])|(?(strong)\d{{3,}}(?:[-/]\d+)*(?![\d/])|(?!)))",
    re.IGNORECASE,
)
# Without a cue: "2024/1234", "2024/1234-5", "23/4567-3" (but not "2019/2020").
CASE_BARE_RX = re.compile(
    r"(?<![\w/.,])(?:(?P<year>(?:19|20)\d{2})\s?/\s?(?P<n>\d{3,7})(?:\s?-\s?\d{1,4})?|\d{2}/\d{3,7}-\d{1,4})(?![\w/])"
)

DIGITS_RUN_RX = re.compile(r"(?<!\d)\d{11,}(?!\d)")
# 11 digits with separators: "010190 12345", "010190-12345", "01.01.90.12345", "0101 9012 345"
# (not right after "/": "lovdata.no/.../lov/1992-07-17-100" is a URL path, not a person).
FNR_SPACED_RX = re.compile(rf"(?<![\d/])(?<!\d{_SP})(?<!\d[.\-–/])\d(?:{_SEP}?\d){{10}}(?!{_SEP}?\d)")

_PLACE = r"[A-ZÆØÅÉÜÖÄ][^\W\d_]*(?:-[^\W\d_]+)*"
POSTAL_RX = re.compile(
    rf"(?<![\w])(?<!\d{_SP})(?<!\d[.\-])(?:NO?-{_SP}?)?(?P<code>\d{{4}}){_SP}+(?P<place>{_PLACE})(?![\w])"
)
_HOUSE = rf"\d{{1,4}}(?:{_SP}?[-–]{_SP}?\d{{1,4}})?(?:[A-Za-z](?![^\W\d_])|{_SP}[A-Z](?![^\W\d_]))?(?!{_SP}?\d)"
STREET_RX = re.compile(
    rf"(?<![\w])(?P<pre>(?:[A-ZÆØÅ][^\W\d_]*\.?{_SP}+){{0,3}})(?P<word>[^\W\d_][^\W\d_'’\-]*){_SP}+(?P<num>{_HOUSE})"
    rf"(?P<postal>,?{_SP}+(?:NO?-{_SP}?)?\d{{4}}{_SP}+{_PLACE})?"
)

HAS_DIGIT_RX = re.compile(r"\d")
THREE_DIGITS_RX = re.compile(r"\d{3}")
FIVE_DIGITS_RX = re.compile(r"\d(?:\D*\d){4}")
DATE_RX = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}")
THOUSANDS_RX = re.compile(r"\d{1,3}(?:[ .\u00a0\u2009\u202f]\d{3})+")
MONEY_BEFORE_RX = re.compile(r"(?:(?<![^\W\d_])(?:kr\.?|nok|kroner|eur|usd)|[€$£])\s*$", re.IGNORECASE)
MONEY_AFTER_RX = re.compile(r"^\s*(?:kr\b|kroner|nok\b|,-|%|prosent|euro|eur\b|dollar|usd\b|mill|mrd)", re.IGNORECASE)

WORD_RX = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")

# Cues before a name, found on the word tokens. Strong: the next word is a name even in lowercase
# ("han heter ola"). Weak: the next word is a name when capitalised ("klienten Jovan", "Dr. Berg",
# "called Sam"), or when it is a listed, unambiguous name in lowercase ("gutten ola").
_STRONG_SUBJECTS = frozenset(
    "han hun hen ho jeg eg gutten guten jenta eleven brukeren brukaren klienten pasienten sønnen sonen "
    "datteren dottera personen mannen kvinnen kvinna broren søsteren systera systeren".split()
)
_NAME_WORDS = frozenset(("navnet", "namnet"))
_NAME_OWNERS = frozenset("hans hennes hennar hens mitt".split())
_WEAK_CUE_WORDS = frozenset(
    "heter heiter het kalt kalla called named gutten guten jenta eleven brukeren brukaren klienten pasienten "
    "pasient mannen kvinnen kvinna sønnen sonen datteren dottera broren bror søsteren søster syster sønn datter "
    "mor far moren faren mora onkel tante fetter kusine kjæresten kona samboeren vennen venninnen kameraten "
    "kollegaen kollega læreren veilederen mentoren ungdommen gutt jente elev studenten naboen deltakeren "
    "innsatte client patient student advokat lege psykolog professor fru herr miss".split()
)
_TITLES = frozenset("dr prof frk mr mrs ms".split())  # also with a dot: "Dr. Berg"
_CUE_TRIGGERS = _WEAK_CUE_WORDS | _TITLES | {"er", "is", "boy", "girl", "navn", "namn", "name"}
_CUE_GAP = frozenset(" \t\u00a0\"«“'‘")
_SPACES = frozenset(" \t\u00a0")
_SENTENCE_GAP = " \t\u00a0\"'«»“”‘’([{*•–—-"
_SENTENCE_END = ".!?:;…\n\r"

ALLOW_PHRASE_RX = (
    re.compile(
        r"(?<![\w])(?:" + "|".join(re.escape(p) for p in sorted(ALLOW_PHRASES, key=len, reverse=True)) + r")(?![\w])",
        re.IGNORECASE,
    )
    if ALLOW_PHRASES
    else None
)

FALLBACK_RX = re.compile(r"[\w.+\-]*@[\w.\-]*|\d+|[^\W\d_][\w'’\-]*")


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------

class _Counter:
    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[str, int] = {}

    def hit(self, kind: str) -> str:
        self.found[kind] = self.found.get(kind, 0) + 1
        return MASKS[kind]


def _ascii_digits(s: str) -> str:
    return "".join(str(unicodedata.digit(c)) for c in s if c.isdigit())


def _eleven_kind(digits: str) -> str:
    d = _ascii_digits(digits)
    if len(d) == 11 and _fnr.is_valid(d):
        return "d-nummer" if d[0] in "4567" else "fødselsnummer"
    return "personnummer"


def _emails(text: str, c: _Counter) -> str:
    if "@" not in text:
        return text
    out, prev = [], 0
    at = text.find("@")
    while at != -1:
        start = at
        while start > prev and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_EXTRA):
            start -= 1
        domain = EMAIL_DOMAIN_RX.match(text, at + 1) if start < at else None
        if domain is None:
            at = text.find("@", at + 1)
            continue
        end = domain.end()
        if text[start:end].casefold() not in PUBLIC_EMAILS:
            out.append(text[prev:start])
            out.append(c.hit("e-post"))
            prev = end
        at = text.find("@", end)
    if not out:
        return text
    out.append(text[prev:])
    return "".join(out)


def _case_numbers(text: str, c: _Counter) -> str:
    if "/" not in text and not THREE_DIGITS_RX.search(text):
        return text

    def sub(m: re.Match) -> str:
        start = m.start("num") - m.start()
        return m.group(0)[:start] + c.hit("saksnummer")

    text = CASE_RX.sub(sub, text)
    if "/" not in text:
        return text

    def bare(m: re.Match) -> str:
        year, n = m.group("year"), m.group("n")
        if year and len(n) == 4 and n[:2] in ("19", "20") and abs(int(n) - int(year)) <= 1:
            return m.group(0)  # "2019/2020": a period, not a case number
        return c.hit("saksnummer")

    return CASE_BARE_RX.sub(bare, text)


def _long_digit_runs(text: str, c: _Counter) -> str:
    def sub(m: re.Match) -> str:
        run = m.group(0)
        if len(run) == 11:
            return c.hit(_eleven_kind(run))
        ascii_run = _ascii_digits(run)
        if len(ascii_run) == 12 and ascii_run.startswith("0047") and ascii_run[4] in "23456789":
            return c.hit("telefon")  # "004791234567" (even a public number: no 11 digits may survive)
        return c.hit("nummer")

    return DIGITS_RUN_RX.sub(sub, text)


def _spaced_eleven(text: str, c: _Counter) -> str:
    return FNR_SPACED_RX.sub(lambda m: c.hit(_eleven_kind(m.group(0))), text)


def _is_street_word(word: str) -> bool:
    low = word.casefold()
    if word[0].isupper():
        return any(low.endswith(s) for s in STREET_COMPOUND)
    return any(low.endswith(s) and len(low) >= len(s) + 3 for s in STREET_LOWER)


def _postal_ok(code: str, place: str) -> bool:
    fp = _fold(place)
    if fp in STOPWORDS:
        return False
    if place.isupper() and len(place) > 1 and fp not in POSTAL_PLACES and fp not in ALLOW_WORDS:
        return False  # "5000 NOK"
    n = int(_ascii_digits(code))
    if 1900 <= n <= 2099:  # looks like a year: only with a known postal place
        return fp in POSTAL_PLACES
    return True


def _addresses(text: str, c: _Counter) -> str:
    if not HAS_DIGIT_RX.search(text):
        return text

    def street(m: re.Match) -> str:
        pre, word = m.group("pre"), m.group("word")
        whole = m.group(0)
        postal = m.group("postal") or ""
        body = whole[: len(whole) - len(postal)] if postal else whole
        lead = ""
        if word.casefold() in STREET_SEPARATE and pre:
            # "Thorvald Meyers gate 5": drop leading function words ("I Thorvald Meyers gate 5").
            words = list(re.finditer(r"\S+", pre))
            while words and _fold(words[0].group(0).rstrip(".")) in STOPWORDS:
                words.pop(0)
            if not words:
                return whole
            cut = words[0].start()
            lead, body = body[:cut], body[cut:]
        elif _is_street_word(word):
            cut = m.start("word") - m.start()
            # keep "Gamle"/"Nordre" ... right before the street word inside the address
            for prev in reversed(pre.split()):
                if prev.casefold().rstrip(".") not in STREET_PREFIX:
                    break
                cut = body.rindex(prev, 0, cut)
            lead, body = body[:cut], body[cut:]
        else:
            return whole
        tail = postal
        if postal:
            pm = POSTAL_RX.search(postal)
            if pm and _postal_ok(pm.group("code"), pm.group("place")):
                tail = ""
        return lead + c.hit("adresse") + tail

    text = STREET_RX.sub(street, text)

    def postal(m: re.Match) -> str:
        if _postal_ok(m.group("code"), m.group("place")):
            return c.hit("adresse")
        return m.group(0)

    return POSTAL_RX.sub(postal, text)


def _phones(text: str, c: _Counter) -> str:
    if not FIVE_DIGITS_RX.search(text):
        return text
    spans: list[tuple[int, int]] = []
    for m in PhoneNumberMatcher(text, "NO", leniency=Leniency.POSSIBLE):
        raw = m.raw_string
        start, end = m.start, m.end
        if raw.startswith("(") and raw.count("(") > raw.count(")"):
            raw, start = raw[1:], start + 1  # "(912 34 567)": keep the parentheses balanced
        if start > 0 and text[start - 1].isdigit() or end < len(text) and text[end].isdigit():
            continue
        digits = _ascii_digits(raw)
        international = raw.lstrip("(").startswith(("+", "00"))
        number = m.number
        if number.country_code == 47:
            nsn = phonenumbers.national_significant_number(number)
            if nsn in PUBLIC_NUMBERS:
                continue
            if len(nsn) != 8 or nsn[0] not in "23456789":
                continue
        else:
            if not international:
                continue
        if not international:
            if "/" in raw or DATE_RX.fullmatch(raw) or THOUSANDS_RX.fullmatch(raw):
                continue
            if len(digits) == 8 and digits[:2] in ("19", "20") and _looks_like_yyyymmdd(digits):
                continue
            if MONEY_BEFORE_RX.search(text, max(0, start - 8), start) or MONEY_AFTER_RX.match(text[end : end + 10]):
                continue
        spans.append((start, end))
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(c.hit("telefon"))
        last = end
    out.append(text[last:])
    return "".join(out)


def _looks_like_yyyymmdd(d: str) -> bool:
    month, day = int(d[4:6]), int(d[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


# --- names ---------------------------------------------------------------------------------

def _is_cap(word: str) -> bool:
    first = word.split("-", 1)[0]
    return word[0].isupper() and not (len(first) > 1 and first.isupper())


def _lookup(word: str) -> tuple[bool, bool, str | None]:
    """(is given name, is surname, ambiguity) for a word; handles "Anne-Lise" and "Olas"."""
    f = _fold(word)
    given, surname = f in GIVEN, f in SURNAMES
    if given or surname:
        amb = "never" if f in NEVER_ALONE else "initial" if f in NOT_INITIAL else None
        return given, surname, amb
    if "-" in f:
        parts = f.split("-")
        if all(p in GIVEN or p in SURNAMES for p in parts):
            ambs = [p in NEVER_ALONE or p in NOT_INITIAL for p in parts]
            return any(p in GIVEN for p in parts), any(p in SURNAMES for p in parts), "initial" if all(ambs) else None
        return False, False, None
    for cut in ("'s", "s"):  # possessive: "Olas", "Kari's", "Hansens"
        if f.endswith(cut) and len(f) > len(cut) + 2:
            base = f[: -len(cut)]
            if (base in GIVEN or base in SURNAMES) and base not in NEVER_ALONE and base not in NOT_INITIAL:
                return base in GIVEN, base in SURNAMES, None
    return False, False, None


@lru_cache(maxsize=65536)
def _classify(word: str) -> tuple[bool, bool, bool, bool, str | None]:
    """(capitalised, never a name, given name, surname, ambiguity) of a word, position aside."""
    f = _fold(word)
    # "Hans"/"Are" are names and function words ("hans mor", "Are there"): ambiguous_names.txt decides
    blocked = (f in STOPWORDS and f not in GIVEN and f not in SURNAMES) or f in ALLOW_WORDS
    cap = _is_cap(word)
    if cap and not blocked:
        given, surname, amb = _lookup(word)
        return cap, blocked, given, surname, amb
    return cap, blocked, False, False, None


_LOWER = (False, False, False, False, None)


def _grow(tokens, info, in_name, strong_chain, adjacent, plain_cap) -> list[tuple[int, int]]:
    """Grow each name forward over adjacent capitalised words ("Ola Nordmann", "Ahmed Yilmaz",
    "Kari Berg"), over name particles ("Ludwig van Beethoven"), and after a strong cue also over
    lowercase listed names ("han heter ola nordmann"). Returns (first, last) token indices, one
    pair per name."""
    n = len(tokens)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < n:
        if not in_name[i]:
            i += 1
            continue
        first, last = i, i
        while last - first < 3 and adjacent(last):
            j = last + 1
            if plain_cap(j):
                last = j
                continue
            fj = _fold(tokens[j][2])
            if strong_chain[first] and not info[j][1] and (fj in GIVEN or fj in SURNAMES):
                last = j
                continue
            if fj in NAME_PARTICLES and adjacent(j) and plain_cap(j + 1) and last - first < 2:
                last = j + 1
                continue
            break
        spans.append((first, last))
        i = last + 1
    return spans


def _names(text: str, c: _Counter) -> str:
    tokens = [(m.start(), m.end(), m.group(0)) for m in WORD_RX.finditer(text)]
    if not tokens:
        return text
    n = len(tokens)

    protected: list[tuple[int, int]] = []
    if ALLOW_PHRASE_RX is not None:
        protected = [(m.start(), m.end()) for m in ALLOW_PHRASE_RX.finditer(text)]
    pstarts = [s for s, _ in protected]

    def is_protected(start: int) -> bool:
        i = bisect.bisect_right(pstarts, start) - 1
        return i >= 0 and protected[i][0] <= start < protected[i][1]

    lowers = [w.lower() for _, _, w in tokens]

    def spaced(i: int) -> bool:  # only spaces between token i and i+1
        gap = text[tokens[i][1] : tokens[i + 1][0]]
        return bool(gap) and all(ch in _SPACES for ch in gap)

    def cue_after(i: int) -> str | None:
        """The cue (None, "weak", "strong") that token i puts on token i+1."""
        lw = lowers[i]
        gap = text[tokens[i][1] : tokens[i + 1][0]]
        if lw in ("navn", "namn", "name") and gap.strip(" \t\u00a0") == ":":
            return "strong"  # "Navn: ola nordmann"
        if lw in _TITLES and gap.startswith("."):
            gap = gap[1:]
        if not gap or any(ch not in _CUE_GAP for ch in gap):
            return None
        if lw in ("heter", "heiter"):
            return "strong" if i and spaced(i - 1) and lowers[i - 1] in _STRONG_SUBJECTS else "weak"
        if lw == "er":
            if i >= 2 and lowers[i - 1] in _NAME_OWNERS and lowers[i - 2] in _NAME_WORDS:
                if spaced(i - 2) and spaced(i - 1):
                    return "strong"  # "navnet hans er"
            if i >= 3 and lowers[i - 2] == "til" and lowers[i - 3] in _NAME_WORDS and spaced(i - 3) and spaced(i - 2):
                return "strong"  # "navnet til gutten er"
            return "weak" if i and lowers[i - 1] in _NAME_WORDS and spaced(i - 1) else None
        if lw == "is":
            ok = i >= 2 and lowers[i - 1] == "name" and lowers[i - 2] in ("his", "her", "my", "their")
            return "strong" if ok and spaced(i - 2) and spaced(i - 1) else None
        if lw in ("boy", "girl"):
            return "weak" if i and lowers[i - 1] == "the" and spaced(i - 1) else None
        if lw in _WEAK_CUE_WORDS or lw in _TITLES:
            return "weak"
        return None

    cues: list[str | None] = [None] * n
    for i in range(n - 1):
        if lowers[i] in _CUE_TRIGGERS:
            cues[i + 1] = cue_after(i)

    def sentence_initial(start: int) -> bool:
        p = start
        while p > 0 and text[p - 1] in _SENTENCE_GAP:
            p -= 1
        return p == 0 or text[p - 1] in _SENTENCE_END

    def adjacent(i: int) -> bool:  # token i and i+1 separated by spaces only
        if i + 1 >= n:
            return False
        gap = text[tokens[i][1] : tokens[i + 1][0]]
        return 0 < len(gap) <= 3 and all(ch in " \t\u00a0" for ch in gap)

    # info[i] = (capitalised, never a name, given name, surname, ambiguity)
    info = []
    for i, (start, _, word) in enumerate(tokens):
        if not word[0].isupper():
            info.append(_classify(word) if cues[i] else _LOWER)
            continue
        cls = _classify(word)
        if protected and not cls[1] and is_protected(start):
            cls = (cls[0], True, False, False, None)
        info.append(cls)

    def plain_cap(j: int) -> bool:  # a capitalised word that may be part of a name
        return info[j][0] and not info[j][1]

    in_name = [False] * n
    strong_chain = [False] * n
    for i in range(n):
        cap, blocked, given, surname, amb = info[i]
        cue = cues[i]
        if not cap and cue is None:
            continue
        start = tokens[i][0]
        if cue == "strong" and not blocked and not is_protected(start):
            in_name[i] = True
            strong_chain[i] = True
            continue
        if blocked:
            continue
        if not cap:
            # after a weak cue a lowercase word is a name only when listed and unambiguous: "gutten ola"
            if cue == "weak" and not is_protected(start):
                f = _fold(tokens[i][2])
                if (f in GIVEN or f in SURNAMES) and f not in NEVER_ALONE and f not in NOT_INITIAL:
                    in_name[i] = strong_chain[i] = True
            continue
        if cue == "weak":
            in_name[i] = True
            continue
        if not (given or surname):
            continue
        if amb is None or (amb == "initial" and not sentence_initial(start)):
            in_name[i] = True
        elif given and adjacent(i) and plain_cap(i + 1):
            # "Per Hansen", "Tor Jørgsvik" at the start of a sentence
            in_name[i] = True

    spans = _grow(tokens, info, in_name, strong_chain, adjacent, plain_cap)
    # A word found as a name once is a name everywhere in the message ("Han heter Jovan. Jovan
    # er 17, og Jovans mor ..."), except words never a name alone ("Per Hansen ... Per i dag").
    seen = {_fold(tokens[k][2]) for first, last in spans for k in range(first, last + 1)} - NEVER_ALONE
    if seen:
        extra = False
        for i, (start, _, word) in enumerate(tokens):
            if not in_name[i] and info[i][0] and not info[i][1]:
                f = _fold(word)
                if f in seen or (f.endswith("s") and (f[:-1] in seen or f[:-2] in seen and f.endswith("'s"))):
                    in_name[i] = extra = True  # also the possessive: "Jovans mor"
        if extra:
            spans = _grow(tokens, info, in_name, strong_chain, adjacent, plain_cap)

    if not spans:
        return text
    out, prev = [], 0
    for first, last in spans:
        out.append(text[prev : tokens[first][0]])
        out.append(c.hit("navn"))
        prev = tokens[last][1]
    out.append(text[prev:])
    return "".join(out)


_STAGES = (_emails, _case_numbers, _long_digit_runs, _spaced_eleven, _addresses, _phones, _names)


def _redact_once(text: str) -> tuple[str, dict[str, int]]:
    c = _Counter()
    for stage in _STAGES:
        text = stage(text, c)
    return text, c.found


def _conservative(text: str) -> Redaction:
    """Used when a stage fails: hide every digit run, capitalised word and word with '@'."""
    count = 0

    def sub(m: re.Match) -> str:
        nonlocal count
        tok = m.group(0)
        if "@" in tok or tok[0].isdigit() or tok[0].isupper():
            count += 1
            return "[skjult]"
        return tok

    try:
        masked = FALLBACK_RX.sub(sub, text)
    except Exception:  # pragma: no cover - last resort
        masked = "[skjult]" if text else ""
    return Redaction(masked, {"uavklart": max(count, 1)})


def redact(text: str) -> Redaction:
    """Mask personal data in `text`; never raises."""
    try:
        if not isinstance(text, str):
            text = "" if text is None else (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
    except Exception:
        return Redaction("[skjult]", {"uavklart": 1})
    try:
        found: dict[str, int] = {}
        current = text
        # Each pass that changes the text masks something, and placeholders are never masked again,
        # so this ends; a second pass normally changes nothing and is the guard for idempotence.
        for _ in range(6):
            masked, hits = _redact_once(current)
            for kind, count in hits.items():
                found[kind] = found.get(kind, 0) + count
            if masked == current:
                break
            current = masked
        return Redaction(current, found)
    except Exception:
        return _conservative(text)
