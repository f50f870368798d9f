"""The jobs and sweeps this process is running now, with the event that cancels each.

The store asks here whether a job marked running still has a worker, so a job left running by
a stopped app is recognised as interrupted rather than shown as running forever.
"""

from __future__ import annotations

import os
import threading

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


def owner_runs(owner_pid: int | None, run_id: str) -> bool:
    """Whether the process that owns `run_id` still runs it: this one (asked here), or another
    app process on the same data directory that is still alive."""
    if owner_pid == os.getpid():
        return is_running(run_id)
    if owner_pid is None:
        return False
    try:
        os.kill(owner_pid, 0)  # another app process on the same data dir: is it alive?
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
