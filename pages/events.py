"""Streaming events: every step inside a chain, live, as `astream_events(version="v2")` reports it."""

from __future__ import annotations

import time

import streamlit as st

from components.agent_view import agent_section
from components.call_kit import call_kit
from components.display import endpoint_for_code, endpoint_or_stop, show_code, show_problem
from components.events_v3_view import events_v3_section
from components.events_view import (
    api_call_line,
    counts_table,
    error_notice,
    events_table,
    events_timeline_figure,
    filter_controls,
    live_view,
    progress_bar,
    raw_event,
    run_metrics,
)
from components.fallback_view import fallback_section
from components.router import ensure_router
from components.runtime import current_settings
from core.export.snippets import events_code
from core.patterns.agent import DEFAULT_MAX_STEPS, EMBEDDED_FORCING
from core.patterns.events import (
    CHAINS,
    EventFilter,
    EventRecorder,
    EventsRun,
    build_chain,
    fresh_async_http_client,
    stream_events,
)
from core.settings import Provider

LAST_RUN = "events.last_run"
FILTER_KEYS = ("events.f.include_types", "events.f.exclude_types", "events.f.include_names",
               "events.f.exclude_names")
REFRESH_S = 0.15  # redraw the live log at most this often; every event is recorded regardless


ensure_router()  # a first visit straight to this page: see components/router.py

st.title("Streaming events")
st.markdown(
    "`chain.astream_events(inputs, version=\"v2\")` is the delivery tracker of a chain: besides "
    "the answer, it reports every step starting, streaming and finishing, with the run it belongs "
    "to and its parents. Here each event is stamped the moment it arrives, so you can see where "
    "the time goes, drive a progress bar, or keep a complete log."
)

chain_key = st.radio(
    "Chain to watch", list(CHAINS), format_func=lambda k: CHAINS[k].title, horizontal=True,
    key="events.chain",
)
spec = CHAINS[chain_key]
st.caption(spec.explanation)
topic_col, fail_col, run_col = st.columns([2.2, 1.4, 1], vertical_alignment="bottom")
topic = topic_col.text_input("Topic", value="cats", key="events.topic", max_chars=200)
fail_tool = False
if spec.has_tool:
    fail_tool = fail_col.toggle(
        "Make the tool fail", key="events.fail_tool",
        help="answer_stats raises, to show an error mid-chain: the events before it stay.",
    )
run_clicked = run_col.button("Run and watch", type="primary", icon=":material/play_arrow:")
max_steps = DEFAULT_MAX_STEPS
if spec.agent:
    limit_col, note_col = st.columns([1, 3], vertical_alignment="center")
    max_steps = int(limit_col.number_input(
        "Step limit (model calls)", 1, 8, DEFAULT_MAX_STEPS, key="events.max_steps",
        help="The loop stops after this many model calls, with a message, if the model keeps "
        "asking for tools.",
    ))
    note_col.caption(
        "On the embedded model the first reply is started with `<tool_call>` under "
        "`tool_choice=\"required\"`: its chat template declares tools, llama.cpp's grammar makes "
        "the rest a call with arguments the model chooses, and the server parses it into "
        "`tool_calls` (the model alone never starts one). Other endpoints get "
        "`tool_choice=\"required\"` only."
    )


def watch_live(chain_key: str, topic: str, fail_tool: bool, max_steps: int = DEFAULT_MAX_STEPS) -> EventsRun:
    """Run the chain, recording every event and redrawing the live log a few times a second."""
    endpoint = endpoint_or_stop()
    # A client of this run's own: the shared default one keeps connections bound to the event
    # loop of a previous run (see fresh_async_http_client).
    http = fresh_async_http_client()
    kit = call_kit("events", endpoint)
    forcing = EMBEDDED_FORCING if endpoint.direct.provider is Provider.LOCAL else None
    chain = build_chain(chain_key, kit.model(http_async_client=http), fail_tool=fail_tool,
                        forcing=forcing, max_steps=max_steps)
    config = kit.config
    # The run's tracer (the ledger's) lends the recorder what the HTTP client saw: it names a
    # malformed answer and a model stream that stopped without a finish reason.
    recorder = EventRecorder(secrets=kit.secrets, tracer=kit.tracer)
    run = EventsRun(chain_key, topic, fail_tool, recorder)
    st.session_state[LAST_RUN] = run  # a rerun mid-run keeps what was captured
    for key in FILTER_KEYS:  # filters name the previous run's steps: start unfiltered
        st.session_state.pop(key, None)
    slot = st.empty()
    last_draw = 0.0
    redraws = 0
    events = stream_events(
        chain, {"topic": topic}, config, http_clients=(http,),
        idle_s=REFRESH_S,  # also wake up while no event comes, so the screen never lags behind
    )
    for _ in recorder.watch(events):
        now = time.perf_counter()
        if now - last_draw >= REFRESH_S:
            with slot.container():
                live_view(recorder, redraws)
            redraws += 1
            last_draw = time.perf_counter()
    slot.empty()
    return run


def render_run(run: EventsRun) -> EventFilter:
    """The stored run: error, metrics, filters, log, counts, timeline, raw JSON, exports."""
    recorder = run.recorder
    st.subheader(run.heading)
    if recorder.error is not None:
        show_problem(recorder.error, what_was_kept=error_notice(recorder))
    elif run.stopped_early:
        st.warning(
            f"The run was interrupted (a widget changed mid-run). The {len(recorder.events):,} "
            "events captured are kept.", icon=":material/pause_circle:",
        )
    run_metrics(recorder)
    progress_bar(recorder)
    if run.chain.agent:
        agent_section(recorder, key="events-agent")

    with st.container(border=True, key="events-filters"):
        chosen = filter_controls(recorder)
        st.caption("Same rules as the API's options — the events shown are what this call yields:")
        st.code(api_call_line(chosen), language="python")
    shown = chosen.apply(recorder.events)

    st.markdown(f"**Events log** — showing {len(shown):,} of {len(recorder.events):,} recorded")
    events_table(recorder, shown)

    st.markdown("**Timeline** — one bar per run, nested under its parent; ticks are stream chunks")
    until = recorder.error_at_s if recorder.error_at_s is not None else recorder.total_s
    with st.container(key="events-timeline"):
        st.plotly_chart(
            events_timeline_figure(
                recorder.spans(shown), until_s=until, error_at_s=recorder.error_at_s,
                error_step=recorder.error_step,
            ),
            width="stretch",
        )

    counts_col, raw_col = st.columns([1.4, 2])
    with counts_col:
        counts = recorder.counts()
        st.markdown(f"**Per event type** — total {sum(counts.values()):,}")
        counts_table(counts)
    with raw_col:
        with st.expander("Raw JSON of one event", icon=":material/data_object:"):
            raw_event(recorder)
        st.markdown("**Export** — all recorded events, whatever the filters")
        json_col, csv_col = st.columns(2)
        json_col.download_button(
            "JSON Lines", recorder.to_jsonl(), file_name="events.jsonl",
            mime="application/jsonl", icon=":material/download:", on_click="ignore",
            width="stretch",
        )
        csv_col.download_button(
            "CSV", recorder.to_csv(), file_name="events.csv", mime="text/csv",
            icon=":material/download:", on_click="ignore", width="stretch",
        )
    return chosen


if run_clicked and not topic.strip():
    st.warning("Type a topic first.")
elif run_clicked:
    watch_live(chain_key, topic.strip(), fail_tool, max_steps)
chosen_filter = EventFilter()
if LAST_RUN in st.session_state:
    chosen_filter = render_run(st.session_state[LAST_RUN])

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    show_code(
        events_code(current_settings(), code_endpoint, chain_key, topic.strip() or "cats",
                    fail_tool=fail_tool, filters=chosen_filter.api_kwargs(), max_steps=max_steps)
    )

st.divider()
fallback_section(topic.strip() or "cats")  # components/fallback_view.py
st.divider()
events_v3_section(topic.strip() or "cats")  # components/events_v3_view.py
