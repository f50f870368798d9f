"""The jobs and sweeps this process is running now, with the event that cancels each, and the
token that names this process in the job store.

Every app process on a data directory gets a random `PROCESS_TOKEN` when it starts. The store
saves it beside each job the process runs, and the process writes a heartbeat under it while
it runs any (`core.batch.store`). A job marked running counts as running while its
process's heartbeat is fresh: a process id would not do, since a stopped app's id can be
reused by any other program, which then kept a dead job "running" forever.
"""

from __future__ import annotations

import threading
import uuid

#: Names this app process in the job store; random, so no later process can reuse it.
PROCESS_TOKEN = uuid.uuid4().hex
#: How often a process that runs jobs writes its heartbeat and reads cancel requests.
HEARTBEAT_S = 1.0
#: A process whose heartbeat is older than this is gone (stopped, crashed or frozen): its
#: running jobs are shown interrupted. Several missed beats, so a busy machine is not mistaken.
STALE_AFTER_S = 10.0

_ACTIVE: dict[str, threading.Event] = {}
_ACTIVE_LOCK = threading.Lock()


def claim(run_id: str, cancel: threading.Event, *, exclusive: bool = False) -> threading.Event:
    """Register `run_id` as running here, cancelled by `cancel`; return the event it runs under.

    A run already registered keeps its event (and, with `exclusive`, this raises instead: two
    workers on one job would write the same rows).

    Example:
        >>> event = threading.Event()
        >>> claim("doctest-run", event) is event, is_running("doctest-run")
        (True, True)
        >>> release("doctest-run", event); is_running("doctest-run")
        False
    """
    with _ACTIVE_LOCK:
        if exclusive and run_id in _ACTIVE:
            raise RuntimeError(f"job {run_id} is already running")
        return _ACTIVE.setdefault(run_id, cancel)


def release(run_id: str, cancel: threading.Event | None = None) -> None:
    """Forget `run_id` (only if it still runs under `cancel`, when given)."""
    with _ACTIVE_LOCK:
        if cancel is None or _ACTIVE.get(run_id) is cancel:
            _ACTIVE.pop(run_id, None)


def cancel_event(run_id: str) -> threading.Event | None:
    """The event that cancels `run_id`, or None when this process is not running it."""
    with _ACTIVE_LOCK:
        return _ACTIVE.get(run_id)


def is_running(run_id: str) -> bool:
    """Whether this process is running the job (or sweep) now."""
    with _ACTIVE_LOCK:
        return run_id in _ACTIVE
