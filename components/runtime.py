"""Process- and session-level objects the pages share: the embedded server, settings, ledger.

The embedded model server is cached once per app process (`st.cache_resource`); chat models are
not cached — they hold HTTP clients bound to an event loop, and async pages make a new loop per
action — so pages build a fresh one per action with `chat_model()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from dotenv import dotenv_values
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI

from core.embedded_server import (
    EmbeddedModelServer,
    EmbeddedModelUnavailable,
    start_embedded_server,
)
from core.ledger import SessionLedger
from core.models import Endpoint, build_chat_model, resolve_endpoint
from core.settings import ModelSettings, settings_from_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EmbeddedStatus:
    """The embedded server, or why there is none."""

    server: EmbeddedModelServer | None
    problem: str | None


@st.cache_resource(show_spinner="Loading the embedded model…")
def embedded_status() -> EmbeddedStatus:
    """Start the embedded model once per process; remember a failure instead of retrying."""
    if os.environ.get("LAB_DISABLE_EMBEDDED") == "1":
        return EmbeddedStatus(None, "The embedded model is switched off (LAB_DISABLE_EMBEDDED=1).")
    try:
        return EmbeddedStatus(start_embedded_server(), None)
    except EmbeddedModelUnavailable as exc:
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


def current_endpoint() -> Endpoint:
    """Where calls go now. Raises `EmbeddedModelUnavailable` for Local without a server."""
    settings = current_settings()
    return resolve_endpoint(settings, embedded_status().server)


def chat_model(endpoint: Endpoint, **overrides: object) -> ChatOpenAI:
    """A fresh `ChatOpenAI` for one action, with this session's settings."""
    return build_chat_model(current_settings(), endpoint, **overrides)


def run_config(pattern: str, endpoint: Endpoint, **extra: object) -> RunnableConfig:
    """A `RunnableConfig` whose callback records every model call into the session ledger."""
    config: RunnableConfig = {
        "callbacks": [ledger().callback(pattern=pattern, provider=endpoint.provider.label)],
        "tags": [f"lab:{pattern}"],
    }
    config.update(extra)  # type: ignore[typeddict-item]
    return config


def secrets_of(endpoint: Endpoint) -> tuple[str, ...]:
    """Values that must never be shown (passed to error redaction)."""
    return (endpoint.api_key.get_secret_value(),)
