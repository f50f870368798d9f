"""AppTest of the "Network conditions" sidebar control and the Streaming page behind the proxy."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def _stream(at: AppTest, prompt: str = "Name three fruits.") -> AppTest:
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(12)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.text_area(key="streaming.prompt").set_value(prompt)
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_network_conditions_are_off_by_default(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    assert at.sidebar.selectbox(key="sidebar.network").value == "Off"
    assert not any("Via the lab's proxy" in c.value for c in at.sidebar.caption)


def test_a_preset_routes_calls_through_the_proxy_and_the_code_stays_direct(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.selectbox(key="sidebar.network").set_value("Remote API ~300 ms").run()
    at = _stream(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Chunks"]) > 0
    assert not at.error
    # The sidebar counts what the proxy did for this session.
    assert any("So far: 1 requests" in c.value for c in at.sidebar.caption)
    from components.runtime import network_proxy

    code = at.code[0].value
    assert "network simulator (Remote API ~300 ms)" in code
    assert str(network_proxy().port) not in code and "netem-" not in code


def test_a_custom_cut_keeps_the_partial_answer_and_explains(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.selectbox(key="sidebar.network").set_value("Custom…").run()
    at.sidebar.number_input(key="sidebar.net.cut_after").set_value(4).run()
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)
    at = _stream(at, "Count from one to twenty.")
    assert at.error, "the cut must be explained"
    assert "arrived are kept" in at.error[0].value
    # The app stays usable: switching conditions off, the next stream completes.
    at.sidebar.selectbox(key="sidebar.network").set_value("Off").run()
    at = _stream(at)
    assert not at.error


def test_server_errors_show_the_retries_made_and_the_sidebar_counts_them(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.selectbox(key="sidebar.network").set_value("Custom…").run()
    at.sidebar.slider(key="sidebar.net.error_pct").set_value(100).run()
    at.sidebar.number_input(key="sidebar.max_retries").set_value(1)
    at = _stream(at)
    message = at.error[0].value
    assert "HTTP 503" in message and "after 1 retry" in message
    assert "retried 1 time" in message
    assert any("2 requests (1 retries)" in c.value and "2 × 503" in c.value for c in at.sidebar.caption)


def test_a_stall_says_how_long_each_call_will_wait_before_anyone_clicks(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.selectbox(key="sidebar.network").set_value("Custom…").run()
    at.sidebar.number_input(key="sidebar.timeout").set_value(60.0)
    at.sidebar.number_input(key="sidebar.max_retries").set_value(2)
    at.sidebar.checkbox(key="sidebar.net.stall").check().run()
    hint = next(c.value for c in at.sidebar.caption if "waits" in c.value)
    assert "3 min" in hint and "60 s × 3 attempts" in hint and "lower Timeout" in hint
    at.sidebar.number_input(key="sidebar.timeout").set_value(5.0)
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0).run()
    assert any("waits 5 s before its error" in c.value for c in at.sidebar.caption)
