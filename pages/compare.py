"""Compare endpoints: the same prompt streamed to two or three endpoints at once, side by side."""

from __future__ import annotations

import time

import streamlit as st

from components.call_kit import REMOTE_API_PRESET
from components.compare_view import (
    NONE,
    LiveColumns,
    ResolvedEndpoint,
    column_config,
    column_kit,
    column_model,
    endpoint_picker,
    resolve,
    summary_table,
)
from components.display import show_code
from components.prices import current_price_table
from components.router import ensure_router
from components.trace_view import render_waterfall
from core.call.bridge import run_async
from core.export.snippets import compare_code
from core.patterns.compare import (
    MAX_ENDPOINTS,
    MAX_REPEAT,
    CompareRun,
    column_label,
    figures_of,
    new_run_id,
    race,
    ratios,
    repeat,
    summarise,
)
from core.security.untrusted import escape_markdown

ensure_router()  # a first visit straight to this page: see components/router.py

LAST = "compare.last"  # the last CompareRun: any rerun redraws it
DEFAULTS = [  # (endpoint, network): the offline demo races the embedded model against itself as a remote API
    ("Embedded model", "Off"),
    ("Embedded model", REMOTE_API_PRESET),
    (NONE, "Off"),
]

st.title("Compare endpoints")
st.markdown(
    "Stream one prompt to two or three endpoints at once and watch them side by side: which "
    "answers first, which streams faster, what each costs. Each column's waterfall shows where "
    "its time went — the network, the proxy, the server."
)

pickers = st.columns(MAX_ENDPOINTS, border=True)
specs = []
for i, col in enumerate(pickers):
    with col:
        kind, network = DEFAULTS[i]
        spec = endpoint_picker(i, default_kind=kind, default_network=network, optional=i >= 2)
        if spec is not None:
            specs.append((i, spec))
st.caption(
    "Keys come from a column's own key field, the sidebar, or the environment (`OPENAI_API_KEY`, "
    "`LAB_COMPAT_API_KEY`), each only for the endpoint it belongs to; they stay on the server. "
    "The sidebar's network "
    "conditions do not apply here: each column has its own."
)

prompt = st.text_area("Prompt", "Tell me a joke about programmers.", key="compare.prompt", height=80)
options = st.columns([1.4, 1, 1, 1.2, 1.2], vertical_alignment="bottom")
max_tokens = options[0].select_slider(
    "Max tokens per answer", [16, 32, 64, 128, 256], value=64, key="compare.max_tokens",
    help="Overrides the sidebar's max output tokens on this page; answers cut at this length "
    "finish with 'length'.",
)
rounds = int(options[1].number_input("Repeat N", 2, MAX_REPEAT, 5, key="compare.rounds"))
race_clicked = options[3].button("Race", type="primary", icon=":material/flag:", width="stretch")
repeat_clicked = options[4].button(f"Repeat {rounds}×", icon=":material/repeat:", width="stretch")


def resolved_columns() -> list[tuple[str, ResolvedEndpoint]]:
    """The picked columns, resolved; stops the page with each column's reason when one cannot run."""
    columns, problems = [], []
    for index, spec in specs:
        got = resolve(spec, index)
        label = column_label(index, spec)
        if isinstance(got, str):
            problems.append(f"**{escape_markdown(label)}:** {escape_markdown(got)}")
        else:
            columns.append((label, got))
    if problems:
        st.warning("\n\n".join(problems), icon=":material/settings:")
        st.stop()
    return columns


def run(kind: str) -> CompareRun:
    """Race (all at once) or repeat (in turn) on one fresh event loop; the columns grow live."""
    columns = resolved_columns()
    labels = [label for label, _ in columns]
    compare = CompareRun(new_run_id(), kind, labels, prompt, models=[c.endpoint.model for _, c in columns],
                         replays=[bool(c.endpoint.replay) for _, c in columns])
    configs = [column_config(c, compare.run_id, label) for label, c in columns]
    keys = [column_kit(c).secrets for _, c in columns]
    prices = current_price_table()
    st.subheader("Racing…" if kind == "race" else f"Repeating {rounds}× in turn…")
    live = LiveColumns(labels, key="live", replays=compare.replays)
    for index in range(len(columns)):
        live.waiting(index, "waiting for the first token…" if kind == "race" else "waiting for its turn…")

    def call_start(round_: int, index: int) -> None:
        live.waiting(index, f"round {round_ + 1} of {rounds}: waiting for the first token…")

    async def work(http: object) -> list:
        llms = [column_model(c, http, max_tokens) for _, c in columns]
        if kind == "race":
            return await race(llms, prompt, configs, secrets=keys, on_chunk=live.on_chunk)
        return await repeat(llms, prompt, configs, rounds, secrets=keys, on_chunk=live.on_chunk,
                            on_call_start=call_start)

    began = time.perf_counter()
    compare.calls = run_async(work)
    compare.wall_s = time.perf_counter() - began
    st.session_state[LAST] = compare
    for index in range(len(columns)):
        last = compare.last_call(index)
        if last is not None:
            live.finish(index, last, figures_of(last, prices))
    return compare


if (race_clicked or repeat_clicked) and not prompt.strip():
    st.warning("Type a prompt first.", icon=":material/edit:")
elif (race_clicked or repeat_clicked) and len(specs) < 2:
    st.warning("Pick at least two endpoints (A and B).", icon=":material/compare_arrows:")
elif race_clicked or repeat_clicked:
    run("race" if race_clicked else "repeat")
    st.rerun()  # redraw from the stored result, below, so every rerun shows the same page

last: CompareRun | None = st.session_state.get(LAST)
if last is not None:
    prices = current_price_table()
    heading = "Race" if last.kind == "race" else f"Repeat: {last.rounds} rounds, one call at a time"
    st.subheader(f"{heading} — “{escape_markdown(last.prompt[:60])}”")
    if last.kind == "repeat":
        st.caption(
            "The calls ran in turn (A, B, B, A, …: round-robin, each round starting one later), so "
            "they never competed for the machine and a drift in its speed hit every endpoint "
            "alike. The columns show each endpoint's last call."
        )
    columns = LiveColumns(last.labels, key="final", replays=last.replays)
    for index in range(len(last.labels)):
        call = last.last_call(index)
        if call is not None:
            columns.finish(index, call, figures_of(call, prices))

    summaries = summarise(last, prices)
    st.markdown("**Summary**")
    summary_table(summaries, repeated=last.kind == "repeat")
    sentences = [r.sentence for r in ratios(summaries)]
    if sentences:
        st.markdown("\n".join(f"- {s}" for s in sentences))
    st.caption(
        "**TTFT** = from the call's start to its first text; **tokens/s** = output tokens after the "
        "first, over the time from first to last text; **total** = start to the last chunk. "
        + ("p50 is the median call, p90 the call only 1 in 10 was slower than (linear "
           "interpolation between ranks); ratios compare p50s with A. " if last.kind == "repeat"
           else "Ratios compare with A. In a race the columns share this machine's cores, so "
           "use Repeat for figures to quote. ")
        + f"Cost from the price table ({prices.as_of}); “no price” where it has no row."
    )

    st.markdown("**Where each call's time went**")
    tabs = st.tabs(last.labels)
    for index, tab in enumerate(tabs):
        with tab:
            call = last.last_call(index)
            render_waterfall(call.trace if call else None, key=f"compare-wf-{index}",
                             title=f"{last.labels[index]}: the last call, layer by layer")
else:
    st.info(
        "Press **Race** to stream the prompt to every endpoint at once, or **Repeat** for p50/p90 "
        "over several calls each.",
        icon=":material/flag:",
    )

code_columns = [resolve(spec, index) for index, spec in specs]
ready = [c for c in code_columns if not isinstance(c, str)]
if len(ready) >= 2 and prompt.strip():
    show_code(
        compare_code([c.settings.with_changes(max_tokens=max_tokens) for c in ready],
                     [c.endpoint for c in ready], prompt.strip(),
                     labels=[column_label(i, s) for (i, s), c in zip(specs, code_columns, strict=True) if not isinstance(c, str)]),
        label="Show the code: the same race in LangChain",
    )
