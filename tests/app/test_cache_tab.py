"""AppTest of the Metadata & cost page's Cache tab."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def test_the_second_call_is_a_cache_hit_at_no_cost_and_the_ledger_says_so(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_page("pages/metadata.py")
    # The default temperature (0.7) gets a note about what a cache means for sampled answers.
    assert any("above 0" in i.value for i in at.info)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(8).run()
    at.button(key="metadata.cache.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("**Second call, same prompt** · cache hit" in m.value for m in at.markdown)
    costs = [m.value for m in at.metric if m.label == "Cost"]
    assert costs[-1] == "$0"
    assert any(c.value.startswith("Tokens not billed") for c in at.caption)
    ledger = next(d.value for d in at.dataframe if "usage" in d.value.columns and "pattern" in d.value.columns)
    assert "cache hit · not billed" in set(ledger["usage"])


def test_at_temperature_zero_there_is_no_note(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/metadata.py")
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0).run()
    assert not any("above 0" in i.value for i in at.info)
