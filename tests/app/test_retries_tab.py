"""AppTest of the Batch page's "Retries" tab: attempts checked, both ways run, each attempt drawn."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/batch.py"


def test_zero_attempts_is_explained_and_cannot_run(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.number_input(key="batch.retry.attempts").set_value(0).run()
    assert not at.exception
    assert any("At least 1 attempt" in e.value for e in at.error)
    assert at.button(key="batch.retry.run").disabled


def test_both_ways_retry_the_429s_and_show_their_waits(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(4).run()
    at.number_input(key="batch.retry.calls").set_value(2)
    at.button(key="batch.retry.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    attempts = [int(m.value) for m in at.metric if m.label == "Attempts"]
    assert len(attempts) == 2 and all(a >= 3 for a in attempts)  # 2 at once vs "1 at once": retries
    # The client honours Retry-After: its panel says how long it waited after one.
    assert any("after a Retry-After of 1 s" in c.value for c in at.caption)
    code = next(c.value for c in at.code if "with_retry(" in c.value)
    assert "max_retries=3" in code and "stop_after_attempt=4" in code
