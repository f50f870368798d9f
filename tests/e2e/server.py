"""The real app in a subprocess and Debian's chromium: shared by the e2e tests and bench/.

No pytest here, so the benchmarks can drive the app exactly as the browser tests do. The app runs
as `streamlit run app.py` on a free loopback port, as `make run` serves it; the browser is
/usr/bin/chromium (Playwright cannot download browsers on this machine).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

import httpx
from playwright.sync_api import Locator, Page, WebSocket, expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
START_TIMEOUT_S = 60


class AppDidNotStart(RuntimeError):
    """The app exited or never answered its health check; the message ends with its log."""


@dataclass(frozen=True)
class RunningApp:
    url: str
    process: subprocess.Popen[bytes]
    launched_at: float  # time.perf_counter() just before the process was started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(
    env: Mapping[str, str] | None = None, log_path: Path | None = None, script: str | Path = "app.py",
    address: str = "127.0.0.1", extra_args: tuple[str, ...] = (),
) -> Iterator[RunningApp]:
    """`streamlit run app.py` with `env` added, until the block ends; yields once it is healthy.

    Its output goes to `log_path` (searched by the security tests), or nowhere. `script` runs
    another Streamlit script instead: one of the project from the project, another from its own
    folder (the benchmarks' bare reference app). `address` is what the server binds (the URL
    always reaches it over loopback); `extra_args` go to `streamlit run`.

    Raises:
        AppDidNotStart: with the end of the log, when there is one.
    """
    script_path = (PROJECT_ROOT / script).resolve()
    # A script of the project runs from the project (it imports components/); another one from
    # its own folder, as a bare app would.
    cwd = PROJECT_ROOT if script_path.is_relative_to(PROJECT_ROOT) else script_path.parent
    port = free_port()
    with log_path.open("w") if log_path else open(os.devnull, "w") as log:
        launched_at = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(script_path),
                "--server.address", address, "--server.port", str(port),
                "--server.headless", "true", "--browser.gatherUsageStats", "false", *extra_args,
            ],
            cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ) | dict(env or {}),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(url, process, log_path)
            yield RunningApp(url, process, launched_at)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)  # short: the benchmarks time the cold start with this loop
    state = "exited" if process.poll() is not None else f"did not answer in {START_TIMEOUT_S} s"
    log = log_path.read_text()[-2000:] if log_path else "(no log kept)"
    raise AppDidNotStart(f"app {state}: {log}")


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


class ScriptRuns:
    """The script runs the app's server reported to one page, read off the page's websocket.

    The server, not the DOM, says when a run has ended: the page's `data-test-script-state` is
    React state, and when a short run's messages arrive together (a loaded machine), React can
    draw "notRunning" → "notRunning" and never show "running" at all, so a watch on the
    attribute alone can wait forever for a run that has long finished.
    """

    def __init__(self) -> None:
        # One entry per run message, in arrival order: "started", "finished" or "superseded"
        # (stopped early because a newer rerun was asked for; that rerun follows).
        self.events: list[str] = []
        self.messages = 0

    def on_websocket(self, websocket: WebSocket) -> None:
        websocket.on("framereceived", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        self.messages += 1
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.events.append("started")
        elif kind == "script_finished":
            early = msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN
            self.events.append("superseded" if early else "finished")

    def finished_since(self, mark: int) -> bool:
        """Whether a run that started after `events[mark]` has finished (not been superseded)."""
        started = False
        for event in self.events[mark:]:
            started = started or event == "started"
            if started and event == "finished":
                return True
        return False


_RUNS: WeakKeyDictionary[Page, ScriptRuns] = WeakKeyDictionary()


def track_runs(page: Page) -> Page:
    """Start reading `page`'s script runs off its websocket; call it before the page opens the app.

    `rerun_of` and `click_and_wait` need it. Calling it twice on one page does nothing more.
    """
    if page not in _RUNS:
        runs = _RUNS[page] = ScriptRuns()
        page.on("websocket", runs.on_websocket)
    return page


@dataclass(frozen=True)
class RunMark:
    """Where a page's run messages stood just before an action (`mark_runs`)."""

    page: Page
    runs: ScriptRuns
    events: int
    messages: int


def mark_runs(page: Page) -> RunMark:
    """Mark a tracked page's runs before an action; `wait_for_run_after` waits on the mark."""
    runs = _RUNS.get(page)
    if runs is None:
        raise RuntimeError("waiting for a rerun needs a page tracked by track_runs() before it opened the app")
    return RunMark(page, runs, len(runs.events), runs.messages)


def wait_for_run_after(mark: RunMark, timeout_ms: int = 120_000) -> None:
    """Wait until a run that started after `mark` has finished and the page has drawn it."""
    page, runs = mark.page, mark.runs
    deadline = time.monotonic() + timeout_ms / 1000
    while not runs.finished_since(mark.events):
        if time.monotonic() > deadline:
            state = page.locator("[data-testid=stApp]").get_attribute("data-test-script-state")
            raise TimeoutError(
                f"no script run finished within {timeout_ms / 1000:.0f} s of the action: the server "
                f"sent {runs.messages - mark.messages} messages since "
                f"({runs.events[mark.events:] or 'no run'}), the page says {state!r}"
            )
        page.wait_for_timeout(20)  # lets Playwright deliver the websocket frames meanwhile
    # The frame reached the browser; let the page handle it and draw (a frame, then a task),
    # then wait for the state it draws.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)))")
    wait_for_idle(page, timeout_ms)


@contextmanager
def rerun_of(page: Page, timeout_ms: int = 120_000) -> Iterator[None]:
    """When the block ends, the script run that an action inside it started has finished.

    For an action that reruns the script and is more than a click (Enter in a field, a file
    set on an uploader), or to look at the page while the run is still going:

        with rerun_of(page):
            field.press("Enter")

    The page must be tracked (`track_runs`, which `open_app_page` does).
    """
    mark = mark_runs(page)
    yield
    wait_for_run_after(mark, timeout_ms)


def click_and_wait(page: Page, locator: Locator, timeout_ms: int = 120_000) -> None:
    """Click and wait until the script run that the click triggers has finished.

    Only for a click that reruns the script (a button, a radio, a page link): opening an
    expander or a tab runs nothing, so nothing would ever finish.
    """
    with rerun_of(page, timeout_ms):
        locator.click()
