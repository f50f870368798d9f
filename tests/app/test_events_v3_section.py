"""AppTest of the Streaming events page's v2/v3 section."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def test_v2_and_v3_run_side_by_side_and_v3_is_marked_beta(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/events.py")
    assert any("beta" in s.value for s in at.subheader if "v3" in s.value)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(8).run()
    at.button(key="events.v3.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    events = [m.value for m in at.metric if m.label == "Events"]
    assert len(events) == 2 and all(int(v) > 3 for v in events)
    tokens = [m.value for m in at.metric if m.label == "Tokens in / out"]
    assert len(tokens) == 2 and tokens[0] == tokens[1] and tokens[0].endswith("/ 8")
    assert any("Beta warning (captured)" in c.value for c in at.caption)
    assert any('version="v3"' in c.value for c in at.code)
