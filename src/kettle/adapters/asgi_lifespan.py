"""The ASGI lifespan: ``before_serving``, ``while_serving``, ``after_serving``."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..dispatch import Pipeline
from ..serving import shut_down, start_up
from .asgi_driver import RequestRunner, drive_async
from .asgi_threads import ThreadPool

if TYPE_CHECKING:
    from ..app import Kettle

__all__ = ["serve_lifespan"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def serve_lifespan(
    app: Kettle, receive: Receive, send: Send, threads: ThreadPool
) -> None:
    """Answer the server's startup and shutdown events."""
    started = False
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await _in_app_context(app, start_up, threads)
            except Exception:
                await send(
                    {
                        "type": "lifespan.startup.failed",
                        "message": traceback.format_exc(),
                    }
                )
                return
            started = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                if started:
                    await _in_app_context(app, shut_down, threads)
                timeout = app.config["BACKGROUND_SHUTDOWN_TIMEOUT"]
                await app.background.ashutdown(timeout)
                threads.close()
            except Exception:
                await send(
                    {
                        "type": "lifespan.shutdown.failed",
                        "message": traceback.format_exc(),
                    }
                )
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _in_app_context(
    app: Kettle, phase: Callable[[Kettle], Pipeline[None]], threads: ThreadPool
) -> None:
    ctx = app.app_context()
    ctx.push()
    error: BaseException | None = None
    thread = RequestRunner(app, threads)
    try:
        await drive_async(app, phase(app), thread)
    except BaseException as e:
        error = e
        raise
    finally:
        try:
            await ctx.apop(error, run_steps=thread.run_steps)
        finally:
            thread.release()
