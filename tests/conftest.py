"""Shared fixtures: an isolated environment and the real embedded model.

Every test runs with no API keys, LangSmith tracing and OpenTelemetry export off, and no `.env` of the developer's (LAB_DOTENV_PATH points at
an empty file), so what a test sees never depends on the machine it runs on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from core.call.models import Endpoint, build_chat_model, resolve_endpoint  # noqa: E402 - after the sys.path line above
from core.embedded_server import EmbeddedModelServer, start_embedded_server  # noqa: E402 - after the sys.path line above
from core.export.langsmith import forget_cached_settings, switch_tracing_off  # noqa: E402 - after the sys.path line above
from core.export.otel import switch_export_off  # noqa: E402 - after the sys.path line above
from core.network.proxy import NetworkProxy, start_network_proxy  # noqa: E402 - after the sys.path line above
from core.settings import ModelSettings, Provider  # noqa: E402 - after the sys.path line above

_LEAKY_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_MODEL")


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No real keys, no developer .env, no LangSmith tracing, and the app's data under a temp dir."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name in _LEAKY_VARS or name.startswith("LAB_"):
            del os.environ[name]
    # A developer's shell may export LANGSMITH_TRACING=true: tests never send traces anywhere.
    switch_tracing_off()
    switch_export_off()  # and no OpenTelemetry export, unless a test starts one itself
    empty_env = tmp_path_factory.mktemp("env") / "empty.env"
    empty_env.write_text("")
    os.environ["LAB_DOTENV_PATH"] = str(empty_env)
    os.environ["LAB_DATA_DIR"] = str(tmp_path_factory.mktemp("lab-data"))
    yield
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_settings()


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedModelServer]:
    """The real embedded llama.cpp server, started once for the test session."""
    server = start_embedded_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy() -> Iterator[NetworkProxy]:
    """The lab's network proxy on a free loopback port, one per test module."""
    started = start_network_proxy()
    yield started
    started.stop()


@pytest.fixture
def local_settings() -> ModelSettings:
    """Repeatable, quick settings: temperature 0, a fixed seed and few tokens."""
    return ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=24, seed=7)


@pytest.fixture
def local_endpoint(embedded_server: EmbeddedModelServer, local_settings: ModelSettings) -> Endpoint:
    return resolve_endpoint(local_settings, embedded_server)


@pytest.fixture
def local_llm(local_settings: ModelSettings, local_endpoint: Endpoint):
    """A real `ChatOpenAI` pointed at the embedded model."""
    return build_chat_model(local_settings, local_endpoint)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last.

    Playwright's sync API keeps an event loop running in the main thread while its
    session-scoped browser is open, so any later test calling `asyncio.run` would fail with
    "cannot be called from a running event loop". Fast unit tests first also fail sooner.
    """
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
