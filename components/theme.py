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


# ?present=1 (components/router.py): larger type for the back row of a meeting room.
_PRESENT_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.2rem; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label p,
[data-testid="stMain"] textarea, [data-testid="stMain"] input { font-size: 1.2rem; }
[data-testid="stMain"] h1 { font-size: 2.6rem; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 1.8rem; }
[data-testid="stMain"] button p { font-size: 1.2rem; }
[data-testid="stMetricValue"] { font-size: 2.4rem; }
[data-testid="stMain"] code { font-size: 1.05rem; }
</style>
"""


def apply_projector_style(*, present: bool = False) -> None:
    """Inject the app's small stylesheet (static CSS only; no model output goes through HTML).

    Args:
        present: presenter mode (``?present=1``): larger type on top of the usual style.
    """
    st.html(_CSS + (_PRESENT_CSS if present else ""))
