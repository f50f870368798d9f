"""The Async page's "Show the code" scripts run as shown against the real embedded model."""

from __future__ import annotations

from core.call.errors import explain_error


def test_closed_event_loop_is_explained_with_the_fix() -> None:
    problem = explain_error(RuntimeError("Event loop is closed"))
    assert problem.kind == "event_loop" and "http_async_client" in problem.fix
