"""Recall, false positives and speed of the personal-data redactor (bot/guard/redact.py).

    .venv/bin/python scripts/bench_redaction.py [--seed N] [--per-kind N]

Generates a seeded corpus of Norwegian sentences from templates, each holding one synthetic
identifier (fødselsnummer, D-nummer and other 11-digit runs in every written form, phone numbers in
every form, e-mail addresses, street addresses, postal codes, case numbers, names from the shipped
lists and names from a held-out list after a cue), and reports:

- recall per kind: an identifier is caught when none of its digits or characters survive;
- the share masked with the right kind (`found`);
- the false-positive rate on tests/eval/questions.yml and on identifier-free distractor sentences;
- the time to redact a 4 000-character message (p50/p99 over 200 runs).

Prints figures only; asserts nothing. Targets: recall ≥ 99 % for structured identifiers, ≥ 90 % for
names, false positives ≤ 1 %, < 20 ms for 4 000 characters.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.guard import redact as R  # noqa: E402
from bot.guard.redact import redact  # noqa: E402

STRUCTURED = ("fødselsnummer", "d-nummer", "personnummer", "telefon", "e-post", "adresse", "postnummer", "saksnummer")

# --- synthetic identifiers ----------------------------------------------------------------------


def checksum_number(rng: random.Random, d_number: bool) -> str:
    while True:
        born = date(1935, 1, 1) + timedelta(days=rng.randrange(0, 75 * 365))
        individual = rng.randrange(0, 500) if born.year < 2000 else rng.randrange(500, 1000)
        day = born.day + (40 if d_number else 0)
        base = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
        k1 = (11 - sum(w * int(d) for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), base)) % 11) % 11
        if k1 == 10:
            continue
        base += str(k1)
        k2 = (11 - sum(w * int(d) for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), base)) % 11) % 11
        if k2 == 10:
            continue
        return base + str(k2)


def invalid_number(rng: random.Random) -> str:
    while True:
        n = "".join(rng.choice("0123456789") for _ in range(11))
        if R._eleven_kind(n) == "personnummer":
            return n


NUMBER_FORMS = (
    lambda n: n,
    lambda n: f"{n[:6]} {n[6:]}",
    lambda n: f"{n[:6]}-{n[6:]}",
    lambda n: f"{n[:2]}.{n[2:4]}.{n[4:6]}.{n[6:]}",
    lambda n: f"{n[:6]}\u00a0{n[6:]}",
    lambda n: f"{n[:6]} - {n[6:]}",
)


def phone_number(rng: random.Random) -> str:
    while True:
        first = rng.choice("4499922335567")
        n = first + "".join(rng.choice("0123456789") for _ in range(7))
        if n not in R.PUBLIC_NUMBERS:
            return n


PHONE_FORMS = (
    lambda n: n,
    lambda n: f"{n[:3]} {n[3:5]} {n[5:]}",
    lambda n: f"{n[:2]} {n[2:4]} {n[4:6]} {n[6:]}",
    lambda n: f"{n[:4]} {n[4:]}",
    lambda n: f"+47 {n[:3]} {n[3:5]} {n[5:]}",
    lambda n: f"+47{n}",
    lambda n: f"+47 {n}",
    lambda n: f"0047 {n}",
    lambda n: f"0047{n}",
    lambda n: f"+47 {n[:2]} {n[2:4]} {n[4:6]} {n[6:]}",
    lambda n: f"(+47) {n[:3]} {n[3:5]} {n[5:]}",
    lambda n: f"{n[:3]}-{n[3:5]}-{n[5:]}",
)

STREET_STEMS = ("Stor", "Kirke", "Skole", "Park", "Sjø", "Løkke", "Møller", "Slotts", "Kongens", "Dronning", "Mølle",
                "Hav", "Fjell", "Bjørke", "Eike", "Lønne", "Furu", "Sol", "Myr", "Strand", "Elve", "Kvern", "Tor",
                "Prestegårds", "Skogs", "Ringe", "Stasjons", "Fabrikk", "Gamle", "Nye", "Kloster", "Torv")
STREET_ENDINGS = ("gata", "gaten", "veien", "vegen", "vei", "veg", "gate", "allé", "plass", "stien", "bakken",
                  "svingen", "torget", "brygga", "kaia", "lia", "åsen", "haugen")
NAMED_STREETS = ("Thorvald Meyers gate", "Kong Oscars gate", "Bygdøy allé", "Olav Kyrres plass",
                 "Dronning Eufemias gate", "Fridtjof Nansens vei", "Christian Michelsens gate", "Haakon VIIs gate",
                 "St. Olavs gate", "Ole Bulls plass", "Henrik Ibsens gate", "Kristian Augusts gate")
POSTAL = (("0557", "Oslo"), ("0262", "Oslo"), ("0182", "OSLO"), ("5003", "Bergen"), ("7010", "Trondheim"),
          ("9008", "Tromsø"), ("8006", "Bodø"), ("2317", "Hamar"), ("2000", "Lillestrøm"), ("2050", "Jessheim"),
          ("3724", "Skien"), ("6413", "Molde"), ("9510", "Alta"), ("6002", "Ålesund"), ("6800", "Førde"),
          ("5700", "Voss"), ("7600", "Levanger"), ("4006", "Stavanger"), ("4612", "Kristiansand"),
          ("3015", "Drammen"), ("1337", "Sandvika"), ("1440", "Drøbak"), ("8300", "Svolvær"), ("9900", "Kirkenes"))


def street_address(rng: random.Random) -> tuple[str, str]:
    """(address, a word of the street name that must disappear)."""
    roll = rng.random()
    if roll < 0.25:
        street = rng.choice(NAMED_STREETS)
    else:
        street = rng.choice(STREET_STEMS) + rng.choice(STREET_ENDINGS)
        if roll < 0.35:
            street = rng.choice(("Øvre", "Nedre", "Nordre", "Søndre", "Gamle")) + " " + street
        elif roll > 0.92:
            street = street.lower()  # typed in lowercase: "bor i storgata 12"
    number = str(rng.randrange(1, 160)) + rng.choice(("", "", "", "B", "a", " C"))
    tail = rng.choice(("", "", "", f", {' '.join(rng.choice(POSTAL))}"))
    word = max(street.replace(".", "").split(), key=len)
    return f"{street} {number}{tail}", word


def case_number(rng: random.Random) -> str:
    year = rng.choice(("2019", "2020", "2021", "2022", "2023", "2024", "2025"))
    short = year[2:]
    n = str(rng.randrange(1, 99999))
    forms = (
        f"saksnr {year}/{n}", f"saksnummer {short}/{n}-{rng.randrange(1, 20)}", f"journalnr. {year}/{n}",
        f"arkivnr {short}/{n}", f"sak {year}/{n}", f"ref. {short}/{n}", f"Saksnr. {year}/{n}",
        f"vår ref. {short}/{n}-{rng.randrange(1, 9)}", f"saks nr {year}/{n}", f"journalpostnr {year}/{n}",
        f"deres ref: {year}/{n}", f"sak nr. {year}/{n}", f"{year}/{n}-{rng.randrange(1, 9)}",
    )
    return rng.choice(forms)


EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "online.no", "outlook.com", "nav.no", "oslo.kommune.no", "skole.no",
                 "politiet.no", "icloud.com", "yahoo.no", "bergen.kommune.no", "live.no")


def email(rng: random.Random, given: list[str], surnames: list[str]) -> str:
    g = rng.choice(given).lower()
    s = rng.choice(surnames).lower()
    local = rng.choice(
        (f"{g}.{s}", f"{g}{rng.randrange(1, 99)}", f"{g[0]}{s}", f"{g}_{s}", f"{s}.{g}{rng.randrange(70, 99)}")
    )
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


# Names that are in none of the shipped lists (checked below): used after a cue, and — reported on
# their own, not part of the target — without one.
HELD_OUT_GIVEN = ("Gudny", "Solrun", "Ingolf", "Gjertrud", "Ragnvald", "Sigbjørn", "Aslaug", "Borgny", "Ingjerd",
                  "Kolbjørn", "Alvhild", "Eyvind", "Torfinn", "Hildur", "Jorid", "Gunnstein", "Halldis", "Vebjørg",
                  "Åsmund", "Leiv", "Mathea", "Eldbjørg", "Signy", "Torhild", "Annbjørg", "Jovan", "Milan", "Tiago",
                  "Aziza", "Rahel", "Dragan", "Luka", "Amra", "Edin", "Mirela", "Nermin", "Sead", "Emina", "Lejla",
                  "Faruk", "Kenan", "Rustam", "Timur", "Dilnoza", "Gulnara", "Shukri", "Najma", "Abshir", "Hamdi",
                  "Liban", "Kadra", "Farhiya", "Mehari", "Tsega", "Yordanos", "Quynh", "Phuong", "Kiran", "Anjali",
                  "Tharshan", "Vikram", "Lwam", "Kidane", "Oddrun", "Gjermund", "Sølvi", "Tordis", "Herborg")
HELD_OUT_SURNAMES = ("Hovdenak", "Bjørklund", "Skjelbred", "Gjerde", "Tveiten", "Rønneberg", "Fjellheim", "Kvamme",
                     "Storvik", "Aasland", "Ødegård", "Sundby", "Lothe", "Mjøs", "Grønvold", "Hetland", "Brattli",
                     "Skogstad", "Nymoen", "Osmanović", "Begović", "Abdirahman", "Gebremariam", "Tesfamariam",
                     "Sivakumar", "Rahimi", "Karimi", "Haugstad", "Flatebø", "Rugland")

# --- templates ----------------------------------------------------------------------------------

T_NUMBER = (
    "Fødselsnummeret hans er {x}.", "Hun oppga {x} som personnummer.", "fnr {x}", "Gutten har fnr: {x}, hva gjør vi?",
    "Kan jeg dele personnummer {x} med politiet?", "D-nummeret er {x} ifølge Nav.", "Jeg har fått {x} fra skolen.",
    "Personnr. {x} - er det lov å sende det på e-post?", "Han står registrert med {x} i journalen.",
    "Identitetsnummer {x}", "Er {x} et gyldig nummer?", "Vi har nummeret ({x}) fra saksbehandler.",
)
T_PHONE = (
    "Ring meg på {x}.", "Mora hans har telefon {x}.", "tlf {x}",
    "Mobilnummeret til eleven er {x}, kan jeg gi det videre?",
    "Han ringte fra {x} i natt.", "Kontakt faren på {x} etter skoletid.", "Hun kan nås på {x} eller via skolen.",
    "Nummeret ({x}) står i meldingen.", "Tlf.: {x}", "Send SMS til {x} hvis noe skjer.",
)
T_EMAIL = (
    "Kontakt meg på {x}.", "Han skrev fra {x} i går.", "E-posten til moren er {x}", "Kan jeg sende rapporten til {x}?",
    "Send svaret til {x}, takk.", "Adressen {x} brukes av gutten på nett.",
)
T_ADDRESS = (
    "Han bor i {x}.", "Familien har flyttet til {x}", "Møtet var i {x} i går.", "Adressen er {x}.",
    "Vi besøkte dem i {x} sammen med barnevernet.", "Hun bor nå hos tanten i {x}, hva gjør vi?",
)
T_POSTAL = (
    "Brevet sendes til {x}.", "Familien bor i {x}", "Han er registrert på {x} i folkeregisteret.", "Postadresse: {x}",
)
T_CASE = (
    "Dette gjelder {x} i barnevernet.", "Se {x} for bakgrunn.", "Viser til {x} om eleven.", "{x} er sendt til PST.",
    "Kan jeg dele {x} med konfliktrådet?", "Hvem har ansvaret i {x}?",
)
T_NAME_LISTED = (
    "{g} har sluttet på skolen.", "Jeg snakket med {g} {s} i går.", "Vi har en bekymring for {g}.",
    "Moren til {g} ringte meg.", "{g} {s} er 17 år og vil ut av miljøet.", "Kan jeg dele bekymringen for {g} med Nav?",
    "Jeg har hatt tre samtaler med {g} {s}.", "Både {g} og broren har vært i Syria.",
    "I går sa {g} at han vil slutte.", "Læreren mener at {g} trenger hjelp.", "Har {g} {s} rett på individuell plan?",
    "{g} og {g2} er søsken.",
)
T_NAME_CUE = (
    "Gutten heter {g}.", "Klienten {g} har sonet ferdig.", "Eleven {g} har fått nye venner på nett.",
    "Hun heter {g} {s} og er 16.", "Ho heiter {g}.", "Jenta {g} vil ut av miljøet.", "Pasienten {g} {s} er utskrevet.",
    "Broren {g} er også bekymret.", "Navnet hans er {g} {s}.", "His name is {g}.", "han heter {lg}",
    "Mannen {g} {s} tok kontakt.", "Vi har en gutt som heter {g}.", "Han blir kalt {g} av vennene.",
    "Sønnen {g} går på videregående.", "Brukeren {g} har fått arbeidstrening.",
    "Gutten heter {g}. {g} er 16 år og bor hos moren.", "jenta {lg} har sluttet på skolen",
    "Klienten heter {g} {s}. {g} vil ut av miljøet.",
)
T_NAME_HELD_OUT_NO_CUE = (
    "Jeg snakket med {g} i går.", "{g} {s} har sluttet på skolen.", "Vi er bekymret for {g}.",
)
T_DISTRACTORS = (
    "Per i dag har vi tre saker, og det koster 500 kroner per dag.", "Liv og helse står på spill.",
    "Finn ut hvem som har ansvaret.", "Hans mor er bekymret for ham.", "Vold i nære relasjoner er et tema.",
    "Berg kommune og Strand kommune samarbeider.", "I 2019 kom han hjem, og i 2020 flyttet han.",
    "Det koster 25 500 000 kroner, og møtet er 24.12.2023 kl. 12.30.", "Studieåret 2019/2020 var vanskelig.",
    "Ring RVTS Øst på 22 58 60 00.", "NAV kan nås på 55 55 33 33.", "Ring 112 eller 02800.", "PST har 23305000.",
    "Skriv til post@rvtsost.no.", "Rask psykisk helsehjelp er et tilbud i kommunen.", "Nav Grünerløkka har ansvar.",
    "Enerhaugen familievernkontor har erfaring.", "opplæringsloven kapittel 9 A", "straffeloven § 196",
    "Han er 17 år og går i 2. klasse på videregående.", "Tor ringte aldri tilbake.", "Are there any exit programmes?",
    "Even the police were surprised.", "Eleven har rett på et trygt skolemiljø.", "Klienten er redd for represalier.",
    "Han heter ikke noe spesielt.", "Hvor mange av 1000 elever blir radikalisert?", "Mellom kl. 08.00 og 16.00.",
    "Vi bruker Teams og Outlook.", "Plattform i Agder og Utveier.no", "Hva sier Koranen om vold?",
    "Det var 3 500 deltakere i 2023.", "Tiltaket varer i 12 måneder fra 01.01.2025.",
)


FNR_KINDS = frozenset(("fødselsnummer", "d-nummer", "personnummer"))


def build_corpus(rng: random.Random, per_kind: int) -> list[tuple[str, str, tuple[str, ...], tuple[frozenset, ...]]]:
    """(kind, sentence, strings that must not survive, kinds expected in `found` — one of each set)."""
    given = sorted(set(R._lines("given_names.txt")))  # all of them, also "Per", "Liv", "Tor", ...
    surnames = sorted(set(R._lines("surnames.txt")))
    held_given = [n for n in HELD_OUT_GIVEN if n.casefold() not in R.GIVEN | R.SURNAMES]
    held_surnames = [n for n in HELD_OUT_SURNAMES if n.casefold() not in R.GIVEN | R.SURNAMES]
    corpus = []

    def add(kind, template, x, must_go, expect=None):
        expect = expect or ({"postnummer": "adresse"}.get(kind, kind),)
        corpus.append((kind, template.format(x=x), tuple(must_go), tuple(frozenset((e,)) for e in expect)))

    for kind, make in (
        ("fødselsnummer", lambda: checksum_number(rng, False)),
        ("d-nummer", lambda: checksum_number(rng, True)),
        ("personnummer", lambda: invalid_number(rng)),
    ):
        for _ in range(per_kind):
            number = make()
            x = rng.choice(NUMBER_FORMS)(number)
            add(kind, rng.choice(T_NUMBER), x, re.findall(r"\d", x))
    for _ in range(per_kind):
        x = rng.choice(PHONE_FORMS)(phone_number(rng))
        add("telefon", rng.choice(T_PHONE), x, re.findall(r"\d", x))
    for _ in range(per_kind):
        x = email(rng, given, surnames)
        add("e-post", rng.choice(T_EMAIL), x, [x.split("@")[0], "@"])
    for _ in range(per_kind):
        x, word = street_address(rng)
        add("adresse", rng.choice(T_ADDRESS), x, re.findall(r"\d", x) + [word])
    for _ in range(per_kind):
        code, place = rng.choice(POSTAL)
        x = f"{code} {place}"
        add("postnummer", rng.choice(T_POSTAL), x, [code, place])
    for _ in range(per_kind):
        x = case_number(rng)
        add("saksnummer", rng.choice(T_CASE), x, re.findall(r"\d", x))
    for _ in range(per_kind):  # several identifiers in one message
        g, s_ = rng.choice(given), rng.choice(surnames)
        number = rng.choice(NUMBER_FORMS)(rng.choice((checksum_number(rng, False), checksum_number(rng, True),
                                                      invalid_number(rng))))
        phone = rng.choice(PHONE_FORMS)(phone_number(rng))
        address, word = street_address(rng)
        mail = email(rng, given, surnames)
        case = case_number(rng)
        template = rng.choice((
            "{g} {s}, fnr {n}, tlf {p}",
            "Hei, jeg er bekymret for {g} {s} ({n}) som bor i {a}. Ring meg på {p} eller skriv til {m}.",
            "Gjelder {c}: eleven {g} {s}, født {n}, adresse {a}, mors telefon {p}.",
            "{g} {s} har fått nytt nummer ({p}) og e-post {m}. Saken er {c}.",
        ))
        sentence = template.format(g=g, s=s_, n=number, p=phone, a=address, m=mail, c=case)
        must_go = [g, s_, "@"] + re.findall(r"\d", sentence)
        expect = [frozenset(("navn",)), frozenset(("telefon",))]
        if "{n}" in template:
            expect.append(FNR_KINDS)
        if "{a}" in template:
            must_go.append(word)
            expect.append(frozenset(("adresse",)))
        if "{m}" in template:
            expect.append(frozenset(("e-post",)))
        if "{c}" in template:
            expect.append(frozenset(("saksnummer",)))
        corpus.append(("flere i samme melding", sentence, tuple(must_go), tuple(expect)))
    for kind, templates, g_pool, s_pool in (
        ("navn, listed", T_NAME_LISTED, given, surnames),
        ("navn, after a cue", T_NAME_CUE, held_given + given, held_surnames + surnames),
        ("navn (held-out, no cue)", T_NAME_HELD_OUT_NO_CUE, held_given, held_surnames),
    ):
        for _ in range(per_kind):
            g, g2, s = rng.choice(g_pool), rng.choice(g_pool), rng.choice(s_pool)
            template = rng.choice(templates)
            sentence = template.format(g=g, g2=g2, s=s, lg=g.lower())
            used = [g] + ([g2] if "{g2}" in template else []) + ([s] if "{s}" in template else [])
            if "{lg}" in template:
                used = [g.lower()]
                if g.casefold() in R.NOT_INITIAL:  # "jenta liv": an ordinary word in lowercase
                    continue
            corpus.append((kind, sentence, tuple(used), (frozenset(("navn",)),)))
    return corpus


def survived(out: str, must_go: tuple[str, ...]) -> bool:
    for piece in must_go:
        if piece.isdigit() and len(piece) == 1:
            if re.search(r"\d", out):
                return True
        elif re.search(rf"(?<![\w]){re.escape(piece)}(?![\w])", out) if piece[0].isalnum() else piece in out:
            return True
    return False


def percentile(sorted_values: list[float], p: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--per-kind", type=int, default=250, help="sentences per kind (default 250)")
    parser.add_argument("--show-misses", type=int, default=5, help="misses to print per kind")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    corpus = build_corpus(rng, args.per_kind)
    totals, caught, kind_ok = defaultdict(int), defaultdict(int), defaultdict(int)
    misses = defaultdict(list)
    for kind, sentence, must_go, expect in corpus:
        r = redact(sentence)
        totals[kind] += 1
        if not survived(r.text, must_go):
            caught[kind] += 1
        elif len(misses[kind]) < args.show_misses:
            misses[kind].append((sentence, r.text))
        if all(r.found.keys() & kinds for kinds in expect):
            kind_ok[kind] += 1

    print(f"Redaction benchmark — seed {args.seed}, {len(corpus)} sentences ({args.per_kind} per kind)\n")
    print(f"{'kind':<26}{'n':>6}{'recall':>10}{'right kind':>12}   (right kind: masked and counted as that kind)")
    names = ("navn, listed", "navn, after a cue")
    for kind in STRUCTURED + names + ("navn (held-out, no cue)", "flere i samme melding"):
        n = totals[kind]
        if n:
            print(f"{kind:<26}{n:>6}{caught[kind] / n:>10.1%}{kind_ok[kind] / n:>12.1%}")
    for label, kinds, target in (("structured, all", STRUCTURED, "≥ 99 %"), ("names, all", names, "≥ 90 %")):
        n, k = sum(totals[x] for x in kinds), sum(caught[x] for x in kinds)
        print(f"{label:<26}{n:>6}{k / n:>10.1%}   target {target}")
    print("  ('navn (held-out, no cue)' measures the list's reach only; it is not part of the target;")
    print("   'flere i samme melding': every identifier of a message with several must go)")

    for kind, rows in misses.items():
        if kind == "navn (held-out, no cue)":
            continue
        print(f"\n  misses, {kind}:")
        for sentence, out in rows:
            print(f"    {sentence!r} -> {out!r}")

    # false positives
    data = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yml").read_text(encoding="utf-8"))
    questions = [q["q"] for q in data["questions"]]
    flagged = [(q, redact(q)) for q in questions]
    flagged = [(q, r) for q, r in flagged if r.has_personal_data]
    print(f"\nFalse positives, tests/eval/questions.yml: {len(flagged)}/{len(questions)} "
          f"= {len(flagged) / len(questions):.2%}   target ≤ 1 %")
    for q, r in flagged:
        print(f"    {q!r} -> {r.text!r} {r.found}")
    d_flagged = [(d, redact(d)) for d in T_DISTRACTORS]
    d_flagged = [(d, r) for d, r in d_flagged if r.has_personal_data]
    print(f"False positives, identifier-free distractor sentences: {len(d_flagged)}/{len(T_DISTRACTORS)}")
    for d, r in d_flagged:
        print(f"    {d!r} -> {r.text!r} {r.found}")

    # speed
    sentences = [s for _, s, _, _ in corpus]
    rng.shuffle(sentences)
    dense = " ".join(sentences)[:4000]
    plain = " ".join(questions)[:4000]
    for label, text in (("4 000 chars, identifiers in every sentence", dense),
                        ("4 000 chars, evaluation questions", plain)):
        redact(text)
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            redact(text)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"\nTime, {label}: p50 {percentile(times, 50):.2f} ms, p99 {percentile(times, 99):.2f} ms "
              f"(200 runs; target < 20 ms)")


if __name__ == "__main__":
    main()
