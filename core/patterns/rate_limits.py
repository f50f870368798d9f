"""Rate limiting with LangChain's own tool, and every HTTP request drawn over time.

`InMemoryRateLimiter` (`langchain_core.rate_limiters`) passed as a chat model's `rate_limiter`
spaces out the model's calls: a token bucket refilled at `requests_per_second`, one token per
call, so a batch no longer bursts into an API's limit. It limits how often calls *start*, not
how many are in flight: against a max-in-flight limit the rate must stay under
limit ÷ one call's latency. It runs in this process only, before each model call; the client's
own retries (`max_retries`) do not pass through it.

`RequestRecorder` sees each HTTP request the client really sends (including the client's
retries) through event hooks on the `httpx2` client passed as `ChatOpenAI(http_client=...)`,
with the status that came back: a 429 is a request the API refused.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.call.errors import explain_error
from core.network.conditions import NetworkConditions

# Under a max-in-flight limit, aim below limit ÷ latency: latency varies from call to call.
IN_FLIGHT_MARGIN = 0.6
# Under a per-minute limit, a little below the limit: the proxy's minute is a sliding window.
PER_MINUTE_MARGIN = 0.9
MAX_RATE = 100.0


@dataclass(frozen=True)
class HttpAttempt:
    """One HTTP request the client sent, and what came back.

    Attributes:
        sent_at_s: when it was sent, seconds since the run began.
        answered_at_s: when its response headers arrived; None if none did.
        status: the HTTP status; None when no response came (a connection error).
        retry_number: the client's retry count for this request (0 = first attempt).
        retry_after_s: the `Retry-After` the server sent, if any.
        prompt_index: which prompt it carried (from the request body), when known.
    """

    sent_at_s: float
    answered_at_s: float | None
    status: int | None
    retry_number: int
    retry_after_s: float | None
    prompt_index: int | None

    @property
    def refused(self) -> bool:
        """The API said "too many requests" (HTTP 429)."""
        return self.status == 429


class RequestRecorder:
    """Records every request a `ChatOpenAI` sends, through its HTTP client's event hooks.

    Example (makes real calls, so not a doctest)::

        recorder = RequestRecorder(prompts)
        llm = ChatOpenAI(..., http_client=recorder.http_client())
        llm.batch(prompts)
        recorder.attempts  # one HttpAttempt per request, retries included
    """

    def __init__(self, prompts: Sequence[str] = ()) -> None:
        self._index = {p: i for i, p in reversed(list(enumerate(prompts)))}
        self._lock = threading.Lock()
        self._open: dict[int, dict[str, Any]] = {}
        self._done: list[HttpAttempt] = []
        self.started = time.perf_counter()

    def http_client(self) -> Any:
        """An `httpx2.Client` (the type openai 3.x takes) that reports to this recorder."""
        import openai

        return openai.DefaultHttpxClient(
            event_hooks={"request": [self._on_request], "response": [self._on_response]}
        )

    def _now(self) -> float:
        return time.perf_counter() - self.started

    def _on_request(self, request: Any) -> None:
        try:
            retry = int(request.headers.get("x-stainless-retry-count") or 0)
        except ValueError:
            retry = 0
        entry = {"sent": self._now(), "retry": retry, "prompt": self._prompt_of(request)}
        with self._lock:
            self._open[id(request)] = entry

    def _on_response(self, response: Any) -> None:
        with self._lock:
            entry = self._open.pop(id(response.request), None)
            if entry is None:
                return
            self._done.append(
                HttpAttempt(
                    sent_at_s=entry["sent"],
                    answered_at_s=self._now(),
                    status=response.status_code,
                    retry_number=entry["retry"],
                    retry_after_s=_seconds(response.headers.get("retry-after")),
                    prompt_index=entry["prompt"],
                )
            )

    def _prompt_of(self, request: Any) -> int | None:
        try:
            messages = json.loads(request.content)["messages"]
            return self._index.get(messages[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None

    @property
    def attempts(self) -> list[HttpAttempt]:
        """Every request so far, in the order sent; unanswered ones have no status."""
        with self._lock:
            unanswered = [
                HttpAttempt(e["sent"], None, None, e["retry"], None, e["prompt"])
                for e in self._open.values()
            ]
            return sorted([*self._done, *unanswered], key=lambda a: a.sent_at_s)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def rate_problem(requests_per_second: float | None) -> str | None:
    """Why a rate cannot be used, in plain words; None when it can.

    Example:
        >>> rate_problem(0)
        'A rate of 0 requests per second would never send a request: enter a rate above 0, for example 2.'
        >>> rate_problem(2.5) is None
        True
    """
    if requests_per_second is None or math.isnan(requests_per_second):
        return "Enter a rate in requests per second, for example 2."
    if requests_per_second <= 0:
        return (
            f"A rate of {requests_per_second:g} requests per second would never send a request: "
            "enter a rate above 0, for example 2."
        )
    if requests_per_second > MAX_RATE:
        return f"Enter at most {MAX_RATE:g} requests per second."
    return None


def rate_limiter(requests_per_second: float) -> InMemoryRateLimiter:
    """LangChain's token-bucket limiter at this rate, without bursts (a bucket of one).

    Raises:
        ValueError: the rate is not above 0 (see `rate_problem` for the message).

    Example:
        >>> rate_limiter(2).requests_per_second
        2
    """
    problem = rate_problem(requests_per_second)
    if problem:
        raise ValueError(problem)
    # Check often enough that the spacing is kept to a few percent of one interval.
    check = min(0.1, 0.1 / requests_per_second)
    return InMemoryRateLimiter(
        requests_per_second=requests_per_second, check_every_n_seconds=check, max_bucket_size=1
    )


def suggested_rate(conditions: NetworkConditions, call_latency_s: float | None) -> float | None:
    """A rate that stays under the proxy's limit: None when there is no limit to respect.

    Per minute: a little below the limit. At most N in flight: below N ÷ one call's latency
    (requests in flight ≈ rate × latency), which needs the latency measured.

    Example:
        >>> suggested_rate(NetworkConditions(requests_per_minute=60), None)
        0.9
        >>> suggested_rate(NetworkConditions(max_concurrent=4), 1.0)
        2.4
        >>> suggested_rate(NetworkConditions(max_concurrent=4), 500.0)  # slow calls: a slow rate, not 0
        0.0048
    """
    rates: list[float] = []
    if conditions.requests_per_minute:
        rates.append(conditions.requests_per_minute / 60 * PER_MINUTE_MARGIN)
    if conditions.max_concurrent and call_latency_s and call_latency_s > 0:
        rates.append(conditions.max_concurrent / call_latency_s * IN_FLIGHT_MARGIN)
    if not rates:
        return None
    # Two significant digits, never rounded down to 0 (a very slow call asks for a slow rate).
    rate = min(min(rates), MAX_RATE)
    return float(f"{rate:.2g}")


@dataclass
class RecordedBatch:
    """One batch run with every HTTP request it made.

    Attributes:
        label: what ran ("without a rate limiter", ...).
        requests_per_second: the limiter's rate, or None without one.
        attempts: every request, retries included.
        wall_s: the batch's start to its last answer.
        outcomes: per prompt, None when it succeeded, else the problem in plain words.
    """

    label: str
    requests_per_second: float | None
    attempts: list[HttpAttempt]
    wall_s: float
    outcomes: list[str | None] = field(default_factory=list)

    @property
    def refused(self) -> int:
        """How many requests the API answered with 429."""
        return sum(a.refused for a in self.attempts)

    @property
    def succeeded(self) -> int:
        return sum(o is None for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(o is not None for o in self.outcomes)

    def accepted_latency_s(self) -> float | None:
        """The median time to an accepted request's answer, or None without one."""
        times = sorted(
            a.answered_at_s - a.sent_at_s
            for a in self.attempts
            if a.status is not None and a.status < 400 and a.answered_at_s is not None
        )
        return times[len(times) // 2] if times else None


def run_recorded_batch(
    make_model: Callable[..., BaseChatModel],
    prompts: Sequence[str],
    *,
    label: str,
    max_concurrency: int,
    requests_per_second: float | None = None,
    config: RunnableConfig | None = None,
    secrets: Sequence[str] = (),
) -> RecordedBatch:
    """`model.batch(prompts)` with every HTTP request recorded; failures are kept, never raised.

    Args:
        make_model: builds the model; called with `http_client=` (the recording client) and
            `rate_limiter=` (an `InMemoryRateLimiter`, or None), to pass on to `ChatOpenAI`.
        prompts: one call each.
        label: names the run in charts.
        max_concurrency: calls in flight at once, as in `config["max_concurrency"]`.
        requests_per_second: the `InMemoryRateLimiter` rate; None runs without one.
        config: the page's config (the ledger's callbacks), merged with `max_concurrency`.
        secrets: values to redact from error messages.
    """
    limiter = None if requests_per_second is None else rate_limiter(requests_per_second)
    recorder = RequestRecorder(prompts)
    client = recorder.http_client()
    model = make_model(http_client=client, rate_limiter=limiter)
    recorder.started = started = time.perf_counter()
    try:
        results = model.batch(
            list(prompts), merge_configs(config, {"max_concurrency": max_concurrency}),
            return_exceptions=True,
        )
    finally:
        wall = time.perf_counter() - started
        client.close()
    outcomes = [
        None if not isinstance(r, Exception) else explain_error(r, *secrets).title for r in results
    ]
    return RecordedBatch(label, requests_per_second, recorder.attempts, wall, outcomes)
