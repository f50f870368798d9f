"""The answer box: one bordered box per model answer, the same on every page.

Boxes are keyed `<prefix>-0`, `<prefix>-1`, … in the order a script run draws them (Streamlit
makes the key the CSS class `.st-key-<prefix>-<n>`, which the browser tests select). The count
restarts with every script run, so a page's first answer is always `<prefix>-0`.
"""

from __future__ import annotations

import itertools

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.security.untrusted import answer_markdown


class AnswerBoxes:
    """The answer boxes of one page script run: make one at the top of the page.

    Args:
        prefix: the boxes' key prefix (`answer` on Streaming, `metadata-answer` on Metadata).
    """

    def __init__(self, prefix: str = "answer") -> None:
        self.prefix = prefix
        self._ids = itertools.count()

    def box(self) -> DeltaGenerator:
        """A new empty box, to stream an answer into (`with boxes.box(): st.write_stream(...)`)."""
        return st.container(border=True, key=f"{self.prefix}-{next(self._ids)}")

    def show(self, text: str) -> None:
        """A new box holding a finished answer's text (an answer with none says so)."""
        with self.box():
            # Model text is shown as the characters it holds: no remote image, link or code span
            # a model (or a recording made elsewhere) writes in Markdown is rendered.
            st.markdown(answer_markdown(text) if text else "_(no text)_")
