"""AppTest: the session report button, and record → replay on the Streaming page (real model)."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.export.report import EMPTY_SESSION_MESSAGE
from tests.app.test_replay_views import assert_replayed


def _stream(at: AppTest, prompt: str) -> None:
    at.text_area(key="streaming.prompt").set_value(prompt)
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception, [e.message for e in at.exception]


def test_an_empty_session_says_there_is_nothing_to_report(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/home.py")
    assert any(EMPTY_SESSION_MESSAGE in c.value for c in at.sidebar.caption)
    assert not at.get("download_button")


def test_record_then_replay_on_the_streaming_page(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(12)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.sidebar.button(key="replay.record").click().run()
    recording = at.session_state["lab.recording"]
    _stream(at, "Name two fruits.")
    live_text = at.session_state["streaming.last_stream"].text
    live = at.session_state["lab.ledger"].records()[-1]
    assert live_text
    assert at.get("download_button"), "the report button appears once a call was made"
    at.sidebar.button(key="replay.stop").click().run()

    choices = at.sidebar.selectbox(key="replay.choice").options
    replay_title = next(c for c in choices if c.startswith("Replay: SmolLM2-135M-Instruct, recorded"))
    at.sidebar.selectbox(key="replay.choice").set_value(replay_title).run()
    _stream(at, "Name two fruits.")
    replayed = at.session_state["streaming.last_stream"]
    assert replayed.text == live_text and replayed.usage is not None
    (exchange,) = recording.exchanges.values()
    assert_replayed(at.session_state["lab.ledger"].records()[-1], live, exchange)
    # st.badge is markdown (":orange-badge[...]"): one in the sidebar, one above the answer.
    assert any("REPLAY · Replay: SmolLM2" in m.value for m in at.sidebar.markdown)
    assert any("REPLAY · Replay: SmolLM2" in m.value for m in at.main.markdown)

    _stream(at, "Something never recorded.")
    shown = " ".join(str(e.value) for e in at.error) + " ".join(str(m.value) for m in at.markdown)
    assert "Not in the recording" in shown and "Name two fruits." in shown


def test_present_param_turns_presenter_mode_on_and_keeps_it() -> None:
    from tests.app.conftest import DEFAULT_TIMEOUT_S, _app_opened_on

    at = AppTest.from_function(_app_opened_on, args=("pages/home.py",), default_timeout=DEFAULT_TIMEOUT_S)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    assert at.session_state["lab.present"] is True
    styles = " ".join(str(h.proto) for h in at.get("html"))
    assert "font-size: 2.6rem" in styles  # the projector type is on
    at.query_params.clear()
    at.run()  # moving to another page drops the parameter: the session keeps the mode
    assert at.session_state["lab.present"] is True and at.query_params.get("present") == "1"
