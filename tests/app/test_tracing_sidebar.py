"""AppTest: the sidebar says whether LangSmith traces this app's calls, and never shows the key."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.export.langsmith import forget_cached_settings


@pytest.fixture
def tracing_env_file(tmp_path: Path) -> Iterator[Path]:
    """A `.env` switching tracing on (to a closed loopback port: nothing may leave the machine)."""
    saved = dict(os.environ)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "LANGSMITH_TRACING=true\nLANGSMITH_API_KEY=lsv2-planted-sidebar-key\n"
        "LANGSMITH_PROJECT=lab-demo\nLANGSMITH_ENDPOINT=http://127.0.0.1:9\n"
    )
    os.environ.pop("LANGSMITH_TRACING", None)
    os.environ["LAB_DOTENV_PATH"] = str(dotenv)
    yield dotenv
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_settings()


def _walk(node: object) -> Iterator[object]:
    """Every element of the AppTest tree (blocks and the elements inside them)."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _sidebar_text(at: AppTest) -> str:
    return " ".join(
        [e.value for e in at.sidebar.caption] + [e.value for e in at.sidebar.info]
        + [e.value for e in at.sidebar.warning]
    )


def test_the_sidebar_says_tracing_is_off_by_default(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/home.py")
    assert "LangSmith tracing off" in _sidebar_text(at)


def test_tracing_from_env_file_shows_the_project_and_never_the_key(
    tracing_env_file: Path, open_page: Callable[[str], AppTest]
) -> None:
    at = open_page("pages/home.py")
    (info,) = [i for i in at.sidebar.info if "LangSmith" in i.value]
    assert "on" in info.value and "lab-demo" in info.value and "127.0.0.1:9" in info.value
    page = " ".join(repr(getattr(node, "proto", "")) for node in _walk(at._tree))
    assert "lab-demo" in page  # the tree holds the texts shown ...
    assert "lsv2-planted-sidebar-key" not in page  # ... and the key is not among them


def test_tracing_on_without_a_key_is_a_warning_with_the_fix(
    tracing_env_file: Path, open_page: Callable[[str], AppTest]
) -> None:
    tracing_env_file.write_text("LANGSMITH_TRACING=true\nLANGSMITH_PROJECT=lab-demo\n")
    at = open_page("pages/home.py")
    assert any("LANGSMITH_API_KEY is not set" in w.value for w in at.sidebar.warning)


def test_the_sidebar_says_opentelemetry_export_is_off_by_default(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/home.py")
    assert "OpenTelemetry export off" in _sidebar_text(at)


def test_opentelemetry_from_env_file_says_where_and_never_the_headers(
    tracing_env_file: Path, open_page: Callable[[str], AppTest]
) -> None:
    from components.runtime import _otel_export
    from core.export.otel import running_export, stop_export

    tracing_env_file.write_text(
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9\nOTEL_SERVICE_NAME=lab-demo\n"
        "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20otel-planted-header-key\n"
    )
    try:
        at = open_page("pages/home.py")
        (info,) = [i for i in at.sidebar.info if "OpenTelemetry" in i.value]
        assert "**on**" in info.value and "http://127.0.0.1:9/v1/traces" in info.value and "lab-demo" in info.value
        page = " ".join(repr(getattr(node, "proto", "")) for node in _walk(at._tree))
        assert "otel-planted-header-key" not in page and "Bearer" not in page
        assert running_export() is not None  # the sidebar's status started the export
    finally:
        stop_export()
        _otel_export.clear()
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            del os.environ[name]
