"""Driving `astream_events(version="v2")` from synchronous code, one event at a time.

Streamlit runs a page as plain synchronous code, so `stream_events` steps the async iterator on a
fresh event loop: the caller can redraw between events from its own thread.
"""

from __future__ import annotations

from collections.abc import (
    Iterator,
    Sequence,
)
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from core.call.bridge import iterate_in_new_loop
from core.call.tracing import traced_async_http_client


def fresh_async_http_client() -> Any:
    """An async HTTP client for one run: pass it to `ChatOpenAI(http_async_client=...)`.

    Without one, every `ChatOpenAI` with the same base URL and timeout shares one process-wide
    async client, whose kept-alive connections belong to the event loop that opened them; the
    next run's fresh loop then fails with "Event loop is closed". Close it with the run
    (`stream_events(..., http_clients=[client])`).
    """
    return traced_async_http_client()


def stream_events(
    chain: Runnable,
    inputs: Any,
    config: RunnableConfig | None = None,
    *,
    http_clients: Sequence[Any] = (),
    idle_s: float | None = None,
    **filters: Any,
) -> Iterator[dict[str, Any] | None]:
    """`chain.astream_events(inputs, config, version="v2", **filters)`, as a plain iterator.

    Runs on a fresh event loop, stepped once per event (`iterate_in_new_loop`); the given
    `http_clients` are closed on that loop at the end. With `idle_s`, `None` comes out when no
    event arrived for that long. Errors raised inside the chain come out of this iterator, as
    they do from the async one.
    """

    async def close_clients() -> None:
        for client in http_clients:
            await client.aclose()

    return iterate_in_new_loop(
        lambda: chain.astream_events(inputs, config=config, version="v2", **filters),  # type: ignore[arg-type,return-value]  # filters: include_/exclude_ lists
        on_close=close_clients,
        idle_s=idle_s,
    )
