"""`make bench` (several workers): N concurrent conversations over two `veiviser serve` workers.

Two real workers share a fresh PostgreSQL database and Redis, as in production (README, «Running
several workers»), with nginx in front running deploy/nginx.conf when nginx is installed (otherwise
each client alternates its requests between the two workers directly, and the output says so).
Every client is one conversation: it asks the questions of tests/eval/questions.yml one after the
other, now and then asks «hvor står det?» after an answer, and sends feedback (👍/👎) for some
replies. Targets (issue 7): zero 5xx; every conversation's replies in order (each reply echoes the
(redacted) question just sent, its conversation id never changes, a follow-up cites the answer
before it); every message and every feedback stored exactly once (rows counted in PostgreSQL, and
Rasa's own events for each conversation). Prints throughput and p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.guard.redact import redact  # noqa: E402
from bot.tokens import create_token  # noqa: E402
from bench_http import free_port, percentile, wait_healthy  # noqa: E402  (the single-process bench's helpers)

SECRET = "bench-secret-not-for-production"
PG_ADMIN_URL = os.environ.get("VEIVISER_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FOLLOW_UP = "hvor står det?"
ERROR_MARK = "noe gikk galt"  # utter_error: a timeout or a failed part answered with the fallback


# -- the pieces: PostgreSQL database, workers, nginx ------------------------------------------------
def pg_admin():
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")


def create_database() -> tuple[str, str]:
    from sqlalchemy import text

    name = f"veiviser_bench_{uuid.uuid4().hex[:10]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    from sqlalchemy import text

    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def worker_env(tmp: Path, db_url: str, redis_url: str) -> dict[str, str]:
    return dict(os.environ, VEIVISER_DATA_DIR=str(tmp), VEIVISER_HOST="127.0.0.1", VEIVISER_WEB_SECRET=SECRET,
                VEIVISER_DATABASE_URL=db_url, VEIVISER_REDIS_URL=redis_url,
                VEIVISER_RATE_LIMIT_PER_MINUTE=str(10**9), VEIVISER_TELEGRAM_TOKEN="",
                RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")


def start_worker(tmp: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    env = dict(env, VEIVISER_PORT=str(port), VEIVISER_ACTION_PORT=str(free_port()))
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / f"worker-{port}.log", "w"))


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def start_nginx(binary: str, tmp: Path, ports: tuple[int, int]) -> tuple[subprocess.Popen, int]:
    """deploy/nginx.conf as it is, with loopback ports and everything under `tmp` (as the tests do)."""
    import pwd

    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = (site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
            .replace("server 127.0.0.1:8081 ", f"server 127.0.0.1:{ports[0]} ")
            .replace("server 127.0.0.1:8082 ", f"server 127.0.0.1:{ports[1]} ")
            .replace("/var/log/nginx/", f"{tmp}/"))
    (tmp / "veiviser.conf").write_text(site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    for kind in kinds:
        (tmp / kind).mkdir(exist_ok=True)
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 1024; }}\nhttp {{\n"
        + "".join(f"    {k}_temp_path {tmp / k};\n" for k in kinds)
        + f"    access_log off;\n    include {tmp / 'veiviser.conf'};\n}}\n")
    process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                "-g", f"daemon off; pid {tmp / 'nginx.pid'}; error_log stderr;"],
                               stdout=subprocess.DEVNULL, stderr=open(tmp / "nginx.log", "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((tmp / "nginx.log").read_text())
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


# -- the clients ------------------------------------------------------------------------------------
@dataclass
class Conversation:
    user: str
    conversation_ids: set[str] = field(default_factory=set)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (message id, redacted text) of each 200
    feedback: list[int] = field(default_factory=list)  # message ids with a stored (200) feedback
    out_of_order: list[str] = field(default_factory=list)
    lost_context: int = 0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # ms, chat requests
    feedback_latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # connection errors and other non-HTTP failures
    error_replies: int = 0  # 200 with the fallback for a timeout or a failed part
    types: Counter = field(default_factory=Counter)


async def client(n: int, urls: list[str], questions: list[str], until: float, tally: Tally,
                 rng: random.Random) -> Conversation:
    conv = Conversation(user=f"bench-{n}")
    headers = {"Authorization": f"Bearer {create_token(SECRET.encode(), conv.user, 7200)}",
               "X-Veiviser-Client": "widget"}
    i, request = n, 0
    last_answer: dict | None = None
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < until:
            follow_up = last_answer is not None and rng.random() < 0.2
            message = FOLLOW_UP if follow_up else questions[i % len(questions)]
            url = urls[(n + request) % len(urls)]  # one URL (nginx), or alternately each worker
            request += 1
            start = time.perf_counter()
            try:
                async with session.post(f"{url}/api/chat", json={"message": message}, headers=headers) as r:
                    body = await r.json() if r.content_type == "application/json" else {}
                    tally.statuses[r.status] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                tally.errors[type(exc).__name__] += 1
                continue
            finally:
                tally.latencies.append((time.perf_counter() - start) * 1000)
            if r.status != 200:
                continue
            expected = redact(message).text
            conv.sent.append((body.get("message_id"), expected))
            conv.conversation_ids.add(body.get("conversation_id"))
            tally.types[body.get("type")] += 1
            if body.get("question") != expected:
                conv.out_of_order.append(f"sent {expected!r}, reply to {body.get('question')!r}")
            if ERROR_MARK in body.get("text", ""):
                tally.error_replies += 1
            if follow_up:
                if body.get("type") != "answer" or body["citations"][:1] != last_answer["citations"][:1]:
                    conv.lost_context += 1
                last_answer = None
            else:
                i += 1
                last_answer = body if body.get("type") == "answer" and body.get("citations") else None
            if body.get("message_id") and rng.random() < 0.3:  # 👍 or 👎 for some replies
                value = rng.choice((1, -1))
                start = time.perf_counter()
                try:
                    async with session.post(f"{urls[request % len(urls)]}/api/feedback", headers=headers,
                                            json={"message_id": body["message_id"], "value": value}) as r:
                        await r.read()
                        tally.statuses[r.status] += 1
                        if r.status == 200:
                            conv.feedback.append(body["message_id"])
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    tally.errors[type(exc).__name__] += 1
                tally.feedback_latencies.append((time.perf_counter() - start) * 1000)
    return conv


# -- the checks in PostgreSQL -------------------------------------------------------------------------
def check_store(db_url: str, conversations: list[Conversation]) -> dict[str, list[str]]:
    """Per conversation: stored messages == replies received (same ids, same texts, same order);
    stored feedback == feedback acknowledged; Rasa's user events == the messages sent, in order."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url, future=True)
    problems: dict[str, list[str]] = {"messages": [], "feedback": [], "conversation state": []}
    with engine.connect() as conn:
        users = {row.external_id: row for row in conn.execute(text(
            "SELECT id, external_id, conversation_id FROM users WHERE channel = 'web'"))}
        messages: dict[int, list[tuple[int, str]]] = {}
        for user_id, message_id, message in conn.execute(text("SELECT user_id, id, text FROM messages ORDER BY id")):
            messages.setdefault(user_id, []).append((message_id, message))
        feedback: dict[int, list[int]] = {}
        for user_id, message_id in conn.execute(text("SELECT user_id, message_id FROM feedback ORDER BY id")):
            feedback.setdefault(user_id, []).append(message_id)
        said: dict[str, list[str]] = {}
        events = conn.execute(text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id"))
        for sender, data in events:
            said.setdefault(sender, []).append(json.loads(data)["text"])
    engine.dispose()
    for conv in conversations:
        user = users.get(conv.user)
        if user is None:
            problems["messages"].append(f"{conv.user}: no user row")
            continue
        stored = messages.get(user.id, [])
        if stored != conv.sent:
            problems["messages"].append(f"{conv.user}: {len(conv.sent)} replies, {len(stored)} rows"
                                        + ("" if len(stored) != len(conv.sent) else " (ids/texts/order differ)"))
        if sorted(feedback.get(user.id, [])) != sorted(conv.feedback):
            problems["feedback"].append(f"{conv.user}: {len(conv.feedback)} acknowledged, "
                                        f"{len(feedback.get(user.id, []))} rows")
        events = said.get(user.conversation_id, [])
        if events != [" ".join(m.split()) for _, m in conv.sent]:
            problems["conversation state"].append(f"{conv.user}: {len(conv.sent)} messages, {len(events)} user events")
    return problems


# -- main -------------------------------------------------------------------------------------------
async def run(clients: int, seconds: float, redis_url: str, use_nginx: bool) -> int:
    import redis

    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/eval/questions.yml").read_text())["questions"]]
    redis.Redis.from_url(redis_url).flushdb()
    db_name, db_url = create_database()
    processes: list[subprocess.Popen] = []  # the workers, then nginx
    nginx = nginx_binary() if use_nginx else None
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env = worker_env(tmp, db_url, redis_url)
            subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            ports = (free_port(), free_port())
            processes = [start_worker(tmp, port, env) for port in ports]
            workers = [f"http://127.0.0.1:{port}" for port in ports]
            started = time.perf_counter()
            await asyncio.gather(*(wait_healthy(url, p, timeout=300) for url, p in zip(workers, processes)))
            load_seconds = time.perf_counter() - started
            if nginx:
                nginx_process, nginx_port = start_nginx(nginx, tmp, ports)
                processes.append(nginx_process)
                urls = [f"http://127.0.0.1:{nginx_port}"]
                front = "nginx (deploy/nginx.conf) in front"
            else:
                urls = workers
                front = (f"no nginx ({'--no-nginx' if not use_nginx else 'not installed'}): "
                         "each client alternates its requests between the two workers")
            # Warm-up on each worker: the first messages load lazily built parts of the model.
            warm = Tally()
            await asyncio.gather(*(client(10_000 + k, [w], questions, time.monotonic() + 3, warm, random.Random(k))
                                   for k, w in enumerate(workers)))
            tally = Tally()
            rng = random.Random(7)
            t0 = time.perf_counter()
            until = time.monotonic() + seconds
            conversations = await asyncio.gather(*(client(n, urls, questions, until, tally, random.Random(rng.random()))
                                                   for n in range(clients)))
            elapsed = time.perf_counter() - t0
            served = Counter()
            if nginx:
                for line in (tmp / "veiviser.access.log").read_text().splitlines():
                    if "/api/chat" in line:
                        served[line.split("upstream=")[1].split(" ut=")[0]] += 1
            if nginx:  # nginx first (SIGQUIT: graceful), then the workers (SIGTERM: graceful)
                processes[-1].send_signal(signal.SIGQUIT)
                processes[-1].wait(timeout=30)
            for p in processes[:2]:
                p.send_signal(signal.SIGTERM)
            codes = [p.wait(timeout=90) for p in processes[:2]]
            problems = check_store(db_url, conversations)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
        drop_database(db_name)
        redis.Redis.from_url(redis_url).flushdb()

    requests = len(tally.latencies)
    fives = sum(c for s, c in tally.statuses.items() if s >= 500)
    replies = sum(len(c.sent) for c in conversations)
    feedback = sum(len(c.feedback) for c in conversations)
    disorder = [f"{c.user}: {x}" for c in conversations for x in c.out_of_order]
    disorder += [f"{c.user}: {len(c.conversation_ids)} conversation ids" for c in conversations
                 if len(c.conversation_ids) > 1]
    lost_context = sum(c.lost_context for c in conversations)
    print(f"Two `veiviser serve` workers on PostgreSQL + Redis, {front};")
    print(f"{clients} concurrent conversations for {seconds:.0f} s (workers healthy after {load_seconds:.0f} s):")
    print(f"  chat requests: {requests}  ({requests / elapsed:.1f}/s)   feedback: {len(tally.feedback_latencies)}"
          f"  ({(requests + len(tally.feedback_latencies)) / elapsed:.1f} requests/s in all)")
    print(f"  latency /api/chat:     p50 {statistics.median(tally.latencies):.0f} ms   "
          f"p99 {percentile(tally.latencies, 0.99):.0f} ms   max {max(tally.latencies):.0f} ms")
    if tally.feedback_latencies:
        print(f"  latency /api/feedback: p50 {statistics.median(tally.feedback_latencies):.0f} ms   "
              f"p99 {percentile(tally.feedback_latencies, 0.99):.0f} ms")
    if served:
        print("  served by:     " + "   ".join(f"{k}: {v}" for k, v in sorted(served.items())))
    print(f"  statuses:      {dict(sorted(tally.statuses.items()))}")
    print(f"  replies:       {dict(tally.types)}   fallback for a timeout/failure: {tally.error_replies}")
    print(f"  5xx:           {fives}   connection errors: {sum(tally.errors.values())} {dict(tally.errors) or ''}")
    checks = {
        "zero 5xx and no connection errors": fives == 0 and not tally.errors,
        "replies in order (question echoed, one conversation id each)": not disorder,
        "follow-ups cite the answer before them": lost_context == 0,
        f"messages stored exactly once ({replies} replies)": not problems["messages"],
        f"feedback stored exactly once ({feedback} acknowledged)": not problems["feedback"],
        "Rasa's events: each message once, in order": not problems["conversation state"],
        "workers stopped cleanly (SIGTERM → exit 0)": all(c == 0 for c in codes),
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    for name, found in [("order", disorder), *problems.items()]:
        for line in found[:5]:
            print(f"      {name}: {line}")
    if lost_context:
        print(f"      follow-ups without the previous answer's citation: {lost_context}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6", help="a Redis database of its own (flushed)")
    parser.add_argument("--no-nginx", action="store_true", help="alternate the clients over the workers directly")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.clients, args.seconds, args.redis_url, not args.no_nginx)))
