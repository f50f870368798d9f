"""The one sync→async bridge: async LangChain code run from a synchronous Streamlit script.

A Streamlit script runs on a thread with no event loop, and every action needs a loop of its
own: langchain-openai shares one async HTTP client per base URL across loops, whose connections
die with the loop that opened them ("Event loop is closed" on the next action). So each action
gets a fresh loop *and* a fresh traced async client, closed on that loop when the action ends.

* `iterate_in_new_loop` steps an async iterator from sync code one item at a time, so the page
  can redraw between items (the Streaming events page);
* `run_async` runs one coroutine to its end (the Async page's modes), built on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from core.call.tracing import traced_async_http_client

T = TypeVar("T")


def iterate_in_new_loop(
    make_aiter: Callable[[], AsyncIterator[T]],
    *,
    on_close: Callable[[], Awaitable[Any]] | None = None,
    idle_s: float | None = None,
) -> Generator[T | None, None, None]:
    """Iterate an async iterator from synchronous code, one item per step, on a fresh loop.

    The loop only runs while the next item is awaited, so the caller can do its own work (redraw
    a page) between items on its own thread. With `idle_s`, `None` is yielded whenever no item
    arrived for that long, so the caller can refresh a screen during a long pause (waiting for
    a model's first token) without waiting for the next item. Stopping early cancels the
    iterator (and the chain behind it); `on_close` then runs on the same loop (to close clients
    bound to it) before the loop is closed.

    Example:
        >>> async def numbers():
        ...     for n in range(3):
        ...         yield n
        >>> list(iterate_in_new_loop(numbers))
        [0, 1, 2]
        >>> async def slow():
        ...     await asyncio.sleep(0.05)
        ...     yield "late"
        >>> list(iterate_in_new_loop(slow, idle_s=0.01))[-2:]
        [None, 'late']
    """
    loop = asyncio.new_event_loop()
    aiter = None
    pending: asyncio.Future[T] | None = None
    try:
        aiter = make_aiter()
        while True:
            if pending is None:
                pending = asyncio.ensure_future(aiter.__anext__(), loop=loop)
            if idle_s is not None:
                done, _ = loop.run_until_complete(asyncio.wait({pending}, timeout=idle_s))
                if not done:
                    yield None  # nothing yet: let the caller refresh
                    continue
            else:
                loop.run_until_complete(asyncio.wait({pending}))
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            if pending is not None and not pending.done():
                pending.cancel()  # before closing the iterator: it is running inside this task
                loop.run_until_complete(asyncio.gather(pending, return_exceptions=True))
            _wind_down(loop, aiter, on_close)
        finally:
            loop.close()


def _wind_down(
    loop: asyncio.AbstractEventLoop,
    aiter: AsyncIterator[Any] | None,
    on_close: Callable[[], Awaitable[Any]] | None,
) -> None:
    # Stopped early (a rerun mid-run), the chain still has tasks and open HTTP streams on this
    # loop: close the iterator, cancel what is left and let it finish, and only then close the
    # clients and async generators. Failures while cancelling are expected and not news.
    if aiter is not None and hasattr(aiter, "aclose"):
        with contextlib.suppress(Exception):
            loop.run_until_complete(aiter.aclose())
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    if on_close is not None:
        loop.run_until_complete(on_close())
    loop.run_until_complete(loop.shutdown_asyncgens())


def run_async(work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run `work(http)` in a fresh event loop with its own traced async client, closed with it.

    Pass `http` to ``ChatOpenAI(http_async_client=http)``. Call from a thread with no running
    event loop (a Streamlit script, a plain script).

    Example:
        >>> async def client_kind(http):
        ...     return type(http).__name__
        >>> run_async(client_kind)
        'AsyncClient'
    """
    clients: list[Any] = []

    async def once() -> AsyncIterator[T]:
        http = traced_async_http_client()
        clients.append(http)
        yield await work(http)

    async def close() -> None:
        for http in clients:
            await http.aclose()

    steps = iterate_in_new_loop(once, on_close=close)
    try:
        for item in steps:
            return item  # type: ignore[return-value]  # once() yields exactly one item, never None
        raise RuntimeError("the coroutine produced no result")  # pragma: no cover - once() yields
    finally:
        steps.close()  # closes the clients and the loop now, not whenever the generator is collected
