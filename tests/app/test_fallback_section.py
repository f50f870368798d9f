"""AppTest of the Streaming events page's Fallbacks section."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/events.py"


def test_a_fallback_to_the_same_endpoint_is_explained_and_cannot_run(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page(PAGE)
    at.radio(key="events.fallback.primary").set_value("The endpoint set in the sidebar").run()
    assert not at.exception
    assert any("same endpoint as the primary" in w.value for w in at.warning)
    assert at.button(key="events.fallback.run").disabled


def test_a_wrong_base_url_falls_back_and_says_which_model_answered(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(12).run()
    at.radio(key="events.fallback.primary").set_value("A wrong base URL (nothing listens there)").run()
    at.button(key="events.fallback.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (answered,) = [s.value for s in at.success if "Answered by" in s.value]
    assert "**fallback**" in answered and "SmolLM2" in answered
    table = next(d.value for d in at.dataframe if "event" in d.value.columns and "name" in d.value.columns
                 and "primary" in set(d.value["name"]))
    assert {"primary", "fallback"} <= set(table["name"])
    code = next(c.value for c in at.code if "with_fallbacks(" in c.value)
    assert "127.0.0.1:9" in code and "max_retries=0" in code
