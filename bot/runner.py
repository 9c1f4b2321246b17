"""`veiviser serve`: one process, one event loop — the Rasa agent, the Telegram application and
the HTTP server side by side; the rasa-sdk action server as a child process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import signal
import time

from aiohttp import web

from bot.settings import Settings

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram_webhook_handler(application, secret: str):
    """POST /telegram/webhook: accept an update only with the right secret (constant-time compare)."""
    from telegram import Update

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        if not application.running:  # stopping: an update queued now would never be handled, and
            return web.Response(status=503, text="stopping")  # Telegram sends it again on a non-2xx
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="bad request")
        await application.update_queue.put(Update.de_json(data, application.bot))
        return web.Response(text="ok")

    return handle


def build_web_app(settings: Settings, service=None, secret: bytes = b"", telegram_app=None) -> web.Application:
    """The HTTP server: the web channel (API, widget, health) and Telegram's webhook."""
    from bot.channels.web import add_routes, security_headers

    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[security_headers(settings.frame_ancestors)])
    if service is not None:
        add_routes(app, settings, service, secret)
    if telegram_app is not None and settings.telegram_webhook_secret:
        app.router.add_post("/telegram/webhook", telegram_webhook_handler(telegram_app, settings.telegram_webhook_secret))
    return app


def redis_claim(url: str):
    """Telegram updates claimed in Redis (SET NX, kept a day): with several workers in webhook mode,
    an update Telegram sends again is answered by one worker only, once."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def claim(update_id: int) -> bool:
        return bool(await client.set(f"veiviser:telegram-update:{update_id}", 1, nx=True, ex=24 * 3600))

    return claim


class Drain:
    """The first step of a graceful stop, for a proxy with kept-alive connections (nginx).

    aiohttp's own shutdown (3.9) marks every connection as closing at once: a request that arrives
    on an idle kept-alive connection is then dropped unread, and a reply finished afterwards goes out
    without `Connection: close` before the connection is closed — so nginx sends the next request on
    a connection that is going away. Either way nginx has sent a POST it must not send again, and
    answers 502 (measured: 5-10 per stop under load). So first the listening socket closes (new
    connections are refused, which nginx retries on another worker: safe, nothing was sent), then
    every request still coming on a kept-alive connection is answered with `Connection: close`,
    until none has come for `quiet` seconds (at most `limit`); aiohttp's shutdown then finds the
    connections closed or idle, and nginx no longer chooses this worker."""

    def __init__(self, quiet: float = 0.5, limit: float = 5.0):
        self.quiet, self.limit = quiet, limit
        self.closing = False
        self.in_flight = 0
        self.last_seen = 0.0

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        self.in_flight += 1
        self.last_seen = time.monotonic()
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1
            self.last_seen = time.monotonic()

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.closing:
            # Both: aiohttp has already chosen its headers when this hook runs, so force_close()
            # alone would close the connection without telling the proxy, the very race to avoid.
            response.force_close()
            response.headers["Connection"] = "close"

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.on_response_prepare.append(self.on_prepare)

    async def run(self, runner: web.AppRunner) -> None:
        for site in list(runner.sites):
            await site.stop()
        self.closing = True
        started = time.monotonic()
        while time.monotonic() - started < self.limit and (
                self.in_flight or time.monotonic() - self.last_seen < self.quiet):
            await asyncio.sleep(0.05)


def dev_link(settings: Settings, secret: bytes, service) -> str | None:
    """With no configured secret (development), a ready link with a token for a dev user."""
    from bot.tokens import create_token

    if settings.web_secret:
        return None
    service.admit_authenticated("web", "dev")
    return f"http://{settings.host}:{settings.port}/?token={create_token(secret, 'dev', 8 * 3600)}"


async def serve(settings: Settings) -> None:
    from bot.actions_runtime import ActionServer
    from bot.channels.telegram import build_application, start_channel, stop_channel
    from bot.service import Service

    actions = ActionServer(settings)
    await asyncio.get_running_loop().run_in_executor(None, actions.start)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        service = await asyncio.get_running_loop().run_in_executor(None, lambda: Service.build(settings, actions="server"))
        retention = asyncio.create_task(service.retention_task())
        watcher = asyncio.create_task(service.watch_models())
        supervisor = asyncio.create_task(actions.supervise())
        telegram = None
        if settings.telegram_token:
            telegram = build_application(settings, service, settings.telegram_token, settings.telegram_base_url,
                                         claim_update=redis_claim(settings.redis_url) if settings.redis_url else None)
            service.telegram = telegram
        from bot.tokens import load_or_create_secret

        secret = load_or_create_secret(settings.web_secret, settings.data_dir)
        web_app = build_web_app(settings, service, secret, telegram)
        drain = Drain()
        drain.install(web_app)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=30)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        link = dev_link(settings, secret, service)
        print(f"Veiviser kjører på http://{settings.host}:{settings.port}/", flush=True)
        if link:
            print(f"Åpne denne lenken for å prøve (utvikler-bruker, gyldig 8 timer):\n  {link}", flush=True)
        if telegram:
            async with telegram:
                await start_channel(telegram, settings.telegram_webhook_url, settings.telegram_webhook_secret)
                log.warning("telegram.started mode=%s", "webhook" if settings.telegram_webhook_url else "polling")
                await stop.wait()
                await stop_channel(telegram)
        else:
            await stop.wait()
        # Graceful stop: the listening socket closes, requests still coming on a proxy's kept-alive
        # connections are answered (see Drain), messages in flight are answered and stored (up to
        # 30 s), then the background tasks, the database and the action server stop.
        log.warning("service.stopping")
        await drain.run(runner)
        await runner.cleanup()
        for task in (retention, watcher, supervisor):
            task.cancel()
        service.store.dispose()
        log.warning("service.stopped")
    finally:
        actions.stop()


def main(settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0
