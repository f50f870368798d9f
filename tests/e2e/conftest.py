"""A real app server and Debian's chromium, driven by Playwright.

The app runs as `streamlit run app.py` in a subprocess on a free loopback port, exactly as
`make run` serves it; the browser is /usr/bin/chromium (Playwright cannot download browsers here).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import PROJECT_ROOT

CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROJECTOR = {"width": 1280, "height": 720}
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the app for the whole e2e session; yield its URL."""
    yield from serve_app(tmp_path_factory)


def serve_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run `streamlit run app.py` on a free loopback port until the generator is closed."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "streamlit.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
        cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"app did not start: {log_path.read_text()[-2000:]}")
    if process.poll() is not None:
        pytest.fail(f"app exited: {log_path.read_text()[-2000:]}")
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


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


def wait_for_idle(page: Page, timeout_ms: int = 120_000) -> None:
    """Wait until the Streamlit script run has finished (the hello app's e2e convention)."""
    expect(page.locator("[data-testid=stApp]")).to_have_attribute(
        "data-test-connection-state", "CONNECTED", timeout=timeout_ms
    )
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_ms,
    )


def open_app_page(page: Page, base_url: str, url_path: str = "") -> None:
    """Go to a page of the app (by its URL path, e.g. "streaming") and wait for it to settle."""
    page.goto(f"{base_url}/{url_path}")
    wait_for_idle(page)
