"""Small rendering helpers every page uses: errors, code, metric strips, the endpoint guard."""

from __future__ import annotations

import streamlit as st

from components.runtime import current_endpoint, current_settings
from core.call.errors import CallProblem
from core.call.models import Endpoint
from core.embedded_server import EmbeddedModelUnavailable
from core.security.untrusted import code_span, escape_markdown
from core.settings import validate


def show_problem(problem: CallProblem, *, what_was_kept: str | None = None) -> None:
    """A failed call in plain words: the cause, what the endpoint said, and the fix.

    An answer that ended early (no finish reason) is a warning, not an error: its text is there,
    it may just be cut.
    """
    # The detail quotes the endpoint: a code span no backtick in it can close (core.security.untrusted).
    body = f"**{escape_markdown(problem.title)}.** {problem.fix}\n\n{code_span(problem.detail)}"
    if what_was_kept:
        body += f"\n\n{what_was_kept}"
    if problem.kind == "incomplete":
        st.warning(body, icon=":material/content_cut:")
    else:
        st.error(body, icon=":material/error:")


def show_code(code: str, *, label: str = "Show the code") -> None:
    """The exact LangChain code for the current settings (keys read from the environment)."""
    with st.expander(label, icon=":material/code:"):
        st.caption("Runs as-is with the current settings; the key is read from the environment.")
        st.code(code, language="python")


def endpoint_or_stop() -> Endpoint:
    """The current endpoint, or an explanation and `st.stop()` when calls cannot be made."""
    problems = validate(current_settings())
    if problems:
        st.warning("Before calling the model: " + escape_markdown(" ".join(problems)), icon=":material/settings:")
        st.stop()
    try:
        endpoint = current_endpoint()
    except EmbeddedModelUnavailable as exc:  # its message may name a typed host
        st.error(escape_markdown(str(exc)), icon=":material/error:")
        st.stop()
    if endpoint.replay:  # beside the answer about to appear: never passed off as live
        replay_badge(endpoint.replay)
    return endpoint


def replay_badge(recording: str) -> None:
    """The orange "REPLAY · <recording>" badge beside an answer that came from a recording."""
    st.badge(f"REPLAY · {escape_markdown(recording)}", icon=":material/replay:", color="orange")


def endpoint_for_code() -> Endpoint | None:
    """The current endpoint for a code snippet, or None when there is none to show."""
    if validate(current_settings()):
        return None
    try:
        return current_endpoint()
    except EmbeddedModelUnavailable:
        return None


def fmt_seconds(value: float | None) -> str:
    """'0.42 s', '1.3 s', or an em dash when unknown."""
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_optional(value: float | int | None, pattern: str = "{:,}") -> str:
    return "—" if value is None else pattern.format(value)
