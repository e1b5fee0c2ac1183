"""The service: the aiohttp app (webhook, health, metrics, API) and the worker, started by `serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from app.api import add_api_routes
from app.deps import DEPS, Deps, build_deps
from app.logs import configure_logging
from app.recovery import run_recovery
from app.registration import add_registration_routes, setup_address, show_running_page
from app.retention import run_retention
from app.settings import Settings, SettingsError, load_settings
from app.supervisor import is_child, processes_problem, supervise
from app.webhook import MAX_BODY, receive_webhook
from app.worker import Handler, Worker

log = logging.getLogger(__name__)


def job_handlers() -> Mapping[str, Handler]:
    """Job kind → handler: the one place the pipeline's steps are composed."""
    from app.approval import run_approval
    from app.guardrails_job import run_guardrails_check
    from app.installations import handle_installation
    from app.runs import run_self_improve

    return {
        "self_improve": run_self_improve,
        "approve": run_approval,
        "guardrails": run_guardrails_check,
        "installation": handle_installation,
    }


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    if await deps.store.ping():
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "store unreachable"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    for state, n in (await deps.store.job_counts()).items():
        deps.metrics.jobs.labels(state).set(n)
    deps.metrics.deliveries_pending.set(await deps.store.pending_deliveries())
    return web.Response(body=deps.metrics.render(), content_type="text/plain", charset="utf-8")


def make_app(deps: Deps) -> web.Application:
    """The HTTP surface for already-built deps (tests build the deps themselves)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[DEPS] = deps
    app.router.add_post(deps.settings.webhook_path, receive_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    add_api_routes(app)
    if deps.settings.registered:
        app.router.add_get("/", show_running_page)  # what this is, and how to install it
    else:
        add_registration_routes(app, deps)  # `/`: the Probot-style setup page
    return app


async def run_service(
    settings: Settings,
    *,
    with_worker: bool,
    with_http: bool,
    ready: asyncio.Future[Deps] | None = None,
    stop: asyncio.Event | None = None,
    reuse_port: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): HTTP intake and/or the worker, sharing one set of deps.
    `reuse_port`: the port is shared with this service's other processes (SO_REUSEPORT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with build_deps(settings) as deps:
        runner: web.AppRunner | None = None
        if with_http:
            runner = web.AppRunner(make_app(deps), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None)
            await site.start()
            log.info(
                "listening",
                extra={
                    "host": settings.host,
                    "port": settings.port,
                    "webhook_path": settings.webhook_path,
                },
            )
        tasks = []
        if with_worker:
            tasks.append(asyncio.create_task(Worker(deps, job_handlers()).run(stop)))
            tasks.append(asyncio.create_task(run_recovery(deps, stop)))
            tasks.append(asyncio.create_task(run_retention(deps, stop)))
        # Everything built so far lives as long as the process: keep it out of the cyclic collector's
        # way, or each full collection walks it while webhooks wait.
        gc.freeze()
        if ready is not None:
            ready.set_result(deps)
        try:
            await stop.wait()
        finally:
            for task in tasks:
                await task
            if runner is not None:
                await runner.cleanup()


def _settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"self-improve: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    secrets = [
        s.get_secret_value()
        for s in (
            settings.webhook_secret,
            settings.private_key,
            settings.api_token,
            settings.llm_api_key,
        )
        if s is not None
    ]
    configure_logging(settings.log_level, settings.log_format, secrets=secrets)
    return settings


def serve_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app serve", description="Serve webhooks and run the worker."
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="intake only; run `python -m app worker` elsewhere"
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="serve from N processes on the port, each a whole replica (default: WEB_CONCURRENCY or 1;"
        " needs PostgreSQL)",
    )
    args = parser.parse_args(argv)
    if args.processes is not None and args.processes < 1:
        parser.error("--processes: at least 1")
    settings = _settings_or_exit()
    if settings.registered and settings.webhook_secret is None:
        print(
            "self-improve: WEBHOOK_SECRET: required to verify webhook deliveries", file=sys.stderr
        )
        return 2
    processes = args.processes or settings.web_concurrency
    if processes > 1 and not is_child():
        problem = processes_problem(settings, processes)
        if problem is not None:
            print(f"self-improve: {problem}", file=sys.stderr)
            return 2
        return supervise(argv, processes)
    if not settings.registered:
        log.warning(
            "no APP_ID: open %s to register the App", setup_address(settings.host, settings.port)
        )
    asyncio.run(
        run_service(settings, with_worker=not args.no_worker, with_http=True, reuse_port=is_child())
    )
    return 0


def worker_cli(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="python -m app worker", description="Run the worker alone."
    ).parse_args(argv)
    settings = _settings_or_exit()
    if not settings.registered:
        print(
            "self-improve: APP_ID: the worker needs APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH)",
            file=sys.stderr,
        )
        return 2
    asyncio.run(run_service(settings, with_worker=True, with_http=False))
    return 0


@contextlib.asynccontextmanager
async def running(settings: Settings, *, with_worker: bool = True) -> AsyncIterator[Deps]:
    """The whole service inside this event loop, for tests and the demo; yields its deps."""
    ready: asyncio.Future[Deps] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_service(settings, with_worker=with_worker, with_http=True, ready=ready, stop=stop)
    )
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]  # a Task and a Future
    if not ready.done():
        task.result()  # the service failed to start: raise its error
    try:
        yield ready.result()
    finally:
        stop.set()
        await task
