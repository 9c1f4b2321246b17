"""Tune the FallbackClassifier thresholds on tests/eval: for each (threshold, ambiguity) pair,
top-1 citation accuracy if confident, how many would be asked back, and out-of-scope answered.

    .venv/bin/python scripts/threshold_sweep.py [MODEL_DIR]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import yaml

from bot.cli import _quiet_logging
from bot.settings import Settings

NON_TOPICS = {"nlu_fallback"}


async def main() -> None:
    from bot.assistant import Assistant

    _quiet_logging()
    settings = Settings.from_env()
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    assistant = Assistant.load(settings, model_path=model) if model else Assistant.load(settings)
    questions = yaml.safe_load((settings.root / "tests/eval/questions.yml").read_text())["questions"]
    rows = []
    for q in questions:
        parse = await assistant.parse(q["q"])
        ranking = [r for r in parse["intent_ranking"] if r["name"] not in NON_TOPICS]
        top, second = ranking[0], ranking[1] if len(ranking) > 1 else {"confidence": 0}
        section = assistant.content.for_intent(top["name"])
        if top["name"] == "ask_contact":
            ents = [e for e in parse.get("entities", []) if e["entity"] == "service"]
            section = assistant.content.for_service(str(ents[0]["value"]).lower()) if ents else assistant.content.section("planlegging-og-kartlegging")
        if top["name"] == "out_of_scope":
            got = "out_of_scope"
        else:
            got = section.heading if section else top["name"]
        rows.append((q["expect"], got, top["confidence"], top["confidence"] - second["confidence"], q["q"], top["name"]))
    in_scope = [r for r in rows if r[0] != "out_of_scope"]
    oos = [r for r in rows if r[0] == "out_of_scope"]
    raw = sum(r[0] == r[1] for r in in_scope)
    print(f"raw top-1 (no fallback): {raw}/{len(in_scope)} = {raw/len(in_scope):.1%}")
    print("thr  amb   acc     asked  oos_answered")
    for thr in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
        for amb in (0.0, 0.05, 0.1):
            ok = sum(1 for e, g, c, d, *_ in in_scope if e == g and c >= thr and d >= amb)
            asked = sum(1 for e, g, c, d, *_ in in_scope if not (c >= thr and d >= amb))
            bad = sum(1 for e, g, c, d, *_ in oos if g != "out_of_scope" and c >= thr and d >= amb)
            print(f"{thr:.2f} {amb:.2f}  {ok/len(in_scope):6.1%}  {asked:4d}   {bad}")
    for r in rows:
        if r[0] != r[1]:
            print(f"  {r[0]:>30.30} | {r[1]:>30.30} {r[2]:.2f} {r[3]:.2f} {r[5]} | {r[4]}")


asyncio.run(main())
