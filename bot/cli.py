"""`veiviser` — the command line: train, ask, shell, content validate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
if not os.environ.get("VEIVISER_DEBUG"):
    # Libraries' deprecation chatter is noise for the people using these commands.
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module="(rasa|tensorflow|matplotlib|sqlalchemy|pkg_resources|jax).*")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bot.settings import Settings  # noqa: E402


def _quiet_logging(level: int = logging.WARNING) -> None:
    from bot.logs import configure_logging

    configure_logging(level)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep library chatter out of stdout, which carries only replies (the JSONL contract)."""
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


def _load(settings: Settings, actions: str, model: str | None = None):
    from bot.assistant import Assistant

    path = None
    if model:
        path = Path(model) if Path(model).exists() else settings.models_dir / model
    with _stdout_to_stderr():
        return Assistant.load(settings, actions=actions, model_path=path)


def render(reply: Any) -> str:
    """A reply as a person reads it in a terminal."""
    lines = [reply.text]
    for n, b in enumerate(reply.buttons, 1):
        lines.append(f"  [{n}] {b['title']}")
    return "\n".join(lines)


# -- commands ----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from bot.registry import ModelRegistry
    from bot.training import is_stale, train

    _quiet_logging(logging.INFO)
    registry = ModelRegistry(settings.models_dir)
    if args.if_stale and not is_stale(settings):
        print("Modellen er oppdatert; ingen trening nødvendig.")
        if registry.current() is None:
            registry.adopt_untracked()
        return 0
    before = registry.current()
    model = train(settings, force=args.force)
    print(f"Ny modell: {model.name}")
    current = registry.current()
    if current is not None and current.name == model.name:
        print("Den er satt i drift (første modell, eller uendret).")
        return 0
    if args.promote:
        # `make run`/`make test`: put the new model in service through the same gate a maintainer uses.
        rc = cmd_promote(argparse.Namespace(model=str(model), force=False, margin=None, section_margin=None, reason=""),
                         settings)
        if rc != 0:
            print(f"Modellen i drift er fortsatt {before.name if before else '–'}.")
        return 0
    print("Neste steg: `veiviser evaluate` (rapport), deretter `veiviser promote` (setter den i drift).")
    return 0


def _print_comparison(new, old) -> None:
    from bot.maintain.evaluation import intent_changes

    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    print(f"Riktig kilde (topp-1): {pct(new.accuracy)} ({new.correct}/{new.in_scope})"
          + (f"   i drift: {pct(old.accuracy)} ({old.correct}/{old.in_scope})" if old else ""))
    print(f"Utenfor veilederen, men besvart: {new.out_of_scope_answered}/{new.out_of_scope}"
          + (f"   i drift: {old.out_of_scope_answered}/{old.out_of_scope}" if old else ""))
    if old:
        changed = [r for r in intent_changes(new, old) if r[1] is not None and r[2] is not None and abs(r[2] - r[1]) >= 0.005]
        if changed:
            print("Endret F1 per intensjon (størst fall først):")
            for name, before, after, support in changed[:12]:
                print(f"  {name:<40} {before:.2f} → {after:.2f}  ({support} spørsmål)")


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """A trained model against the evaluation set, compared with the one in service."""
    from bot.maintain.evaluation import report_for, write_report
    from bot.registry import ModelIntegrityError, ModelRegistry

    _quiet_logging()
    registry = ModelRegistry(settings.models_dir)
    model = Path(args.model) if args.model else registry.newest()
    if model is None:
        print("Ingen trent modell. Kjør `veiviser train` først.", file=sys.stderr)
        return 1
    if not model.exists():
        model = Path(settings.models_dir) / args.model
    current = registry.current()

    async def run():
        with _stdout_to_stderr():
            new = await report_for(settings, model)  # reused while the archive and the questions are unchanged
            old = None
            if current is not None and current.name != model.name and not args.no_compare:
                old = await report_for(settings, current)
        return new, old

    try:
        new, old = asyncio.run(run())
    except (ModelIntegrityError, FileNotFoundError) as exc:
        print(f"Kan ikke evaluere: {exc}", file=sys.stderr)
        return 1
    page = write_report(settings, new, old)
    print(f"Modell: {new.model}" + (f"  (sammenlignet med {old.model}, som er i drift)" if old else ""))
    _print_comparison(new, old)
    print(f"Rapport: {page}  (og report.md, bilder i samme mappe)")
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from bot.maintain.models import DEFAULT_MARGIN, DEFAULT_SECTION_MARGIN, promote
    from bot.registry import ModelIntegrityError, RegistryError

    _quiet_logging()
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    section_margin = DEFAULT_SECTION_MARGIN if args.section_margin is None else args.section_margin

    if args.force and not getattr(args, "reason", ""):
        print("--force krever en begrunnelse: --reason \"hvorfor modellen likevel skal i drift\" (loggføres).",
              file=sys.stderr)
        return 2

    async def run():
        with _stdout_to_stderr():
            return await promote(settings, Path(args.model) if args.model else None, force=args.force,
                                 margin=margin, section_margin=section_margin, reason=getattr(args, "reason", "") or "")

    try:
        result = asyncio.run(run())
    except (RegistryError, ModelIntegrityError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Kandidat: {result.candidate.name}" + (f"   i drift: {result.old.model}" if result.old else ""))
    _print_comparison(result.new, result.old)
    for reason in result.verdict.reasons:
        print(f"  ✗ {reason}")
    print(f"Rapport: {result.page}")
    if not result.promoted:
        print("AVVIST: modellen er dårligere enn den i drift og er ikke satt i drift. Rett treningsdataene og tren "
              "på nytt, eller bruk --force (blir loggført) hvis du er sikker.", file=sys.stderr)
        return 1
    forced = " (tvunget med --force; loggført)" if not result.verdict.ok else ""
    print(f"SATT I DRIFT: {result.candidate.name}{forced}. Tjenesten laster den selv innen noen sekunder.")
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from bot.maintain.models import rollback
    from bot.registry import ModelIntegrityError, RegistryError

    try:
        current, previous = rollback(settings)
    except (RegistryError, ModelIntegrityError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Tilbake til {previous.name} (i stedet for {current.name}). Tjenesten laster den selv innen noen sekunder.")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from bot.maintain.evaluation import cached_report
    from bot.registry import ModelRegistry

    registry = ModelRegistry(settings.models_dir)
    data, current = registry.read(), registry.current()
    trained = registry.trained()
    if not trained:
        print("Ingen trente modeller. Kjør `veiviser train`.")
        return 0
    for model in trained:
        report = cached_report(settings, model)
        mark = "I DRIFT " if current and model.name == current.name else "        "
        figure = f"riktig kilde {report.accuracy:.1%}" if report else "ikke evaluert"
        print(f"{mark}{model.name}  trent {data['models'][model.name]['trained_at']}  {figure}")
    for entry in data["history"][-5:]:
        extra = " (tvunget)" if entry.get("forced") else ""
        print(f"  {entry['at']}  {entry['action']}{extra}: {entry['model']}  av {entry['by']}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_logging()
    assistant = _load(settings, "inprocess", args.model)

    async def run() -> None:
        if args.jsonl:
            for line in sys.stdin:
                question = line.rstrip("\n")
                if not question.strip():
                    continue
                reply = await assistant.handle(question, sender_id=uuid.uuid4().hex)
                sys.stdout.write(json.dumps(reply.as_json(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
        else:
            question = " ".join(args.question)
            reply = await assistant.handle(question, sender_id=uuid.uuid4().hex)
            print(render(reply))

    asyncio.run(run())
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    """A conversation in the terminal through the whole service: guard, assistant, store."""
    import dataclasses
    import getpass

    _quiet_logging()
    from bot.actions_runtime import ActionServer

    # Whoever has a terminal on the server is its operator: the local user is let in (allow-list).
    user = getpass.getuser()
    settings = dataclasses.replace(settings, allowlist=settings.allowlist + (f"shell:{user}",))
    server = ActionServer(settings) if args.actions == "server" else None
    if server:
        server.start()
    try:
        from bot.service import Service

        with _stdout_to_stderr():
            service = Service.build(settings, actions=args.actions)
        print("Veiviser – spør om exit-arbeid. «hjelp» gir tips, «/slett» sletter alt om deg, «avslutt» avslutter.")
        print("Ikke skriv navn, fødselsnummer eller andre opplysninger som kan identifisere noen.\n")
        buttons: list[dict[str, str]] = []

        async def loop() -> None:
            nonlocal buttons
            retention = asyncio.create_task(service.retention_task())
            try:
                while True:
                    try:
                        text = await asyncio.get_running_loop().run_in_executor(None, input, "Du: ")
                    except (EOFError, KeyboardInterrupt):
                        print()
                        return
                    if text.strip().lower() in ("avslutt", "exit", "quit", "/quit"):
                        return
                    if text.strip().isdigit() and 0 < int(text.strip()) <= len(buttons):
                        text = buttons[int(text.strip()) - 1]["payload"]
                    reply = await service.handle("shell", user, text)
                    buttons = reply.buttons
                    print("\nVeiviser: " + render(reply) + "\n")
            finally:
                retention.cancel()

        asyncio.run(loop())
    finally:
        if server:
            server.stop()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """The service: Telegram (when a token is set) and the HTTP server on one event loop."""
    _quiet_logging()
    from bot.runner import main as serve

    return serve(settings)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """`make run`: the service (web widget; Telegram too when a token is set)."""
    return cmd_serve(args, settings)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """A portal token for the web API (the intranet portal would normally issue these)."""
    from bot.store.store import parse_duration
    from bot.tokens import create_token, load_or_create_secret

    secret = load_or_create_secret(settings.web_secret, settings.data_dir)
    print(create_token(secret, args.user, int(parse_duration(args.ttl).total_seconds())))
    return 0


def _store(settings: Settings):
    from bot.store import Store

    store = Store(settings.db_url)
    store.upgrade()
    return store


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    _store(settings)
    print(f"Databasen er oppdatert ({settings.db_url.split('@')[-1]}).")
    return 0


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from bot.store.store import parse_duration

    store = _store(settings)
    code = store.create_invitation(args.role, parse_duration(args.expires), created_by=f"cli:{getpass.getuser()}")
    print(code)
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    days = settings.retention_days if args.days is None else args.days
    counts = _store(settings).purge(days, actor="cli")
    print(f"Slettet eldre enn {days} dager: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    channel, _, external_id = args.user.partition(":")
    store = _store(settings)
    user = store.find_user(channel, external_id) if external_id else None
    if user is None:
        print(f"Fant ingen bruker «{args.user}» (skriv kanal:id, f.eks. telegram:12345).", file=sys.stderr)
        return 1
    counts = store.forget(user, actor=f"cli:{getpass.getuser()}")
    print("Slettet: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    """What went wrong, grouped; with --annotate, turn it into training examples under nlu/."""
    import getpass

    from bot.maintain import review

    store = _store(settings)
    options = {"days": args.days, "limit": args.limit, "min_confidence": args.min_confidence}
    if args.annotate:
        return review.annotate(store, settings, actor=f"cli:{getpass.getuser()}", **options)
    return review.show(store, settings, **options)


def cmd_content(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "diff":
        from bot.maintain import content_diff

        return content_diff.run(args.old, args.new, settings)
    from bot.maintain import validate

    return validate.run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veiviser", description="Veiviser – exit-arbeid etter veilederen.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="tren modellen (Rasa viser framdriften)")
    p.add_argument("--if-stale", action="store_true", help="bare hvis modellen mangler eller er eldre enn treningsdataene")
    p.add_argument("--force", action="store_true", help="tren på nytt selv om ingenting er endret")
    p.add_argument("--promote", action="store_true",
                   help="sett den nye modellen i drift hvis den ikke er dårligere (som `veiviser promote`)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="mål en trent modell på evalueringssettet; rapport i reports/")
    p.add_argument("model", nargs="?", help="modellarkivet (standard: den nyeste trente)")
    p.add_argument("--no-compare", action="store_true", help="ikke sammenlign med modellen i drift")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("promote", help="sett en trent modell i drift hvis den ikke er dårligere enn den i drift")
    p.add_argument("model", nargs="?", help="modellarkivet (standard: den nyeste trente)")
    p.add_argument("--force", action="store_true", help="sett i drift selv om den er dårligere (loggføres; krever --reason)")
    p.add_argument("--reason", default="", help="begrunnelse for --force (lagres i historikken)")
    p.add_argument("--margin", type=float, default=None, help="tillatt fall samlet (standard 0.02)")
    p.add_argument("--section-margin", type=float, default=None, help="tillatt fall per avsnitt (standard 0.20)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", help="sett modellen som var i drift før, tilbake i drift")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("models", help="trente modeller, hvilken som er i drift, og historikken")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("ask", help="still ett spørsmål, eller mange med --jsonl")
    p.add_argument("question", nargs="*", help="spørsmålet")
    p.add_argument("--jsonl", action="store_true", help="les ett spørsmål per linje fra stdin, skriv JSON per linje")
    p.add_argument("--model", default=None, help="spør en bestemt trent modell (f.eks. før `promote`), ikke den i drift")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("shell", help="en samtale i terminalen")
    p.add_argument("--actions", choices=["server", "inprocess"], default="server",
                   help="kjør handlingene i action-serveren på 127.0.0.1 (standard) eller i prosessen")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("serve", help="start tjenesten (Telegram når VEIVISER_TELEGRAM_TOKEN er satt)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("run", help="som `make run`: tjenesten hvis en kanal er satt opp, ellers shell")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("token", help="lag et token for web-API-et")
    p.add_argument("action", choices=["create"])
    p.add_argument("user")
    p.add_argument("--ttl", default="8h")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("db", help="databasen")
    p.add_argument("action", choices=["upgrade"])
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("invite", help="invitasjonskoder")
    p.add_argument("action", choices=["create"])
    p.add_argument("--role", choices=["practitioner", "admin"], default="practitioner")
    p.add_argument("--expires", default="7d", help="gyldighet, f.eks. 7d, 12h")
    p.set_defaults(func=cmd_invite)

    p = sub.add_parser("purge", help="slett meldinger, tilbakemeldinger og samtalelogg eldre enn oppbevaringstiden")
    p.add_argument("--days", type=int, default=None)
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("forget", help="slett alt om én bruker (kanal:id)")
    p.add_argument("user")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("review", help="spørsmål som gikk galt, gruppert; --annotate gjør dem til treningseksempler")
    p.add_argument("--annotate", action="store_true", help="velg intent for hver gruppe og skriv eksemplene i nlu/")
    p.add_argument("--days", type=int, default=None, help="bare meldinger fra de siste N dagene")
    p.add_argument("--limit", type=int, default=20, help="høyst N grupper (standard 20)")
    p.add_argument("--min-confidence", type=float, default=0.6,
                   help="ta med svar med lavere sikkerhet enn dette (standard 0,6)")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("content", help="innholdet i content/: kontroller det, eller se hva som er endret")
    content = p.add_subparsers(dest="action", required=True)
    c = content.add_parser(
        "validate", help="kontroller content/, nlu/, domain/, config.yml og evalueringssettet sammen",
        description="Kontrollerer content/, nlu/, domain/, config.yml, actions/ og tests/eval/questions.yml "
                    "sammen. Hver feil vises som «fil:linje: hva er galt — hvordan rette det». "
                    "Avslutningskode 0 når alt stemmer, 1 ved feil.")
    c.set_defaults(func=cmd_content)
    c = content.add_parser(
        "diff", help="hvilke avsnitt som er endret mellom to utgaver av veilederen",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Viser hvilke avsnitt som er nye, fjernet eller endret (hvilke felt, og tekstendringene) "
                    "mellom to utgaver av innholdet.",
        epilog="OLD og NEW er hver en innholdsmappe (med document.yml og sections/) eller en git-revisjon:\n"
               "  REV:sti   mappen «sti» (fra toppen av git-depotet) slik den var i REV\n"
               "  REV       innholdsmappen slik den var i REV\n"
               "NEW er innholdsmappen i bruk når den utelates.\n\n"
               "Eksempler:\n"
               "  veiviser content diff HEAD                 det som er endret i content/ siden siste commit\n"
               "  veiviser content diff HEAD~1 HEAD          det siste commit endret\n"
               "  veiviser content diff gammel/content content\n\n"
               "Avslutningskode som diff(1): 0 ingen endring, 1 endret, 2 kunne ikke lese OLD eller NEW.")
    c.add_argument("old", metavar="OLD", help="den gamle utgaven: mappe, REV eller REV:sti")
    c.add_argument("new", metavar="NEW", nargs="?", help="den nye utgaven (standard: innholdsmappen i bruk)")
    c.set_defaults(func=cmd_content)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ask" and not args.jsonl and not args.question:
        build_parser().error("skriv et spørsmål, eller bruk --jsonl")
    return int(args.func(args, Settings.from_env()) or 0)


if __name__ == "__main__":
    sys.exit(main())
