"""Process- and session-level objects the pages share: the embedded server, settings, ledger.

The embedded model server is started once per app process (`st.cache_resource`), in the
background: the router starts it first thing and only pages that call the model wait. Chat
models are not cached — they hold HTTP clients bound to an event loop, and async pages make a
new loop per action — so pages build a fresh one per action with `chat_model()`.
"""

from __future__ import annotations

import os
import secrets
import threading
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from dotenv import dotenv_values
from pydantic import SecretStr

from core.embedded_server import (
    EmbeddedModelServer,
    EmbeddedModelUnavailable,
    launch_embedded_server,
)
from core.ledger import SessionLedger
from core.models import Endpoint, build_chat_model, resolve_endpoint
from core.netem import NetworkConditions, NetworkProxy, RouteStats, preset_name, start_network_proxy
from core.settings import ModelSettings, settings_from_env

if TYPE_CHECKING:  # both load langchain_openai or more of langchain_core than the first screen needs
    from langchain_core.runnables import RunnableConfig
    from langchain_openai import ChatOpenAI

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
    # LAB_EMBEDDED_THREADS: llama.cpp's threads (default: every core). On a machine whose cores
    # are busy with other work, 1 thread kept generating where 2 stalled each other (see README).
    threads = os.environ.get("LAB_EMBEDDED_THREADS", "").strip()
    return launch_embedded_server(threads=int(threads) if threads.isdigit() and int(threads) > 0 else None)


def start_embedded_model() -> None:
    """Start loading the model in its own process, without waiting (the router's first line).

    The first screen draws while it loads; only a page that calls the model waits for it.
    """
    _embedded_start()


@st.cache_resource(show_spinner=False)
def warm_up_imports() -> threading.Thread:
    """Once per process, after the first screen: load what the first model call needs.

    The first screen does not import langchain_openai, openai or pandas (~2 s on 2 cores); the
    first click on Stream would pay for them instead. A background thread loads them while the
    presenter reads Home, so the first click does not.
    """

    def warm() -> None:
        import langchain_openai  # noqa: F401
        import pandas  # noqa: F401

        import core.errors  # noqa: F401  (openai)
        import core.streaming  # noqa: F401

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
    """`.env` values under the real environment (the environment wins, as with load_dotenv).

    `LAB_DOTENV_PATH` points at another file; tests set it to an empty one so a developer's own
    `.env` never changes what they see.
    """
    path = os.environ.get("LAB_DOTENV_PATH") or str(PROJECT_ROOT / ".env")
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if Path(path).is_file() else {}
    return values | dict(os.environ)


SETTINGS_KEY = "lab.settings"
LEDGER_KEY = "lab.ledger"
NETWORK_KEY = "lab.network"
SESSION_SCOPE_KEY = "lab.session_scope"


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


def network_stats() -> RouteStats:
    """What the proxy did for this browser session so far (requests, 429s, errors, cuts)."""
    return network_proxy().stats(session_scope())


def current_endpoint() -> Endpoint:
    """Where calls go now: the settings' endpoint, through the proxy if conditions are set.

    Raises `EmbeddedModelUnavailable` for Local without a server.
    """
    settings = current_settings()
    endpoint = resolve_endpoint(settings, embedded_status().server)
    return endpoint_with_conditions(endpoint, current_conditions())


def chat_model(endpoint: Endpoint, **overrides: object) -> ChatOpenAI:
    """A fresh `ChatOpenAI` for one action, with this session's settings."""
    return build_chat_model(current_settings(), endpoint, **overrides)


def run_config(pattern: str, endpoint: Endpoint, **extra: object) -> RunnableConfig:
    """A `RunnableConfig` whose callback records every model call into the session ledger."""
    config: RunnableConfig = {
        "callbacks": [
            ledger().callback(
                pattern=pattern, provider=endpoint.provider.label, secrets=secrets_of(endpoint)
            )
        ],
        "tags": [f"lab:{pattern}"],
    }
    config.update(extra)  # type: ignore[typeddict-item]
    return config


def secrets_of(endpoint: Endpoint) -> tuple[str, ...]:
    """Values that must never be shown (passed to error redaction): proxy and real keys."""
    keys = [endpoint.api_key.get_secret_value()]
    if endpoint.upstream is not None:
        keys += secrets_of(endpoint.upstream)
    return tuple(keys)
