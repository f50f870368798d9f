"""The Batch page's controller: which job and sweep the page shows, starting and retrying them,
their live panels, pricing, the keys downloads redact, and the saved-jobs table.

The page (pages/batch.py) only lays out the story — intro, prompts, one action per tab, the
remembered job, the code — and calls these. The rules themselves are pure functions in `core/`
(`PriceTable.price_with_note`, `estimate_cache_key`, `JobInfo.saved_row`; the keys downloads
redact are `components.runtime.session_secrets`);
here they meet the session (`st.session_state`, the URL, the sidebar's settings).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from components.access import current_visitor
from components.batch_view import (
    failure_summary,
    job_heading,
    job_summary,
    load_section,
    results_table,
    sweep_failure_lines,
    sweep_figure,
    sweep_table,
)
from components.call_kit import REMOTE_API_PRESET, call_kit
from components.display import endpoint_for_code, endpoint_or_stop
from components.prices import current_price_table
from components.runtime import current_settings, environment, session_secrets
from components.session_watch import cancel_when_session_ends
from core.batch import (
    JobInfo,
    JobStatus,
    JobStore,
    RowStatus,
    RunOptions,
    SweepInfo,
    cancel_job,
    is_running,
    retry_rows,
    start_job,
    start_sweep,
)
from core.batch.estimate import TokenEstimate, estimate_cache_key, estimate_input_tokens
from core.batch.export import to_csv, to_jsonl
from core.batch.inputs import BatchInput, Limits
from core.call.models import Endpoint
from core.call.stats import Slo
from core.money.pricing import ModelPrice, cost_function
from core.security.access import Visitor
from core.security.untrusted import escape_markdown
from core.settings import Provider

JOB_KEY = "batch.job_id"
SWEEP_KEY = "batch.sweep_id"
ESTIMATES_KEY = "batch.token_estimates"
POLL_S = 1.0
# The URL parameter each remembered id rides in, so a reloaded tab (a new session) finds it again.
URL_PARAMS = {JOB_KEY: "job", SWEEP_KEY: "sweep"}


def job_store() -> JobStore:
    """The job store under this app's data directory (LAB_DATA_DIR, else .lab-data)."""
    return JobStore.in_data_dir(environment())


def batch_limits() -> Limits:
    """Upload limits: the row cap from LAB_BATCH_MAX_ROWS (default 1,000)."""
    return Limits.from_env(environment())


# --- which job and sweep the page shows ---------------------------------------------------------


def reattach_from_url(store: JobStore) -> None:
    """Remember the job and sweep named in the URL (if the store has them and this visitor may
    see them), and keep the URL naming what this session remembers."""
    visitor = current_visitor()
    for state_key, param in URL_PARAMS.items():
        wanted = st.query_params.get(param)
        if state_key not in st.session_state and wanted:
            found = store.job(wanted) if state_key == JOB_KEY else store.sweep(wanted)
            shared = isinstance(found, JobInfo) and found.shared
            if found is not None and visitor.may_see(found.owner, shared):
                st.session_state[state_key] = wanted
            else:
                # The same words whether it does not exist or is someone else's: a link tells
                # nobody which ids exist.
                del st.query_params[param]
                st.warning(f"No {param} `{wanted[:16]}` that you can open here: it was deleted, or "
                           "another visitor made it and has not shared it.", icon=":material/lock:")
        if st.session_state.get(state_key):
            st.query_params[param] = st.session_state[state_key]


def remember(state_key: str, run_id: str) -> None:
    """Show this job (`JOB_KEY`) or sweep (`SWEEP_KEY`) from now on, here and in the URL."""
    st.session_state[state_key] = run_id
    st.query_params[URL_PARAMS[state_key]] = run_id


def attached_job(store: JobStore) -> JobInfo | None:
    """The job this session shows, if any (and if the store still has it)."""
    job_id = st.session_state.get(JOB_KEY)
    job = store.job(job_id) if job_id else None
    return job if job is not None and current_visitor().may_see(job.owner, job.shared) else None


def attached_sweep(store: JobStore) -> SweepInfo | None:
    """The sweep this session shows, if any (and if the store still has it)."""
    sweep_id = st.session_state.get(SWEEP_KEY)
    sweep = store.sweep(sweep_id) if sweep_id else None
    return sweep if sweep is not None and current_visitor().may_see(sweep.owner) else None


# --- pricing, redaction, estimates ---------------------------------------------------------------


def price_of(endpoint: Endpoint) -> tuple[ModelPrice | None, str]:
    """The endpoint's model's price in this session's table (with any edits made on Metadata &
    cost), and the sentence a job stores about it."""
    return current_price_table().price_with_note(endpoint.model)


def export_secrets() -> tuple[str, ...]:
    """Every key this session could know, for redacting the downloads."""
    endpoint = endpoint_for_code()
    return session_secrets(*([endpoint] if endpoint is not None else []))


def token_estimate(prompts: list[str], endpoint: Endpoint) -> TokenEstimate:
    """The prompts' input tokens; counting costs one local request per prompt, so the count is
    remembered across reruns."""
    cache: dict[tuple[int, str, str], TokenEstimate] = st.session_state.setdefault(ESTIMATES_KEY, {})
    key = estimate_cache_key(prompts, endpoint)
    if key not in cache:
        cache[key] = estimate_input_tokens(prompts, endpoint)
    return cache[key]


# --- actions -----------------------------------------------------------------------------------


def start_batch(store: JobStore, batch: BatchInput, endpoint: Endpoint, concurrency: int, retries: int) -> str:
    """Store a job for the batch, start it on a background thread, and show it; return its id."""
    price, price_note = price_of(endpoint)
    job_id = store.create_job(
        batch.prompts, line_numbers=batch.line_numbers, source=batch.source,
        endpoint=endpoint.label, model=endpoint.model, max_concurrency=concurrency,
        retries=retries, priced=price is not None, price_note=price_note, owner=current_visitor().id,
    )
    kit = call_kit("batch", endpoint)
    options = RunOptions(
        max_concurrency=concurrency, retries=retries, config=kit.config,
        cost_of=cost_function(price), secrets=kit.secrets,
    )
    start_job(store, job_id, kit.model(), options)
    remember(JOB_KEY, job_id)
    return job_id


def retry_job(store: JobStore, job_id: str, endpoint: Endpoint) -> None:
    """Run a finished job's failed and cancelled rows again, with the current settings."""
    job = store.job(job_id)
    price, _ = price_of(endpoint)
    kit = call_kit("batch", endpoint)
    options = RunOptions(
        max_concurrency=job.max_concurrency if job else 4, retries=0,
        config=kit.config, cost_of=cost_function(price), secrets=kit.secrets,
    )
    retry_rows(store, job_id, kit.model(), options)


def start_concurrency_sweep(
    store: JobStore, batch: BatchInput, n_rows: int, levels: Sequence[int], endpoint: Endpoint, max_tokens: int
) -> str:
    """Run the first `n_rows` prompts once per level in the background, and show the sweep."""
    # The kit holds a settings snapshot: the worker thread cannot read session state.
    kit = call_kit("batch", endpoint, settings=current_settings().with_changes(max_tokens=max_tokens))
    price, _ = price_of(endpoint)
    sweep_id = start_sweep(
        store, batch.prompts[:n_rows], levels,
        # streaming=True: each row streams, so its TTFT and chunk gaps are observed.
        kit.model_factory(streaming=True),
        RunOptions(config=kit.config, cost_of=cost_function(price), secrets=kit.secrets),
        source=batch.source, endpoint=endpoint.label, model=endpoint.model,
        note="embedded" if endpoint.provider is Provider.LOCAL else "", owner=current_visitor().id,
    )
    # Foreground work: a closed tab's sweep stops (a batch job, durable, keeps running).
    cancel_when_session_ends(lambda: cancel_job(store, sweep_id), lambda: not is_running(sweep_id))
    remember(SWEEP_KEY, sweep_id)
    return sweep_id


# --- the live panels -----------------------------------------------------------------------------


def job_panel(store: JobStore, job_id: str, *, polling: bool) -> None:
    """The attached job, redrawn from the store every `POLL_S` while it runs (a fragment: only
    this panel reruns); it never touches the worker."""
    st.fragment(_job_panel, run_every=POLL_S if polling else None)(store, job_id, polling)


def _job_panel(store: JobStore, job_id: str, polling: bool) -> None:
    job = store.job(job_id)
    visitor = current_visitor()
    if job is None or not visitor.may_see(job.owner, job.shared):
        st.info("This job is no longer in the data folder (it was cleared).")
        return
    if polling and job.status.finished:
        st.rerun()  # a full rerun draws the finished job once, without polling
    with st.container(border=True, key="batch-job"):
        st.markdown(job_heading(job))
        if job.problem:
            st.warning(escape_markdown(job.problem), icon=":material/warning:")
        rows = store.rows(job_id)
        job_summary(job, rows)
        buttons = st.container(horizontal=True, key="batch-job-actions")
        secrets = export_secrets()
        # Built when clicked (Streamlit's deferred download), not on every poll: for 1,000 rows
        # the two files cost ~25 ms a rerun, a third of the page's redraw (bench.scale).
        buttons.download_button(
            "CSV", lambda: to_csv(rows, *secrets), file_name=f"batch-{job_id}.csv", mime="text/csv",
            icon=":material/download:", on_click="ignore", key="batch.download_csv",
            help="Every row with usage and cost (no API keys).",
        )
        buttons.download_button(
            "JSON Lines", lambda: to_jsonl(rows, *secrets), file_name=f"batch-{job_id}.jsonl",
            mime="application/x-ndjson", icon=":material/download:", on_click="ignore",
            key="batch.download_jsonl",
        )
        mine = visitor.may_control(job.owner)
        if mine and job.status is JobStatus.RUNNING and buttons.button(
            "Cancel", icon=":material/stop:", key="batch.cancel",
            disabled=job.cancel_requested,
            help="Rows not started are cancelled; rows already running finish and are kept.",
        ):
            cancel_job(store, job_id)
            st.rerun(scope="fragment")
        redo = job.count(RowStatus.FAILED) + job.count(RowStatus.CANCELLED)
        if mine and job.status.finished and redo and not is_running(job_id) and buttons.button(
            f"Retry {redo} failed row{'s' if redo > 1 else ''}", icon=":material/replay:", key="batch.retry",
            help="Runs only the failed and cancelled rows again, with the current settings.",
        ):
            retry_job(store, job_id, endpoint_or_stop())
            st.rerun()
        if visitor.shared_lab:
            _share_control(store, job, mine)
        failure_summary(job, rows)
        results_table(rows, key="batch.results")


def sweep_panel(store: JobStore, sweep_id: str, *, polling: bool, slo: Slo | None) -> None:
    """The attached sweep, redrawn from the store every `POLL_S` while it runs (a fragment)."""
    st.fragment(_sweep_panel, run_every=POLL_S if polling else None)(store, sweep_id, polling, slo)


def _sweep_panel(store: JobStore, sweep_id: str, polling: bool, slo: Slo | None) -> None:
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
        if sweep.problem:  # the sweep itself broke, beside whatever its levels' calls did
            st.warning(f"The sweep stopped: {escape_markdown(sweep.problem)}", icon=":material/warning:")
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
            if current_visitor().may_control(sweep.owner) and st.button(
                "Cancel sweep", icon=":material/stop:", key="batch.sweep_cancel"
            ):
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
                f"'{REMOTE_API_PRESET}': the 300 ms of waiting overlaps, the CPU work still does not."
            )


# --- saved jobs ----------------------------------------------------------------------------------


def _share_control(store: JobStore, job: JobInfo, mine: bool) -> None:
    """In a lab others use: the owner's switch to show the job to every visitor, or whose it is."""
    if not mine:
        st.caption("Shared by another visitor: you can read and download it; only they can "
                   "cancel, retry or stop sharing it.")
        return
    shared = st.toggle(
        "Share with every visitor", value=job.shared, key=f"batch.share.{job.id}",
        help="Other visitors then see it among their saved jobs and can open a link to it "
        "(prompts and answers), but cannot cancel or retry it. Off: only this browser sees it.",
    )
    if shared != job.shared:
        store.set_shared(job.id, shared)
        st.rerun()  # the whole page: the saved-jobs table says it too


def _saved_row(job: JobInfo, visitor: Visitor) -> dict[str, object]:
    """The job's row in the saved-jobs table; in a shared lab its second column says whose."""
    row: dict[str, object] = dict(job.saved_row())
    if not visitor.shared_lab:
        return row
    whose = ("yours · shared" if job.shared else "yours") if job.owner == visitor.id else "shared with you"
    return {"job": row.pop("job"), "whose": whose, **row}


def saved_jobs(store: JobStore) -> None:
    """The latest saved batch jobs this visitor may see (sweep levels left out), and a way to
    open one."""
    visitor = current_visitor()
    recent = store.recent_jobs(limit=15, visible_to=visitor.id if visitor.shared_lab else None)
    if visitor.shared_lab:  # visitors are not told where the server keeps its files
        st.markdown(
            "Jobs are saved on the lab's machine as they run, so they outlive reruns, page "
            "switches, reloads and restarts of the app. This lab is shared over the network: "
            "you see the jobs this browser started and those other visitors shared."
        )
    else:
        st.markdown(
            f"Jobs are saved in `{store.path}` as they run, so they outlive reruns, page switches, "
            "reloads and restarts of the app. `make clean-data` deletes them all."
        )
    if not recent:
        st.info("No saved jobs yet.")
        return
    rows = [_saved_row(j, visitor) for j in recent]
    st.dataframe(rows, hide_index=True, width="stretch", key="batch.saved")
    left, right = st.columns([3, 1])
    labels = {j.id: f"{j.id} · {j.source} · {j.outcome}" for j in recent}
    chosen = left.selectbox("Open a saved job", list(labels), key="batch.open_choice", format_func=labels.__getitem__)
    right.write("")
    if right.button("Open", key="batch.open", width="stretch"):
        remember(JOB_KEY, chosen)
        st.rerun()
