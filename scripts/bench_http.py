"""`make bench` (HTTP part): the web API under 16 concurrent clients on loopback for 30 s.
Prints requests per second, p50/p99 latency and errors. Targets: zero errors, p99 < 300 ms."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from bot.logs import configure_logging
from bot.runner import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.tokens import create_token

SECRET = b"bench-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def client(n: int, url: str, questions: list[str], until: float, out: list[float], errors: list[int]) -> None:
    headers = {"Authorization": f"Bearer {create_token(SECRET, f'bench-{n}', 3600)}", "X-Veiviser-Client": "widget"}
    async with aiohttp.ClientSession() as session:
        i = n
        while time.monotonic() < until:
            start = time.perf_counter()
            async with session.post(f"{url}/api/chat", json={"message": questions[i % len(questions)]},
                                    headers=headers) as r:
                await r.read()
                if r.status != 200:
                    errors.append(r.status)
            out.append((time.perf_counter() - start) * 1000)
            i += 1


async def main(clients: int, seconds: float) -> None:
    configure_logging()
    base = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(base, database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                                       rate_limit_per_minute=10**9)
        service = Service.build(settings)
        port = _free_port()
        runner = web.AppRunner(build_web_app(settings, service, SECRET), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        questions = [q["q"] for q in yaml.safe_load((settings.root / "tests/eval/questions.yml").read_text())["questions"]]
        latencies: list[float] = []
        errors: list[int] = []
        until = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(client(n, f"http://127.0.0.1:{port}", questions, until, latencies, errors)
                               for n in range(clients)))
        elapsed = time.perf_counter() - started
        await runner.cleanup()
        service.store.dispose()
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
    print(f"HTTP API, {clients} clients for {seconds:.0f} s on loopback:")
    print(f"  requests: {len(latencies)}  ({len(latencies) / elapsed:.1f}/s)")
    print(f"  latency:  p50 {statistics.median(latencies):.0f} ms   p99 {p99:.0f} ms   (target p99 < 300 ms)")
    print(f"  errors:   {len(errors)}  {sorted(set(errors)) if errors else ''}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds))
    sys.exit(0)
