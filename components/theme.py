"""Projector-friendly touches Streamlit's theme options do not cover."""

from __future__ import annotations

import streamlit as st

# Streamlit's default top padding (6rem) wastes a tenth of a 720-pixel-high projector screen.
_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; padding-bottom: 3rem; }
/* Metric values: as big as the metric's width allows (2rem in wide columns; five to a row
   beside the sidebar at 1280 px they get ~145 px each), and a long value ("not reported",
   "123,456 / 12,345") wraps at its spaces instead of being cut to "not rep…". */
[data-testid="stMetric"] { container-type: inline-size; }
[data-testid="stMetricValue"] { font-size: clamp(1.5rem, 17cqi, 2rem); }
[data-testid="stMetricValue"] :is(div, p) { white-space: normal; overflow: visible; text-overflow: clip; }
/* Captions: Streamlit fades them to 60 % opacity (3.9:1 on white); WCAG AA needs 4.5:1.
   This grey is 6.5:1 on white and 5.8:1 on the sidebar. */
[data-testid="stCaptionContainer"] { opacity: 1; color: #5F5E5C; }
/* Home's pattern cards: the link is the card's title, so it should read as one from the back row. */
[class*="st-key-pattern-card"] [data-testid="stPageLink"] p { font-size: 1.3rem; font-weight: 600; }
</style>
"""


def apply_projector_style() -> None:
    """Inject the app's small stylesheet (static CSS only; no model output goes through HTML)."""
    st.html(_CSS)
