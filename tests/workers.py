"""Real service processes for tests: `veiviser serve` workers, and a TCP proxy that can cut a
connection to a real server (PostgreSQL, Redis) and restore it, to stage an outage without
stopping the machine's own servers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.tokens import create_token
from tests.conftest import ROOT

SECRET = "test-secret-for-workers"
HEADERS = {"X-Veiviser-Client": "widget"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Worker:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_worker(data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> Worker:
    """One `veiviser serve` process with its own port and action-server port, sharing `data_dir`."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"worker-{port}.log"
    full = dict(os.environ, VEIVISER_DATA_DIR=str(data_dir), VEIVISER_PORT=str(port), VEIVISER_HOST="127.0.0.1",
                VEIVISER_ACTION_PORT=str(free_port()), VEIVISER_WEB_SECRET=SECRET, VEIVISER_TELEGRAM_TOKEN="",
                RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    full.update(env or {})
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=full,
                               stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    return Worker(process, port, log)


async def wait_healthy(worker: Worker, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.process.returncode}:\n{worker.output()[-3000:]}")
            try:
                async with session.get(f"{worker.url}/health") as r:
                    if r.status == 200:
                        return await r.json()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"worker not healthy in time:\n{worker.output()[-3000:]}")


def auth(user: str) -> dict[str, str]:
    return {**HEADERS, "Authorization": f"Bearer {create_token(SECRET.encode(), user, 3600)}"}


async def ask(session: aiohttp.ClientSession, url: str, user: str, message: str) -> tuple[int, dict]:
    async with session.post(f"{url}/api/chat", json={"message": message}, headers=auth(user)) as r:
        return r.status, await r.json()


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:<port> to a real server; `cut()` drops every connection and refuses new
    ones (as if the server were gone), `restore()` lets connections through again."""

    target_port: int
    port: int = field(default_factory=free_port)
    up: bool = True
    _conns: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "FaultProxy":
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()
