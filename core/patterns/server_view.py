"""The server's own view of a load, on the load's time axis: only what the server reports.

* **llama.cpp** (the embedded model, `core.embedded_server` enables both endpoints): ``/metrics``
  (Prometheus text) gives ``requests_processing`` and ``requests_deferred`` — the server's own
  queue, apart from the client's cap wait — and its running averages of prompt and generation
  throughput; ``/slots`` gives each slot's state. This xllamacpp build (2026.10) reports **no
  KV-cache gauge** in ``/metrics`` (newer llama.cpp builds had ``kv_cache_usage_ratio``; read if
  present); its ``/slots`` gives, per busy slot, the prompt's tokens and those decoded so far, so
  "tokens held by busy slots" (their sum) and the slots' context size are the server's figures,
  added up — the share of the KV cache the load holds.
* **OpenAI** (and any endpoint that sends them): the ``x-ratelimit-remaining-requests`` and
  ``-tokens`` response headers, read from each call's trace at the moment its headers arrived.
* Anything else: "not reported". Nothing here is estimated: a series the server did not send is
  absent, never 0.

Example:
    >>> parse_prometheus("# HELP x y\\nllamacpp:requests_deferred 2\\nllamacpp:a{b=\\"c\\"} 1.5")
    {'llamacpp:requests_deferred': 2.0, 'llamacpp:a': 1.5}
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.call.trace import CallTrace

#: The series the lab draws, with what each one is (the source in brackets).
SERIES: dict[str, str] = {
    "processing": "requests processing (server /metrics)",
    "deferred": "requests deferred — the server's queue (/metrics)",
    "kv_cache_usage": "KV cache use, 0–1 (/metrics)",
    "slots_busy": "slots busy (/slots)",
    "slot_tokens": "tokens held by busy slots (/slots)",
    "slot_capacity": "context tokens of all slots (/slots)",
    "prompt_tokens_per_s": "prompt tokens/s, the server's running average (/metrics)",
    "generation_tokens_per_s": "generation tokens/s, the server's running average (/metrics)",
    "remaining_requests": "x-ratelimit-remaining-requests (response headers)",
    "remaining_tokens": "x-ratelimit-remaining-tokens (response headers)",
}

_METRICS = {
    "llamacpp:requests_processing": "processing",
    "llamacpp:requests_deferred": "deferred",
    "llamacpp:kv_cache_usage_ratio": "kv_cache_usage",
    "llamacpp:prompt_tokens_seconds": "prompt_tokens_per_s",
    "llamacpp:predicted_tokens_seconds": "generation_tokens_per_s",
}
_HEADERS = {
    "x-ratelimit-remaining-requests": "remaining_requests",
    "x-ratelimit-remaining-tokens": "remaining_tokens",
}
#: How often the llama.cpp endpoints are polled during a run.
POLL_EVERY_S = 0.5


@dataclass(frozen=True)
class ServerSample:
    """What the server reported at one moment.

    Attributes:
        at_s: seconds from the load's start when the answer arrived.
        values: series name (`SERIES`) → value; a series the server did not report is absent.
    """

    at_s: float
    values: Mapping[str, float]


@dataclass
class ServerView:
    """The server's reports over a run.

    Attributes:
        source: where they came from ("llama.cpp /metrics + /slots", "response headers", ...).
        samples: in time order.
        note: why there is nothing, or what could not be read (empty when all went well).
    """

    source: str
    samples: list[ServerSample] = field(default_factory=list)
    note: str = ""

    @property
    def reported(self) -> list[str]:
        """The series at least one sample holds, in `SERIES` order."""
        present = {k for s in self.samples for k in s.values}
        return [k for k in SERIES if k in present]

    def series(self, name: str) -> list[tuple[float, float]]:
        """(time, value) of one series; [] when never reported."""
        return [(s.at_s, s.values[name]) for s in self.samples if name in s.values]

    def peak(self, name: str) -> float | None:
        """The series' highest value; None when never reported ("not reported")."""
        values = [v for _, v in self.series(name)]
        return max(values) if values else None


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition → {metric name: value} (labels dropped, comments skipped)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        name = name.split("{", 1)[0]
        if "{" in line and "}" in line:  # labels may hold spaces: the value follows the brace
            rest = line.rsplit("}", 1)[1]
        with contextlib.suppress(ValueError, IndexError):
            value = float(rest.split()[0])
            if not math.isnan(value):
                found[name] = value
    return found


def llama_values(metrics_text: str | None, slots: Any) -> dict[str, float]:
    """The series one poll of llama.cpp gives (`SERIES` names); only what it reported.

    Example:
        >>> llama_values("llamacpp:requests_processing 4\\nllamacpp:requests_deferred 2",
        ...              [{"n_ctx": 2048, "is_processing": True, "n_prompt_tokens": 35,
        ...                "next_token": [{"n_decoded": 5}]}, {"n_ctx": 2048, "is_processing": False}])
        {'processing': 4.0, 'deferred': 2.0, 'slots_busy': 1.0, 'slot_tokens': 40.0, 'slot_capacity': 4096.0}
    """
    values: dict[str, float] = {}
    if metrics_text:
        parsed = parse_prometheus(metrics_text)
        for metric, name in _METRICS.items():
            if metric in parsed:
                values[name] = parsed[metric]
    if isinstance(slots, list) and slots and all(isinstance(s, dict) for s in slots):
        busy = [s for s in slots if s.get("is_processing")]
        values["slots_busy"] = float(len(busy))
        held = [_slot_tokens(s) for s in busy]
        if all(h is not None for h in held):
            values["slot_tokens"] = float(sum(h for h in held if h is not None))
        if all(isinstance(s.get("n_ctx"), int | float) for s in slots):
            values["slot_capacity"] = float(sum(s["n_ctx"] for s in slots))
    return values


def _slot_tokens(slot: dict[str, Any]) -> int | None:
    """A busy slot's prompt tokens plus the tokens decoded so far; None when it does not say."""
    prompt = slot.get("n_prompt_tokens")
    nexts = slot.get("next_token")
    decoded = nexts[0].get("n_decoded") if isinstance(nexts, list) and nexts and isinstance(nexts[0], dict) else None
    if not isinstance(prompt, int) or not isinstance(decoded, int):
        return None
    return prompt + decoded


def header_view(traces: Iterable[CallTrace], started: float) -> ServerView:
    """The rate-limit headers each call's answer carried, at the moment its headers arrived.

    Example:
        >>> from core.call.trace import HttpAttempt
        >>> t = CallTrace("r", origin=1.0, attempts=[HttpAttempt(1, 1.0, headers=1.5,
        ...               reported={"x-ratelimit-remaining-requests": "499"})])
        >>> header_view([t], started=1.0).series("remaining_requests")
        [(0.5, 499.0)]
    """
    samples = []
    for trace in traces:
        for attempt in trace.attempts:
            if attempt.headers is None:
                continue
            values: dict[str, float] = {}
            for header, name in _HEADERS.items():
                raw = attempt.reported.get(header)
                if raw is not None:
                    with contextlib.suppress(ValueError):
                        values[name] = float(raw)
            if values:
                samples.append(ServerSample(attempt.headers - started, values))
    samples.sort(key=lambda s: s.at_s)
    view = ServerView("x-ratelimit-* response headers", samples)
    if not samples:
        view.note = "not reported: the endpoint sent no x-ratelimit-remaining-* headers"
    return view


class LlamaPoller:
    """Polls a llama.cpp server's ``/metrics`` and ``/slots`` on the running event loop.

    Start it at the load's time 0 (`start(started)`), `stop()` it after; its `view` fills as it
    goes. The requests go on their own plain client, not the traced one the calls use, so the
    polls never appear among the calls.
    """

    def __init__(self, root_url: str, api_key: str, *, every_s: float = POLL_EVERY_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.root_url = root_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.every_s = every_s
        self.clock = clock
        self.view = ServerView("llama.cpp /metrics + /slots")
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    def start(self, started: float) -> None:
        self._started = started
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not self.view.samples and not self.view.note:
            self.view.note = "not reported: the server answered no poll during the run"

    async def _run(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                await self._poll_once(http)
                await asyncio.sleep(self.every_s)

    async def _poll_once(self, http: Any) -> None:
        import httpx

        metrics_text: str | None = None
        slots: Any = None
        try:
            response = await http.get(self.root_url + "/metrics", headers=self._headers)
            if response.status_code == 200:
                metrics_text = response.text
            else:
                self.view.note = f"/metrics answered HTTP {response.status_code}"
            response = await http.get(self.root_url + "/slots", headers=self._headers)
            if response.status_code == 200:
                slots = response.json()
            else:
                self.view.note = f"/slots answered HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            self.view.note = f"a poll failed ({type(exc).__name__})"
        values = llama_values(metrics_text, slots)
        if values:
            self.view.samples.append(ServerSample(self.clock() - self._started, values))
