"""The lab's own loopback servers: an ASGI app served by uvicorn on 127.0.0.1, on a thread of its own.

The network-conditions proxy (`core.network.proxy`) and the replay server (`core.network.replay`) both serve
this way, and so does the browser tests' fake OpenAI server: a daemon thread with its own event
loop, so the server answers Streamlit's script threads, LangChain's worker threads and
`asyncio.run` loops alike. Never bound to 0.0.0.0: these servers hold keys and recordings.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded when a server starts: the first screen never needs it (~0.3 s)
    import uvicorn

# The ASGI callables, spelled out (starlette.types has the same aliases).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def loopback_listening_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 (never 0.0.0.0), for an asyncio server.

    IPPROTO_TCP is said explicitly: asyncio turns Nagle's algorithm off only for sockets whose
    `proto` is IPPROTO_TCP, and accepted connections inherit this socket's (0 by default). With
    Nagle on, every answer after a connection's first waited ~40 ms for a delayed ACK between
    its headers and its body.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class LoopbackServer:
    """An ASGI app served by uvicorn on 127.0.0.1, in a daemon thread with its own event loop."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self) -> None:
        """Ask uvicorn to exit and wait (up to 5 s) for the thread to end."""
        self.server.should_exit = True
        self.thread.join(timeout=5)


def serve_on_loopback(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    *,
    name: str,
    timeout_s: float = 10.0,
    on_loop_start: Callable[[asyncio.AbstractEventLoop], None] | None = None,
    on_loop_end: Callable[[], Awaitable[None]] | None = None,
) -> LoopbackServer:
    """Serve `app` on a free loopback port (`loopback_listening_socket`); return once listening.

    `on_loop_start` runs in the server's thread with its new loop before serving (to open
    clients bound to that loop); `on_loop_end` is awaited on the loop after serving ends.

    Raises:
        RuntimeError: the server was not listening within `timeout_s`.
    """
    import uvicorn

    sock = loopback_listening_socket()
    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        proxy_headers=False,
        # Streamlit serves on uvicorn too, through the same logger names: leave their
        # configuration and levels alone (log_config and log_level None).
        log_config=None,
        log_level=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            if on_loop_start is not None:
                on_loop_start(loop)
            loop.run_until_complete(server.serve(sockets=[sock]))
            if on_loop_end is not None:
                loop.run_until_complete(on_loop_end())
        finally:
            loop.close()
            sock.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError(f"{name} did not start listening in time")
    return LoopbackServer(server, thread, int(sock.getsockname()[1]))
