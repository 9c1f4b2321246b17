"""`make bench` (HTTP part): the web API of a real `veiviser serve` under concurrent clients.

Starts the service as its own process (model, action server, SQLite under a temporary directory),
exactly as `make run` does, then runs N clients on loopback from this process, each one a
conversation that asks the next question as soon as it has its answer. Prints requests per second,
p50/p99 latency and errors. Targets (issue 5): zero errors, p99 < 300 ms with 16 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.tokens import create_token  # noqa: E402

SECRET = "bench-secret-not-for-production"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(tmp: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = dict(os.environ, VEIVISER_DATA_DIR=str(tmp), VEIVISER_PORT=str(port), VEIVISER_HOST="127.0.0.1",
               VEIVISER_ACTION_PORT=str(free_port()), VEIVISER_WEB_SECRET=SECRET,
               VEIVISER_RATE_LIMIT_PER_MINUTE=str(10**9), VEIVISER_TELEGRAM_TOKEN="",
               RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "service.log", "w"))


async def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with code {process.returncode}")
            try:
                async with session.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("the service did not become healthy")


async def client(n: int, url: str, questions: list[str], until: float, out: list[float], errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {create_token(SECRET.encode(), f'bench-{n}', 3600)}",
               "X-Veiviser-Client": "widget"}
    async with aiohttp.ClientSession() as session:
        i = n
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                async with session.post(f"{url}/api/chat", json={"message": questions[i % len(questions)]},
                                        headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(str(r.status))
            except aiohttp.ClientError as exc:
                errors.append(type(exc).__name__)
            out.append((time.perf_counter() - start) * 1000)
            i += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] if ordered else float("nan")


async def main(clients: int, seconds: float) -> None:
    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/eval/questions.yml").read_text())["questions"]]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_service(Path(tmp), port)
        try:
            await wait_healthy(url, process)
            # Warm-up: the first messages load lazily built parts of the model.
            await client(999, url, questions, time.monotonic() + 3, [], [])
            latencies: list[float] = []
            errors: list[str] = []
            started = time.perf_counter()
            until = time.monotonic() + seconds
            await asyncio.gather(*(client(n, url, questions, until, latencies, errors) for n in range(clients)))
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    print(f"HTTP API of `veiviser serve` (own process, SQLite, action server), {clients} clients, {seconds:.0f} s:")
    print(f"  requests: {len(latencies)}  ({len(latencies) / elapsed:.1f}/s)")
    print(f"  latency:  p50 {statistics.median(latencies):.0f} ms   p99 {percentile(latencies, 0.99):.0f} ms"
          "   (target p99 < 300 ms)")
    print(f"  errors:   {len(errors)}  {sorted(set(errors)) if errors else ''}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds))
