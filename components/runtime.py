"""Process- and session-level objects the pages share: the embedded server, settings, ledger.

The embedded model server is started once per app process (`st.cache_resource`), in the
background: the router starts it first thing and only pages that call the model wait. Chat
models are not cached — they hold HTTP clients bound to an event loop, and async pages make a
new loop per action — so each action builds a fresh one (`components.call_kit`).
"""

from __future__ import annotations

import importlib
import os
import secrets
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from pydantic import SecretStr

from core.call.models import KEY_ENV_VARS, NO_KEY, Endpoint, resolve_endpoint
from core.embedded_server import (
    EmbeddedModelServer,
    EmbeddedModelUnavailable,
    launch_embedded_server,
)
from core.export.langsmith import TracingStatus, load_env_file, tracing_status
from core.export.otel import ExportStatus, export_status, start_export
from core.money.ledger import SessionLedger
from core.network.conditions import NetworkConditions, preset_name
from core.network.proxy import NetworkProxy, RouteStats, start_network_proxy
from core.network.recording import Recording
from core.network.replay import ReplayServer
from core.security.egress import RefusedBaseUrl, is_loopback_bind, refused_base_url
from core.security.keys import KeyGrant, userinfo_secrets
from core.settings import OPENAI_BASE_URL, ModelSettings, Provider, settings_from_env

if TYPE_CHECKING:  # loads more of langchain_core than the first screen needs
    from langchain_core.runnables import RunnableConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EmbeddedStatus:
    """The embedded server, or why there is none."""

    server: EmbeddedModelServer | None
    problem: str | None


@st.cache_resource(show_spinner=False)
def _embedded_start() -> Future[EmbeddedModelServer] | None:
    """Launch the embedded model once per process (None when it is switched off)."""
    if os.environ.get("LAB_DISABLE_EMBEDDED") == "1":
        return None
    # LAB_EMBEDDED_THREADS: threads decoding one answer (default 1); LAB_EMBEDDED_BATCH_THREADS:
    # threads for prompts and concurrent answers (default: every core). See bench/HISTORY.md.
    return launch_embedded_server(
        threads=_positive_int_env("LAB_EMBEDDED_THREADS"),
        batch_threads=_positive_int_env("LAB_EMBEDDED_BATCH_THREADS"),
    )


def _positive_int_env(name: str) -> int | None:
    """A positive whole number from the environment, or None when unset or not one."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def start_embedded_model() -> None:
    """Start loading the model in its own process, without waiting (the router's first line).

    The first screen draws while it loads; only a page that calls the model waits for it.
    """
    _embedded_start()


# What the first model call needs and the first screen does not: core.call.errors loads openai,
# core.call.tracing httpx2 and langchain_core's callbacks.
WARM_UP_MODULES = ("langchain_openai", "pandas", "core.call.errors", "core.patterns.streaming", "core.call.tracing")
# Importing holds Python's GIL, which the web server needs to send the first screen and the ~45
# script files the browser asks for after it: started with the first run's end, the imports
# made Home appear ~0.5 s later (bench.cold_start). The browser has drawn it well within this.
WARM_UP_DELAY_S = 1.5


@st.cache_resource(show_spinner=False)
def warm_up_imports() -> threading.Thread:
    """Once per process, after the first screen: load what the first model call needs.

    The first screen does not import langchain_openai, openai or pandas (~2 s on 2 cores); the
    first click on Stream would pay for them instead. A background thread loads them while the
    presenter reads Home, so the first click does not; it waits `WARM_UP_DELAY_S` first, so the
    browser gets the first screen before the imports take the interpreter.
    """

    def warm() -> None:
        time.sleep(WARM_UP_DELAY_S)
        for module in WARM_UP_MODULES:
            importlib.import_module(module)

    thread = threading.Thread(target=warm, name="lab-warm-imports", daemon=True)
    thread.start()
    return thread


def embedded_status_if_ready() -> EmbeddedStatus | None:
    """The embedded server or why there is none; None while it is still loading."""
    future = _embedded_start()
    if future is not None and not future.done():
        return None
    return embedded_status()


def embedded_status() -> EmbeddedStatus:
    """The embedded server, or why there is none; waits (with a spinner) while it loads."""
    future = _embedded_start()
    if future is None:
        return EmbeddedStatus(None, "The embedded model is switched off (LAB_DISABLE_EMBEDDED=1).")
    if not future.done():
        with st.spinner("Loading the embedded model…"):
            wait([future])
    try:
        return EmbeddedStatus(future.result(), None)
    except EmbeddedModelUnavailable as exc:  # remembered: a failure is not retried per rerun
        return EmbeddedStatus(None, str(exc))


def environment() -> dict[str, str]:
    """The process environment, with `.env` loaded into it first (the real environment wins).

    `.env` is loaded with python-dotenv's `load_dotenv`, as LangChain users expect: so
    `LANGSMITH_TRACING=true` there really switches tracing on. `LAB_DOTENV_PATH` points at
    another file; tests set it to an empty one so a developer's own `.env` never changes what
    they see.
    """
    load_env_file(os.environ.get("LAB_DOTENV_PATH") or str(PROJECT_ROOT / ".env"))
    return dict(os.environ)


def current_tracing() -> TracingStatus:
    """Whether LangChain traces this app's calls to LangSmith, and to which project."""
    return tracing_status(environment())


def current_otel() -> ExportStatus:
    """Whether call traces go to an OpenTelemetry receiver, and where; starts the export.

    The export starts once per process, with the variables of the run that first sees them set
    (as for LangSmith, a change in `.env` takes a restart).
    """
    status = export_status(environment())
    if status.enabled:
        _otel_export()
    return status


@st.cache_resource(show_spinner=False)
def _otel_export() -> bool:
    return start_export(environment()) is not None


SETTINGS_KEY = "lab.settings"
LEDGER_KEY = "lab.ledger"
NETWORK_KEY = "lab.network"
SESSION_SCOPE_KEY = "lab.session_scope"


# The sidebar's Base URL and key fields (widget keys). Defined here, below the sidebar, because
# the Compare page and the redaction of downloads read what was typed in them.
SIDEBAR_BASE_URL_KEY = "sidebar.base_url"


def sidebar_key_field(provider: Provider) -> str:
    """The widget key of the sidebar's API-key field for `provider`."""
    return f"sidebar.key.{provider.value}"


def sidebar_typed_key(provider: Provider) -> KeyGrant:
    """The key typed in the sidebar for `provider`, bound to the Base URL it was typed beside
    (OpenAI's own for OpenAI): another endpoint gets it only if it is that same origin."""
    typed = str(st.session_state.get(sidebar_key_field(provider)) or "").strip()
    if provider is Provider.OPENAI:
        url = OPENAI_BASE_URL
    else:
        settings = current_settings()
        url = settings.base_url if settings.provider is provider else str(
            st.session_state.get(SIDEBAR_BASE_URL_KEY) or ""
        )
    return KeyGrant(typed, url, "the key typed in the sidebar")


def current_settings() -> ModelSettings:
    """This browser session's settings (from the environment until the sidebar changes them)."""
    if SETTINGS_KEY not in st.session_state:
        st.session_state[SETTINGS_KEY] = settings_from_env(environment())
    return st.session_state[SETTINGS_KEY]


def set_settings(settings: ModelSettings) -> None:
    st.session_state[SETTINGS_KEY] = settings


def ledger() -> SessionLedger:
    """This browser session's ledger of every call made on every page."""
    if LEDGER_KEY not in st.session_state:
        st.session_state[LEDGER_KEY] = SessionLedger()
    return st.session_state[LEDGER_KEY]


@st.cache_resource(show_spinner=False)
def network_proxy() -> NetworkProxy:
    """The network-conditions proxy, started once per app process on 127.0.0.1.

    One proxy serves every session: each session's conditions live in routes of their own
    (their own random key, limits and counters), so no session sees another's.
    """
    return start_network_proxy()


def current_conditions() -> NetworkConditions:
    """This browser session's simulated network conditions ("Off" until the sidebar sets them)."""
    return st.session_state.get(NETWORK_KEY, NetworkConditions())


def set_conditions(conditions: NetworkConditions) -> None:
    st.session_state[NETWORK_KEY] = conditions


def session_scope() -> str:
    """A random id for this browser session: the proxy keeps routes and limits per scope."""
    if SESSION_SCOPE_KEY not in st.session_state:
        st.session_state[SESSION_SCOPE_KEY] = secrets.token_hex(12)
    return st.session_state[SESSION_SCOPE_KEY]


def endpoint_with_conditions(endpoint: Endpoint, conditions: NetworkConditions) -> Endpoint:
    """`endpoint` reached through the network proxy under `conditions` (as-is when they are Off).

    The returned endpoint's base URL is the proxy's and its key is this session's random route
    key; the real key stays in the proxy's memory. Pages use this to run one condition on
    purpose (e.g. the async page's latency-bound "remote API").
    """
    direct = endpoint.direct
    if conditions.is_passthrough:
        return direct
    route = network_proxy().route(
        direct.base_url, direct.api_key.get_secret_value(), conditions, scope=session_scope()
    )
    return Endpoint(
        provider=direct.provider,
        base_url=route.base_url,
        model=direct.model,
        api_key=SecretStr(route.key),
        key_env_var=direct.key_env_var,
        upstream=direct,
        network=preset_name(conditions) or f"custom: {conditions.describe()}",
    )


def served_beyond_loopback() -> bool:
    """Whether this app listens beyond this machine (`server.address`, which `make run HOST=`
    sets; unset, Streamlit listens on every interface)."""
    return not is_loopback_bind(st.get_option("server.address"))


def base_url_refusal(settings: ModelSettings) -> str | None:
    """Why this lab will not call the settings' Base URL (served beyond loopback, it refuses
    internal addresses other than the configured endpoints: `core.security.egress`), or None."""
    if settings.provider is not Provider.COMPATIBLE or not served_beyond_loopback():
        return None
    env = environment()
    allowed = [env.get("LAB_COMPAT_BASE_URL", ""), OPENAI_BASE_URL]
    status = embedded_status_if_ready()
    if status is not None and status.server is not None:
        allowed.append(status.server.base_url)
    allowed += [f"http://127.0.0.1:{network_proxy().port}", replay_server().base_url]
    return refused_base_url(settings.base_url, shared=True, allowed=allowed)


def network_stats() -> RouteStats:
    """What the proxy did for this browser session so far (requests, 429s, errors, cuts)."""
    return network_proxy().stats(session_scope())


def current_endpoint() -> Endpoint:
    """Where calls go now: the settings' endpoint, through the proxy if conditions are set.

    A replay chosen under "Record & replay" wins over everything (its answers come from the
    recording); while recording, calls go through the proxy with the recorder's tap.

    Raises `EmbeddedModelUnavailable` for Local without a server.
    """
    replay = current_replay()
    if replay is not None:
        return replay_endpoint(*replay)
    settings = current_settings()
    refusal = base_url_refusal(settings)
    if refusal:
        raise RefusedBaseUrl(refusal)
    endpoint = resolve_endpoint(settings, embedded_status().server)
    recording = current_recording()
    if recording is not None:
        return recording_endpoint(endpoint, current_conditions(), recording)
    return endpoint_with_conditions(endpoint, current_conditions())


REPLAY_KEY = "lab.replay"  # (Recording, speed) chosen in the sidebar; absent = live
RECORDING_KEY = "lab.recording"  # the Recording being made; absent = not recording


@st.cache_resource(show_spinner=False)
def replay_server() -> ReplayServer:
    """The replay server, started once per app process on 127.0.0.1 (see core/network/replay.py)."""
    return ReplayServer().start()


def current_replay() -> tuple[Recording, float] | None:
    """This session's chosen replay (recording, speed), or None for live calls."""
    return st.session_state.get(REPLAY_KEY)


def current_recording() -> Recording | None:
    """The recording this session is making, or None."""
    return st.session_state.get(RECORDING_KEY)


def replay_endpoint(recording: Recording, speed: float = 1.0) -> Endpoint:
    """An endpoint answered from `recording` at `speed` (1.0 = recorded pace, 0 = instant).

    The same `ChatOpenAI` path as a live call; `Endpoint.replay` labels it as a replay. The
    Compare page can offer one per recording.
    """
    server = replay_server()
    route = server.route(recording, speed)
    pace = "instant" if speed == 0 else f"{speed:g}×"
    return Endpoint(
        provider=Provider.COMPATIBLE,
        base_url=server.base_url,
        model=recording.model,
        api_key=SecretStr(route.key),
        key_env_var=KEY_ENV_VARS[Provider.COMPATIBLE],
        replay=f"{recording.title} · {pace}",
    )


def recording_endpoint(endpoint: Endpoint, conditions: NetworkConditions, recording: Recording) -> Endpoint:
    """`endpoint` through the proxy with `recording`'s tap (and the session's conditions)."""
    direct = endpoint.direct
    route = network_proxy().route(
        direct.base_url, direct.api_key.get_secret_value(), conditions, scope=session_scope(),
        tap=recording.tap,
    )
    shown = "" if conditions.is_passthrough else f", {preset_name(conditions) or conditions.describe()}"
    return Endpoint(
        provider=direct.provider, base_url=route.base_url, model=direct.model,
        api_key=SecretStr(route.key), key_env_var=direct.key_env_var, upstream=direct,
        network=f"recording{shown}",
    )


def run_config(pattern: str, endpoint: Endpoint, **extra: object) -> RunnableConfig:
    """A `RunnableConfig` whose callback records every model call into the session ledger.

    `extra` is merged the way LangChain merges configs (`merge_configs`): extra callbacks and
    tags join the ledger's instead of replacing them, metadata dicts are combined.
    """
    config: RunnableConfig = {
        "callbacks": [
            ledger().callback(
                pattern=pattern, provider=endpoint.replay or endpoint.provider.label,
                secrets=session_secrets(endpoint),
            )
        ],
        "tags": [f"lab:{pattern}"],
    }
    from langchain_core.runnables.config import merge_configs

    return merge_configs(config, extra) if extra else config  # type: ignore[arg-type]  # merge_configs takes a RunnableConfig; extra holds its keys as kwargs


def secrets_of(endpoint: Endpoint) -> tuple[str, ...]:
    """Values that must never be shown (passed to error redaction): proxy and real keys, and
    the userinfo of the base URLs (`user:token@host`)."""
    keys = [endpoint.api_key.get_secret_value(), *userinfo_secrets(endpoint.base_url)]
    if endpoint.upstream is not None:
        keys += secrets_of(endpoint.upstream)
    return tuple(k for k in dict.fromkeys(keys) if k and k != NO_KEY)


#: Environment variables whose values are redacted everywhere, besides every `*_API_KEY`.
SECRET_ENV_VARS = ("OPENAI_API_KEY", "LAB_COMPAT_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
COMPARE_KEY_FIELD = "compare.key.{}"  # a Compare column's key field (components/compare_view.py)
COMPARE_URL_FIELD = "compare.url.{}"


def session_secrets(*endpoints: Endpoint) -> tuple[str, ...]:
    """Every secret this session holds, for redacting what it shows and exports: the
    environment's keys, the keys typed in the sidebar and in Compare's columns, the userinfo of
    every Base URL typed, and the keys of `endpoints` (proxy routes and the real ones behind)."""
    env = environment()
    found = [v for name, v in env.items() if name in SECRET_ENV_VARS or name.endswith("_API_KEY")]
    found += userinfo_secrets(env.get("LAB_COMPAT_BASE_URL", ""))
    settings = current_settings()
    found += [settings.api_key.get_secret_value(), *userinfo_secrets(settings.base_url)]
    state = st.session_state
    for name in list(state.keys()):
        name = str(name)
        if name.startswith(("sidebar.key.", COMPARE_KEY_FIELD.format(""))):
            found.append(str(state[name] or "").strip())
        elif name == SIDEBAR_BASE_URL_KEY or name.startswith(COMPARE_URL_FIELD.format("")):
            found += userinfo_secrets(str(state[name] or ""))
    for endpoint in endpoints:
        found += secrets_of(endpoint)
    return tuple(k for k in dict.fromkeys(found) if k and k != NO_KEY)
