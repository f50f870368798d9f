"""Shared benchmark helpers: medians, a plain-text table, and the embedded model.

Each bench module exposes `run() -> list[dict]` (one dict per table row) and prints its table
when run as a script, so `python -m bench` can collect every module's rows into one report.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median(values: Iterable[float]) -> float:
    """Median of the values (the benchmark's summary statistic: robust to one slow run)."""
    return float(statistics.median(list(values)))


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Rows of dicts as a Markdown table (floats to 3 significant decimals)."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0])
    for row in rows[1:]:
        headers += [h for h in row if h not in headers]

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(row.get(h)) for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def print_table(title: str, rows: Sequence[dict[str, object]]) -> None:
    print(f"\n## {title}\n")
    print(format_table(rows))


# --- A real app server and a real browser, for the benchmarks that go through Streamlit ---

import contextlib  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def app_server() -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """`streamlit run app.py` on a free port: yields (url, process, perf_counter at launch)."""
    import httpx

    port = free_port()
    env = dict(os.environ)
    env.setdefault("LAB_DOTENV_PATH", os.devnull)
    env.setdefault("LAB_DATA_DIR", tempfile.mkdtemp(prefix="lab-bench-"))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError("the app did not start")
            time.sleep(0.05)
        yield url, process, started
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for_idle(page, timeout_ms: int = 120_000) -> None:  # noqa: ANN001
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_ms,
    )


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


# Set before a click: becomes true once the script run the click starts has finished. (Waiting
# for "notRunning" right after a click can return before the rerun has even begun.) A short run
# can flip running → notRunning within one task, so the observer reads each record's old value:
# reading only the current state would miss the run and wait forever.
_RUN_WATCH = """
() => {
  window.__runDone = false;
  let seenRunning = false;
  const app = document.querySelector('[data-testid=stApp]');
  new MutationObserver((records, observer) => {
    const state = app.getAttribute('data-test-script-state');
    if (state === 'running' || records.some((r) => r.oldValue === 'running')) seenRunning = true;
    if (seenRunning && state === 'notRunning') { window.__runDone = true; observer.disconnect(); }
  }).observe(app, {attributes: true, attributeOldValue: true,
                   attributeFilter: ['data-test-script-state']});
}
"""


def click_and_wait(page, locator, timeout_ms: int = 120_000) -> None:  # noqa: ANN001
    """Click and wait until the script run that the click triggers has finished."""
    page.evaluate(_RUN_WATCH)
    locator.click()
    page.wait_for_function("() => window.__runDone === true", timeout=timeout_ms)
