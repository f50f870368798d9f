"""Projector-friendly touches Streamlit's theme options do not cover."""

from __future__ import annotations

import streamlit as st

# The app's colour palette: every chart and view takes its colours from here, so a colour keeps
# one meaning across pages (blue: text streaming / measured; orange: waiting / p90; green: good
# / p50; red: failed; grey: ideal or background marks).
BLUE = "#2E86DE"
ORANGE = "#E67E22"
GREEN = "#27AE60"
RED = "#C0392B"
GREY = "#7F8C8D"
INK = "#1B2631"  # ticks and arrivals drawn over bars
PURPLE = "#8E44AD"
PINK = "#D6336C"
LIGHT_GREY = "#95A5A6"
PALE_GREY = "#B3B6B7"
NO_DATA_GREY = "#BBBBBB"  # a bar with nothing to show (no price, not reported)
SLATE = "#34495E"
NAVY = "#1B4F72"
STEEL_BLUE = "#2471A3"
TEAL = "#17A589"
AMBER = "#D68910"

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
