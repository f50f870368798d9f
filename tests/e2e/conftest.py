"""A real app server and Debian's chromium, driven by Playwright.

The app runs as `streamlit run app.py` in a subprocess on a free loopback port, exactly as
`make run` serves it; the browser is /usr/bin/chromium (Playwright cannot download browsers here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import PROJECT_ROOT
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    AppDidNotStart,
    click_and_wait,
    rerun_of,
    running_app,
    track_runs,
    wait_for_idle,
)

PROJECTOR = {"width": 1280, "height": 720}
ARTIFACTS = PROJECT_ROOT / "test-artifacts"

__all__ = ["click_and_wait", "open_app_page", "rerun_of", "track_runs", "wait_for_idle"]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the app for the whole e2e session; yield its URL."""
    yield from serve_app(tmp_path_factory)


def serve_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run `streamlit run app.py` on a free loopback port until the generator is closed."""
    log_path = tmp_path_factory.mktemp("app") / "streamlit.log"
    with ExitStack() as stack:
        try:
            app = stack.enter_context(running_app(log_path=log_path))
        except AppDidNotStart as exc:
            pytest.fail(str(exc))
        yield app.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser session at projector size; a screenshot is kept if the test fails."""
    context = browser.new_context(viewport=PROJECTOR)
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def open_app_page(page: Page, base_url: str, url_path: str = "") -> None:
    """Go to a page of the app (by its URL path, e.g. "streaming") and wait for it to settle.

    The page's script runs are tracked from here on (`track_runs`), for `rerun_of`.
    """
    track_runs(page)
    page.goto(f"{base_url}/{url_path}")
    wait_for_idle(page)
