"""The app's pages, in one place, so the router and the Home page agree on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

# Absolute page paths: st.Page resolves relative ones against the running script, which for
# AppTest.from_function is a temporary file.
ROOT = Path(__file__).resolve().parent.parent
HOME = "pages/home.py"

# Streamlit still treats a `pages/` folder beside the entry script as a v1 multipage app until
# the first `st.navigation` call of the process: a first visit straight to /streaming on a fresh
# server runs pages/streaming.py on its own, without the router. Each page therefore starts with
# `ensure_router()` (components/router.py), which runs the router around it in that case.
# tests/e2e/test_deep_link_e2e.py guards this.


@dataclass(frozen=True)
class PatternPage:
    """A built pattern page: its file, title, icon and one-paragraph summary for Home."""

    path: str
    url_path: str
    title: str
    icon: str
    summary: str


# Only pages that exist are listed: a pattern appears here when its page is built.
PATTERN_PAGES: tuple[PatternPage, ...] = (
    PatternPage(
        "pages/streaming.py",
        "streaming",
        "Streaming",
        ":material/stream:",
        "Tokens appear as they are generated (`llm.stream` → `st.write_stream`). Measures time "
        "to first token and tokens/second, and races `stream` against a full `invoke`.",
    ),
    PatternPage(
        "pages/async.py",
        "async",
        "Async",
        ":material/timeline:",
        "Several calls in flight at once: an `invoke` loop against `ainvoke` + `asyncio.gather`, "
        "`abatch(max_concurrency=n)` and parallel `astream`s, drawn on one timeline with wall "
        "time and speed-up — on the CPU-bound embedded model and a simulated remote API.",
    ),
)


def home_page(*, default: bool = True) -> StreamlitPage:
    return st.Page(ROOT / HOME, title="Home", icon=":material/home:", url_path="home", default=default)


def pattern_page(page: PatternPage, *, default: bool = False) -> StreamlitPage:
    """The `st.Page` for a pattern page (also what `st.page_link` takes)."""
    return st.Page(
        ROOT / page.path, title=page.title, icon=page.icon, url_path=page.url_path, default=default
    )
