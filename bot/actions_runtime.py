"""How Rasa reaches the custom actions: the rasa-sdk action server on 127.0.0.1 (the service), or
the same executor in process (command-line questions and tests, no port needed)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any

from rasa.utils.endpoints import EndpointConfig

from bot.settings import Settings

log = logging.getLogger(__name__)


class InProcessActionEndpoint(EndpointConfig):
    """An action endpoint that runs rasa-sdk's ActionExecutor directly instead of over HTTP.

    The request is serialised to JSON and back exactly as over the wire, so actions see the same
    tracker and domain dicts as they would from the action server.
    """

    def __init__(self) -> None:
        super().__init__(url="inprocess://actions")
        from rasa_sdk.executor import ActionExecutor

        self._executor = ActionExecutor()
        self._executor.register_package("actions")

    async def request(self, method: str = "post", subpath: str | None = None,
                      content_type: str | None = "application/json", compress: bool = False,
                      **kwargs: Any) -> Any:
        call = json.loads(json.dumps(kwargs.get("json") or {}))
        result = await self._executor.run(call)
        return json.loads(json.dumps(result))


def action_endpoint(settings: Settings, mode: str) -> EndpointConfig:
    if mode == "inprocess":
        return InProcessActionEndpoint()
    return EndpointConfig(url=f"http://{settings.action_host}:{settings.action_port}/webhook")


class ActionServer:
    """The rasa-sdk action server as a child process on 127.0.0.1, restarted if it dies."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = False

    @property
    def log_path(self):
        return self.settings.data_dir / f"action-server-{self.settings.action_port}.log"

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", SANIC_HOST=self.settings.action_host,
                   VEIVISER_CONTENT_DIR=str(self.settings.content_dir))
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Its output goes to a file: a pipe nobody reads would fill up and block the server.
        log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
             "--port", str(self.settings.action_port), "--quiet"],
            cwd=self.settings.root, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"Action server exited at start-up:\n{err[-2000:]}")
            try:
                with socket.create_connection((self.settings.action_host, self.settings.action_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Action server did not start in time")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def supervise(self, interval_seconds: float = 0.5) -> None:
        """Restart the action server whenever it has died (messages meanwhile get the fallback)."""
        while not self._stopping:
            await asyncio.sleep(interval_seconds)
            if self._stopping or self.alive():
                continue
            code = self.process.returncode if self.process else None
            log.error("actions.died code=%s restarting", code)
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.start)
                self.restarts += 1
                log.warning("actions.restarted count=%s", self.restarts)
            except Exception as exc:  # noqa: BLE001 - try again on the next round
                log.error("actions.restart_failed error=%s", exc)

    def stop(self) -> None:
        self._stopping = True
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    async def __aenter__(self) -> "ActionServer":
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
