"""How Rasa reaches the custom actions: the rasa-sdk action server on 127.0.0.1 (the service), or
the same executor in process (command-line questions and tests, no port needed)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from rasa.utils.endpoints import EndpointConfig

from bot.settings import Settings


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
    """The rasa-sdk action server as a child process on 127.0.0.1."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", SANIC_HOST=self.settings.action_host, VEIVISER_CONTENT_DIR=str(self.settings.content_dir))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
             "--port", str(self.settings.action_port), "--quiet"],
            cwd=self.settings.root, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                raise RuntimeError(f"Action server exited at start-up:\n{err[-2000:]}")
            try:
                with socket.create_connection((self.settings.action_host, self.settings.action_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Action server did not start in time")

    def stop(self) -> None:
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
