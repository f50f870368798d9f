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


@dataclass(frozen=True)
class PatternPage:
    """A built pattern page: its file, title, icon and one-paragraph summary for Home."""

    path: str
    title: str
    icon: str
    summary: str


# Only pages that exist are listed: a pattern appears here when its page is built.
PATTERN_PAGES: tuple[PatternPage, ...] = (
    PatternPage(
        "pages/streaming.py",
        "Streaming",
        ":material/stream:",
        "Tokens appear as they are generated (`llm.stream` → `st.write_stream`). Measures time "
        "to first token and tokens/second, and races `stream` against a full `invoke`.",
    ),
    PatternPage(
        "pages/batch.py",
        "Batch",
        ":material/stacks:",
        "Many prompts from a file with `batch_as_completed` and a `max_concurrency` limit: a "
        "cost estimate first, a live per-row table, results that survive reloads, CSV/JSONL "
        "export, and a sweep of wall time against concurrency.",
    ),
)


def home_page(*, default: bool = True) -> StreamlitPage:
    return st.Page(ROOT / HOME, title="Home", icon=":material/home:", default=default)


def pattern_page(page: PatternPage, *, default: bool = False) -> StreamlitPage:
    """The `st.Page` for a pattern page (also what `st.page_link` takes)."""
    return st.Page(ROOT / page.path, title=page.title, icon=page.icon, default=default)
