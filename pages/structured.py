"""Structured output: an object instead of text, streamed field by field, with what it costs."""

from __future__ import annotations

import json
import time

import streamlit as st

from components.call_kit import call_kit
from components.display import endpoint_for_code, endpoint_or_stop, show_code
from components.router import ensure_router
from components.runtime import current_settings
from components.structured_view import live_object, method_column, run_details
from core.export.snippets import structured_code
from core.patterns.structured import METHODS, PRESETS, SchemaProblem, parse_schema_text, stream_structured

PATTERN = "structured"
LAST_RUN = "structured.last_run"
LAST_COMPARE = "structured.last_compare"
CUSTOM = "custom"

ensure_router()  # a first visit straight to this page: see components/router.py

st.title("Structured output")
st.markdown(
    "`llm.with_structured_output(schema)` asks for an object instead of prose. With "
    "`method=\"json_schema\"` the server constrains the answer to the schema (llama.cpp compiles "
    "it to a grammar) and LangChain re-parses the JSON after every streamed piece, so the object "
    "fills in field by field while you watch — and the trace says when it first had a field, "
    "when it first was whole and valid, and how many tokens went on braces and key names."
)

choices = [*PRESETS, CUSTOM]
preset_key = st.selectbox(
    "Schema", choices, key="structured.preset",
    format_func=lambda k: "Custom JSON Schema…" if k == CUSTOM else PRESETS[k].title,
)
schema_problem: str | None = None
if preset_key == CUSTOM:
    st.session_state.setdefault("structured.custom", json.dumps(PRESETS["person"].schema, indent=2))
    schema_text = st.text_area(
        "JSON Schema (an object at the top; a missing title becomes \"Answer\")",
        key="structured.custom", height=220,
    )
    try:
        schema = parse_schema_text(schema_text)
    except SchemaProblem as exc:
        schema, schema_problem = {}, str(exc)
        st.error(schema_problem, icon=":material/data_object:")
    default_prompt = PRESETS["person"].prompt
else:
    preset = PRESETS[preset_key]
    schema = preset.schema
    if preset.note:
        st.caption(preset.note)
    default_prompt = preset.prompt
    with st.expander("The schema", icon=":material/data_object:"):
        st.json(schema, expanded=True)

# Each preset keeps its own prompt: switching presets brings its question back.
prompt_key = f"structured.prompt.{preset_key}"
st.session_state.setdefault(prompt_key, default_prompt)
prompt = st.text_input("Prompt", key=prompt_key, max_chars=500)
method_col, raw_col = st.columns([2, 1], vertical_alignment="bottom")
method = method_col.radio("Method", list(METHODS), horizontal=True, key="structured.method")
include_raw = raw_col.toggle(
    "include_raw=True", key="structured.include_raw",
    help="LangChain returns {raw, parsed, parsing_error}: the raw message beside the object, "
    "and a parse error returned instead of raised. It gathers the whole message before "
    "parsing, so the object no longer grows while it streams.",
)
st.caption(METHODS[method])
go_col, compare_col = st.columns(2)
stream_clicked = go_col.button("Stream the object", type="primary", icon=":material/play_arrow:",
                               width="stretch")
compare_clicked = compare_col.button("Compare the three methods", icon=":material/compare_arrows:",
                                     width="stretch")
ready = schema_problem is None and bool(prompt.strip())
if (stream_clicked or compare_clicked) and not prompt.strip():
    st.warning("Type a prompt first.")
elif (stream_clicked or compare_clicked) and schema_problem is not None:
    st.warning("Fix the schema above first: " + schema_problem)

if stream_clicked and ready:
    endpoint = endpoint_or_stop()
    kit = call_kit(PATTERN, endpoint)
    st.markdown("**The object so far**")
    with st.container(border=True, key="structured-live"):
        slot = st.empty()
        slot.caption("Waiting for the first piece…")
        draw = live_object(slot, time.perf_counter)
        run = stream_structured(
            kit.model(), schema, prompt.strip(), method=method, include_raw=include_raw,
            config=kit.config, secrets=kit.secrets, on_partial=draw,
        )
    st.session_state[LAST_RUN] = run
    st.rerun()  # the finished run is drawn below, with the sidebar's ledger up to date

if compare_clicked and ready:
    endpoint = endpoint_or_stop()
    kit = call_kit(PATTERN, endpoint)
    runs = []
    with st.status("Asking with each method in turn…", expanded=False) as status:
        for name in METHODS:
            status.update(label=f"Asking with `{name}`…")
            runs.append(stream_structured(kit.model(), schema, prompt.strip(), method=name,
                                          config=kit.config, secrets=kit.secrets))
        status.update(label="Done", state="complete")
    st.session_state[LAST_COMPARE] = runs
    st.rerun()

last = st.session_state.get(LAST_RUN)
if last is not None:
    st.markdown("**The object**")
    with st.container(border=True, key="structured-live"):
        frames = last.frames
        if last.parsed is not None and last.problem is None:
            st.json(last.parsed, expanded=True)
        elif frames:  # a cut answer: what had streamed before it stopped
            st.json(frames[-1].value, expanded=True)
            st.caption("What had streamed when the answer stopped: not a finished object.")
        else:
            st.caption("No object came back (see below).")
    run_details(last, key="structured-last")

compared = st.session_state.get(LAST_COMPARE)
if compared:
    st.subheader("The three methods, side by side")
    st.caption(
        "Same schema, same prompt (json_mode gets \" Answer in JSON.\" when the prompt does not "
        "say JSON: OpenAI refuses json_object otherwise). What each sends is what the endpoint "
        "sees: only json_schema and function_calling carry your schema."
    )
    for column, run in zip(st.columns(len(compared)), compared, strict=True):
        with column:
            method_column(run)

code_endpoint = endpoint_for_code()
if code_endpoint is not None and schema_problem is None:
    show_code(structured_code(current_settings(), code_endpoint, schema, prompt.strip() or default_prompt,
                              method, include_raw))
