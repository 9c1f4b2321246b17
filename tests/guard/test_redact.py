"""The personal-data redactor: exact masks per kind, the guideline's own names and numbers left
alone, properties on arbitrary text, and the false-positive rate on the evaluation questions."""

from __future__ import annotations

import random
import re
import statistics
import time
from datetime import date, timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.guard import redact as redact_module
from bot.guard.redact import Redaction, redact
from tests.conftest import ROOT

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


# --- helpers -----------------------------------------------------------------------------------

def fnr_with_checksum(born: date, individual: int, d_number: bool = False) -> str | None:
    """An 11-digit identity number with both check digits right (None when the first check digit
    would be 10, which no number has). D-numbers add 4 to the first digit of the day."""
    day = born.day + (40 if d_number else 0)
    base = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
    k1 = 11 - sum(w * int(d) for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), base)) % 11
    k1 = 0 if k1 == 11 else k1
    if k1 == 10:
        return None
    base += str(k1)
    k2 = 11 - sum(w * int(d) for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), base)) % 11
    k2 = 0 if k2 == 11 else k2
    if k2 == 10:
        return None
    return base + str(k2)


def valid_numbers(count: int, d_number: bool = False, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 59 * 365))  # 1940-1998: individual < 500
        number = fnr_with_checksum(born, rng.randrange(0, 500), d_number)
        if number:
            out.append(number)
    return out


def break_checksum(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# --- each kind, exact output ---------------------------------------------------------------------

EXACT = [
    # fødselsnummer / D-nummer / other 11-digit runs, in all written forms
    ("Fødselsnummeret hans er 010190 12345.", "Fødselsnummeret hans er [fødselsnummer]."),
    ("Gutten har fnr 01.01.90.12345 og bor hjemme.", "Gutten har fnr [fødselsnummer] og bor hjemme."),
    ("Jeg fikk oppgitt 010190-12345 som personnummer.", "Jeg fikk oppgitt [fødselsnummer] som personnummer."),
    ("Hun oppga personnummer 01019012345 på skjemaet.", "Hun oppga personnummer [fødselsnummer] på skjemaet."),
    # telefon
    ("Ring meg på 912 34 567 hvis noe skjer.", "Ring meg på [telefon] hvis noe skjer."),
    ("Mora hans har nummer 91234567.", "Mora hans har nummer [telefon]."),
    ("Han kan nås på +47 912 34 567 eller 0047 91234567.", "Han kan nås på [telefon] eller [telefon]."),
    ("Faren jobber på et kontor med sentralbord 22 33 44 55.", "Faren jobber på et kontor med sentralbord [telefon]."),
    # e-post
    ("Kontakt meg på ola.nordmann@gmail.com.", "Kontakt meg på [e-post]."),
    ("Læreren skrev til kari_hansen88@skole.oslo.kommune.no i går.", "Læreren skrev til [e-post] i går."),
    # adresse
    ("Han bor i Storgata 12B sammen med moren.", "Han bor i [adresse] sammen med moren."),
    ("Familien har flyttet til Kirkeveien 3.", "Familien har flyttet til [adresse]."),
    ("Møtet var i Thorvald Meyers gate 5.", "Møtet var i [adresse]."),
    ("Hun bor i Bygdøy allé 23, 0262 Oslo.", "Hun bor i [adresse]."),
    ("Brevet sendes til 5003 Bergen.", "Brevet sendes til [adresse]."),
    ("Vi besøkte ham i storgata 12 i fjor.", "Vi besøkte ham i [adresse] i fjor."),
    # saksnummer
    ("Dette gjelder saksnr 2024/1234 i barnevernet.", "Dette gjelder saksnr [saksnummer] i barnevernet."),
    ("Se saksnummer 23/4567-3 og journalnr. 2023/998.", "Se saksnummer [saksnummer] og journalnr. [saksnummer]."),
    ("Arkivnr 12/345 er feil, riktig er sak 2024/12345.", "Arkivnr [saksnummer] er feil, riktig er sak [saksnummer]."),
    ("Vår ref. 24/1234 gjelder samme gutt.", "Vår ref. [saksnummer] gjelder samme gutt."),
    # navn: listed names, full names, cues (also names in no list)
    ("Han heter Ali og går i 10. klasse.", "Han heter [navn] og går i 10. klasse."),
    ("Eleven Jonas har fått nye venner på nett.", "Eleven [navn] har fått nye venner på nett."),
    ("Jeg har snakket med Kari Hansen om saken.", "Jeg har snakket med [navn] om saken."),
    ("Ahmed sa at han vil ut av miljøet.", "[navn] sa at han vil ut av miljøet."),
    ("Hun heter Gudny og bor alene.", "Hun heter [navn] og bor alene."),
    ("Klienten Jovan Petrović har sonet ferdig.", "Klienten [navn] har sonet ferdig."),
    ("han heter ola nordmann og er 15 år", "han heter [navn] og er 15 år"),
    ("Ho heiter Solrun. Navnet hennes er Gudny Hovdenak.", "Ho heiter [navn]. Navnet hennes er [navn]."),
    ("His name is Brian and he is called Sam.", "His name is [navn] and he is called [navn]."),
    ("Mohammed Ali og Zainab Hussain er søsken.", "[navn] og [navn] er søsken."),
    ("Per Hansen og Kari Berg møtte Dr. Lie.", "[navn] og [navn] møtte Dr. [navn]."),
    ("Anne-Lise ringte om Olas mor.", "[navn] ringte om [navn] mor."),
]


@pytest.mark.parametrize("message, expected", EXACT)
def test_exact_masks(message, expected):
    assert redact(message).text == expected


@pytest.mark.parametrize(
    "message, kind, count",
    [
        ("Ring meg på 912 34 567 eller 41 23 45 67.", "telefon", 2),
        ("Skriv til a@b.no og c.d@e.com", "e-post", 2),
        ("Storgata 12B, 0557 Oslo", "adresse", 1),  # street + postal code is one address
        ("saksnr 2024/1234 og ref. 24/1234", "saksnummer", 2),
        ("Ola Nordmann og Kari Nordmann", "navn", 2),  # a full name counts once
    ],
)
def test_counts(message, kind, count):
    assert redact(message).found == {kind: count}


def test_example_from_the_brief():
    r = redact("Ola Nordmann, fnr 010190 12345, tlf 912 34 567")
    assert r.text == "[navn], fnr [fødselsnummer], tlf [telefon]"
    for raw in ("Ola", "Nordmann", "010190", "12345", "912", "34 567"):
        assert raw not in r.text
    assert r.found["navn"] == 1 and r.found["telefon"] == 1
    assert {"fødselsnummer", "d-nummer", "personnummer"} & r.found.keys()
    assert r.has_personal_data
    assert isinstance(r, Redaction)


# --- fødselsnummer vs D-nummer vs other 11 digits ------------------------------------------------

FORMS = (
    lambda n: n,
    lambda n: f"{n[:6]} {n[6:]}",
    lambda n: f"{n[:6]}-{n[6:]}",
    lambda n: f"{n[:2]}.{n[2:4]}.{n[4:6]}.{n[6:]}",
)


@pytest.mark.parametrize("form", range(len(FORMS)))
def test_valid_fodselsnummer(form):
    for number in valid_numbers(20):
        r = redact(f"Fødselsnummeret er {FORMS[form](number)}, ikke si det videre.")
        assert r.text == "Fødselsnummeret er [fødselsnummer], ikke si det videre."
        assert r.found == {"fødselsnummer": 1}, number


@pytest.mark.parametrize("form", range(len(FORMS)))
def test_valid_d_number(form):
    for number in valid_numbers(20, d_number=True):
        r = redact(f"Han har D-nummer {FORMS[form](number)}.")
        assert r.text == "Han har D-nummer [fødselsnummer]."
        assert r.found == {"d-nummer": 1}, number


@pytest.mark.parametrize("form", range(len(FORMS)))
def test_invalid_checksum_is_masked_all_the_same(form):
    # New identity numbers from 2032 have another checksum rule: every 11-digit run is masked.
    for number in valid_numbers(20, seed=11):
        bad = break_checksum(number)
        r = redact(f"Nummeret {FORMS[form](bad)} står i journalen.")
        assert r.text == "Nummeret [fødselsnummer] står i journalen."
        assert r.found == {"personnummer": 1}, bad


def test_longer_digit_runs_are_masked_too():
    r = redact("Kontonummer 1234567890123 og kort 4111111111111111")
    assert r.text == "Kontonummer [nummer] og kort [nummer]"
    assert r.found == {"nummer": 2}


# --- the guideline's own names and numbers ------------------------------------------------------

UNTOUCHED = [
    "Ring RVTS Øst på 22 58 60 00",
    "Nav Grünerløkka har et nasjonalt ansvar.",
    "Enerhaugen familievernkontor har erfaring med radikalisering.",
    "Rask psykisk helsehjelp er et lavterskeltilbud.",
    "Hvor mange saker har vi per i dag?",
    "Per i dag har vi tre saker, og det koster 500 kroner per dag.",
    "Ring 112 ved akutt fare, eller 02800 til politiet.",
    "NAV kan nås på 55 55 33 33 og PST på 23305000.",
    "Alarmtelefonen for barn og unge har nummer 116 111, brann 110 og ambulanse 113.",
    "Skriv til post@rvtsost.no eller post@pst.politiet.no for veiledning.",
    "Kan PST, SLT, DPS, BUP og TSB samarbeide om en IP?",
    "Helsedirektoratet, Kriminalomsorgen, Konfliktrådet, Bufdir, Barnevernet og Familievernet.",
    "Justis- og beredskapsdepartementet har gitt ut veilederen.",
    "Utveier og Plattform i Agder, RAN, GIRDS og CVE i Sverige og Danmark.",
    "Århus, Oslo, Bergen, Trondheim, Stavanger og Tromsø i Norge og Norden.",
    "Han har vært i Syria og Irak, og leser Koranen. Islam, Gud, Jesus og EU.",
    "Liv og helse står på spill.",
    "Finn ut hvem som har ansvaret.",
    "Hans mor er bekymret for ham.",
    "Tor ringte aldri tilbake.",
    "Vold i nære relasjoner er et tema.",
    "Berg kommune og Strand kommune samarbeider.",
    "Are there Danish or Swedish centres I can look at?",
    "Even the police were surprised.",
    "I 2019 kom han hjem, og i 2020 flyttet han.",
    "Det koster 25 500 000 kroner, og møtet er 24.12.2023 kl. 12.30.",
    "Studieåret 2019/2020 var vanskelig.",
    "Se https://lovdata.no/dokument/NL/lov/1992-07-17-100#KAPITTEL_3",
    "opplæringsloven kapittel 9 A og straffeloven § 196",
]


@pytest.mark.parametrize("message", UNTOUCHED)
def test_guideline_names_and_public_numbers_untouched(message):
    r = redact(message)
    assert r.text == message, r.found
    assert r.found == {} and not r.has_personal_data


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Per Hansen er klienten.", "[navn] er klienten."),
        ("Klienten Per har flyttet.", "Klienten [navn] har flyttet."),
        ("Jeg snakket med Liv i går.", "Jeg snakket med [navn] i går."),
        ("Liv Hansen ringte.", "[navn] ringte."),
        ("Vi møtte Dr. Berg og fru Strand.", "Vi møtte Dr. [navn] og fru [navn]."),
        ("Kari Vold er kontaktperson.", "[navn] er kontaktperson."),
        ("Gutten heter Berg.", "Gutten heter [navn]."),
        ("Hans Petter ringte om Hans mor.", "[navn] ringte om [navn] mor."),
        ("Hans mor ringte.", "Hans mor ringte."),
        ("gutten ola og mor per", "gutten [navn] og mor per"),
        # once a name, a name everywhere in the message, also where it starts a sentence
        ("Han heter Jovan. Jovan er 17, og Jovans mor er redd.",
         "Han heter [navn]. [navn] er 17, og [navn] mor er redd."),
        ("Han heter Tore. Tore ringer.", "Han heter [navn]. [navn] ringer."),
        ("Per Hansen sier at Per i dag er bedre.", "[navn] sier at Per i dag er bedre."),
    ],
)
def test_ambiguous_names_in_context(message, expected):
    assert redact(message).text == expected


def test_lowercase_word_is_not_a_name_without_a_cue():
    assert redact("ali og kari kom ikke").found == {}
    assert redact("han heter ali").text == "han heter [navn]"


# --- robustness -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, b"Ola Nordmann 91234567", 12345678901, "", " ", "\x00\ud800"])
def test_odd_input_never_raises(value):
    r = redact(value)  # type: ignore[arg-type]
    assert isinstance(r.text, str)
    assert "12345678901" not in r.text


def test_internal_error_masks_conservatively(monkeypatch):
    def broken(text, counter):
        raise RuntimeError("boom")

    monkeypatch.setattr(redact_module, "_STAGES", (broken,))
    r = redact("Ola Nordmann, fnr 010190 12345, ola@example.no, tlf 912 34 567 i Storgata 12")
    assert r.has_personal_data and "uavklart" in r.found
    assert not re.search(r"\d", r.text)
    for raw in ("Ola", "Nordmann", "ola@example.no", "Storgata"):
        assert raw not in r.text
    assert r.text == (
        "[skjult] [skjult], fnr [skjult] [skjult], [skjult], tlf [skjult] [skjult] [skjult] i [skjult] [skjult]"
    )


def test_fast_on_4000_characters():
    base = (
        "Jeg jobber i Nav og har en sak om Ola Nordmann (fnr 010190 12345, tlf 912 34 567) som bor i "
        "Storgata 12B, 0557 Oslo. Han heter egentlig Jovan og broren Milan er 17. Saksnr 2024/1234. "
        "Send e-post til ola@example.no. Per i dag er det vanskelig. "
    )
    text = (base * 30)[:4000]
    redact(text)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        redact(text)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.020, f"median {statistics.median(times) * 1000:.1f} ms"


# --- properties -------------------------------------------------------------------------------------

NORWEGIAN_BITS = st.sampled_from(
    list("0123456789 .-/+@,:\n«»ABCØÅabcæøå")
    + ["Ola", "Per", "Liv", "Hansen", "Berg", "Storgata", " gate ", "veien", "han heter ", "klienten ",
       "saksnr ", "ref. ", "+47", "0047", "Oslo", "Dr. ", "22 58 60 00", "post@rvtsost.no", "x@y.no",
       "[navn]", "[telefon]", "٣", "０"]
)
TEXTS = st.one_of(st.text(), st.lists(NORWEGIAN_BITS, max_size=40).map("".join))


@PROPERTY
@given(st.text())
def test_never_raises_on_any_text(text):
    r = redact(text)
    assert isinstance(r, Redaction) and isinstance(r.text, str)
    assert all(isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in r.found.items())


@PROPERTY
@given(TEXTS)
def test_no_eleven_digit_run_survives(text):
    out = redact(text).text
    for run in re.findall(r"\d{11,}", text):
        for i in range(len(run) - 10):
            assert run[i : i + 11] not in out


@PROPERTY
@given(TEXTS)
def test_idempotent(text):
    once = redact(text).text
    assert redact(once).text == once


@PROPERTY
@given(st.lists(st.sampled_from(valid_numbers(30) + valid_numbers(30, d_number=True)), min_size=1, max_size=3),
       st.sampled_from(FORMS))
def test_any_written_identity_number_is_masked(numbers, form):
    text = "fnr " + " og ".join(form(n) for n in numbers) + "."
    out = redact(text).text
    assert not re.search(r"\d", out), out


# --- false positives on the evaluation questions ------------------------------------------------

def test_false_positive_rate_on_eval_questions():
    data = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yml").read_text(encoding="utf-8"))
    questions = [q["q"] for q in data["questions"]]
    flagged = [(q, redact(q)) for q in questions]
    flagged = [(q, r) for q, r in flagged if r.has_personal_data]
    report = "\n".join(f"{q!r} -> {r.text!r} {r.found}" for q, r in flagged)
    assert len(flagged) <= 0.01 * len(questions), report


# --- data files -----------------------------------------------------------------------------------

def test_name_lists_are_curated():
    given_names, surnames = redact_module.GIVEN, redact_module.SURNAMES
    assert len(given_names) >= 300 and len(surnames) >= 100
    for name in ("mohammed", "ali", "ahmed", "fatima", "aisha", "omar", "yusuf", "ibrahim", "hassan", "amir",
                 "sara", "maryam", "abdullah", "hamza", "zainab", "piotr", "jakub", "anna", "ola", "kari"):
        assert name in given_names, name
    for name in ("hansen", "johansen", "olsen", "nguyen", "nordmann", "ahmed", "hussain", "khan", "berg", "lie"):
        assert name in surnames, name
    # every word restricted as "not at the start of a sentence" is a listed name
    assert redact_module.NOT_INITIAL <= given_names | surnames
    # nothing is both a name and allow-listed
    assert not (redact_module.ALLOW_WORDS & (given_names | surnames))
