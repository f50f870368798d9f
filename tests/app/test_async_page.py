"""AppTest of the Async page: the real router, the real embedded model, runs repeated on purpose.

Repeating runs is the point: every click makes a new event loop, and a client cached across
loops fails on the second one ("Event loop is closed").
"""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from components.pages import ROOT
from core.settings import Provider

PAGE = "pages/async.py"
REMOTE = "Simulated remote API (+300 ms, latency-bound)"


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def summaries(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "wall **" in m.value]


def small(at: AppTest, questions: str = "What is AI?\nWhat is ML?\nWhat is DL?") -> AppTest:
    at.text_area(key="async.questions").set_value(questions)
    at.select_slider(key="async.max_tokens").set_value(16)
    return at


def test_page_explains_and_offers_every_mode_with_its_code(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "Async"
    assert at.text_area(key="async.questions").value.splitlines()[:3] == ["What is AI?", "What is ML?", "What is DL?"]
    assert [b.label for b in at.main.button] == [
        "Sequential invoke", "ainvoke + gather", "abatch", "astream × n", "Run all",
    ]
    assert at.segmented_control(key="async.situation").value.startswith("Embedded model")
    assert any("CPU-bound" in c.value for c in at.caption)
    codes = [c.value for c in at.code]
    assert len(codes) == 4
    assert "asyncio.gather" in codes[1] and "abatch" in codes[2] and "astream" in codes[3]
    from components.runtime import embedded_status

    assert all(embedded_status().server.api_key not in code for code in codes)


def test_modes_run_again_and_again_without_event_loop_errors(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE))
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)  # no retry may hide a failure
    for label in ("ainvoke + gather", "astream × n"):
        click(at, label)
        assert not at.error, [e.value for e in at.error]
    click(at, "Run all")
    assert not at.error, [e.value for e in at.error]
    lines = summaries(at)
    assert len(lines) == 4 and "the baseline" in lines[0]
    assert all("faster than sequential" in line or "slower than sequential" in line for line in lines[1:])
    # One timeline (the per-call waterfall below it is a chart of its own).
    assert [c.key for c in at.get("plotly_chart")].count("async-timeline") == 1
    # The astream answers are shown side by side, one box per question.
    assert sum(1 for t in at.text if t.value.strip() not in ("", "—")) >= 3
    # Any other click reruns the script: the timeline and numbers are redrawn, not lost.
    at.number_input(key="async.max_concurrency").set_value(3).run()
    # One timeline (the per-call waterfall below it is a chart of its own).
    assert [c.key for c in at.get("plotly_chart")].count("async-timeline") == 1 and len(summaries(at)) == 4
    # Every call went to the session ledger under this page's name.
    records = at.session_state["lab.ledger"].records()
    assert len(records) == 2 * 3 + 4 * 3 and {r.pattern for r in records} == {"async"}


def test_after_a_page_switch_the_next_run_still_works(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE), "What is AI?\nWhat is ML?")
    click(at, "ainvoke + gather")
    # Absolute paths: the AppTest script is a temporary file elsewhere.
    at.switch_page(str(ROOT / "pages/home.py")).run()
    assert not at.exception and at.title[0].value == "Execution Patterns Lab"
    at.switch_page(str(ROOT / PAGE)).run()
    assert at.title[0].value == "Async"
    small(at, "What is AI?\nWhat is ML?")
    click(at, "astream × n")
    assert not at.error, [e.value for e in at.error]
    assert len(summaries(at)) == 2


def test_simulated_remote_api_runs_and_both_situations_are_compared(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE), "What is AI?\nWhat is ML?")
    click(at, "Sequential invoke")
    at.segmented_control(key="async.situation").set_value(REMOTE).run()
    assert any("Latency-bound" in c.value for c in at.caption)
    assert not at.get("plotly_chart")  # nothing ran in this situation yet
    click(at, "Sequential invoke")
    click(at, "ainvoke + gather")
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.subheader] == [f"Timeline — {REMOTE}", "Both situations side by side"]
    table = at.dataframe[0].value
    assert set(table["Where"]) == {"Embedded model", "Simulated remote API"}
    assert list(table["Speed-up"])[-1].endswith("×")
    # The requests really went through the network proxy.
    from components.runtime import network_proxy

    assert network_proxy().stats(at.session_state["lab.session_scope"]).requests >= 4


def test_unreachable_endpoint_fails_each_call_in_plain_words(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE), "What is AI?\nWhat is ML?")
    at.sidebar.radio(key="sidebar.provider").set_value(Provider.COMPATIBLE).run()
    at.sidebar.text_input(key="sidebar.base_url").set_value("http://127.0.0.1:9/v1")
    at.sidebar.text_input(key="sidebar.model.compatible").set_value("m")
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)
    at.run()
    assert not at.get("segmented_control")  # a real remote endpoint: no simulated situation
    click(at, "ainvoke + gather")
    problems = [e.value for e in at.error]
    # One line for the mode, grouped by cause, then each call's own message (in an expander).
    assert problems[0].startswith("**ainvoke() + asyncio.gather**: 2 calls failed: cannot reach the endpoint × 2 — ")
    assert len(problems) == 3 and all("Cannot reach the endpoint" in p for p in problems[1:])
    assert "**failed** (all 2 calls failed)" in summaries(at)[0]


def test_changing_the_questions_drops_runs_that_no_longer_compare(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE), "What is AI?\nWhat is ML?")
    click(at, "Sequential invoke")
    click(at, "ainvoke + gather")
    assert "faster than sequential" in summaries(at)[1] or "slower than sequential" in summaries(at)[1]
    small(at, "What is AI?")
    click(at, "ainvoke + gather")
    lines = summaries(at)
    assert len(lines) == 1 and "run **Sequential**" in lines[0]


def test_timeline_draws_any_number_of_modes_and_questions() -> None:
    from components.async_view import modes_timeline_figure
    from core.call.trace import CallTrace, Outcome, StreamChunk
    from core.patterns.concurrency import CallSpan, Mode, ModeRun

    def call(i: int, streams: bool) -> CallSpan:
        first = 0.1 * i + 0.05
        return CallSpan(i, f"q{i}", CallTrace(f"r{i}", origin=0.1 * i, lc_end=0.1 * i + 0.2,
                                              chunks=[StreamChunk(first, "tok")] if streams else [],
                                              outcome=Outcome("complete")))

    for modes in range(1, 5):
        for calls in (1, 8):
            runs = [
                ModeRun(mode, [call(i, mode.streams) for i in range(calls)], wall_s=0.1 * calls + 0.2)
                for mode in list(Mode)[:modes]
            ]
            fig = modes_timeline_figure(runs)
            assert len(fig.layout.annotations) == modes  # one title per panel
            bars = [t for t in fig.data if t.type == "bar"]
            assert len(bars) == modes * calls + (calls if modes == 4 else 0)
            assert fig.layout.height > 0
