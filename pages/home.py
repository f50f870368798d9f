"""Home: the five execution patterns in a few lines each, and which to use when."""

from __future__ import annotations

import streamlit as st

from components.pages import PATTERN_PAGES, pattern_page
from components.router import ensure_router

ensure_router()  # a first visit straight to this page: see components/router.py

st.title("Execution Patterns Lab")
st.markdown(
    "See and measure how LLM calls execute with LangChain. Every page talks to a real model "
    "through `ChatOpenAI`: the embedded SmolLM2 running on this machine by default (no key, no "
    "internet), or OpenAI or any OpenAI-compatible endpoint chosen in the sidebar."
)

st.subheader("The patterns")
cols = st.columns(2)
for i, page in enumerate(PATTERN_PAGES):
    with cols[i % 2].container(border=True, key=f"pattern-card-{page.url_path}"):
        st.page_link(pattern_page(page), label=page.title, icon=page.icon)
        st.markdown(page.summary)

st.subheader("Which method for which situation?")
# A Markdown table, not st.table: that one loads pandas and pyarrow (~1 s) just for the first screen.
st.markdown(
    """
| Situation | Use |
| --- | --- |
| One question, simple script | `invoke()` |
| A web app that must not block while it waits | `ainvoke()` (many at once: `asyncio.gather` or `abatch()`) |
| Many prompts at once (100 documents) | `batch()` with `max_concurrency` |
| People should see the answer being typed | `stream()` |
| See every step inside a multi-step chain | `astream_events(version="v2")` |
| Know what a call cost | `response_metadata` and `usage_metadata` |
"""
)
