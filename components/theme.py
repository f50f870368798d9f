"""Projector-friendly touches Streamlit's theme options do not cover."""

from __future__ import annotations

import streamlit as st

# Streamlit's default top padding (6rem) wastes a tenth of a 720-pixel-high projector screen.
_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; padding-bottom: 3rem; }
[data-testid="stMetricValue"] { font-size: 2rem; }
/* Home's pattern cards: the link is the card's title, so it should read as one from the back row. */
[class*="st-key-pattern-card"] [data-testid="stPageLink"] p { font-size: 1.3rem; font-weight: 600; }
</style>
"""


def apply_projector_style() -> None:
    """Inject the app's small stylesheet (static CSS only; no model output goes through HTML)."""
    st.html(_CSS)
