"""Batch: many prompts, a bounded number in flight at once, every result kept."""

from __future__ import annotations

import streamlit as st

from components.batch_view import (
    batch_limits,
    cost_function,
    estimate_strip,
    failure_summary,
    job_heading,
    job_store,
    job_summary,
    load_section,
    results_table,
    slo_inputs,
    sweep_failure_lines,
    sweep_figure,
    sweep_table,
)
from components.call_kit import REMOTE_API_PRESET, call_kit, simulated_remote_api
from components.display import endpoint_for_code, endpoint_or_stop, show_code
from components.prices import current_price_table
from components.rate_limit_view import rate_limit_section
from components.retry_view import retry_section
from components.router import ensure_router
from components.runtime import (
    PROJECT_ROOT,
    current_settings,
    environment,
    secrets_of,
)
from core.batch_estimate import TokenEstimate, estimate_batch, estimate_input_tokens
from core.batch_export import to_csv, to_jsonl
from core.batch_input import (
    BatchInput,
    BatchInputError,
    Table,
    kind_for_filename,
    read_input,
    suggest_column,
    table_to_batch,
)
from core.batch_jobs import (
    JobStatus,
    RowStatus,
    RunOptions,
    cancel_job,
    is_running,
    retry_rows,
    start_job,
    start_sweep,
)
from core.models import Endpoint
from core.pricing import ModelPrice
from core.settings import Provider
from core.snippets import batch_code, rate_limit_code, retry_code
from core.stats import Slo

JOB_KEY = "batch.job_id"
SWEEP_KEY = "batch.sweep_id"
ESTIMATES_KEY = "batch.token_estimates"
POLL_S = 1.0
SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"
SOURCES = ("Sample file", "Upload a file", "Paste text")
PASTE_EXAMPLE = "What is the capital of France?\nWhat is 2 + 2?\nWho wrote Romeo and Juliet?\n"
SWEEP_LEVELS = (1, 2, 4, 8, 16)
REMOTE = REMOTE_API_PRESET
SWEEP_NETWORKS = ("As set in the sidebar", f"{REMOTE} (simulated)")

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

# Reattach: the job id rides in the URL, so a reloaded tab (a new session) finds its job again.
for state_key, param in ((JOB_KEY, "job"), (SWEEP_KEY, "sweep")):
    wanted = st.query_params.get(param)
    if state_key not in st.session_state and wanted:
        found = store.job(wanted) if param == "job" else store.sweep(wanted)
        if found is not None:
            st.session_state[state_key] = wanted
    if st.session_state.get(state_key):
        st.query_params[param] = st.session_state[state_key]


def price_of(endpoint: Endpoint) -> tuple[ModelPrice | None, str]:
    table = current_price_table()  # this session's prices, with any edits made on Metadata & cost
    price = table.price_for(endpoint.model)
    if price is None:
        return None, f"No price for {endpoint.model} in the price table (as of {table.as_of})."
    return price, (
        f"{price.model}: ${price.input_per_1m:g} in / ${price.output_per_1m:g} out per 1M tokens "
        f"(price table as of {table.as_of})."
    )


def export_secrets() -> tuple[str, ...]:
    """Every key this session could know, for redacting the downloads."""
    env = environment()
    keys = [env.get("OPENAI_API_KEY", ""), env.get("LAB_COMPAT_API_KEY", "")]
    endpoint = endpoint_for_code()
    if endpoint is not None:
        keys += list(secrets_of(endpoint))
    keys.append(current_settings().api_key.get_secret_value())
    return tuple(k for k in keys if k)


# --- 1 · Prompts ---------------------------------------------------------------------------


def choose_input() -> tuple[bytes | str, str] | None:
    """The raw input and its name, from a sample, an upload or the paste box."""
    source = st.radio("Prompts from", SOURCES, horizontal=True, key="batch.source")
    if source == "Sample file":
        samples = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.is_file())
        name = st.selectbox(
            "Sample file", samples, index=samples.index("questions.csv"), key="batch.sample",
            help=f"Shipped in {SAMPLES_DIR.relative_to(PROJECT_ROOT)}/ for demos "
            "(broken.csv shows what a malformed file looks like).",
        )
        return (SAMPLES_DIR / name).read_bytes(), name
    if source == "Upload a file":
        upload = st.file_uploader(
            "CSV, JSON Lines, or plain text with one prompt a line",
            type=["csv", "tsv", "jsonl", "ndjson", "json", "txt"],
            key="batch.upload",
            max_upload_size=max(1, limits.max_bytes // (1024 * 1024)),
        )
        return None if upload is None else (upload.getvalue(), upload.name)
    text = st.text_area("One prompt a line", PASTE_EXAMPLE, height=130, key="batch.paste")
    return text, "pasted text"


def choose_prompts(table: Table, name: str) -> BatchInput:
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


def prompts_section() -> BatchInput | None:
    chosen = choose_input()
    if chosen is None:
        st.caption(
            f"Up to {limits.max_rows:,} prompts and {limits.max_bytes // (1024 * 1024)} MB per "
            "file. Empty rows are skipped."
        )
        return None
    data, name = chosen
    try:
        first = read_input(data, filename=name, limits=limits)
        batch = first if isinstance(first, BatchInput) else choose_prompts(first, name)
    except BatchInputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    skipped = f" · {batch.skipped_empty:,} empty rows skipped" if batch.skipped_empty else ""
    st.markdown(f"**{len(batch):,} prompts** from {batch.source}{skipped}")
    if batch.note:
        st.info(batch.note, icon=":material/translate:")
    st.dataframe(batch.preview_rows, hide_index=True, width="stretch", key="batch.preview")
    if len(batch) > len(batch.preview_rows):
        st.caption(f"The first {len(batch.preview_rows)} of {len(batch):,} prompts.")
    return batch


st.subheader("1 · Prompts")
batch = prompts_section()
attached_job = store.job(st.session_state[JOB_KEY]) if st.session_state.get(JOB_KEY) else None
job_running = attached_job is not None and attached_job.status is JobStatus.RUNNING

run_tab, sweep_tab, limits_tab, retries_tab, saved_tab = st.tabs(
    ["2 · Run", "Concurrency sweep", "Rate limits", "Retries", "Saved jobs"]
)

# --- 2 · Run ---------------------------------------------------------------------------------


def token_estimate(prompts: list[str], endpoint: Endpoint) -> TokenEstimate:
    """Counting tokens costs one local request per prompt: remember it across reruns."""
    cache: dict[tuple, TokenEstimate] = st.session_state.setdefault(ESTIMATES_KEY, {})
    key = (hash(tuple(prompts)), endpoint.base_url, endpoint.model)
    if key not in cache:
        cache[key] = estimate_input_tokens(prompts, endpoint)
    return cache[key]


def start_batch(batch: BatchInput, concurrency: int, retries: int) -> None:
    endpoint = endpoint_or_stop()
    price, price_note = price_of(endpoint)
    job_id = store.create_job(
        batch.prompts, line_numbers=batch.line_numbers, source=batch.source,
        endpoint=endpoint.label, model=endpoint.model, max_concurrency=concurrency,
        retries=retries, priced=price is not None, price_note=price_note,
    )
    kit = call_kit("batch", endpoint)
    options = RunOptions(
        max_concurrency=concurrency, retries=retries, config=kit.config,
        cost_of=cost_function(price), secrets=kit.secrets,
    )
    start_job(store, job_id, kit.model(), options)
    st.session_state[JOB_KEY] = job_id
    st.query_params["job"] = job_id


def retry_job(job_id: str) -> None:
    endpoint = endpoint_or_stop()
    job = store.job(job_id)
    price, _ = price_of(endpoint)
    kit = call_kit("batch", endpoint)
    options = RunOptions(
        max_concurrency=job.max_concurrency if job else 4, retries=0,
        config=kit.config, cost_of=cost_function(price), secrets=kit.secrets,
    )
    retry_rows(store, job_id, kit.model(), options)


with run_tab:
    if batch is not None:
        endpoint = endpoint_for_code()
        if endpoint is not None:
            price, _ = price_of(endpoint)
            settings = current_settings()
            estimate = estimate_batch(
                batch.prompts, endpoint, max_tokens=settings.max_tokens, price=price,
                tokens=token_estimate(batch.prompts, endpoint),
            )
            estimate_strip(estimate, max_tokens=settings.max_tokens, price=price)
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
            start_batch(batch, int(concurrency), int(retries))
            st.rerun()
        if job_running:
            st.caption("A job is running: cancel it or let it finish before starting another.")
        if current_settings().provider is Provider.LOCAL and concurrency > 4:
            st.caption(
                "The embedded model serves 4 requests at a time (its parallel slots) on 2 CPU "
                "cores: calls above 4 wait in its queue."
            )

    @st.fragment(run_every=POLL_S if job_running else None)
    def job_panel(job_id: str, polling: bool) -> None:
        """The attached job: polled from the store while it runs; never touches the worker."""
        job = store.job(job_id)
        if job is None:
            st.info("This job is no longer in the data folder (it was cleared).")
            return
        if polling and job.status.finished:
            st.rerun()  # a full rerun draws the finished job once, without polling
        with st.container(border=True, key="batch-job"):
            st.markdown(job_heading(job))
            if job.problem:
                st.warning(job.problem, icon=":material/warning:")
            rows = store.rows(job_id)
            job_summary(job, rows)
            buttons = st.container(horizontal=True, key="batch-job-actions")
            secrets = export_secrets()
            buttons.download_button(
                "CSV", to_csv(rows, *secrets), file_name=f"batch-{job_id}.csv", mime="text/csv",
                icon=":material/download:", on_click="ignore", key="batch.download_csv",
                help="Every row with usage and cost (no API keys).",
            )
            buttons.download_button(
                "JSON Lines", to_jsonl(rows, *secrets), file_name=f"batch-{job_id}.jsonl",
                mime="application/x-ndjson", icon=":material/download:", on_click="ignore",
                key="batch.download_jsonl",
            )
            if job.status is JobStatus.RUNNING and buttons.button(
                "Cancel", icon=":material/stop:", key="batch.cancel",
                disabled=job.cancel_requested,
                help="Rows not started are cancelled; rows already running finish and are kept.",
            ):
                cancel_job(store, job_id)
                st.rerun(scope="fragment")
            redo = job.count(RowStatus.FAILED) + job.count(RowStatus.CANCELLED)
            if job.status.finished and redo and not is_running(job_id) and buttons.button(
                f"Retry {redo} failed row{'s' if redo > 1 else ''}", icon=":material/replay:", key="batch.retry",
                help="Runs only the failed and cancelled rows again, with the current settings.",
            ):
                retry_job(job_id)
                st.rerun()
            failure_summary(job, rows)
            results_table(rows, key="batch.results")

    if attached_job is not None:
        job_panel(attached_job.id, job_running)

# --- Concurrency sweep -------------------------------------------------------------------------

attached_sweep = store.sweep(st.session_state[SWEEP_KEY]) if st.session_state.get(SWEEP_KEY) else None
sweep_running = attached_sweep is not None and attached_sweep.status is JobStatus.RUNNING

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
            # The kit holds a settings snapshot: the worker thread cannot read session state.
            kit = call_kit("batch", endpoint,
                           settings=current_settings().with_changes(max_tokens=int(sweep_tokens)))
            price, _ = price_of(endpoint)
            sweep_id = start_sweep(
                store, batch.prompts[: int(n_rows)], levels,
                # streaming=True: each row streams, so its TTFT and chunk gaps are observed.
                kit.model_factory(streaming=True),
                RunOptions(config=kit.config, cost_of=cost_function(price), secrets=kit.secrets),
                source=batch.source, endpoint=endpoint.label, model=endpoint.model,
                note="embedded" if endpoint.provider is Provider.LOCAL else "",
            )
            st.session_state[SWEEP_KEY] = sweep_id
            st.query_params["sweep"] = sweep_id
            st.rerun()

    @st.fragment(run_every=POLL_S if sweep_running else None)
    def sweep_panel(sweep_id: str, polling: bool, slo: Slo | None) -> None:
        sweep = store.sweep(sweep_id)
        if sweep is None:
            st.info("This sweep is no longer in the data folder (it was cleared).")
            return
        if polling and sweep.status.finished:
            st.rerun()
        with st.container(border=True, key="batch-sweep"):
            st.markdown(
                f"Sweep `{sweep.id}` · {sweep.n_rows} prompts from {sweep.source} · "
                f"{sweep.endpoint} · levels {', '.join(map(str, sweep.levels))} · "
                f"**{sweep.outcome}**"
            )
            failed_levels = sweep_failure_lines(sweep, store)
            if failed_levels:
                st.error("  \n".join(failed_levels), icon=":material/error:")
            if sweep.status is JobStatus.RUNNING:
                current = sweep.points[-1] if sweep.points else None
                if current is not None:
                    st.progress(
                        len([p for p in sweep.points if p.job.status.finished]) / len(sweep.levels),
                        text=f"max_concurrency {current.concurrency}: "
                        f"{current.job.completed} / {current.job.n_rows} calls",
                    )
                if st.button("Cancel sweep", icon=":material/stop:", key="batch.sweep_cancel"):
                    cancel_job(store, sweep_id)
                    st.rerun(scope="fragment")
            if any(p.job.wall_s for p in sweep.points):
                st.plotly_chart(sweep_figure(sweep), width="stretch", key="batch.sweep_chart")
                st.dataframe(sweep_table(sweep), hide_index=True, width="stretch")
            load_section(store, sweep, slo)
            if any(p.job.count(RowStatus.FAILED) for p in sweep.points):
                st.caption(
                    "✗ marks levels where some calls failed (see rows done): they did less work "
                    "in their wall time, so they are not comparable. On a busy machine calls time "
                    "out — raise the timeout in the sidebar or use fewer, shorter answers."
                )
            if sweep.note == "embedded" and sweep.status.finished:
                st.caption(
                    "On the embedded model the ideal is not reached: every call shares the same "
                    "2 CPU cores, so more calls in flight make each one slower (llama.cpp serves "
                    "4 at once and queues the rest). The ideal assumes the endpoint has capacity "
                    "to spare, as a remote API mostly does — there most of a call is waiting "
                    f"(network, queue), which overlaps well. Try the network option "
                    f"'{REMOTE}': the 300 ms of waiting overlaps, the CPU work still does not."
                )

    if attached_sweep is not None:
        sweep_panel(attached_sweep.id, sweep_running, slo_inputs())

# --- Rate limits (components/rate_limit_view.py) -------------------------------------------------

with limits_tab:
    if batch is None:
        st.info("Choose prompts above first.", icon=":material/arrow_upward:")
    else:
        rate_limit_section(batch.prompts)
        limits_endpoint = endpoint_for_code()
        if limits_endpoint is not None:
            show_code(rate_limit_code(current_settings(), limits_endpoint, batch.prompts[:8], 8, 2.0),
                      label="Show the code (rate limiter)")

with retries_tab:
    if batch is None:
        st.info("Choose prompts above first.", icon=":material/arrow_upward:")
    else:
        retry_section(batch.prompts)
        retries_endpoint = endpoint_for_code()
        if retries_endpoint is not None:
            show_code(retry_code(current_settings(), retries_endpoint, batch.prompts[:3], 4),
                      label="Show the code (retries)")

# --- Saved jobs ----------------------------------------------------------------------------------

with saved_tab:
    recent = store.recent_jobs(limit=15)
    st.markdown(
        f"Jobs are saved in `{store.path}` as they run, so they outlive reruns, page switches, "
        "reloads and restarts of the app. `make clean-data` deletes them all."
    )
    if not recent:
        st.info("No saved jobs yet.")
    else:
        st.dataframe(
            [
                {
                    "job": j.id,
                    "source": j.source,
                    "endpoint": j.endpoint,
                    "status": j.outcome,
                    "rows": j.n_rows,
                    "done": j.count(RowStatus.DONE),
                    "failed": j.count(RowStatus.FAILED),
                    "wall time (s)": None if j.wall_s is None else round(j.wall_s, 2),
                }
                for j in recent
            ],
            hide_index=True, width="stretch", key="batch.saved",
        )
        left, right = st.columns([3, 1])
        chosen = left.selectbox(
            "Open a saved job", [j.id for j in recent], key="batch.open_choice",
            format_func=lambda i: next(f"{j.id} · {j.source} · {j.outcome}" for j in recent if j.id == i),
        )
        right.write("")
        if right.button("Open", key="batch.open", width="stretch"):
            st.session_state[JOB_KEY] = chosen
            st.query_params["job"] = chosen
            st.rerun()

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    prompts = batch.prompts[:5] if batch is not None else PASTE_EXAMPLE.splitlines()
    show_code(batch_code(current_settings(), code_endpoint, prompts, 4))
