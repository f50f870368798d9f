"""Batch: many prompts, a bounded number in flight at once, every result kept."""

from __future__ import annotations

import streamlit as st

from components.batch_controller import (
    attached_job,
    attached_sweep,
    batch_limits,
    job_panel,
    job_store,
    price_of,
    reattach_from_url,
    saved_jobs,
    start_batch,
    start_concurrency_sweep,
    sweep_panel,
    token_estimate,
)
from components.batch_view import estimate_strip, slo_inputs
from components.call_kit import REMOTE_API_PRESET, simulated_remote_api
from components.display import endpoint_for_code, endpoint_or_stop, show_code
from components.rate_limit_view import rate_limit_section
from components.retry_view import retry_section
from components.router import ensure_router
from components.runtime import PROJECT_ROOT, current_settings
from core.batch import JobStatus
from core.batch.estimate import estimate_batch
from core.batch.inputs import (
    BatchInput,
    BatchInputError,
    Limits,
    Table,
    kind_for_filename,
    read_input,
    suggest_column,
    table_to_batch,
)
from core.export.snippets import batch_code, rate_limit_code, retry_code
from core.security.untrusted import escape_markdown
from core.settings import Provider

SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"
SOURCES = ("Sample file", "Upload a file", "Paste text")
PASTE_EXAMPLE = "What is the capital of France?\nWhat is 2 + 2?\nWho wrote Romeo and Juliet?\n"
SWEEP_LEVELS = (1, 2, 4, 8, 16)
SWEEP_NETWORKS = ("As set in the sidebar", f"{REMOTE_API_PRESET} (simulated)")

ensure_router()  # a first visit straight to this page: see components/router.py

store = job_store()
limits = batch_limits()

st.title("Batch")
st.markdown(
    "`llm.batch(prompts, config={\"max_concurrency\": c})` sends many prompts with at most *c* "
    "calls in flight — like a café making several coffees at once instead of one after another. "
    "Here the batch runs as a job outside the page: results are saved row by row as they "
    "finish (`batch_as_completed`), so clicking around, switching pages or reloading loses "
    "nothing, and failed rows stay beside the good ones."
)

reattach_from_url(store)  # the job id rides in the URL: a reloaded tab finds its job again


# --- 1 · Prompts ---------------------------------------------------------------------------


def choose_input(limits: Limits) -> tuple[bytes | str, str] | None:
    """The raw input and its name, from a sample, an upload or the paste box."""
    # The source and its file side by side: the Run button must stay on a 1280×720 first screen.
    source_col, file_col = st.columns([1.2, 1])
    source = source_col.radio("Prompts from", SOURCES, horizontal=True, key="batch.source")
    if source == "Sample file":
        samples = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.is_file())
        name = file_col.selectbox(
            "Sample file", samples, index=samples.index("questions.csv"), key="batch.sample",
            help=f"Shipped in {SAMPLES_DIR.relative_to(PROJECT_ROOT)}/ for demos "
            "(broken.csv shows what a malformed file looks like).",
        )
        return (SAMPLES_DIR / name).read_bytes(), name
    if source == "Upload a file":
        upload = file_col.file_uploader(
            "CSV, JSON Lines, or plain text with one prompt a line",
            type=["csv", "tsv", "jsonl", "ndjson", "json", "txt"],
            key="batch.upload",
            max_upload_size=max(1, limits.max_bytes // (1024 * 1024)),
        )
        return None if upload is None else (upload.getvalue(), upload.name)
    text = file_col.text_area("One prompt a line", PASTE_EXAMPLE, height=130, key="batch.paste")
    return text, "pasted text"


def choose_prompts(table: Table, name: str, limits: Limits) -> BatchInput:
    """Pick the prompt column (or write a template) for a CSV / JSON Lines file."""
    what = "column" if kind_for_filename(name).value == "csv" else "field"
    left, right = st.columns([1, 2])
    mode = left.radio(
        "Prompt from", (f"a {what}", "a template"), horizontal=True, key="batch.mode",
        help="A template fills {placeholders} with each row's values.",
    )
    suggested = suggest_column(table.columns)
    if mode == "a template":
        template = right.text_input(
            "Template",
            f"Answer in one short sentence: {{{suggested}}}",
            key=f"batch.template.{name}",
            help=f"Available placeholders: {', '.join('{' + c + '}' for c in table.columns)}",
        )
        return table_to_batch(table, template=template, source=name, limits=limits)
    column = right.selectbox(
        f"Prompt {what}", table.columns, index=table.columns.index(suggested),
        key=f"batch.column.{name}",
    )
    return table_to_batch(table, column=column, source=name, limits=limits)


def prompts_section(limits: Limits) -> BatchInput | None:
    """The prompts, previewed, or None (nothing chosen yet, or the input is explained as bad)."""
    chosen = choose_input(limits)
    if chosen is None:
        st.caption(
            f"Up to {limits.max_rows:,} prompts and {limits.max_bytes // (1024 * 1024)} MB per "
            "file. Empty rows are skipped."
        )
        return None
    data, name = chosen
    try:
        first = read_input(data, filename=name, limits=limits)
        batch = first if isinstance(first, BatchInput) else choose_prompts(first, name, limits)
    except BatchInputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    skipped = f" · {batch.skipped_empty:,} empty rows skipped" if batch.skipped_empty else ""
    count_col, preview_col = st.columns([1.2, 1], vertical_alignment="center")
    count_col.markdown(f"**{len(batch):,} prompts** from {escape_markdown(batch.source)}{skipped}")
    if batch.note:
        st.info(batch.note, icon=":material/translate:")
    with preview_col.expander("Preview the prompts", icon=":material/table_rows:"):
        st.dataframe(batch.preview_rows, hide_index=True, width="stretch", key="batch.preview")
        if len(batch) > len(batch.preview_rows):
            st.caption(f"The first {len(batch.preview_rows)} of {len(batch):,} prompts.")
    return batch


st.subheader("1 · Prompts")
batch = prompts_section(limits)
attached = attached_job(store)
job_running = attached is not None and attached.status is JobStatus.RUNNING

run_tab, sweep_tab, limits_tab, retries_tab, saved_tab = st.tabs(
    ["2 · Run", "Concurrency sweep", "Rate limits", "Retries", "Saved jobs"]
)

# --- 2 · Run ---------------------------------------------------------------------------------

with run_tab:
    if batch is not None:
        left, mid, right = st.columns([2.2, 1.2, 1])
        concurrency = left.slider(
            "max_concurrency", 1, 32, 4, key="batch.concurrency",
            help="How many calls are in flight at once. APIs rate-limit: stay under your limit.",
        )
        retries = mid.number_input(
            "Extra attempts for failed rows", 0, 3, 0, key="batch.retries",
            help="After the pass, rows that failed are run again, up to this many times. "
            "(The client also retries 429s and 5xx itself: Max retries in the sidebar.)",
        )
        right.write("")  # align the button with the inputs
        if right.button(
            f"Run {len(batch):,} prompts", type="primary", icon=":material/play_arrow:",
            disabled=job_running, key="batch.run", width="stretch",
        ):
            start_batch(store, batch, endpoint_or_stop(), int(concurrency), int(retries))
            st.rerun()
        if job_running:
            st.caption("A job is running: cancel it or let it finish before starting another.")
        endpoint = endpoint_for_code()
        if endpoint is not None:
            price, _ = price_of(endpoint)
            settings = current_settings()
            estimate = estimate_batch(
                batch.prompts, endpoint, max_tokens=settings.max_tokens, price=price,
                tokens=token_estimate(batch.prompts, endpoint),
            )
            estimate_strip(estimate, max_tokens=settings.max_tokens, price=price)
        if current_settings().provider is Provider.LOCAL and concurrency > 4:
            st.caption(
                "The embedded model serves 4 requests at a time (its parallel slots) on 2 CPU "
                "cores: calls above 4 wait in its queue."
            )
    if attached is not None:
        job_panel(store, attached.id, polling=job_running)

# --- Concurrency sweep -------------------------------------------------------------------------

sweep = attached_sweep(store)
sweep_running = sweep is not None and sweep.status is JobStatus.RUNNING

with sweep_tab:
    st.markdown(
        "The same prompts at several `max_concurrency` values, one run after another. With "
        "perfect overlap, *c* calls in flight finish *N* prompts in `ceil(N / c)` rounds of one "
        "call's latency — the dashed ideal line. Where the measured line leaves it, the endpoint "
        "(or your machine) has become the bottleneck."
    )
    if batch is None:
        st.info("Choose prompts above first.", icon=":material/arrow_upward:")
    else:
        left, mid, right = st.columns([2, 1, 1])
        levels = left.pills(
            "max_concurrency levels", SWEEP_LEVELS, selection_mode="multi",
            default=[1, 2, 4, 8], key="batch.sweep_levels",
        )
        n_rows = mid.number_input(
            "Prompts (the first N)", 1, len(batch), min(10, len(batch)), key="batch.sweep_rows",
            help="Calls per level: p50 needs ≥ 2, p90 ≥ 10.",
        )
        sweep_tokens = right.number_input(
            "Max tokens per answer", 1, 512, min(32, current_settings().max_tokens),
            key="batch.sweep_max_tokens",
            help="Short answers keep the sweep quick; every level answers the same prompts.",
        )
        network = st.radio(
            "Network", SWEEP_NETWORKS, horizontal=True, key="batch.sweep_network",
            help="The simulated remote API adds 300 ms before each answer (the lab's network "
            "proxy): waiting that overlaps well, unlike the embedded model's CPU work.",
        )
        st.caption(f"{int(n_rows) * len(levels or []):,} calls in all.")
        if st.button(
            "Run sweep", icon=":material/speed:", key="batch.sweep_run", type="primary",
            disabled=sweep_running or not levels,
        ):
            endpoint = endpoint_or_stop()
            if network != SWEEP_NETWORKS[0]:
                endpoint = simulated_remote_api(endpoint)
            start_concurrency_sweep(store, batch, int(n_rows), levels, endpoint, int(sweep_tokens))
            st.rerun()
    if sweep is not None:
        sweep_panel(store, sweep.id, polling=sweep_running, slo=slo_inputs())

# --- Rate limits and retries: the same prompts through components/rate_limit_view.py and
# components/retry_view.py, each with its code -----------------------------------------------------

for tab, section, code_for, code_label in (
    (limits_tab, rate_limit_section, lambda s, e, p: rate_limit_code(s, e, p[:8], 8, 2.0),
     "Show the code (rate limiter)"),
    (retries_tab, retry_section, lambda s, e, p: retry_code(s, e, p[:3], 4), "Show the code (retries)"),
):
    with tab:
        if batch is None:
            st.info("Choose prompts above first.", icon=":material/arrow_upward:")
            continue
        section(batch.prompts)
        tab_endpoint = endpoint_for_code()
        if tab_endpoint is not None:
            show_code(code_for(current_settings(), tab_endpoint, batch.prompts), label=code_label)

with saved_tab:
    saved_jobs(store)

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    prompts = batch.prompts[:5] if batch is not None else PASTE_EXAMPLE.splitlines()
    show_code(batch_code(current_settings(), code_endpoint, prompts, 4))
