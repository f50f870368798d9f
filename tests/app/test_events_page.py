"""AppTest of the Streaming events page: the real script, the real embedded model."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def _run(at: AppTest, chain: str = "joke", *, fail_tool: bool = False) -> AppTest:
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(8)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.radio(key="events.chain").set_value(chain).run()
    if fail_tool:
        at.toggle(key="events.fail_tool").set_value(True)
    next(b for b in at.button if b.label == "Run and watch").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _log(at: AppTest):
    return next(d.value for d in at.dataframe if list(d.value.columns)[:3] == ["#", "ms", "event"])


def test_run_fills_the_log_counts_and_timeline_and_filters_redraw_without_rerunning(
    open_page: Callable[[str], AppTest],
) -> None:
    at = _run(open_page("pages/events.py"))
    recorded = int(_metric(at, "Events recorded"))
    log = _log(at)
    counts = next(d.value for d in at.dataframe if list(d.value.columns) == ["event", "count"])
    # Nothing dropped: the number on screen, the rows in the log and the counts all agree.
    assert recorded == len(log) == counts["count"].sum() > 5
    assert log["event"].iloc[0] == "on_chain_start" and log["event"].iloc[-1] == "on_chain_end"
    assert list(log["ms"]) == sorted(log["ms"])
    assert len(at.get("plotly_chart")) == 1
    assert any(f"showing {recorded} of {recorded} recorded" in m.value for m in at.markdown)
    ledger = at.session_state["lab.ledger"]
    assert [r.pattern for r in ledger.records()] == ["events"]

    # A filter is a view of the same recording: no new run, the API call it mirrors is shown.
    at.multiselect(key="events.f.include_types").set_value(["chat_model"]).run()
    filtered = _log(at)
    assert set(filtered["event"]) <= {"on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"}
    assert 0 < len(filtered) < recorded
    assert int(_metric(at, "Events recorded")) == recorded
    assert len(ledger.records()) == 1
    assert any("include_types=['chat_model']" in c.value for c in at.code)

    # The raw JSON of any event, on request.
    at.number_input(key="events.raw_index").set_value(0).run()
    raw = at.json[0].value
    assert '"on_chain_start"' in raw and '"topic": "cats"' in raw


def test_a_failing_tool_shows_the_step_and_keeps_the_events(open_page: Callable[[str], AppTest]) -> None:
    at = _run(open_page("pages/events.py"), "tool", fail_tool=True)
    message = at.error[0].value
    assert "answer_stats" in message and "kept" in message
    log = _log(at)
    assert list(log["event"])[-2:] == ["on_tool_start", "on_tool_error"]
    assert "on_chat_model_end" in set(log["event"])
    assert int(_metric(at, "Events recorded")) == len(log)
    assert len(at.get("plotly_chart")) == 1
    assert any("@tool" in c.value and "raise ValueError" in c.value for c in at.code)


def test_each_chain_is_explained_before_running(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/events.py")
    assert at.title[0].value == "Streaming events"
    at.radio(key="events.chain").set_value("progress").run()
    assert "adispatch_custom_event" in at.caption[0].value
    code = at.code[0].value
    assert "adispatch_custom_event" in code and "astream_events" in code


def test_the_agent_loop_shows_the_models_tool_call_its_steps_and_the_total(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/events.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(96)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.radio(key="events.chain").set_value("agent").run()
    assert any("`<tool_call>`" in c.value for c in at.caption)  # how the embedded model is forced
    next(b for b in at.button if b.label == "Run and watch").click().run()
    assert not at.exception, [e.message for e in at.exception]
    tools = next(d.value for d in at.dataframe if "arguments the model chose" in d.value.columns)
    assert len(tools) == 1 and tools["tool"].iloc[0] in ("answer_stats", "calculator")
    assert _metric(at, "Model calls") == "2" and _metric(at, "Tool calls") == "1"
    assert "/" in _metric(at, "Tokens in / out (all calls)")
    assert any(m.value.startswith("**Model call 1** — asked for a tool") for m in at.markdown)
    assert any(m.value.startswith("**Model call 2** — answered") for m in at.markdown)
    log = _log(at)
    assert {"on_tool_start", "on_chat_model_stream"} <= set(log["event"])
    assert any("TOOLS = " in c.value and '"<tool_call>\\n"' in c.value for c in at.code)


def test_the_agent_step_limit_stops_the_loop_with_a_message(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/events.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(96)
    at.radio(key="events.chain").set_value("agent").run()
    at.number_input(key="events.max_steps").set_value(1).run()
    next(b for b in at.button if b.label == "Run and watch").click().run()
    assert any("Stopped at the step limit" in e.value and "Stopped after 1 model calls" in e.value for e in at.error)
