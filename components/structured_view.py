"""Rendering for the Structured output page: the growing object, its figures, what was sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from components.display import fmt_seconds, show_problem
from components.trace_view import render_waterfall
from core.patterns.structured import METHODS, StructuredFigures, StructuredRun, TokenSplit
from core.security.untrusted import code_span

# The live object is redrawn at most this often: every streamed piece is still parsed and kept,
# the browser just gets fewer frames (llama.cpp streams ~100 pieces/s here).
REDRAW_S = 0.05


def live_object(slot: Any, clock: Callable[[], float]) -> Callable[[Any], None]:
    """A callback that draws each partial object into `slot`, at most every `REDRAW_S`."""
    last = [float("-inf")]

    def draw(value: Any) -> None:
        now = clock()
        if now - last[0] >= REDRAW_S:
            last[0] = now
            slot.json(value, expanded=True)

    return draw


def figures_strip(figures: StructuredFigures | None) -> None:
    """Time to the first field, to a valid object, the total, and the token split."""
    cols = st.columns(4)
    if figures is None:
        for col, label in zip(cols, ("First field", "Valid object", "Total", "Tokens"), strict=True):
            col.metric(label, "not reported")
        return
    cols[0].metric(
        "First field", fmt_seconds(figures.first_field_s),
        help="From the call's start to the first top-level field with a value in the partial "
        "object (LangChain's partial JSON parse of the pieces streamed so far).",
    )
    cols[1].metric(
        "Valid object", fmt_seconds(figures.valid_object_s) if figures.valid_object_s is not None else "never",
        help="From the call's start to the first moment the text so far parsed as complete JSON "
        "valid against the schema.",
    )
    cols[2].metric("Total", fmt_seconds(figures.trace.e2e_s), help="The call's end-to-end time (its trace).")
    tokens = "not reported" if figures.output_tokens is None else f"{figures.output_tokens:,}"
    cols[3].metric("Output tokens", tokens, help="As the endpoint reported them (usage).")
    split_line(figures.split)


def split_line(split: TokenSplit) -> None:
    """One sentence: how the streamed pieces divide into syntax, key names and values."""
    if not split.total:
        st.caption("No JSON streamed, so there is nothing to split into syntax and values.")
        return

    def pct(n: int) -> str:
        share = split.share(n)
        return "—" if share is None else f"{share:.0%}"

    st.caption(
        f"Of {split.total} streamed pieces (about one token each): **{split.values} carried "
        f"values** ({pct(split.values)}), {split.keys} key names ({pct(split.keys)}), "
        f"{split.syntax} only JSON syntax — braces, quotes, colons, commas, spaces "
        f"({pct(split.syntax)}). Keys and syntax are what the object costs beyond its content."
    )


def growth_rows(run: StructuredRun) -> list[dict[str, Any]]:
    """One row per distinct partial object: when it stood so, how many fields had values."""
    return [
        {"at (ms)": round(f.at_s * 1000), "fields with a value": f.fields,
         "object so far": json.dumps(f.value, ensure_ascii=False)}
        for f in run.frames
    ]


def run_details(run: StructuredRun, *, key: str) -> None:
    """A finished run: its problem or note, the object, the figures and what went on the wire."""
    if run.problem is not None:
        kept = "The part of the object that streamed before it is shown below." if run.frames else None
        show_problem(run.problem, what_was_kept=kept)
    elif run.note:
        st.info(run.note, icon=":material/info:")
    if run.parsing_error:
        st.error(f"**LangChain could not parse the answer** (returned as `parsing_error`, not "
                 f"raised, because include_raw=True): {code_span(run.parsing_error)}", icon=":material/error:")
    if run.errors_against_schema:
        st.warning("The object does not match the schema: " + "; ".join(run.errors_against_schema),
                   icon=":material/rule:")
    figures_strip(run.figures)
    wire_col, raw_col = st.columns(2)
    with wire_col:
        st.markdown("**What the request carried** (its body, as sent; the key travels in a header and is not shown)")
        wire = run.wire
        if wire is None:
            st.caption("No request was seen by the traced client.")
        else:
            st.json(wire or {"(no structured-output fields)": True}, expanded=True)
    with raw_col:
        st.markdown("**The raw answer**" + (" (`raw`, include_raw=True)" if run.include_raw else ""))
        st.code(run.raw_text or "(empty)", language="json", wrap_lines=True)
    render_waterfall(run.trace, key=f"{key}-waterfall", title="Where the time went (the call's trace)")
    rows = growth_rows(run)
    if rows:
        with st.expander(f"How the object grew ({len(rows)} steps)", icon=":material/timeline:"):
            st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}-growth")


def method_column(run: StructuredRun) -> None:
    """One method of the side-by-side comparison: what it sent, what came back, when."""
    st.markdown(f"#### `{run.method}`")
    st.caption(METHODS[run.method])
    st.markdown("**Sent**")
    st.json(run.wire or {}, expanded=True)
    st.markdown("**Got**")
    if run.problem is not None:
        show_problem(run.problem)
    elif run.parsed is None:
        st.info(run.note or "No object.", icon=":material/info:")
    else:
        st.json(run.parsed, expanded=True)
        if run.errors_against_schema:
            st.warning("Not the schema's shape: " + "; ".join(run.errors_against_schema[:3]),
                       icon=":material/rule:")
    figures = run.figures
    valid = figures.valid_object_s if figures is not None else None
    tokens = figures.output_tokens if figures is not None else None
    st.metric("Valid object", fmt_seconds(valid) if valid is not None else "never")
    st.caption(f"Output tokens: {'not reported' if tokens is None else f'{tokens:,}'}")
