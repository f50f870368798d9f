"""The run the Streaming events page keeps and redraws: its heading and whether it stopped early."""

from __future__ import annotations

from core.patterns.events import EventRecorder, EventsRun

START = {"event": "on_chain_start", "name": "seq", "run_id": "r1", "parent_ids": [], "data": {}}
END = {"event": "on_chain_end", "name": "seq", "run_id": "r1", "parent_ids": [], "data": {"output": "ok"}}


def _run(events: list[dict[str, object]]) -> EventsRun:
    run = EventsRun("tool", "dogs", True, EventRecorder())
    for _ in run.recorder.watch(events):
        pass
    return run


def test_the_heading_names_the_chain_and_the_topic() -> None:
    run = _run([START, END])
    assert run.chain.has_tool
    assert run.heading == "… plus a tool step · topic “dogs”"


def test_a_finished_run_did_not_stop_early() -> None:
    assert not _run([START, END]).stopped_early


def test_a_run_left_half_way_stopped_early_and_keeps_its_events() -> None:
    """A widget click mid-run closes the iterator: what came so far is what the page redraws."""
    run = EventsRun("joke", "cats", False, EventRecorder())
    watching = run.recorder.watch([START, END])
    next(watching)
    watching.close()
    assert run.stopped_early
    assert [e.event for e in run.recorder.events] == ["on_chain_start"]


def test_a_run_that_failed_is_shown_as_an_error_not_as_stopped_early() -> None:
    def failing():
        yield START
        raise RuntimeError("boom")

    run = EventsRun("joke", "cats", False, EventRecorder())
    for _ in run.recorder.watch(failing()):
        pass
    assert run.recorder.error is not None
    assert not run.stopped_early
