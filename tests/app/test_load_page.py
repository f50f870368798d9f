"""AppTest of the Load test page: its controls, bad input, and one short sweep on the real model."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/load.py"


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_page_offers_a_sweep_and_its_code_without_the_key(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "Load test"
    assert at.text_input(key="load.rates").value == "0.5, 1, 2, 4, 8"
    assert [b.label for b in at.main.button][:2] == ["Run sweep", "Stop"]
    code = at.code[0].value
    assert "rng.expovariate(RATE)" in code and "llm.astream(prompt)" in code and "RATE = 8.0" in code
    from components.runtime import embedded_status

    assert embedded_status().server.api_key not in code
    assert any("Run sweep" in i.value for i in at.info)


def test_bad_input_gets_a_message_and_runs_nothing(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    for rates, says in (("0, 1", "more than 0"), ("1, fast", "not a rate"), ("100", "ceiling"), ("", "at least one")):
        at.text_input(key="load.rates").set_value(rates).run()
        click(at, "Run sweep")
        assert says in warnings(at), (rates, warnings(at))
        assert "load.sweep" not in at.session_state
    at.text_input(key="load.rates").set_value("1").run()
    at.number_input(key="load.duration").set_value(1000.0).run()
    click(at, "Run sweep")
    assert "at most 300 s" in warnings(at) and "load.sweep" not in at.session_state


def test_a_short_sweep_names_the_knee_and_offers_its_exports(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.text_input(key="load.rates").set_value("4, 8").run()
    at.number_input(key="load.requests").set_value(3).run()
    at.select_slider(key="load.max_tokens").set_value(8).run()
    click(at, "Run sweep")
    assert not at.error, [e.value for e in at.error]
    sweep = at.session_state["load.sweep"]
    assert [lv.spec.rate_per_s for lv in sweep.levels] == [4.0, 8.0]
    assert all(lv.sent == 3 for lv in sweep.levels)
    # The knee, in words, against the default SLO (TTFT ≤ 1,000 ms).
    assert any(m.value.startswith("### ") and "req/s" in m.value and "time to first token" in m.value
               for m in at.markdown)
    assert at.dataframe[0].value["rate (req/s)"].tolist() == ["4", "8"]
    labels = [b.label for b in at.download_button]
    assert {"Levels (CSV)", "Requests (CSV)", "Everything (JSON)"} <= set(labels)
    from components.report_view import LOAD_SWEEP, _load

    section = _load({LOAD_SWEEP: sweep, "batch.slo_ttft_ms": 1000.0})
    assert section is not None and section.pattern == "load" and section.tables[0].rows


def test_through_the_rate_limited_preset_the_overload_is_429s_counted_by_cause(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page(PAGE)
    at.sidebar.selectbox(key="sidebar.network").set_value("Rate-limited: 4 at once").run()
    at.text_input(key="load.rates").set_value("40").run()
    at.number_input(key="load.requests").set_value(8).run()
    at.select_slider(key="load.max_tokens").set_value(16).run()
    click(at, "Run sweep")
    level = at.session_state["load.sweep"].levels[0]
    run = level.run
    assert level.sent == 8 and run.failed >= 1 and run.succeeded >= 1  # 8 at once, 4 let through
    assert all(t.problem.kind == "rate_limit" for t in run if not t.ok)
    assert run.distribution("e2e_s").count == run.succeeded  # the 429s are not latencies
    assert "429" in at.dataframe[0].value["failures"].iloc[0]
    # The server's own view is read directly, past the proxy.
    assert "processing" in level.server.reported
