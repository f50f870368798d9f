"""AppTest helpers: run the real app (router + sidebar) opened on a given page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

DEFAULT_TIMEOUT_S = 300  # per script run; generous because CI shares 2 cores with the model


def _app_opened_on(page: str) -> None:
    # Runs as the AppTest script: the real router, with `page` as the start page. (Opening the
    # page with AppTest.switch_page drops the entrypoint's sidebar from the element tree in
    # Streamlit 1.67, so pages are opened as the default instead.)
    from components.router import run_app

    run_app(start_page=page)


@pytest.fixture
def open_page() -> Callable[[str], AppTest]:
    """`open_page("pages/streaming.py")` → an AppTest that has run the app on that page."""

    def _open(page: str) -> AppTest:
        at = AppTest.from_function(_app_opened_on, args=(page,), default_timeout=DEFAULT_TIMEOUT_S)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open
