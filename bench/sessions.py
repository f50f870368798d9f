"""Sessions: 16 browser sessions streaming at once from a latency-bound endpoint.

The app (`streamlit run app.py`) is set, through its environment, to an OpenAI-compatible
endpoint: bench.latency_endpoint with 300 ms before the first byte and 10 ms between chunks
in front of a stub that streams 32 words at once (a child process). Sixteen browser contexts of
one chromium each open the Streaming page; then "Stream" is clicked in all of them, one right
after another, and each page stamps its own click and the first answer text it shows (in the
page's clock, as bench.app_paths does). Reported: how many of the 16 finished with their whole
answer, and the median and p90 of first-text-visible minus the endpoint's own first token (the
median of bare-SDK streams through the same endpoint, just before).

Run: `.venv/bin/python -m bench.sessions`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from bench.app_paths import WATCH
from bench.common import median, print_table
from bench.latency_endpoint import STREAM_TOKENS, latency_bound_endpoint
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    mark_runs,
    running_app,
    track_runs,
    wait_for_idle,
    wait_for_run_after,
)

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "16"))
LATENCY_MS = 300
PER_CHUNK_MS = 10


def _endpoint_first_token_s(base_url: str, key: str, runs: int = 5) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=key)
    firsts = []
    for _ in range(runs):
        start = time.perf_counter()
        for chunk in client.chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                firsts.append(time.perf_counter() - start)
                break
    return median(firsts)


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def run(sessions: int = SESSIONS) -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()[0]
    with latency_bound_endpoint(LATENCY_MS, PER_CHUNK_MS) as (base_url, key):
        endpoint_first = _endpoint_first_token_s(base_url, key)
        env = {"LAB_DOTENV_PATH": os.devnull, "LAB_DATA_DIR": tempfile.mkdtemp(prefix="lab-bench-"),
               "LAB_PROVIDER": "compatible", "LAB_COMPAT_BASE_URL": base_url,
               "LAB_COMPAT_API_KEY": key, "LAB_COMPAT_MODEL": "stub",
               "LAB_DISABLE_EMBEDDED": "1"}  # the endpoint is remote; no model on these cores
        with running_app(env) as app, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            for _ in range(sessions):
                page = track_runs(browser.new_context(viewport={"width": 1280, "height": 720}).new_page())
                page.goto(f"{app.url}/streaming")
                page.get_by_role("button", name="Stream", exact=True).wait_for(timeout=120_000)
                wait_for_idle(page)
                pages.append(page)
            for page in pages:
                page.evaluate(WATCH)
            marks = []
            for page in pages:
                marks.append(mark_runs(page))
                page.get_by_role("button", name="Stream", exact=True).click()
            firsts: list[float] = []
            complete = 0
            for page, mark in zip(pages, marks, strict=True):
                try:
                    wait_for_run_after(mark, timeout_ms=180_000)
                except Exception:  # a session that never finished is counted as not complete
                    continue
                click_at, text_at = page.evaluate("[window.__clickAt, window.__firstTextAt]")
                box = page.locator(".st-key-answer-0")
                answer = box.inner_text() if box.count() else ""
                if f"word{STREAM_TOKENS - 1}" in answer:
                    complete += 1
                else:  # say why on stderr: the table only counts it
                    alerts = page.locator("[data-testid=stAlert]").all_inner_texts()
                    print(f"  a session did not finish its answer: {alerts or answer[-200:]!r}",
                          file=sys.stderr, flush=True)
                if click_at is not None and text_at is not None:
                    firsts.append((text_at - click_at) / 1000)
            browser.close()
    load = max(load, os.getloadavg()[0])
    over = [f - endpoint_first for f in firsts]
    return [
        {"measure": "sessions streaming at once that finished their whole answer",
         "value": f"{complete} of {sessions}", "target": f"all {sessions}", "runs": 1},
        {"measure": "the endpoint's own first token (bare SDK, same endpoint)",
         "value": f"{endpoint_first * 1000:.0f} ms", "target": "", "runs": 5},
        {"measure": "first text visible over the endpoint's first token: median",
         "value": f"{median(over) * 1000:+.0f} ms" if over else "not measured", "target": "",
         "runs": len(over)},
        {"measure": "first text visible over the endpoint's first token: p90",
         "value": f"{_p90(over) * 1000:+.0f} ms" if over else "not measured",
         "target": f"(load average {load:.1f})", "runs": len(over)},
    ]


def main() -> None:
    print_table("Sessions: 16 browsers streaming at once", run())


if __name__ == "__main__":
    main()
