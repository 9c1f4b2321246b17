"""`make bench`: speed and memory figures on this machine (printed, never asserted in tests).

- model load time
- time to answer one question in process (Assistant.handle: NLU + rules + actions + reply), p50/p99
- Rasa's bare `parse_message` on the same model and questions, p50/p99, and the overhead ratio
- peak memory of the serving process
- training time and peak memory (a fresh training into a temporary folder; `--no-train` skips it)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bot.logs import configure_logging  # noqa: E402
from bot.settings import Settings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def timed(fn, questions: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            await fn(q)
            out.append((time.perf_counter() - start) * 1000)
    return out


async def serving(settings: Settings, rounds: int) -> None:
    from bot.assistant import Assistant

    start = time.perf_counter()
    assistant = Assistant.load(settings)
    load_s = time.perf_counter() - start
    questions = [q["q"] for q in yaml.safe_load((settings.root / "tests/eval/questions.yml").read_text())["questions"]]
    await assistant.handle(questions[0])  # warm-up (graph and TF first call)
    await assistant.parse(questions[0])
    answer = await timed(lambda q: assistant.handle(q, sender_id=uuid.uuid4().hex), questions, rounds)
    parse = await timed(assistant.parse, questions, rounds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model:                 {assistant.model_path.name}")
    print(f"model load:            {load_s:.2f} s")
    print(f"answer (in process):   p50 {statistics.median(answer):.1f} ms   p99 {pct(answer, 0.99):.1f} ms   (n={len(answer)})")
    print(f"bare parse_message:    p50 {statistics.median(parse):.1f} ms   p99 {pct(parse, 0.99):.1f} ms   (n={len(parse)})")
    ratio = statistics.median(answer) / statistics.median(parse)
    print(f"answer/parse p50:      {ratio:.2f}x   (target < 3x)")
    print(f"peak memory (serving): {peak_mb:.0f} MB")


def training(settings: Settings) -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rasa", "train", "--domain", "domain", "--data", "nlu", "--config", "config.yml",
             "--out", out, "--force", "--quiet"],
            cwd=settings.root, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"training (fresh):      {seconds:.0f} s   peak memory {peak_mb:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()
    configure_logging()
    settings = Settings.from_env()
    print(f"Veiviser benchmark on {os.cpu_count()} cores")
    asyncio.run(serving(settings, args.rounds))
    if not args.no_train:
        training(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
