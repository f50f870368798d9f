"""Foreground work ends with its browser session: a closed tab cancels its Measure and sweep.

Streamlit 1.67 says nothing to the app when a session ends. What it has: `Runtime.instance()
.is_active_session(id)` (thread-safe), true while the tab's websocket is connected. A closed tab
disconnects at once, but Streamlit keeps the session `server.disconnectedSessionTTL` seconds
(120 by default) so that the same tab, reconnecting after a network blip, resumes it with its
state; after that nothing can ever show the session's results. So a session counts as ended
once it has been disconnected for that long, and its foreground work — a Measure series, a
concurrency sweep, which only that session shows — is cancelled then. A batch job is durable
(saved row by row, reopened from Saved jobs or its link) and keeps running.

One daemon thread per process watches every registered piece of work every `WATCH_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

WATCH_S = 1.0


@dataclass
class _Work:
    session_id: str
    cancel: Callable[[], object]
    finished: Callable[[], bool]
    gone_since: float | None = None


@dataclass
class SessionWatch:
    """Cancels work whose session has been disconnected for `grace_s` (Streamlit's reconnect
    window); forgets work that finished by itself.

    Args:
        is_active: whether a session id is connected now.
        grace_s: how long a disconnected session may still come back.
        clock: monotonic seconds (a test passes its own).

    Example:
        >>> connected = {"tab"}
        >>> watch = SessionWatch(lambda sid: sid in connected, grace_s=5, clock=lambda: now)
        >>> cancelled = []; now = 0.0
        >>> watch.add("tab", lambda: cancelled.append("measure"), lambda: False)
        >>> connected.clear(); watch.check(); now = 6.0; watch.check(); cancelled
        ['measure']
    """

    is_active: Callable[[str], bool]
    grace_s: float
    clock: Callable[[], float] = time.monotonic
    _work: list[_Work] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, session_id: str, cancel: Callable[[], object], finished: Callable[[], bool]) -> None:
        """Watch work of `session_id`: `cancel()` stops it, `finished()` says it ended by itself."""
        with self._lock:
            self._work.append(_Work(session_id, cancel, finished))

    def watching(self) -> int:
        with self._lock:
            return len(self._work)

    def check(self) -> None:
        """One look at every session: cancel the work of those gone for longer than the grace."""
        now = self.clock()
        to_cancel: list[_Work] = []
        with self._lock:
            kept: list[_Work] = []
            for work in self._work:
                if work.finished():
                    continue
                if self.is_active(work.session_id):
                    work.gone_since = None
                elif work.gone_since is None:
                    work.gone_since = now
                elif now - work.gone_since >= self.grace_s:
                    to_cancel.append(work)
                    continue
                kept.append(work)
            self._work = kept
        for work in to_cancel:  # outside the lock: a cancel may take a moment
            work.cancel()


_WATCH: SessionWatch | None = None
_WATCH_LOCK = threading.Lock()


def _runtime_watch() -> SessionWatch:
    """The process's watch over Streamlit's sessions, with its thread (started once)."""
    global _WATCH
    with _WATCH_LOCK:
        if _WATCH is None:
            from streamlit.runtime import Runtime

            runtime = Runtime.instance()
            _WATCH = SessionWatch(runtime.is_active_session,
                                  grace_s=float(st.get_option("server.disconnectedSessionTTL")))
            watch = _WATCH

            def loop() -> None:
                while True:
                    time.sleep(WATCH_S)
                    watch.check()

            threading.Thread(target=loop, name="lab-session-watch", daemon=True).start()
        return _WATCH


def cancel_when_session_ends(cancel: Callable[[], object], finished: Callable[[], bool]) -> None:
    """Cancel this session's foreground work (`cancel()`) once the session has ended, unless it
    `finished()` first. Outside a served app (AppTest, a bare script) there is nothing to watch."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists() or not Runtime.instance().is_active_session(ctx.session_id):
        return
    _runtime_watch().add(ctx.session_id, cancel, finished)
