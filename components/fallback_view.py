"""Streaming events page, "Fallbacks" section: a failing endpoint, and `with_fallbacks` to the
embedded model, watched through `astream_events` so each model is its own run."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from pydantic import SecretStr

from components.call_kit import call_kit
from components.display import show_code
from components.events_view import events_timeline_figure
from components.runtime import (
    current_endpoint,
    current_settings,
    embedded_status,
    endpoint_with_conditions,
)
from core.call.models import KEY_ENV_VARS, Endpoint, resolve_endpoint
from core.embedded_server import EmbeddedModelUnavailable
from core.export.snippets import fallback_code
from core.network.conditions import NetworkConditions
from core.patterns.events import EventRecorder, fresh_async_http_client, stream_events
from core.patterns.fallbacks import (
    FallbackOutcome,
    fallback_problem,
    read_outcome,
    with_fallback,
)
from core.security.untrusted import answer_markdown, code_span, escape_markdown
from core.settings import Provider

RESULT_KEY = "events.fallback.result"
ALL_ERRORS = "Every request fails (HTTP 503)"
WRONG_URL = "A wrong base URL (nothing listens there)"
SIDEBAR = "The endpoint set in the sidebar"
# Port 9 is "discard": nothing listens on it here, so the connection is refused at once.
WRONG_BASE_URL = "http://127.0.0.1:9/v1"


@dataclass
class FallbackRun:
    primary_label: str
    prompt: str
    recorder: EventRecorder
    outcome: FallbackOutcome


def _primary(choice: str) -> Endpoint:
    here = current_endpoint()
    if choice == ALL_ERRORS:
        return endpoint_with_conditions(here.direct, NetworkConditions(error_rate=1.0))
    if choice == WRONG_URL:
        return Endpoint(Provider.COMPATIBLE, WRONG_BASE_URL, here.model, SecretStr("not-needed"),
                        KEY_ENV_VARS[Provider.COMPATIBLE])
    return here


def fallback_section(topic: str) -> None:
    """Controls, the run, which model answered, its runs on a timeline, and the code."""
    st.subheader("Fallbacks")
    st.markdown(
        "`primary.with_fallbacks([fallback])`: when the primary raises, the same input goes to "
        "the next model. Here the primary fails on purpose and the fallback is the embedded "
        "model; in the events each model is a run of its own under `RunnableWithFallbacks`, so "
        "the failed attempt and the answer that replaced it both show."
    )
    left, right = st.columns([2.4, 1], vertical_alignment="bottom")
    choice = left.radio("Primary", [ALL_ERRORS, WRONG_URL, SIDEBAR], horizontal=True,
                        key="events.fallback.primary")
    server = embedded_status().server
    try:
        primary = _primary(choice)
        fallback = resolve_endpoint(current_settings().with_changes(provider=Provider.LOCAL), server)
    except EmbeddedModelUnavailable as exc:
        st.info(f"Fallbacks need the embedded model as the fallback: {exc}", icon=":material/info:")
        return
    problem = fallback_problem(primary, fallback)
    if problem:
        st.warning(problem, icon=":material/warning:")
    prompt = f"Tell me a joke about {topic}."
    if right.button("Run with a fallback", type="primary", icon=":material/alt_route:",
                    key="events.fallback.run", disabled=bool(problem), width="stretch"):
        st.session_state[RESULT_KEY] = _run(primary, fallback, prompt, choice)
    run: FallbackRun | None = st.session_state.get(RESULT_KEY)
    if run is not None:
        _show(run)
    show_code(fallback_code(current_settings(), primary.direct, fallback, prompt,
                            primary_fails=choice != SIDEBAR),
              label="Show the code (fallbacks)")


def _run(primary: Endpoint, fallback: Endpoint, prompt: str, label: str) -> FallbackRun:
    # Each model gets an async HTTP client of this run's own (see fresh_async_http_client). The
    # primary's own retries are off: the fallback should start as soon as the primary fails.
    http_primary, http_fallback = fresh_async_http_client(), fresh_async_http_client()
    kit = call_kit("events", fallback, also=[primary])
    chain = with_fallback(
        kit.model_at(primary, max_retries=0, http_async_client=http_primary),
        kit.model(http_async_client=http_fallback),
    )
    recorder = EventRecorder(secrets=kit.secrets)
    with st.spinner("Primary, then the fallback…"):
        for _ in recorder.watch(
            stream_events(chain, prompt, kit.config,
                          http_clients=(http_primary, http_fallback))
        ):
            pass
    return FallbackRun(label, prompt, recorder, read_outcome(recorder.events))


def _show(run: FallbackRun) -> None:
    outcome, recorder = run.outcome, run.recorder
    with st.container(border=True, key="events-fallback-answer"):
        if outcome.answered_by == "fallback":
            st.success(
                f"Answered by the **fallback** — model `{outcome.model_name or 'not reported'}` "
                f"— after the primary failed. Primary: {run.primary_label}.",
                icon=":material/alt_route:",
            )
        elif outcome.answered_by == "primary":
            st.info(f"Answered by the **primary** — model {code_span(outcome.model_name or 'not reported')}; "
                    "the fallback was not needed.", icon=":material/check_circle:")
        elif recorder.error is not None:
            st.error(f"Both failed. {recorder.error.title}: {escape_markdown(recorder.error.detail)}",
                     icon=":material/error:")
        st.markdown(answer_markdown(outcome.text) if outcome.text else "_(no text)_")
    st.markdown("**Runs** — the fallbacks run, the primary's failed attempt, then the fallback")
    st.plotly_chart(
        events_timeline_figure(recorder.spans(), until_s=recorder.total_s), width="stretch",
        key="events.fallback.timeline",
    )
    starts_and_ends = [e for e in recorder.events if not e.event.endswith("_stream")]
    st.dataframe(
        pd.DataFrame(recorder.table_rows(starts_and_ends)),
        hide_index=True, width="stretch", key="events.fallback.table",
    )
    st.caption(
        "Stream chunks are left out of this table. `astream_events` v2 has no event for a "
        "model's error: the primary's run starts and never ends."
    )
