"""Load test: requests arriving at a rate (an open loop), swept up to and past saturation."""

from __future__ import annotations

import time

import streamlit as st

from components.batch_view import slo_inputs
from components.call_kit import call_kit
from components.display import endpoint_for_code, endpoint_or_stop, show_code
from components.load_view import (
    levels_csv,
    levels_frame,
    percentiles_figure,
    requests_csv,
    sweep_json,
    timeline_figure,
)
from components.report_view import LOAD_SWEEP
from components.router import ensure_router
from components.runtime import current_settings
from core.call.models import Endpoint
from core.export.snippets import load_code
from core.patterns.load import MAX_DURATION_S, MAX_REQUESTS, Arrival, LoadSpec, LoadSpecError
from core.patterns.load_sweep import RateSweep, ServerTarget, knee, parse_rates, run_sweep, saturation
from core.settings import Provider

ensure_router()  # a first visit straight to this page: see components/router.py

SWEEP = LOAD_SWEEP  # the last sweep (RateSweep), kept live while it runs so Stop keeps it
PROMPTS = ["What is AI?", "What is ML?", "What is DL?", "Name three colours.", "Say hello in French."]

st.title("Load test")
st.markdown(
    "Real users do not wait for each other: requests **arrive at a rate**, and when they come "
    "faster than the endpoint answers, a queue builds. Sweep the rate and see where the time to "
    "first token leaves your target — and the server's own queue filling at the same moment."
)

left, middle, right = st.columns([1.3, 1, 1])
with left:
    rates_text = st.text_input("Rates to sweep (requests a second)", "0.5, 1, 2, 4, 8", key="load.rates",
                               help="One level per rate, lowest first; each level drains before the next.")
    arrival = st.selectbox("Arrivals", list(Arrival), format_func=lambda a: a.label, index=1, key="load.arrival",
                           help="Poisson: independent users, gaps random around 1/rate. Constant: evenly "
                           "spaced. Gamma: clustered bursts (shape < 1) or smoother (shape > 1).")
    burstiness = 1.0
    if arrival is Arrival.GAMMA:
        burstiness = st.number_input("Gamma shape (1 = Poisson, 0.5 = bursty)", 0.05, 20.0, 0.5, 0.05,
                                     key="load.burstiness")
with middle:
    requests = int(st.number_input("Requests per rate", 1, MAX_REQUESTS, 12, key="load.requests",
                                   help="p90 needs 10 successful requests per rate."))
    duration = st.number_input(f"…or at most this many seconds of arrivals (0 = no limit, ≤ {MAX_DURATION_S:g})",
                               0.0, None, 0.0, 5.0, key="load.duration")
    cap = int(st.number_input("Cap on calls in flight (0 = no cap)", 0, 1000, 0, key="load.cap",
                              help="With a cap, requests beyond it wait in the client: a closed loop's "
                              "throttle. Without, the endpoint's own queue shows."))
with right:
    max_tokens = st.select_slider("Max tokens per answer", [8, 16, 32, 64, 128], value=16, key="load.max_tokens",
                                  help="Short answers keep each level to seconds on the embedded model.")
    seed = int(st.number_input("Seed (same seed, same arrivals)", 0, 2**31 - 1, 0, key="load.seed"))

slo = slo_inputs()


def read_load() -> tuple[list[float], LoadSpec] | None:
    """The rates and the load asked for, or None after saying what to change."""
    try:
        rates = parse_rates(rates_text)
        spec = LoadSpec(rates[0], arrival, float(burstiness), requests, float(duration) if duration else None,
                        cap or None, seed)
    except LoadSpecError as exc:
        st.warning(str(exc), icon=":material/warning:")
        return None
    return rates, spec


def server_target(endpoint: Endpoint) -> ServerTarget | None:
    """The embedded llama.cpp server, read directly (not through the sidebar's network proxy)."""
    direct = endpoint.direct
    if direct.provider is Provider.LOCAL and not endpoint.replay:
        return ServerTarget(direct.base_url.removesuffix("/v1"), direct.api_key.get_secret_value())
    return None


buttons = st.columns([1, 1, 3])
start = buttons[0].button("Run sweep", type="primary", icon=":material/speed:", width="stretch")
# A click on Stop reruns the script, which stops the one running the sweep: arrivals end at
# once and the calls in flight are cancelled (core/patterns/load.py); what finished is kept.
stop = buttons[1].button("Stop", icon=":material/stop:", width="stretch", key="load.stop")
read = read_load()
running: RateSweep | None = st.session_state.get(SWEEP)
if stop and running is not None and not running.finished:
    # The run that was sweeping stopped at this click (its calls in flight cancelled with its
    # event loop). Streamlit 1.67 replays the interrupted run's "Run sweep" click into this one,
    # so Stop also keeps that replay from starting the sweep again.
    running.stopped = True
    start = False

if start and read is not None:
    rates, spec = read
    endpoint = endpoint_or_stop()
    status = st.empty()
    began = time.perf_counter()

    def progress(sweep: RateSweep) -> None:
        st.session_state[SWEEP] = sweep  # kept as it goes: a Stop keeps what ran
        level = sweep.levels[-1] if sweep.levels else None
        if level is not None:
            status.markdown(f"**{level.label}** (level {len(sweep.levels)} of {len(rates)}) · {level.sent} sent · "
                            f"{level.run.running} in flight · {time.perf_counter() - began:.0f} s")

    kit = call_kit("load", endpoint)
    # No client retries: a 429 under load is the finding, not something to hide.
    done = run_sweep(rates, spec, PROMPTS, kit.model_factory(max_tokens=max_tokens, max_retries=0),
                     config=kit.config, secrets=kit.secrets, server=server_target(endpoint), on_progress=progress)
    st.session_state[SWEEP] = done
    status.empty()

sweep: RateSweep | None = st.session_state.get(SWEEP)
if sweep is not None and sweep.levels:
    found = knee(sweep.levels, slo) if slo is not None else None
    behind = saturation(sweep.levels)
    if sweep.stopped:
        st.info("Stopped: arrivals ended at once and the calls in flight were cancelled (shown as "
                "stopped, outside every figure). The levels that ran are below.", icon=":material/stop:")
    if found is not None:
        st.markdown(f"### {found.sentence}")
    if behind:
        st.markdown(f"**{behind}**")
    st.plotly_chart(percentiles_figure(sweep.levels, slo, found), width="stretch", key="load-percentiles")
    st.dataframe(levels_frame(sweep.levels, slo), hide_index=True, width="stretch")
    st.caption(
        "**arrived** = the rate the generator really offered (it varies by chance around the target); "
        "**done** = successful requests a second of the level's wall time. TTFT, ITL, TPOT and e2e "
        "count from when a request was sent, as the lab defines them; p90 needs 10 successes. Failed "
        "requests count against goodput and never enter a latency."
    )
    labels = [lv.label for lv in sweep.levels]
    picked = st.segmented_control("Level on the time axis", labels, default=labels[-1], key="load.level")
    level = next((lv for lv in sweep.levels if lv.label == picked), sweep.levels[-1])
    st.plotly_chart(timeline_figure(level), width="stretch", key="load-timeline")
    source = level.server.source if level.server is not None else "none"
    st.caption(
        f"The client's side is measured by the lab; the server's lines are its own reports ({source}). "
        "**Deferred** requests waited in the server's queue for a free slot; the cap's wait is the "
        "client's. Where the server reported nothing, nothing is drawn."
    )
    exports = st.columns(3)
    exports[0].download_button("Levels (CSV)", levels_csv(sweep, slo), "load-levels.csv", "text/csv",
                               icon=":material/download:")
    exports[1].download_button("Requests (CSV)", requests_csv(sweep), "load-requests.csv", "text/csv",
                               icon=":material/download:")
    exports[2].download_button("Everything (JSON)", sweep_json(sweep, slo, found), "load-test.json",
                               "application/json", icon=":material/download:")
else:
    st.info("Press **Run sweep** to offer each rate in turn and see where the endpoint breaks.",
            icon=":material/speed:")

code_endpoint = endpoint_for_code()
if code_endpoint is not None and read is not None:
    rates, spec = read
    show_code(load_code(current_settings().with_changes(max_tokens=max_tokens, max_retries=0), code_endpoint,
                        PROMPTS, rate_per_s=rates[-1], requests=spec.requests or 20, arrival=spec.arrival.value,
                        burstiness=spec.burstiness, max_in_flight=spec.max_in_flight, seed=spec.seed),
              label="Show the code: one rate, plain asyncio + ChatOpenAI")
