"""deploy/nginx.conf in front of two real `veiviser serve` workers sharing PostgreSQL and Redis.

The test runs the operator's file itself (only its ports and log directory rewritten) with Debian's
nginx as the current user on loopback ports, in front of two workers on a fresh PostgreSQL database
and a Redis database of its own. Through nginx: both workers answer with citations, a conversation
keeps its context when its messages land on different workers, the rate limit is shared, a client's
own user header never gets through, a worker stopped with SIGTERM loses nothing while the other takes
every request, and each message is stored exactly once. nginx must be installed (`.ci/run` installs
it): without it these tests fail, they are never skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp import web
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.store_backends import postgres_database
from tests.workers import HEADERS, Worker, auth, free_port, start_worker, wait_healthy

DEPLOY = ROOT / "deploy" / "nginx.conf"
REDIS_URL = "redis://127.0.0.1:6379/5"
RATE_LIMIT = 5
# Questions the model answers with a citation (the first reply to a new user carries the privacy notice too).
QUESTIONS = [
    "Kan jeg dele opplysninger med politiet?",
    "Når går avvergingsplikten foran taushetsplikten?",
    "har personen rett til individuell plan?",
]
SSO_USER = "kari.nordmann"

pytestmark = pytest.mark.slow


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        pytest.fail("nginx is not installed: `apt-get install nginx` (Debian's package; .ci/run installs it)",
                    pytrace=False)
    return found


# -- rendering and running the operator's configuration -------------------------------------------
def render_site(listen: int, upstreams: tuple[int, int], log_dir: Path, sso_url: str | None = None) -> str:
    """deploy/nginx.conf with test ports and log directory; with `sso_url`, the commented single
    sign-on blocks replace the plain `location /` (uncommented exactly as an operator would)."""
    site = DEPLOY.read_text(encoding="utf-8")
    for old, new in (("listen 8080;", f"listen 127.0.0.1:{listen};"),
                     ("server 127.0.0.1:8081 ", f"server 127.0.0.1:{upstreams[0]} "),
                     ("server 127.0.0.1:8082 ", f"server 127.0.0.1:{upstreams[1]} "),
                     ("/var/log/nginx/", f"{log_dir}/")):
        assert site.count(old) == 1, f"deploy/nginx.conf: expected exactly one {old!r}"
        site = site.replace(old, new)
    if sso_url:
        head, rest = site.split("    location / {\n", 1)
        _, tail = rest.split("\n    }\n", 1)
        block = []
        for line in tail[tail.index("    # location / {"):].splitlines():
            if line.startswith("    # "):
                block.append("    " + line[len("    # "):])
            elif line.strip() != "#":
                break
        site = head + "\n".join(block).replace("https://portal.example.kommune.no/sso/whoami", sso_url) + "\n}\n"
    return site


def main_conf(tmp: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides around a site, with every path under `tmp`."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in kinds)
    return (f"{user}worker_processes 1;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n{temp}\n    access_log off;\n    include {site};\n}}\n")


def nginx_args(tmp: Path) -> list[str]:
    return [nginx_binary(), "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
            "-g", f"daemon off; pid {tmp / 'nginx.pid'}; error_log stderr;"]


@dataclass
class Nginx:
    process: subprocess.Popen
    port: int
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.tmp / "veiviser.access.log"

    def access_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_nginx(tmp: Path, site_text: str) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / kind).mkdir(exist_ok=True)
    (tmp / "veiviser.conf").write_text(site_text)
    (tmp / "nginx.conf").write_text(main_conf(tmp, tmp / "veiviser.conf"))


def start_nginx(tmp: Path, upstreams: tuple[int, int], sso_url: str | None = None) -> Nginx:
    port = free_port()
    write_nginx(tmp, render_site(port, upstreams, tmp, sso_url))
    check = subprocess.run(nginx_args(tmp) + ["-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(nginx_args(tmp), stdout=open(tmp / "nginx.out", "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / "nginx.out").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Nginx(process, port, tmp)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("nginx did not start listening")


# -- the cluster: PostgreSQL, Redis, two workers, nginx -------------------------------------------
@dataclass
class Cluster:
    workers: list[Worker]
    nginx: Nginx
    db_url: str
    tmp: Path
    sent: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))  # user → (id, text)
    statuses: list[int] = field(default_factory=list)

    async def chat(self, session: aiohttp.ClientSession, url: str, user: str, message: str,
                   headers: dict[str, str] | None = None) -> tuple[int, dict, Any]:
        """POST /api/chat as `user` (a portal token, or `headers` that name the user another way);
        every 200 goes into the ledger of what must be stored, in order."""
        async with session.post(f"{url}/api/chat", json={"message": message},
                                headers=headers if headers is not None else auth(user)) as r:
            body = await r.json() if r.content_type == "application/json" else {"raw": await r.text()}
            self.statuses.append(r.status)
            if r.status == 200:
                self.sent[user].append((body["message_id"], message))
            return r.status, body, r.headers

    def upstream_ports(self) -> dict[int, str]:
        return {w.port: f"127.0.0.1:{w.port}" for w in self.workers}


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory):
    nginx_binary()
    tmp = tmp_path_factory.mktemp("deploy")
    redis.Redis.from_url(REDIS_URL).flushdb()
    with postgres_database() as db_url:
        env = {"VEIVISER_DATABASE_URL": db_url, "VEIVISER_REDIS_URL": REDIS_URL,
               "VEIVISER_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT), "VEIVISER_TRUSTED_PROXIES": "127.0.0.1"}
        # As the README says: migrate once, then start the workers.
        subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, check=True,
                       env=dict(os.environ, VEIVISER_DATA_DIR=str(tmp / "data"), **env), capture_output=True)
        workers = [start_worker(tmp / "data", env) for _ in range(2)]
        nginx = None
        try:
            await asyncio.gather(*(wait_healthy(w) for w in workers))
            nginx = start_nginx(tmp / "nginx", (workers[0].port, workers[1].port))
            yield Cluster(workers, nginx, db_url, tmp)
        finally:
            if nginx:
                nginx.stop()
            for w in workers:
                w.stop(signal.SIGTERM)
            redis.Redis.from_url(REDIS_URL).flushdb()


def upstreams_of(lines: list[str]) -> list[str]:
    """The worker(s) each access-log line went to (two when nginx went on to the next one)."""
    return [re.search(r"upstream=(\S+(?:, \S+)*) ut=", line).group(1) for line in lines]


# -- the tests ------------------------------------------------------------------------------------
def test_the_configuration_keeps_posts_from_being_sent_twice():
    site = DEPLOY.read_text(encoding="utf-8")
    directives = [line.split("#")[0].strip() for line in site.splitlines() if not line.strip().startswith("#")]
    assert "proxy_next_upstream error timeout;" in directives
    assert not any("non_idempotent" in d for d in directives)
    assert "client_max_body_size 16k;" in directives
    read = next(d for d in directives if d.startswith("proxy_read_timeout"))
    assert int(re.search(r"(\d+)s", read).group(1)) > 8  # above the answer timeout
    assert 'proxy_set_header X-Remote-User "";' in directives


def test_workers_starting_together_migrate_an_empty_database_one_after_the_other(tmp_path):
    """Every worker migrates at start: four at once on an empty database must all succeed."""
    with postgres_database() as db_url:
        env = dict(os.environ, VEIVISER_DATABASE_URL=db_url, VEIVISER_DATA_DIR=str(tmp_path))
        runs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outputs = [r.communicate(timeout=120)[0] for r in runs]
        assert [r.returncode for r in runs] == [0, 0, 0, 0], "\n".join(o[-1500:] for o in outputs)


async def test_a_stopping_worker_refuses_telegram_updates_so_telegram_sends_them_again():
    """While a worker stops (its Telegram application already stopped, the web server draining), an
    update it accepted with 200 would be lost: it says 503, and Telegram re-sends it (via nginx, to
    another worker)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.channels.telegram import build_application
    from bot.runner import SECRET_HEADER, build_web_app
    from bot.settings import Settings

    settings = dataclasses.replace(Settings.from_env(), telegram_webhook_secret="hemmelig")
    application = build_application(settings, None, "123456:TEST-TOKEN")  # never started: as when stopping
    client = TestClient(TestServer(build_web_app(settings, None, b"secret", application)))
    await client.start_server()
    try:
        update = {"update_id": 7, "message": {"message_id": 1, "date": 1_700_000_000, "text": "hei",
                                              "chat": {"id": 1, "type": "private"},
                                              "from": {"id": 1, "is_bot": False, "first_name": "T"}}}
        refused = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: "hemmelig"})
        assert refused.status == 503
        assert (await client.post("/telegram/webhook", json=update)).status == 403  # the secret first
    finally:
        await client.close()


async def test_both_workers_answer_with_citations(cluster):
    before = len(cluster.nginx.access_lines())
    async with aiohttp.ClientSession() as session:
        for i in range(6):
            status, reply, _ = await cluster.chat(session, cluster.nginx.url, f"svar-{i}", QUESTIONS[i % 3])
            assert status == 200, reply
            assert reply["type"] == "answer" and reply["citations"], reply
            assert "Kilde: Veileder for exit-arbeid" in reply["text"]
            assert reply["conversation_id"] and reply["message_id"]
    served = set(upstreams_of(cluster.nginx.access_lines()[before:]))
    assert served == set(cluster.upstream_ports().values()), served


async def test_a_conversation_keeps_its_context_across_workers(cluster):
    a, b = (w.url for w in cluster.workers)
    async with aiohttp.ClientSession() as session:
        # Directly: the answer from one worker, the follow-up to the other.
        _, answer, _ = await cluster.chat(session, a, "kontekst-direkte", QUESTIONS[1])
        _, source, _ = await cluster.chat(session, b, "kontekst-direkte", "hvor står det?")
        assert answer["type"] == "answer" and source["type"] == "answer", source
        assert source["citations"][0] == answer["citations"][0]
        assert source["conversation_id"] == answer["conversation_id"]

        # Through nginx: the two messages of a conversation go where nginx sends them.
        crossed = 0
        for i in range(4):
            user = f"kontekst-{i}"
            before = len(cluster.nginx.access_lines())
            _, answer, _ = await cluster.chat(session, cluster.nginx.url, user, QUESTIONS[i % 3])
            _, source, _ = await cluster.chat(session, cluster.nginx.url, user, "hvor står det?")
            assert answer["type"] == "answer" and source["type"] == "answer", source
            assert source["citations"][0] == answer["citations"][0]
            assert source["conversation_id"] == answer["conversation_id"]
            first, second = upstreams_of(cluster.nginx.access_lines()[before:])
            crossed += first != second
    assert crossed >= 1, "no conversation had its two messages on different workers"


async def test_the_rate_limit_is_shared_by_both_workers(cluster):
    user = "grense"
    async with aiohttp.ClientSession() as session:
        for i in range(RATE_LIMIT):  # alternately on each worker: each alone would allow them all
            status, reply, _ = await cluster.chat(session, cluster.workers[i % 2].url, user, QUESTIONS[i % 3])
            assert status == 200, reply
        for url in (cluster.nginx.url, cluster.workers[0].url, cluster.workers[1].url):
            status, reply, headers = await cluster.chat(session, url, user, QUESTIONS[0])
            assert status == 429, reply
            assert 1 <= int(headers["Retry-After"]) <= 60
            assert reply["error"]


async def test_a_clients_own_user_header_never_gets_through(cluster):
    forged = {**HEADERS, "X-Remote-User": "ola.forfalsket"}
    async with aiohttp.ClientSession() as session:
        # The workers do believe the header from 127.0.0.1 (VEIVISER_TRUSTED_PROXIES) ...
        status, _, _ = await cluster.chat(session, cluster.workers[0].url, "ola.forfalsket", QUESTIONS[0],
                                          headers=forged)
        assert status == 200
        # ... so nginx must drop it: through nginx the same request is not logged in.
        status, reply, _ = await cluster.chat(session, cluster.nginx.url, "per.forfalsket", QUESTIONS[0],
                                              headers={**forged, "X-Remote-User": "per.forfalsket"})
        assert status == 401, reply
    engine = create_engine(cluster.db_url, future=True)
    with engine.connect() as conn:
        users = set(conn.execute(text("SELECT external_id FROM users")).scalars())
    engine.dispose()
    assert "per.forfalsket" not in users


async def test_the_commented_single_sign_on_pattern_works(cluster):
    """The SSO blocks in the comments, uncommented: nginx asks the portal, passes its user on."""
    async def whoami(request: web.Request) -> web.Response:
        if request.cookies.get("portal_session") == "gyldig":
            return web.Response(headers={"X-Remote-User": SSO_USER})
        return web.Response(status=401)

    portal = web.AppRunner(web.Application())
    portal.app.router.add_get("/sso/whoami", whoami)
    await portal.setup()
    portal_port = free_port()
    await web.TCPSite(portal, "127.0.0.1", portal_port).start()
    sso = start_nginx(cluster.tmp / "nginx-sso", (cluster.workers[0].port, cluster.workers[1].port),
                      sso_url=f"http://127.0.0.1:{portal_port}/sso/whoami")
    try:
        async with aiohttp.ClientSession() as session:
            cookie = {**HEADERS, "Cookie": "portal_session=gyldig", "X-Remote-User": "mallory"}
            status, reply, _ = await cluster.chat(session, sso.url, SSO_USER, QUESTIONS[2], headers=cookie)
            assert status == 200 and reply["type"] == "answer", reply
            status, _, _ = await cluster.chat(session, sso.url, SSO_USER, QUESTIONS[2],
                                              headers={**HEADERS, "X-Remote-User": SSO_USER})
            assert status == 401  # no portal session: the client's header alone is worth nothing
    finally:
        sso.stop()
        await portal.cleanup()
    engine = create_engine(cluster.db_url, future=True)
    with engine.connect() as conn:
        users = set(conn.execute(text("SELECT external_id FROM users")).scalars())
    engine.dispose()
    assert SSO_USER in users and "mallory" not in users


async def test_a_worker_stopped_with_sigterm_loses_nothing(cluster):
    """Clients keep chatting through nginx while one worker is stopped: no 5xx, the messages it had
    in flight and those still coming on kept-alive connections are answered (with `Connection:
    close`), and the other worker takes everything after that."""
    victim, survivor = cluster.workers
    done = asyncio.Event()
    results: list[tuple[int, dict]] = []
    failures: list[str] = []

    async def client(k: int) -> None:
        j = 0
        async with aiohttp.ClientSession() as session:
            while not done.is_set():
                user = f"drift-{k}-{j // (RATE_LIMIT - 1)}"  # a new user before the rate limit bites
                try:
                    status, reply, _ = await cluster.chat(session, cluster.nginx.url, user, QUESTIONS[j % 3])
                    results.append((status, reply))
                except aiohttp.ClientError as exc:
                    failures.append(type(exc).__name__)
                j += 1

    async def listening(port: int) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    # A kept-alive connection straight to the victim, as nginx holds them.
    kept = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    status, _, headers = await cluster.chat(kept, victim.url, "drift-direkte", QUESTIONS[0])
    assert status == 200 and headers.get("Connection", "").lower() != "close"

    before = len(cluster.nginx.access_lines())
    clients = [asyncio.create_task(client(k)) for k in range(6)]
    await asyncio.sleep(4)
    in_flight_before = len(results)
    victim.process.send_signal(signal.SIGTERM)
    for _ in range(1000):  # until the victim refuses new connections
        if not await listening(victim.port):
            break
        await asyncio.sleep(0.01)
    # A request on a kept-alive connection after that is still answered, and the reply says the
    # connection closes, so the proxy never sends another request on it (which would be lost).
    status, reply, headers = await cluster.chat(kept, victim.url, "drift-direkte", QUESTIONS[1])
    await kept.close()
    assert status == 200 and reply["type"] == "answer", reply
    assert headers.get("Connection", "").lower() == "close"
    code = await asyncio.get_running_loop().run_in_executor(None, lambda: victim.process.wait(timeout=60))
    stopped_at = len(cluster.nginx.access_lines())
    after_stop = len(results)
    await asyncio.sleep(4)
    done.set()
    await asyncio.gather(*clients)

    assert code == 0, victim.output()[-2000:]
    assert "service.stopped" in victim.output()
    assert not failures, failures
    bad = [(s, r) for s, r in results if s != 200 or r.get("type") != "answer" or not r.get("citations")]
    assert not bad, bad[:3]
    assert in_flight_before > 0 and len(results) > after_stop, "no traffic before or after the stop"
    lines = cluster.nginx.access_lines()
    assert victim.url.split("//")[1] in " ".join(upstreams_of(lines[before:stopped_at]))
    assert set(u.split(", ")[-1] for u in upstreams_of(lines[stopped_at:])) == {survivor.url.split("//")[1]}

    async with aiohttp.ClientSession() as session:
        for url in (survivor.url, cluster.nginx.url):
            async with session.get(f"{url}/health") as r:
                health = await r.json()
                assert r.status == 200, health
        assert health["status"] == "ok"
        assert {health[k] for k in ("actions", "database", "redis")} == {"ok"}
        assert health["model"].endswith(".tar.gz") and health["telegram"] == "off"


async def test_every_message_is_stored_exactly_once(cluster):
    assert not [s for s in cluster.statuses if s >= 500]
    engine = create_engine(cluster.db_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT u.external_id, m.id, m.text FROM messages m JOIN users u ON u.id = m.user_id "
                                 "ORDER BY m.id")).all()
        conversations = dict(conn.execute(text("SELECT external_id, conversation_id FROM users")).all())
        events = conn.execute(text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")).all()
    engine.dispose()
    stored: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user, message_id, message in rows:
        stored[user].append((message_id, message))
    assert len(rows) == sum(len(v) for v in cluster.sent.values())
    for user, sent in cluster.sent.items():
        assert stored[user] == sent, user  # each reply's message once, in the order sent
    # Rasa's conversation state saw each message once too, in the order it was sent.
    said: dict[str, list[str]] = defaultdict(list)
    for sender, data in events:
        said[sender].append(json.loads(data)["text"])
    for user, sent in cluster.sent.items():
        assert said[conversations[user]] == [m for _, m in sent], user
