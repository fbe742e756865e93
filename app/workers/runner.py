"""Starting the worker, standalone (`tidings worker`) or beside the API (`tidings dev`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from arq.worker import Worker, run_worker

from app.settings import Settings
from app.workers.queue import redis_settings
from app.workers.settings import WorkerSettings


def run_forever(settings: Settings) -> None:
    """The worker process: runs until SIGINT/SIGTERM."""
    run_worker(WorkerSettings, redis_settings=redis_settings(settings))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_in_background(settings: Settings) -> AsyncIterator[None]:
    """A worker in this event loop for the duration (signals stay with the caller)."""
    worker = Worker(
        functions=WorkerSettings.functions,
        cron_jobs=WorkerSettings.cron_jobs,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=redis_settings(settings),
        ctx={"settings": settings},
        handle_signals=False,
    )
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()
