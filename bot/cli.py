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
from typing import Any, Iterator

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
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


def _load(settings: Settings, actions: str):
    from bot.assistant import Assistant

    with _stdout_to_stderr():
        return Assistant.load(settings, actions=actions)


def render(reply: Any) -> str:
    """A reply as a person reads it in a terminal."""
    lines = [reply.text]
    for n, b in enumerate(reply.buttons, 1):
        lines.append(f"  [{n}] {b['title']}")
    return "\n".join(lines)


# -- commands ----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from bot.training import is_stale, train

    if args.if_stale and not is_stale(settings):
        print("Modellen er oppdatert; ingen trening nødvendig.")
        return 0
    model = train(settings, force=args.force)
    print(f"Ny modell: {model}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_logging()
    assistant = _load(settings, "inprocess")

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
    _quiet_logging()
    from bot.actions_runtime import ActionServer

    server = ActionServer(settings) if args.actions == "server" else None
    if server:
        server.start()
    try:
        assistant = _load(settings, args.actions)
        sender = uuid.uuid4().hex
        print("Veiviser – spør om exit-arbeid. Skriv «hjelp» for tips, «avslutt» for å avslutte.")
        print("Ikke skriv navn, fødselsnummer eller andre opplysninger som kan identifisere noen.\n")
        buttons: list[dict[str, str]] = []

        async def loop() -> None:
            nonlocal buttons
            while True:
                try:
                    text = input("Du: ")
                except (EOFError, KeyboardInterrupt):
                    print()
                    return
                if text.strip().lower() in ("avslutt", "exit", "quit", "/quit"):
                    return
                if text.strip().isdigit() and 0 < int(text.strip()) <= len(buttons):
                    text = buttons[int(text.strip()) - 1]["payload"]
                reply = await assistant.handle(text, sender_id=sender)
                buttons = reply.buttons
                print("\nVeiviser: " + render(reply) + "\n")

        asyncio.run(loop())
    finally:
        if server:
            server.stop()
    return 0


def cmd_content(args: argparse.Namespace, settings: Settings) -> int:
    from bot.content import ContentError, ContentStore

    try:
        store = ContentStore.load(settings.content_dir)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"content/ er gyldig: {len(store.sections)} avsnitt, {len(store.intents)} intenter.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veiviser", description="Veiviser – exit-arbeid etter veilederen.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="tren modellen (Rasa viser framdriften)")
    p.add_argument("--if-stale", action="store_true", help="bare hvis modellen mangler eller er eldre enn treningsdataene")
    p.add_argument("--force", action="store_true", help="tren på nytt selv om ingenting er endret")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("ask", help="still ett spørsmål, eller mange med --jsonl")
    p.add_argument("question", nargs="*", help="spørsmålet")
    p.add_argument("--jsonl", action="store_true", help="les ett spørsmål per linje fra stdin, skriv JSON per linje")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("shell", help="en samtale i terminalen")
    p.add_argument("--actions", choices=["server", "inprocess"], default="server",
                   help="kjør handlingene i action-serveren på 127.0.0.1 (standard) eller i prosessen")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("content", help="innholdet i content/")
    p.add_argument("action", choices=["validate"])
    p.set_defaults(func=cmd_content)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ask" and not args.jsonl and not args.question:
        build_parser().error("skriv et spørsmål, eller bruk --jsonl")
    return int(args.func(args, Settings.from_env()) or 0)


if __name__ == "__main__":
    sys.exit(main())
