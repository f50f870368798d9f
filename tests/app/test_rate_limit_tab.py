"""AppTest of the Batch page's "Rate limits" tab: bad rates explained, a run without and with the limiter."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/batch.py"


def test_a_rate_of_zero_or_below_is_explained_and_cannot_run(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    assert at.button(key="batch.rl.run").disabled is False
    for bad in (0.0, -2.0):
        at.number_input(key="batch.rl.rate").set_value(bad).run()
        assert not at.exception
        assert any("would never send a request" in e.value for e in at.error)
        assert at.button(key="batch.rl.run").disabled


def test_without_a_limit_there_is_nothing_to_show_and_it_says_so(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.radio(key="batch.rl.limit").set_value("As set in the sidebar").run()
    assert any("no rate limit" in i.value for i in at.info)
    assert at.button(key="batch.rl.run").disabled


def test_the_two_runs_show_the_refused_requests_and_the_code(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(4).run()
    at.number_input(key="batch.rl.rows").set_value(6)
    at.number_input(key="batch.rl.concurrency").set_value(6)
    at.button(key="batch.rl.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    shown = [m for m in at.metric if m.label == "429 refused"]
    assert len(shown) == 2
    assert int(shown[0].value) >= 1  # 6 at once against "4 at once"
    assert any("suggested" in c.value for c in at.caption)
    code = next(c.value for c in at.code if "InMemoryRateLimiter(" in c.value)
    assert "rate_limiter=rate_limiter," in code and "netem-" not in code
