"""Readable on a projector: axe-core finds nothing serious on any page, and no metric is cut off.

axe-core (the npm package, pinned in the Makefile and installed by `make setup-dev` / `make test`
into .venv/axe) is injected into every page — as it first opens, and with results on screen —
and every violation of impact "serious" or "critical" in the app's own markup fails the test,
with the rule, the element and axe's own explanation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from components.pages import PATTERN_PAGES
from core.batch import JobStatus, JobStore, RowStatus
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import ARTIFACTS, PROJECTOR, click_and_wait, open_app_page
from tests.e2e.server import AppDidNotStart, running_app, wait_for_idle

pytestmark = pytest.mark.e2e

AXE_JS = PROJECT_ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CALL_TIMEOUT_MS = 120_000

# Streamlit's own page navigation in the sidebar puts a <div> between its <ul> and each <li>
# (React's wrapper around every nav link): axe's "list" and "listitem" rules flag that markup,
# which the app does not write and cannot change. Only those two rules, and only inside it.
STREAMLIT_OWN_MARKUP = {
    "list": "[data-testid=stSidebarNavItems]",
    "listitem": "[data-testid=stSidebarNavItems]",
}

_RUN_AXE = """
async (excluded) => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  const ours = (rule, node) => {
    const inside = excluded[rule];
    if (!inside || node.target.length !== 1) return true;
    const element = document.querySelector(node.target[0]);
    return !(element && element.closest(inside));
  };
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      rule: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.filter((n) => ours(v.id, n))
                    .map((n) => n.target.join(' ') + ': ' + n.failureSummary.replace(/\\s+/g, ' ')),
    }))
    .filter((v) => v.nodes.length > 0);
}
"""


def serious_violations(page: Page) -> list[str]:
    """Serious and critical axe findings in the page as it is now, one readable line each."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `make setup-dev` installs axe-core (see the Makefile)")
    page.wait_for_timeout(500)  # let late layout (charts, fonts) settle before colours are read
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    found = page.evaluate(_RUN_AXE, STREAMLIT_OWN_MARKUP)
    return [f"{v['impact']} {v['rule']} ({v['help']}): {node}" for v in found for node in v["nodes"]]


def assert_accessible(page: Page) -> None:
    found = serious_violations(page)
    assert not found, f"{len(found)} serious axe findings on {page.url}:\n" + "\n".join(found)


def test_the_sidebar_exclusion_still_names_streamlits_nav_list(page: Page, app_url: str) -> None:
    # If Streamlit renames its nav list, the exclusion would silently match nothing.
    open_app_page(page, app_url)
    expect(page.locator("[data-testid=stSidebarNavItems]")).to_have_count(1)


def test_no_serious_violation_on_any_page_as_it_opens(page: Page, app_url: str) -> None:
    # One visitor walks Home and every pattern page through the sidebar, as a presenter would:
    # each page is checked as opening it draws it. (One browser load for all seven pages: a
    # fresh load per page cost ~2 s of JavaScript start-up each, and checked nothing more.)
    open_app_page(page, app_url)
    findings = {"Home": _violations_of_drawn_page(page)}
    for pattern in PATTERN_PAGES:
        click_and_wait(page, page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=pattern.title, exact=True))
        assert page.url.endswith(f"/{pattern.url_path}"), page.url
        findings[pattern.title] = _violations_of_drawn_page(page)
    failing = {name: found for name, found in findings.items() if found}
    assert not failing, "serious axe findings:\n" + "\n".join(
        f"{name}: {line}" for name, found in failing.items() for line in found)


def _violations_of_drawn_page(page: Page) -> list[str]:
    # The page itself is drawn (a check of a blank page would pass): its title, then a settled run.
    # The main area is `data-testid=stMain`, except on a page with `st.chat_input` (Chat), where
    # Streamlit makes it `stAppScrollToBottomContainer`: both keep the class `stMain`.
    expect(page.locator("main.stMain h1").first).to_be_visible()
    wait_for_idle(page)
    return serious_violations(page)


def test_no_serious_violation_with_results_on_screen(page: Page, app_url: str) -> None:
    # Streaming, with a finished stream and its metric strip.
    open_app_page(page, app_url, "streaming")
    page.get_by_role("button", name="Stream", exact=True).click()
    expect(page.get_by_text("finish reason", exact=False).first).to_be_visible(timeout=CALL_TIMEOUT_MS)
    wait_for_idle(page)
    assert_accessible(page)

    # Metadata & cost: the session ledger of that call, with its table and charts.
    page.get_by_role("link", name="Metadata & cost").first.click()
    wait_for_idle(page)
    page.get_by_role("tab", name="Session ledger").click()
    wait_for_idle(page)
    assert_accessible(page)

    # Batch: a finished job with failed rows (the failure line, the table, the retry button).
    store = JobStore.in_data_dir()
    job_id = store.create_job(["What is 2 + 2?", "Name a colour."], source="a11y", endpoint="Local",
                              model="m", max_concurrency=2)
    store.save_row(job_id, 0, status=RowStatus.DONE, output="4", latency_s=0.3, input_tokens=30,
                   output_tokens=1, total_tokens=31, cost_usd=0.0)
    store.save_row(job_id, 1, status=RowStatus.FAILED, error="Timed out: read timed out", error_kind="timeout")
    store.mark_job_finished(job_id, JobStatus.DONE, wall_s=1.0)
    open_app_page(page, app_url, f"batch?job={job_id}")
    expect(page.get_by_text("1 of 2 rows failed", exact=False)).to_be_visible()
    assert_accessible(page)


# --- metric strips at projector size -------------------------------------------------------------


@pytest.fixture(scope="module")
def strips_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tests/e2e/metric_strips_app.py: every metric strip with its longest values."""
    log_path = tmp_path_factory.mktemp("strips") / "streamlit.log"
    try:
        with running_app(log_path=log_path, script="tests/e2e/metric_strips_app.py") as app:
            yield app.url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))


_CUT_VALUES = """
() => [...document.querySelectorAll('[data-testid=stMetricValue]')].flatMap((value) => {
  const strip = value.closest('[class*=st-key-strip-]');
  const name = strip ? strip.className.match(/st-key-strip-[\\w-]+/)[0] : '?';
  const label = value.closest('[data-testid=stMetric]')
                     .querySelector('[data-testid=stMetricLabel]').innerText.trim();
  return [value, ...value.querySelectorAll('*')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .slice(0, 1)
    .map((el) => `${name} · ${label}: "${value.innerText}" needs ${el.scrollWidth} px, has ${el.clientWidth}`);
})
"""


def test_no_metric_value_is_cut_off_at_1280x720(browser: Browser, strips_url: str) -> None:
    context = browser.new_context(viewport=PROJECTOR)
    page = context.new_page()
    try:
        page.goto(strips_url)
        # The last strip drawn means the whole script ran (idle alone can be read before it starts).
        expect(page.locator(".st-key-strip-session-totals [data-testid=stMetricValue]")).to_have_count(
            5, timeout=CALL_TIMEOUT_MS)
        wait_for_idle(page)
        page.wait_for_timeout(500)
        strips = page.locator("[class*=st-key-strip-]")
        assert strips.count() >= 9  # every strip of the app rendered, none crashed
        cut = page.evaluate(_CUT_VALUES)
        if cut:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "metric-strips-1280x720.png"))
        assert cut == []
        # The longest cases really were drawn (a value the harness failed to set would pass).
        values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
        assert {"not reported", "123,456 / 12,345", "$0.000182 – $0.004096"} <= set(values)
    finally:
        context.close()
