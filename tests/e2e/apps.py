"""Extra app servers for e2e tests that need their own environment (e.g. a planted key)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import _free_port, wait_for_idle


@contextmanager
def serve_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port with `env` added; yield its URL.

    Everything the process prints goes to `log_path`, so tests can search the logs.
    """
    port = _free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.address", "127.0.0.1", "--server.port", str(port),
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
            ],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ) | env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise RuntimeError(f"app did not start: {log_path.read_text()[-2000:]}")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def choose_network(page: Page, option: str) -> None:
    """Pick an entry of the sidebar's "Network conditions" select box and wait for the rerun."""
    # Streamlit 1.67's select box is a react-aria combo box. A click sometimes only focuses it
    # (e.g. while the sidebar scrolls), so open it by click, then by ArrowDown, until it shows.
    combo = page.locator(".st-key-sidebar-network input[role=combobox]")
    choice = page.locator("[role=option]", has_text=option).first
    for attempt in range(4):
        combo.scroll_into_view_if_needed()
        if attempt % 2 == 0:
            combo.click()
        else:
            combo.focus()
            combo.press("ArrowDown")
        try:
            choice.wait_for(state="visible", timeout=3_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    choice.click()
    wait_for_idle(page)


def open_page_via_home(page: Page, base_url: str, url_path: str) -> None:
    """Open Home, then the page. A fresh server's very first request, if it is for a page URL,
    runs that file alone (Streamlit's pages/ folder mode) until app.py has run once."""
    from tests.e2e.conftest import open_app_page

    open_app_page(page, base_url)
    open_app_page(page, base_url, url_path)
