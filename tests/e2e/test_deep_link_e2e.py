"""A presenter's bookmark: the very first visit to a fresh server goes straight to a page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fresh_app_url(tmp_path_factory: pytest.TempPathFactory):
    """A server nobody has visited yet (the shared one has already seen the Home page)."""
    from tests.e2e.conftest import serve_app

    yield from serve_app(tmp_path_factory)


def test_first_visit_to_a_deep_link_gets_router_and_sidebar(page: Page, fresh_app_url: str) -> None:
    open_app_page(page, fresh_app_url, "streaming")
    expect(page.get_by_role("heading", name="Streaming", exact=True)).to_be_visible()
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Provider")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Home")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    # And the page works there: a streamed answer starts arriving.
    page.get_by_role("button", name="Stream", exact=True).click()
    expect(page.locator(".st-key-answer-0")).not_to_have_text("", timeout=60_000)
