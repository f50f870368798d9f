"""AppTest of the Compare page: the real router, the real embedded model, the real network proxy."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/compare.py"


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label.startswith(label)).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def small(at: AppTest) -> AppTest:
    at.select_slider(key="compare.max_tokens").set_value(16)
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)  # no retry may hide a failure
    return at


def figures(at: AppTest) -> list[str]:
    """Each column's figure list (one markdown block per finished column)."""
    return [m.value for m in at.markdown if "First token (TTFT)" in m.value]


def test_embedded_against_embedded_as_a_remote_api(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE))
    assert at.title[0].value == "Compare endpoints"
    assert at.selectbox(key="compare.net.1").value == "Remote API ~300 ms"
    click(at, "Race")
    assert not at.error, [e.value for e in at.error]
    shown = figures(at)
    assert len(shown) == 2
    for strip in shown:
        assert "Finish reason: **length**" in strip or "Finish reason: **stop**" in strip
        assert "Cost: **" in strip and "Input / output tokens: **not reported**" not in strip
    # The summary names both columns and states B against A in words.
    table = at.dataframe[0].value
    assert list(table["Endpoint"]) == ["A · Embedded model", "B · Embedded model · Remote API ~300 ms"]
    assert any("B's first token comes" in m.value for m in at.markdown)
    # Both waterfalls are drawn; B's call went through the proxy, whose hold is a segment of it.
    last = at.session_state["compare.last"]
    traces = [last.last_call(i).trace for i in range(2)]
    assert traces[0].proxy is None and traces[1].proxy is not None
    assert traces[1].proxy.held_ms >= 300
    from core.call.anatomy import anatomy

    held = [s for s in anatomy(traces[1]).segments if s.layer == "proxy"]
    assert [s.name for s in held] == ["Proxy: simulated latency"] and held[0].ms >= 300
    assert not [s for s in anatomy(traces[0]).segments if s.layer == "proxy"]
    # Every call is in the session ledger, tagged with the run and its column.
    records = [r for r in at.session_state["lab.ledger"] if r.pattern == "compare"]
    assert len(records) == 2
    assert all(f"compare:{last.run_id}" in r.trace.tags for r in records)
    assert {t for r in records for t in r.trace.tags if t.startswith("endpoint:")} == {
        "endpoint:A · Embedded model", "endpoint:B · Embedded model · Remote API ~300 ms",
    }
    code = next(c.value for c in at.code if "asyncio.gather" in c.value)
    assert code.count("llm.astream") == 1 and "B · Embedded model" in code
    assert at.session_state["compare.last"].calls[0].trace.outcome.text  # the answer was kept


def test_repeat_interleaves_and_reports_p50_and_p90(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE))
    at.number_input(key="compare.rounds").set_value(2).run()
    click(at, "Repeat")
    last = at.session_state["compare.last"]
    assert [(c.round, c.endpoint) for c in last.calls] == [(0, 0), (0, 1), (1, 1), (1, 0)]
    table = at.dataframe[0].value
    assert {"TTFT p50", "TTFT p90", "Total p50", "Calls"} <= set(table.columns)
    assert list(table["Calls"]) == ["2 ok / 2", "2 ok / 2"]


def test_a_failing_endpoint_shows_its_own_problem_while_the_other_finishes(
    open_page: Callable[[str], AppTest],
) -> None:
    from components.runtime import embedded_status

    at = small(open_page(PAGE))
    # B: the embedded server itself, but as an OpenAI-compatible URL with no key: HTTP 401.
    at.selectbox(key="compare.kind.1").set_value("OpenAI-compatible").run()
    at.text_input(key="compare.url.1").set_value(embedded_status().server.base_url)
    at.text_input(key="compare.model.1").set_value("smollm2")
    at.selectbox(key="compare.net.1").set_value("Off")
    click(at, "Race")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "API key" in errors[0]
    assert embedded_status().server.api_key not in " ".join(errors)
    last = at.session_state["compare.last"]
    assert last.calls[0].ok and last.calls[0].text  # A finished with its answer
    assert not last.calls[1].ok and last.calls[1].problem.kind == "auth"
    assert list(at.dataframe[0].value["Status"]) == ["ok", "failed"]


def test_a_closed_port_is_a_problem_of_its_column_only(open_page: Callable[[str], AppTest]) -> None:
    from core.network.loopback import loopback_listening_socket

    sock = loopback_listening_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    at = small(open_page(PAGE))
    at.selectbox(key="compare.kind.2").set_value("OpenAI-compatible").run()
    at.text_input(key="compare.url.2").set_value(f"http://127.0.0.1:{port}/v1")
    at.text_input(key="compare.model.2").set_value("any")
    click(at, "Race")
    last = at.session_state["compare.last"]
    assert [c.ok for c in last.calls] == [True, True, False]
    assert len(at.error) == 1
    assert len(figures(at)) == 3


def test_a_column_without_what_it_needs_says_so_before_calling(open_page: Callable[[str], AppTest]) -> None:
    at = small(open_page(PAGE))
    at.selectbox(key="compare.kind.1").set_value("OpenAI").run()
    click(at, "Race")
    warnings = " ".join(w.value for w in at.warning)
    assert "B · OpenAI" in warnings and "OPENAI_API_KEY" in warnings
    assert "compare.last" not in at.session_state
