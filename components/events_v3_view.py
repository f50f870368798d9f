"""Streaming events page, "v2 and v3" section: the same chat-model call through both versions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import streamlit as st

from components.call_kit import call_kit
from components.display import fmt_seconds, show_code, show_problem
from components.runtime import (
    current_endpoint,
    current_settings,
)
from core.call.models import Endpoint
from core.embedded_server import EmbeddedModelUnavailable
from core.export.snippets import events_v3_code
from core.patterns.events import fresh_async_http_client, jsonable
from core.patterns.events_v3 import VersionRun, run_both_versions
from core.security.untrusted import escape_markdown

RESULT_KEY = "events.v3.result"


def events_v3_section(topic: str) -> None:
    """Controls, both versions' runs side by side, and the code."""
    st.subheader("astream_events v2 and v3 :orange-badge[beta]")
    st.markdown(
        "langchain-core 1.8 adds `version=\"v3\"` for **chat models** (and graphs; a chain "
        "raises `NotImplementedError`). Instead of dicts, `await llm.astream_events(..., "
        "version=\"v3\")` returns a stream object: iterate it for protocol events "
        "(`message-start`, `content-block-delta`, …, `message-finish` with the usage), or await "
        "its typed parts — `.text`, `.reasoning`, `.tool_calls`, `.output`. The same call runs "
        "through v2 and v3 here. v3 is beta: its shape may change; its warning is shown below, "
        "not in the terminal."
    )
    prompt = f"Tell me a joke about {topic}."
    if st.button("Run v2 and v3", icon=":material/compare_arrows:", key="events.v3.run"):
        try:
            endpoint = current_endpoint()
        except EmbeddedModelUnavailable as exc:
            st.error(escape_markdown(str(exc)), icon=":material/error:")
            return

        kit = call_kit("events", endpoint)

        def make() -> tuple[Any, Callable[[], Awaitable[None]]]:
            http = fresh_async_http_client()
            return kit.model(http_async_client=http), http.aclose

        with st.spinner("v2, then v3…"):
            st.session_state[RESULT_KEY] = run_both_versions(make, prompt, kit.config, secrets=kit.secrets)
    runs = st.session_state.get(RESULT_KEY)
    if runs:
        cols = st.columns(2)
        for col, run in zip(cols, runs, strict=True):
            with col.container(border=True, key=f"events-{run.version}"):
                _one(run)
    code_endpoint: Endpoint | None = None
    with contextlib.suppress(EmbeddedModelUnavailable):  # no model: no code to show, no error
        code_endpoint = current_endpoint()
    if code_endpoint is not None:
        show_code(events_v3_code(current_settings(), code_endpoint, prompt), label="Show the code (v2 and v3)")


def _one(run: VersionRun) -> None:
    title = "v2 · StreamEvent dicts" if run.version == "v2" else "v3 · typed stream (beta)"
    st.markdown(f"**{title}**")
    if run.problem:
        show_problem(run.problem)
        return
    a, b, c = st.columns(3)
    a.metric("Events", f"{run.events:,}")
    b.metric("First text", fmt_seconds(run.trace.ttft_s if run.trace else None))
    c.metric("Tokens in / out", f"{run.usage.input_tokens} / {run.usage.output_tokens}" if run.usage
             else "not reported")
    st.dataframe(pd.DataFrame({"event": list(run.counts), "count": list(run.counts.values())}),
                 hide_index=True, width="stretch", key=f"events.v3.counts.{run.version}")
    if run.version == "v3":
        st.markdown(
            f"`await stream.text` → {run.text!r}  \n"
            f"`await stream.reasoning` → {'none' if run.reasoning is None else repr(run.reasoning)}  \n"
            f"`await stream.tool_calls` → {run.tool_calls or 'none'}  \n"
            "`(await stream.output).usage_metadata` → "
            + (f"{run.usage.input_tokens} in, {run.usage.output_tokens} out" if run.usage else "not reported")
        )
        if run.beta_warning:
            st.caption(f"Beta warning (captured): {run.beta_warning}")
    else:
        st.markdown(
            f"Text: join `event['data']['chunk'].text` of `on_chat_model_stream` → {run.text!r}  \n"
            "Usage: `on_chat_model_end`'s `data['output'].usage_metadata` → "
            + (f"{run.usage.input_tokens} in, {run.usage.output_tokens} out" if run.usage else "not reported")
        )
    with st.expander(f"The first {len(run.first_events)} {run.version} events, as received"):
        st.code(json.dumps(jsonable(run.first_events), indent=1, default=str)[:4000], language="json")
