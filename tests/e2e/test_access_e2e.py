"""A lab served beyond this machine, in a real browser: its door, and whose jobs are whose.

The app binds 0.0.0.0, as `make run HOST=0.0.0.0` does (the browser still reaches it over
loopback). Without an access password it refuses to draw any page; with one, every new browser
is asked for it first. Two browser contexts are two visitors: one cannot see, open or cancel the
other's batch job until it is shared, and then can read it but not cancel or retry it. Calls go
to the fake OpenAI-compatible endpoint (no model needed, answers at once).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PROJECTOR, click_and_wait, open_app_page, wait_for_idle
from tests.e2e.server import running_app
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-door-Zq4-correct-horse"
KEY = "fake-key-access-e2e"


def _env(data_dir: Path, fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {
        "LAB_PROVIDER": "compatible", "LAB_COMPAT_BASE_URL": fake.base_url, "LAB_COMPAT_MODEL": "fake-model",
        "LAB_COMPAT_API_KEY": KEY, "LAB_DISABLE_EMBEDDED": "1", "LAB_DATA_DIR": str(data_dir), **extra,
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    served = FakeOpenAI(KEY, reply="Paris.").start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def shared_lab(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("shared-lab")
    log_path = folder / "streamlit.log"
    env = _env(folder / "data", fake, LAB_ACCESS_PASSWORD=PASSWORD)
    with running_app(env, log_path, address="0.0.0.0") as app:
        yield app.url, log_path


def _visitor(browser: Browser) -> Page:
    return browser.new_context(viewport=PROJECTOR).new_page()


def _enter(page: Page, password: str) -> None:
    field = page.get_by_role("textbox", name="Access password")
    field.fill(password)
    click_and_wait(page, page.get_by_role("button", name="Enter"))


def test_served_on_every_interface_without_a_password_the_lab_draws_no_page(
    browser: Browser, fake: FakeOpenAI, tmp_path: Path,
) -> None:
    with running_app(_env(tmp_path, fake), address="0.0.0.0") as app:
        page = _visitor(browser)
        open_app_page(page, app.url, "batch")
        expect(page.get_by_text("LAB_ACCESS_PASSWORD in .env")).to_be_visible()
        assert page.get_by_role("heading", name="Batch").count() == 0
        assert page.locator("[data-testid=stSidebar]").count() == 0
        page.context.close()


def test_a_visitor_types_the_password_before_any_page_and_each_visitors_jobs_are_their_own(
    browser: Browser, shared_lab: tuple[str, Path],
) -> None:
    url, log_path = shared_lab
    alice, bob = _visitor(browser), _visitor(browser)

    # The link names a page: the door comes first, and the page the link named after it.
    open_app_page(alice, url, "batch")
    expect(alice.get_by_role("textbox", name="Access password")).to_be_visible()
    assert alice.get_by_role("heading", name="Batch").count() == 0
    assert alice.locator("[data-testid=stSidebar]").count() == 0
    _enter(alice, "not the password")
    expect(alice.get_by_text("That is not the access password.")).to_be_visible()
    assert alice.get_by_role("heading", name="Batch").count() == 0
    _enter(alice, PASSWORD)
    expect(alice.get_by_role("heading", name="Batch")).to_be_visible()

    click_and_wait(alice, alice.get_by_role("button", name="Run 12 prompts"))
    job = alice.locator(".st-key-batch-job").last
    expect(job).to_contain_text(re.compile(r"created \d\d:\d\d:\d\d · done"), timeout=120_000)
    wait_for_idle(alice)
    job_id = re.search(r"job=([0-9a-f]+)", alice.url).group(1)

    # Bob, another browser, follows Alice's link: he is asked for the password, then told the
    # job is not his; nothing of it draws, so there is nothing to cancel or retry.
    open_app_page(bob, url, f"batch?job={job_id}")
    _enter(bob, PASSWORD)
    expect(bob.get_by_text(re.compile(f"No job {job_id} that you can open here"))).to_be_visible()
    assert bob.locator(".st-key-batch-job").count() == 0
    assert "job=" not in bob.url
    bob.get_by_role("tab", name="Saved jobs").click()  # a tab reruns nothing
    expect(bob.get_by_text("No saved jobs yet.")).to_be_visible()

    # Alice's reload (a new session, same browser) still finds her job and may cancel or retry it.
    alice.reload()
    wait_for_idle(alice)
    _enter(alice, PASSWORD)
    job = alice.locator(".st-key-batch-job").last
    expect(job).to_contain_text(job_id)
    share = job.get_by_text("Share with every visitor")
    expect(share).to_be_visible()
    click_and_wait(alice, share)

    # Shared: Bob lists and opens it, reads it, and still cannot cancel, retry or unshare it.
    bob.reload()
    wait_for_idle(bob)
    _enter(bob, PASSWORD)
    bob.get_by_role("tab", name="Saved jobs").click()
    expect(bob.get_by_role("combobox", name="Open a saved job")).to_have_value(re.compile(job_id))
    click_and_wait(bob, bob.locator(".st-key-batch-open button"))
    bob.get_by_role("tab", name="2 · Run").click()  # where the opened job is drawn
    job = bob.locator(".st-key-batch-job").last
    expect(job).to_contain_text(job_id)
    expect(job.get_by_text("Shared by another visitor")).to_be_visible()
    for name in ("Cancel", "Retry"):
        assert job.get_by_role("button", name=re.compile(name)).count() == 0
    assert job.get_by_text("Share with every visitor").count() == 0

    for page in (alice, bob):
        assert PASSWORD not in page.content()
        page.context.close()
    assert PASSWORD not in log_path.read_text()
