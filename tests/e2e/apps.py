"""Extra app servers for e2e tests that need their own environment (e.g. a planted key)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.server import click_and_wait, running_app


@contextmanager
def serve_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port with `env` added; yield its URL.

    Everything the process prints goes to `log_path`, so tests can search the logs.
    """
    with running_app(env, log_path) as app:
        yield app.url


def choose_network(page: Page, option: str) -> None:
    """Pick an entry of the sidebar's "Network conditions" select box and wait for the rerun."""
    choose_option(page, "st-key-sidebar-network", option)


def choose_option(page: Page, key_class: str, option: str) -> None:
    """Pick `option` in the select box whose container has CSS class `key_class`; wait for the rerun."""
    # Streamlit 1.67's select box is a react-aria combo box. A click sometimes only focuses it
    # (e.g. while the sidebar scrolls), so open it by click, then by ArrowDown, until it shows.
    combo = page.locator(f".{key_class} input[role=combobox]")
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
    click_and_wait(page, choice)
