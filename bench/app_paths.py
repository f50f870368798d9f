"""The full path through Streamlit into a real browser: cold start, first token, memory.

Drives the real app (`streamlit run app.py`) in Debian's chromium, as a presenter would:
- cold start: from launching `streamlit run` to the Home page rendered (model load included),
  and the embedded model's own load time as the sidebar reports it;
- first token in the browser: from the click on "Stream" to the first text visible in the page,
  next to the app's own time-to-first-token for the same run (the difference is what Streamlit's
  rerun, websocket and rendering add), and next to the raw openai SDK's first token for the same
  prompt, measured in the same rounds against an identical embedded model started by this
  benchmark (the median of the paired differences). Beside it, the floor: a one-line Streamlit
  app (written by this benchmark) streaming the same model's answer with `st.write_stream` under
  a button, measured the same way; target (issue 34): the lab ≤ the one-line app + 25 ms, so the
  report holds the lab to what it adds over Streamlit and chromium on this machine;
- tokens/s the Streaming page shows against the model alone (the bare SDK on the reference
  model, the same prompt, in the same rounds): target ≥ 0.8×;
- memory: the app process's peak RSS and its growth over 100 calls (target < 5 %), and the
  embedded model's own process (a child of the app since the model loads in the background).

Run: `.venv/bin/python -m bench.app_paths`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import median, print_table
from bench.stream_overhead import raw_stream
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RunningApp,
    click_and_wait,
    running_app,
    track_runs,
    wait_for_idle,
)

FIRST_TOKEN_RUNS = int(os.environ.get("BENCH_FIRST_TOKEN_RUNS", "7"))
MEMORY_CALLS = int(os.environ.get("BENCH_MEMORY_CALLS", "100"))
# Before each first-token round: the browser finishes drawing the previous answer, as it has when
# a presenter clicks. Clicking back to back measured the tail of the previous render too (~15 ms).
SETTLE_S = 1.0
WARMUP_CALLS = 5

# Stamps the click and the first visible answer text, in the page's own clock.
WATCH = """
() => {
  // The previous run's answer stays on screen (stale) until the new one replaces it: only a
  // text different from it counts as the new answer's first token.
  const old = document.querySelector('.st-key-answer-0')?.innerText.trim() ?? '';
  window.__clickAt = null; window.__firstTextAt = null;
  document.addEventListener('click', () => { window.__clickAt ??= performance.now(); },
                            {capture: true, once: true});
  const observer = new MutationObserver(() => {
    const box = document.querySelector('.st-key-answer-0');
    const text = box ? box.innerText.trim() : '';
    if (window.__clickAt !== null && text.length > 0 && text !== old) {
      window.__firstTextAt ??= performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


@contextlib.contextmanager
def app_server() -> Iterator[RunningApp]:
    """`streamlit run app.py` with no .env and its own data folder (unless the caller set them)."""
    isolated = {"LAB_DOTENV_PATH": os.devnull, "LAB_DATA_DIR": tempfile.mkdtemp(prefix="lab-bench-")}
    with running_app({k: v for k, v in isolated.items() if k not in os.environ}) as app:
        yield app


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _model_process(app_pid: int) -> int | None:
    """The app's `python -m core.embedded_server` child, from /proc."""
    for child in Path(f"/proc/{app_pid}/task/{app_pid}/children").read_text().split():
        if b"core.embedded_server" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    return None


def _seconds(text: str) -> float:
    """'43 ms' or '1.20 s' (as the app formats durations) in seconds."""
    number = float(re.findall(r"[\d.]+", text)[0])
    return number / 1000 if "ms" in text else number


def _metric(page, label: str) -> str:
    metric = page.locator("[data-testid=stMetric]").filter(has_text=label).first
    return metric.locator("[data-testid=stMetricValue]").inner_text()


def model_alone_tokens_per_second(client, model: str, prompt: str, max_tokens: int = 256) -> float:
    """The model's own pace through the bare SDK, as the page computes it (tokens after the
    first over the first→last chunk span), with the page's default 256-token limit."""
    first = last = None
    tokens = chunks = 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
        stream=True, stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            last = time.perf_counter()
            first = first or last
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    if first is None or last is None or last <= first:
        return float("nan")
    return ((tokens or chunks) - 1) / (last - first)


# The floor for the browser's first token: a button and st.write_stream over the bare SDK.
BARE_STREAM_APP = """
import os
import streamlit as st
from openai import OpenAI

client = st.cache_resource(lambda: OpenAI(base_url=os.environ["BENCH_BASE_URL"],
                                          api_key=os.environ["BENCH_API_KEY"]))()
if st.button("Stream"):
    def text():
        for chunk in client.chat.completions.create(
            model=os.environ["BENCH_MODEL"], max_tokens=256, stream=True,
            messages=[{"role": "user", "content": os.environ["BENCH_PROMPT"]}],
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    with st.container(border=True, key="answer-0"):
        st.write_stream(text())
"""


def bare_streamlit_over_raw_s(browser, reference, raw_client, prompt: str, runs: int) -> list[float]:
    """Click → first text in a one-line streaming app, minus the raw SDK's first token, per round."""
    folder = Path(tempfile.mkdtemp(prefix="bench-bare-stream-"))
    script = folder / "bare_stream_app.py"
    script.write_text(BARE_STREAM_APP)
    env = {"BENCH_BASE_URL": reference.base_url, "BENCH_API_KEY": reference.api_key,
           "BENCH_MODEL": reference.model_name, "BENCH_PROMPT": prompt}
    over: list[float] = []
    with running_app(env, script=script) as bare:
        page = track_runs(browser.new_page(viewport={"width": 1280, "height": 720}))
        page.goto(bare.url)
        wait_for_idle(page)
        _stream_once(page)  # connections and caches, not counted
        for _ in range(runs):
            time.sleep(SETTLE_S)
            raw = raw_stream(raw_client, reference.model_name, prompt)[0]
            page.evaluate(WATCH)
            _stream_once(page)
            click_at, text_at = page.evaluate("[window.__clickAt, window.__firstTextAt]")
            if click_at is not None and text_at is not None:
                over.append((text_at - click_at) / 1000 - raw)
        page.close()
    return over


def _stream_once(page) -> None:
    click_and_wait(page, page.get_by_role("button", name="Stream", exact=True))


def run() -> list[dict[str, object]]:
    from openai import OpenAI
    from playwright.sync_api import sync_playwright

    from core.embedded_server import start_embedded_server

    rows: list[dict[str, object]] = []
    reference = start_embedded_server()  # the same model the app embeds, for the raw SDK
    raw_client = OpenAI(base_url=reference.base_url, api_key=reference.api_key)
    with app_server() as app, sync_playwright() as playwright:
        url, process = app.url, app.process
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = track_runs(browser.new_page(viewport={"width": 1280, "height": 720}))

        page.goto(url)
        page.get_by_role("heading", name="Execution Patterns Lab").wait_for(timeout=120_000)
        wait_for_idle(page)
        cold_start = time.perf_counter() - app.launched_at
        # The model loads in the background (the first screen does not wait for it).
        page.get_by_text("loaded in").wait_for(timeout=120_000)
        sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        load = re.search(r"loaded in ([\d.]+) s", sidebar)
        rows.append({"measure": "cold start: `streamlit run` → Home rendered in chromium",
                     "value": f"{cold_start:.2f} s", "target": "", "runs": 1})
        rows.append({"measure": "embedded model load (as the sidebar reports it)",
                     "value": f"{float(load.group(1)):.1f} s" if load else "?", "target": "", "runs": 1})

        prompt = "Tell me a joke about a cat who learns to cook."
        page.goto(f"{url}/streaming")
        wait_for_idle(page)
        page.get_by_label("Prompt").fill(prompt)
        page.get_by_label("Prompt").press("Control+Enter")  # commit the text area
        wait_for_idle(page)
        raw_stream(raw_client, reference.model_name, prompt)  # warm the reference model
        browser_first, app_first, raw_first, page_speed, alone_speed = [], [], [], [], []
        for _ in range(FIRST_TOKEN_RUNS):
            # The model alone first, then the pause: three seconds of the reference model's
            # work just before the click slowed the browser's first draw by ~30 ms (+103 against
            # +70 ms over 11 rounds), a cost of this benchmark, not of the page. The floor's
            # rounds below are the same pause, raw call, click.
            alone = model_alone_tokens_per_second(raw_client, reference.model_name, prompt)
            time.sleep(SETTLE_S)
            raw = raw_stream(raw_client, reference.model_name, prompt)[0]  # first token, s
            page.evaluate(WATCH)
            _stream_once(page)
            click_at, text_at = page.evaluate("[window.__clickAt, window.__firstTextAt]")
            if click_at is not None and text_at is not None:
                browser_first.append((text_at - click_at) / 1000)
                app_first.append(_seconds(_metric(page, "Time to first token")))
                raw_first.append(raw)
                page_speed.append(float(_metric(page, "Tokens / second")))
                alone_speed.append(alone)
        bare_over = bare_streamlit_over_raw_s(browser, reference, raw_client, prompt, FIRST_TOKEN_RUNS)
        reference.stop()
        browser_ms = median(browser_first) * 1000
        app_ms = median(app_first) * 1000
        over_raw_ms = median(b - r for b, r in zip(browser_first, raw_first, strict=True)) * 1000
        rows.append({"measure": "first token visible in the browser (click → text)",
                     "value": f"{browser_ms:.0f} ms", "target": "", "runs": len(browser_first)})
        rows.append({"measure": "  raw openai SDK's first token, same prompt and rounds",
                     "value": f"{median(raw_first) * 1000:.0f} ms", "target": "", "runs": len(raw_first)})
        rows.append({"measure": "  browser over raw SDK (median of paired runs)",
                     "value": f"{over_raw_ms:+.0f} ms", "target": "", "runs": len(raw_first)})
        if bare_over:
            bare_ms = median(bare_over) * 1000
            rows.append({"measure": "  floor: a one-line st.write_stream app over raw SDK, same rounds",
                         "value": f"{bare_ms:+.0f} ms", "target": "", "runs": len(bare_over)})
            rows.append({"measure": "  the lab over the one-line app (the two medians above)",
                         "value": f"{over_raw_ms - bare_ms:+.0f} ms", "target": "≤ +25 ms",
                         "runs": len(bare_over)})
        rows.append({"measure": "  of which the app's own time to first token",
                     "value": f"{app_ms:.0f} ms", "target": "", "runs": len(app_first)})
        rows.append({"measure": "  of which Streamlit rerun + websocket + render",
                     "value": f"{browser_ms - app_ms:+.0f} ms", "target": "", "runs": len(app_first)})
        # The same model does ~90 tokens/s alone (bench.throughput); here the browser and
        # Streamlit render on the same 2 cores while it generates.
        rows.append({"measure": "tokens/s the Streaming page shows, browser on the same cores",
                     "value": f"{median(page_speed):.0f} tokens/s", "target": "", "runs": len(page_speed)})
        rows.append({"measure": "  the model alone (bare SDK, same prompt and rounds)",
                     "value": f"{median(alone_speed):.0f} tokens/s", "target": "", "runs": len(alone_speed)})
        ratio = median(p / a for p, a in zip(page_speed, alone_speed, strict=True))
        rows.append({"measure": "  page ÷ model alone (median of paired runs)",
                     "value": f"{ratio:.2f}×", "target": "≥ 0.80×", "runs": len(page_speed)})

        # Memory: short answers, so 100 calls take about a minute.
        page.get_by_text("Generation settings").click()
        page.get_by_role("spinbutton", name="Max output tokens").fill("16")
        page.keyboard.press("Enter")
        wait_for_idle(page)
        for _ in range(WARMUP_CALLS):
            _stream_once(page)
        baseline, _ = rss_kib(process.pid)
        for call in range(MEMORY_CALLS):
            _stream_once(page)
            if call % 20 == 19:
                print(f"  memory: {call + 1}/{MEMORY_CALLS} calls", file=sys.stderr, flush=True)
        after, peak = rss_kib(process.pid)
        growth = (after - baseline) / baseline * 100
        rows.append({"measure": "app process peak RSS", "value": f"{peak / 1024:.0f} MiB",
                     "target": "", "runs": 1})
        model_pid = _model_process(process.pid)
        if model_pid is not None:  # the model runs in a child process (core/embedded_server.py)
            rows.append({"measure": "embedded model process peak RSS",
                         "value": f"{rss_kib(model_pid)[1] / 1024:.0f} MiB", "target": "", "runs": 1})
        rows.append({"measure": f"RSS growth over {MEMORY_CALLS} calls",
                     "value": f"{growth:+.1f} % ({baseline / 1024:.0f} → {after / 1024:.0f} MiB)",
                     "target": "< 5 %", "runs": MEMORY_CALLS})
        browser.close()
    return rows


def main() -> None:
    print_table("The app in a real browser", run())


if __name__ == "__main__":
    main()
