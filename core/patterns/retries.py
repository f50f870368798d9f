"""Two ways to retry a failed call, side by side, each attempt recorded with its wait.

- **The client's own retries** — `ChatOpenAI(max_retries=n)`: the openai client retries 429s,
  5xx and connection errors itself, waiting what the server's `Retry-After` says (else its own
  short back-off). LangChain sees one call; the HTTP client sees every attempt.
- **`Runnable.with_retry`** — LangChain re-invokes the whole runnable on the exceptions you
  name, with exponential back-off and jitter (`wait_exponential_jitter=True`). It does not
  read `Retry-After`; each retry is a new LangChain call (its own callbacks, its own run).

Calls run concurrently on a thread pool, one `invoke` each, never as
`with_retry().batch(..., return_exceptions=True)`: in langchain-core 1.8.3 that hands a row
that failed for good another row's result (LangChain issue #35475; reproduced in
tests/unit/test_retries.py, explained in docs/DEVELOPING.md).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig

from core.call.errors import explain_error
from core.patterns.rate_limits import HttpAttempt, RecordedBatch, RequestRecorder

CLIENT = "client"
RUNNABLE = "runnable"
MAX_ATTEMPTS = 10
# What with_retry retries on: the same faults the client retries (rate limits, 5xx, network).
RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APIConnectionError,
    openai.APITimeoutError,
)


@dataclass(frozen=True)
class Wait:
    """The pause between two attempts of one prompt.

    Attributes:
        prompt_index: which prompt.
        from_s: when the failed attempt's answer came (seconds since the run began).
        to_s: when the next attempt was sent.
        retry_after_s: what the server asked for (`Retry-After`), if anything.
    """

    prompt_index: int
    from_s: float
    to_s: float
    retry_after_s: float | None

    @property
    def seconds(self) -> float:
        return self.to_s - self.from_s


def attempts_problem(attempts: int | None) -> str | None:
    """Why a number of attempts cannot be used; None when it can.

    Example:
        >>> attempts_problem(0)
        'At least 1 attempt is needed (1 = no retries).'
        >>> attempts_problem(3) is None
        True
    """
    if attempts is None or attempts < 1:
        return "At least 1 attempt is needed (1 = no retries)."
    if attempts > MAX_ATTEMPTS:
        return f"At most {MAX_ATTEMPTS} attempts: more only makes the demo wait."
    return None


def waits_between(attempts: Sequence[HttpAttempt]) -> list[Wait]:
    """Each prompt's pauses: from one attempt's answer to that prompt's next request.

    Example:
        >>> a = [HttpAttempt(0.0, 0.1, 429, 0, 1.0, 0), HttpAttempt(1.2, 1.5, 200, 1, None, 0)]
        >>> [round(w.seconds, 2) for w in waits_between(a)], waits_between(a)[0].retry_after_s
        ([1.1], 1.0)
    """
    by_prompt: dict[int, list[HttpAttempt]] = {}
    for a in attempts:
        if a.prompt_index is not None:
            by_prompt.setdefault(a.prompt_index, []).append(a)
    waits: list[Wait] = []
    for index, tries in by_prompt.items():
        tries.sort(key=lambda a: a.sent_at_s)
        for before, after in itertools.pairwise(tries):
            if before.answered_at_s is not None:
                waits.append(Wait(index, before.answered_at_s, after.sent_at_s, before.retry_after_s))
    return sorted(waits, key=lambda w: (w.prompt_index, w.from_s))


def with_backoff(model: Runnable, attempts: int) -> Runnable:
    """`model.with_retry(...)`: exponential back-off with jitter, on the retryable faults."""
    return model.with_retry(
        retry_if_exception_type=RETRYABLE,
        wait_exponential_jitter=True,
        stop_after_attempt=attempts,
    )


def run_retry_demo(
    make_model: Callable[..., BaseChatModel],
    prompts: Sequence[str],
    *,
    how: str,
    attempts: int,
    config: RunnableConfig | None = None,
    secrets: Sequence[str] = (),
) -> RecordedBatch:
    """Ask every prompt at once, retrying `how` ("client" or "runnable") up to `attempts` tries.

    Args:
        make_model: builds the model; called with `http_client=` (the recording client) and
            `max_retries=` (the client's retries: attempts − 1 for "client", 0 for "runnable").
        prompts: asked concurrently, one `invoke` each on a thread pool.
        how: `CLIENT` or `RUNNABLE`.
        attempts: tries per prompt, the first included.
        config: the page's config (the ledger's callbacks).
        secrets: values to redact from error messages.

    Raises:
        ValueError: `how` is unknown or `attempts` unusable (see `attempts_problem`).
    """
    problem = attempts_problem(attempts)
    if problem:
        raise ValueError(problem)
    if how not in (CLIENT, RUNNABLE):
        raise ValueError(f"unknown retry method {how!r}")
    recorder = RequestRecorder(prompts)
    client = recorder.http_client()
    model = make_model(http_client=client, max_retries=attempts - 1 if how == CLIENT else 0)
    runnable: Runnable = model if how == CLIENT else with_backoff(model, attempts)

    def ask(prompt: str) -> object:
        try:
            return runnable.invoke(prompt, config)
        except Exception as exc:  # a prompt that failed for good is a result, not a crash
            return exc

    recorder.started = started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(prompts))) as pool:
            results = list(pool.map(ask, prompts))
    finally:
        wall = time.perf_counter() - started
        client.close()
    label = (
        f"client max_retries={attempts - 1}" if how == CLIENT
        else f"with_retry(stop_after_attempt={attempts})"
    )
    outcomes = [
        explain_error(r, *secrets).title if isinstance(r, Exception) else None for r in results
    ]
    return RecordedBatch(label, None, recorder.attempts, wall, outcomes)
