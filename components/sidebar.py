"""The settings sidebar shared by every page: provider, endpoint, model settings, status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st
from pydantic import SecretStr

from components.replay_view import render_record_and_replay, replay_mode_badge
from components.runtime import (
    SIDEBAR_BASE_URL_KEY,
    base_url_refusal,
    current_conditions,
    current_otel,
    current_settings,
    current_tracing,
    embedded_status_if_ready,
    environment,
    network_stats,
    set_conditions,
    set_settings,
    sidebar_key_field,
)
from core.embedded_server import MODEL_NAME
from core.network.conditions import PRESETS, NetworkConditions, preset_name
from core.security.untrusted import escape_markdown
from core.settings import (
    ModelSettings,
    Provider,
    environment_key,
    key_field_words,
    key_to_send,
    provider_defaults,
    validate,
)

if TYPE_CHECKING:  # types only: the sidebar reads them through components.runtime
    from core.export.langsmith import TracingStatus
    from core.export.otel import ExportStatus


def render_settings_sidebar() -> ModelSettings:
    """Draw the sidebar and return the settings it holds for this browser session.

    Keys typed here live only in this session's server-side state; a key from the environment is
    never sent to the browser (the password field stays empty and says where the key comes from).
    """
    settings = current_settings()
    env = environment()
    with st.sidebar:
        st.header("Model")
        badge_slot = st.empty()  # filled below, once this run's replay choice is known
        providers = list(Provider)
        provider = st.radio(
            "Provider",
            providers,
            index=providers.index(settings.provider),
            format_func=lambda p: p.label,
            key="sidebar.provider",
        )
        if provider is not settings.provider:
            model, base_url, key = provider_defaults(provider, env)
            settings = settings.with_changes(
                provider=provider, model=model, base_url=base_url, api_key=SecretStr(key)
            )

        if provider is Provider.LOCAL:
            _embedded_model_line()
        else:
            settings = _remote_fields(settings, provider, env)

        with st.expander("Generation settings", expanded=False):
            temperature = st.slider(
                "Temperature", 0.0, 2.0, float(settings.temperature), 0.1, key="sidebar.temperature",
                help="0 gives the most repeatable answers; higher is more varied.",
            )
            max_tokens = st.number_input(
                "Max output tokens", 1, 8192, int(settings.max_tokens), key="sidebar.max_tokens",
                help="The answer is cut here, with finish reason 'length'.",
            )
            seed = st.number_input(
                "Seed (optional)", min_value=0, value=settings.seed, step=1, key="sidebar.seed",
                placeholder="none", help="Makes sampling repeatable where the backend supports it.",
            )
            timeout_s = st.number_input(
                "Timeout (s)", 1.0, 600.0, float(settings.timeout_s), 5.0, key="sidebar.timeout",
            )
            max_retries = st.number_input(
                "Max retries", 0, 10, int(settings.max_retries), key="sidebar.max_retries",
                help="ChatOpenAI retries 429s, 5xx and connection errors with back-off.",
            )
        settings = settings.with_changes(
            temperature=float(temperature),
            max_tokens=int(max_tokens),
            seed=int(seed) if seed is not None else None,
            timeout_s=float(timeout_s),
            max_retries=int(max_retries),
        )
        for problem in validate(settings):
            st.warning(escape_markdown(problem), icon=":material/error:")
        refusal = None if validate(settings) else base_url_refusal(settings)
        if refusal:
            st.warning(escape_markdown(refusal), icon=":material/block:")
        set_conditions(_network_conditions(settings))
        _tracing_line()
        render_record_and_replay()
        with badge_slot:
            replay_mode_badge()
    set_settings(settings)
    return settings


def _tracing_line() -> None:
    """Where traces go: LangSmith and OpenTelemetry, each on or off and where to, never a key or header."""
    _status_line("sidebar-tracing", current_tracing(), ":material/query_stats:")
    _status_line("sidebar-otel", current_otel(), ":material/hub:")


def _status_line(key: str, status: TracingStatus | ExportStatus, icon: str) -> None:
    # A problem warns; on says where to; off says how to switch it on, quietly.
    with st.container(key=key):
        if status.problem:
            st.warning(status.problem, icon=":material/warning:")
        elif status.enabled:
            st.info(status.describe(), icon=icon)
        else:
            st.caption(status.describe())


def _embedded_model_line() -> None:
    """The embedded model's state: loading (refreshing itself until loaded), loaded, or why not."""
    status = embedded_status_if_ready()
    if status is None:
        _embedded_model_loading()
    elif status.server is not None:
        st.success(
            f"**{status.server.model_name}** on 127.0.0.1 · loaded in "
            f"{status.server.load_seconds:.1f} s · no key or internet needed",
            icon=":material/memory:",
        )
    else:
        st.error(status.problem or "The embedded model is not running.")


@st.fragment(run_every=1.0)
def _embedded_model_loading() -> None:
    # The model loads in its own process while the first screen draws (components/runtime.py).
    # Once it is up, one full rerun replaces this line by the "loaded" one and stops the timer.
    if embedded_status_if_ready() is None:
        st.info(f"Loading the embedded model, **{MODEL_NAME}**… pages that call it wait for it.",
                icon=":material/hourglass_top:")
    else:
        st.rerun()


CUSTOM = "Custom…"


def _network_conditions(settings: ModelSettings) -> NetworkConditions:
    """The "Network conditions" control: a preset or custom values, for this session only."""
    current = current_conditions()
    options = [*PRESETS, CUSTOM]
    name = preset_name(current) or CUSTOM
    choice = st.selectbox(
        "Network conditions",
        options,
        index=options.index(name),
        key="sidebar.network",
        help="Simulate a remote API on any backend: the lab's proxy on 127.0.0.1 adds latency, "
        "rate limits (HTTP 429), errors (HTTP 503), stalls or cut streams. Off calls directly.",
    )
    conditions = _custom_conditions(current, settings) if choice == CUSTOM else PRESETS[choice]
    # Filled after the page has run (see `show_network_activity`), so the counts include it.
    st.session_state[_ACTIVITY_SLOT] = st.empty()
    return conditions


_ACTIVITY_SLOT = "sidebar.network_activity_slot"


def show_network_activity() -> None:
    """Under the control: what the proxy did for this session (requests, retries, 429s, ...).

    The router calls this after the page ran, so a call just made is already counted.
    """
    slot = st.session_state.get(_ACTIVITY_SLOT)
    conditions = current_conditions()
    if slot is None or conditions.is_passthrough:
        return
    stats = network_stats()
    seen = (
        f" So far: {stats.requests} requests ({stats.retries} retries) · "
        f"{stats.rate_limited} × 429 · {stats.injected_errors} × 503 · {stats.cut} cut"
        if stats.requests
        else ""
    )
    slot.caption(f"Via the lab's proxy: {conditions.describe()}.{seen}")


def _custom_conditions(current: NetworkConditions, settings: ModelSettings) -> NetworkConditions:
    with st.container(border=True, key="sidebar-network-custom"):
        first_byte = st.number_input(
            "Latency before first byte (ms)", 0, 60_000, int(current.first_byte_latency_ms), 50,
            key="sidebar.net.first_byte",
        )
        per_chunk = st.number_input(
            "Latency per chunk (ms)", 0, 5_000, int(current.per_chunk_latency_ms), 10,
            key="sidebar.net.per_chunk",
        )
        max_concurrent = st.number_input(
            "Max requests at once (0 = no limit)", 0, 100, current.max_concurrent or 0,
            key="sidebar.net.max_concurrent", help="More get HTTP 429 with Retry-After: 1.",
        )
        rpm = st.number_input(
            "Requests per minute (0 = no limit)", 0, 10_000, current.requests_per_minute or 0,
            key="sidebar.net.rpm",
        )
        error_pct = st.slider(
            "Errors (HTTP 503), %", 0, 100, round(current.error_rate * 100),
            key="sidebar.net.error_pct",
        )
        cut_after = st.number_input(
            "Cut the stream after N chunks (0 = never)", 0, 10_000,
            current.cut_stream_after_chunks or 0, key="sidebar.net.cut_after",
        )
        stall = st.checkbox(
            "Stall (never answer; the client times out)", current.stall, key="sidebar.net.stall",
        )
        if stall:
            # Honest but slow: every attempt waits the whole timeout. Say so before the demo.
            attempts = settings.max_retries + 1
            st.caption(
                f"Each call now waits {_duration(settings.timeout_s * attempts)} before its "
                f"error (timeout {settings.timeout_s:g} s × {attempts} attempt"
                f"{'s' if attempts > 1 else ''}). For a quick demo, lower Timeout in "
                "Generation settings."
            )
    return NetworkConditions(
        first_byte_latency_ms=float(first_byte),
        per_chunk_latency_ms=float(per_chunk),
        max_concurrent=int(max_concurrent) or None,
        requests_per_minute=int(rpm) or None,
        error_rate=error_pct / 100,
        stall=bool(stall),
        cut_stream_after_chunks=int(cut_after) or None,
    )


def _duration(seconds: float) -> str:
    """'45 s', '3 min': how long a person will wait, rounded as they would say it."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:g} s"


def _remote_fields(settings: ModelSettings, provider: Provider, env: dict[str, str]) -> ModelSettings:
    if provider is Provider.COMPATIBLE:
        base_url = st.text_input(
            "Base URL", settings.base_url, key=SIDEBAR_BASE_URL_KEY,
            placeholder="http://localhost:11434/v1",
            help="Ollama: http://localhost:11434/v1 · vLLM: http://localhost:8000/v1 · "
            "LM Studio: http://localhost:1234/v1 · llama.cpp: http://localhost:8080/v1",
        )
        settings = settings.with_changes(base_url=base_url)
    model = st.text_input("Model name", settings.model, key=f"sidebar.model.{provider.value}")
    field = key_field_words(provider, settings.base_url, environment_key(provider, env))
    typed = st.text_input(
        "API key" + (" (optional)" if provider is Provider.COMPATIBLE else ""),
        type="password",
        key=sidebar_key_field(provider),
        placeholder=field.placeholder,
        help=field.help,
    )
    if field.warning and not typed.strip():
        st.caption(f":material/key_off: {escape_markdown(field.warning)}")
    # The environment's key goes to its own endpoint only (core.security.keys): a Base URL typed here
    # never receives the operator's key.
    grant = key_to_send(provider, settings.base_url, typed, env)
    return settings.with_changes(model=model, api_key=SecretStr(grant.key if grant else ""))
