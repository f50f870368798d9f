"""AppTest: a recording replays through Streaming events and Compare (real model), and bad files.

Each test records the embedded model through the sidebar's Record & replay, stops, chooses the
recording, and checks that the replayed call — through the page's own ChatOpenAI path — has
the recorded text, chunk count and usage, at the recorded pace (within 10 %), labelled REPLAY.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.money.ledger import CallRecord
from core.network.recording import FORMAT_VERSION, Exchange, Recording, new_recording_path, recording_to_bytes
from core.paths import data_dir

TOLERANCE = 0.10


def _record(at: AppTest) -> Recording:
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(24)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.sidebar.button(key="replay.record").click().run()
    recording = at.session_state["lab.recording"]
    assert isinstance(recording, Recording)
    return recording


def _choose_replay(at: AppTest, recording: Recording) -> str:
    at.sidebar.button(key="replay.stop").click().run()
    choices = at.sidebar.selectbox(key="replay.choice").options
    title = next(c for c in choices if c.startswith(recording.title))
    at.sidebar.selectbox(key="replay.choice").set_value(title).run()
    assert not at.exception, [e.message for e in at.exception]
    return title


def _text_times(record: CallRecord) -> list[float]:
    trace = record.trace
    assert trace is not None and trace.attempt is not None
    sent = trace.attempt.sent or trace.attempt.started
    return [c.at - sent for c in trace.chunks if c.text]


def assert_replayed(replayed: CallRecord, live: CallRecord, exchange: Exchange) -> None:
    """The replay has the live call's text, chunks, usage and finish, at the recorded pace."""
    assert replayed.trace is not None and live.trace is not None
    assert replayed.trace.outcome is not None and live.trace.outcome is not None
    assert replayed.trace.outcome.text == live.trace.outcome.text == exchange.text != ""
    assert len(replayed.trace.chunks) == len(live.trace.chunks)
    assert len(_text_times(replayed)) == len(exchange.text_offsets())
    assert replayed.usage == live.usage and replayed.usage is not None
    assert replayed.finish_reason == live.finish_reason == exchange.finish_reason is not None
    recorded_last, replayed_last = exchange.text_offsets()[-1], _text_times(replayed)[-1]
    assert abs(replayed_last - recorded_last) <= TOLERANCE * recorded_last, (replayed_last, recorded_last)
    assert replayed.provider.startswith("Replay: ")  # the ledger (and the report) name the replay


def test_the_events_page_replays_a_recorded_chain(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/events.py")
    recording = _record(at)
    at.radio(key="events.chain").set_value("joke").run()
    next(b for b in at.button if b.label == "Run and watch").click().run()
    assert not at.exception, [e.message for e in at.exception]
    live_events = at.session_state["events.last_run"].recorder.counts()
    (live,) = at.session_state["lab.ledger"].records()
    (exchange,) = recording.exchanges.values()

    _choose_replay(at, recording)
    next(b for b in at.button if b.label == "Run and watch").click().run()
    assert not at.exception, [e.message for e in at.exception]
    replayed = at.session_state["lab.ledger"].records()[-1]
    assert_replayed(replayed, live, exchange)
    # The same events came back: as many model chunks, the same steps.
    replay_events = at.session_state["events.last_run"].recorder.counts()
    assert replay_events == live_events and replay_events["on_chat_model_stream"] > 3
    assert any("REPLAY · Replay: SmolLM2" in m.value for m in at.main.markdown)


def test_compare_offers_a_recording_as_a_column_at_its_recorded_pace(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/compare.py")
    recording = _record(at)
    at.select_slider(key="compare.max_tokens").set_value(32)
    at.text_area(key="compare.prompt").set_value("Name two fruits.")
    # Column A (the embedded model, no network delay) is the endpoint being recorded; B goes
    # through the simulated remote API, so it is not.
    next(b for b in at.button if b.label == "Race").click().run()
    assert not at.exception, [e.message for e in at.exception]
    live_run = at.session_state["compare.last"]
    assert len(recording.exchanges) == 1
    (exchange,) = recording.exchanges.values()
    assert exchange.text == live_run.last_call(0).text
    live = next(r for r in at.session_state["lab.ledger"].records() if r.run_id == live_run.last_call(0).trace.run_id)

    at.sidebar.button(key="replay.stop").click().run()
    title = next(c for c in at.selectbox(key="compare.kind.0").options if c.startswith(recording.title))
    at.selectbox(key="compare.kind.0").set_value(title).run()
    at.selectbox(key="compare.kind.1").set_value(title).run()
    at.selectbox(key="compare.pace.1").set_value("instant").run()
    next(b for b in at.button if b.label == "Race").click().run()
    assert not at.exception, [e.message for e in at.exception]
    replay_run = at.session_state["compare.last"]
    assert replay_run.replays == [True, True]
    assert replay_run.labels[0] == f"A · {title}" and replay_run.labels[1] == f"B · {title} · instant"
    records = {r.run_id: r for r in at.session_state["lab.ledger"].records()}
    paced = records[replay_run.last_call(0).trace.run_id]
    assert_replayed(paced, live, exchange)
    instant = records[replay_run.last_call(1).trace.run_id]
    assert instant.trace.outcome.text == exchange.text
    assert _text_times(instant)[-1] < _text_times(paced)[-1] / 2
    badges = [m.value for m in at.main.markdown if "REPLAY · recorded answers" in m.value]
    assert len(badges) == 2  # one per replay column, above its answer


def test_bad_recording_files_are_named_and_the_good_ones_stay_usable(open_page: Callable[[str], AppTest]) -> None:
    good = Recording(model="bad-files-test", upstream="http://example.invalid/v1")
    data = recording_to_bytes(good)
    folder_files = {
        "truncated.json": data[: len(data) // 2],
        "other-app.json": json.dumps({"version": 1, "items": [{"prompt": "hi"}]}).encode(),
        "newer.json": json.dumps(json.loads(data) | {"version": FORMAT_VERSION + 1}).encode(),
    }
    good_path = new_recording_path(data_dir(), good.model, good.recorded_at)
    paths = [good_path.with_name(name) for name in folder_files]
    good_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        good_path.write_bytes(data)
        for path, content in zip(paths, folder_files.values(), strict=True):
            path.write_bytes(content)
        at = open_page("pages/home.py")
        warnings = {w.value.split(":", 1)[0]: w.value for w in at.sidebar.warning}
        assert "ends early" in warnings["truncated.json"]
        assert "not a recording made by the Execution Patterns Lab" in warnings["other-app.json"]
        assert "newer version of the lab" in warnings["newer.json"]
        # The good recording is still offered, and choosing it works.
        choice = next(c for c in at.sidebar.selectbox(key="replay.choice").options if c.startswith(good.title))
        at.sidebar.selectbox(key="replay.choice").set_value(choice).run()
        assert not at.exception, [e.message for e in at.exception]
        assert at.session_state["lab.replay"][0].model == "bad-files-test"
    finally:
        for path in (good_path, *paths):
            Path(path).unlink(missing_ok=True)


def test_importing_a_bad_file_says_why_and_changes_nothing(open_page: Callable[[str], AppTest]) -> None:
    good = Recording(model="import-test", upstream="http://example.invalid/v1")
    data = recording_to_bytes(good)
    at = open_page("pages/home.py")
    before = list(at.sidebar.selectbox(key="replay.choice").options)
    uploader = at.sidebar.get("file_uploader")[0]
    for name, content, problem in (
        ("cut.json", data[: len(data) // 2], "ends early"),
        ("other.json", json.dumps([{"prompt": "hi", "answer": "ho"}]).encode(), "not a recording made by"),
        ("newer.json", json.dumps(json.loads(data) | {"version": FORMAT_VERSION + 1}).encode(), "newer version"),
    ):
        uploader.set_value((name, content, "application/json"))
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        errors = [e.value for e in at.sidebar.error]
        assert any(e.startswith("Not imported.") and name in e and problem in e for e in errors), errors
        assert list(at.sidebar.selectbox(key="replay.choice").options) == before  # nothing added or lost
        uploader = at.sidebar.get("file_uploader")[0]
    uploader.set_value(("good.json", data, "application/json"))
    at.run()
    assert any("Imported: Replay: import-test" in s.value for s in at.sidebar.success)
    assert any(o.startswith("Replay: import-test") for o in at.sidebar.selectbox(key="replay.choice").options)
    for path in (data_dir() / "recordings").glob("import-test-*.json"):
        path.unlink()


def _with_chunk_offset(data: bytes, at_s: str) -> bytes:
    """A recording file whose one answer has a chunk at `at_s` (written as-is into the JSON)."""
    raw = json.loads(data)
    raw["exchanges"] = [{"key": "k", "request": {"model": "m", "messages": []}, "status": 200,
                         "content_type": "text/event-stream", "streamed": True,
                         "chunks": [{"at_s": "AT", "data": "data: [DONE]"}]}]
    return json.dumps(raw).replace('"AT"', at_s).encode()


def test_recordings_that_once_raised_get_a_sentence_naming_the_field(open_page: Callable[[str], AppTest]) -> None:
    """Issue 30: a 400-digit offset raised OverflowError, 1e400 read as infinity (replay then slept
    forever), a file nested 100,000 deep in the folder raised RecursionError on every page."""
    data = recording_to_bytes(Recording(model="odd-files-test", upstream="http://example.invalid/v1"))
    deep = new_recording_path(data_dir(), "deep", Recording(model="m", upstream="").recorded_at)
    deep.parent.mkdir(parents=True, exist_ok=True)
    deep.write_bytes(b'{"a": ' * 100_000)
    try:
        at = open_page("pages/home.py")
        warnings = {w.value.split(":", 1)[0]: w.value for w in at.sidebar.warning}
        assert "nests objects or lists inside each other too deeply" in warnings[deep.name]
        before = list(at.sidebar.selectbox(key="replay.choice").options)
        for name, at_s, shown in (("long.json", "1" * 400, "a number with 400 digits"),
                                  ("forever.json", "1e400", "infinite")):
            at.sidebar.get("file_uploader")[0].set_value((name, _with_chunk_offset(data, at_s), "application/json"))
            at.run()
            assert not at.exception, [e.message for e in at.exception]
            errors = [e.value for e in at.sidebar.error]
            assert any(e.startswith(f"Not imported. {name} looks like a recording, but exchange 1, chunk 1: "
                                    f'"at_s" is {shown}, not a time in seconds') for e in errors), errors
            assert list(at.sidebar.selectbox(key="replay.choice").options) == before
    finally:
        deep.unlink(missing_ok=True)
