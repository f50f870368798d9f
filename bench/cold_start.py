"""Cold start: the lab against a bare, one-line Streamlit app, in the same chromium.

Each round launches `streamlit run` on a fresh process and opens its root URL in a new browser
context of one chromium, and times launch → first screen rendered (the page's last element
visible: the bare app's heading, Home's decision table): once for a one-line app this benchmark writes into a temporary folder,
once for the lab (`streamlit run app.py`, Home). The two alternate, A B A B …, so a machine that
slows down or speeds up mid-run moves both; the verdict is the median of the per-round ratios
lab ÷ bare, target ≤ 1.3×. Both are split at the health check: how long `streamlit run` takes
to answer HTTP (the server's own start, the same code for both) and the rest (the browser's
load plus the first script run, where the lab's imports and first page are).

Both run as on a presenter's machine, with Python's bytecode cache: this workspace sets
PYTHONDONTWRITEBYTECODE, which would make the lab compile its own ~70 modules from source at
every start (the bare app has one line). The cache goes to `__pycache__/` (git ignores it),
filled by a warm-up start of each app that is not counted.

Run: `.venv/bin/python -m bench.cold_start`.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import median, print_table
from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, running_app

ROUNDS = int(os.environ.get("BENCH_COLD_START_ROUNDS", "5"))
BARE_HEADING = "Bare Streamlit app"
BARE_APP = f'import streamlit as st; st.title("{BARE_HEADING}")\n'
# The last element each first screen draws (the lab's sidebar is drawn before Home's body).
# Not "the script run finished": while the model loads, the lab's sidebar line refreshes itself
# once a second (a fragment), which is the model load, not the first screen.
BARE_LAST = f"h1:has-text('{BARE_HEADING}')"
LAB_LAST = "[data-testid=stMain] table"


def _cold_start(browser, last: str, script: Path | str, env: dict[str, str]) -> tuple[float, float]:
    """(launch → healthy, launch → the page's last element rendered), in seconds."""
    with running_app(env, script=script) as app:
        healthy = time.perf_counter() - app.launched_at
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto(app.url)
        page.locator(last).first.wait_for(timeout=300_000)
        rendered = time.perf_counter() - app.launched_at
        context.close()
    return healthy, rendered


def run() -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-bare-app-"))
    bare_script = folder / "bare_app.py"
    bare_script.write_text(BARE_APP)
    lab_env = {"LAB_DOTENV_PATH": os.devnull, "LAB_DATA_DIR": tempfile.mkdtemp(prefix="lab-bench-")}
    lab_env = {k: v for k, v in lab_env.items() if k not in os.environ}
    bytecode = {"PYTHONDONTWRITEBYTECODE": ""}  # empty: unset
    lab_env |= bytecode
    bare: list[tuple[float, float]] = []
    lab: list[tuple[float, float]] = []
    load = os.getloadavg()[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _cold_start(browser, BARE_LAST, bare_script, bytecode)  # disk and bytecode caches
        _cold_start(browser, LAB_LAST, "app.py", lab_env)
        for _ in range(ROUNDS):
            bare.append(_cold_start(browser, BARE_LAST, bare_script, bytecode))
            lab.append(_cold_start(browser, LAB_LAST, "app.py", lab_env))
        browser.close()
    ratio = median(a[1] / b[1] for a, b in zip(lab, bare, strict=True))
    load = max(load, os.getloadavg()[0])

    def row(name: str, runs: list[tuple[float, float]]) -> dict[str, object]:
        return {"app": name, "runs": len(runs),
                "launch → healthy (s)": median(r[0] for r in runs),
                "healthy → first screen (s)": median(r[1] - r[0] for r in runs),
                "launch → first screen (s)": median(r[1] for r in runs), "× bare": ""}

    return [
        row("bare one-line Streamlit app", bare),
        row("the lab (Home)", lab),
        {"app": "lab ÷ bare (median of paired rounds)", "runs": len(lab), "launch → healthy (s)": "",
         "healthy → first screen (s)": "", "launch → first screen (s)": "",
         "× bare": f"{ratio:.2f}× (target ≤ 1.3×; load average {load:.1f})"},
    ]


def main() -> None:
    print_table("Cold start: the lab against a bare Streamlit app", run())


if __name__ == "__main__":
    main()
