"""Retries: the client's max_retries beside Runnable.with_retry, and LangChain issue #35475."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from langchain_core.runnables import RunnableLambda
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.embedded_server import EmbeddedModelServer
from core.network.conditions import NetworkConditions
from core.network.proxy import NetworkProxy
from core.patterns.retries import (
    CLIENT,
    RUNNABLE,
    attempts_problem,
    run_retry_demo,
    waits_between,
)
from core.settings import ModelSettings

# Seed 7's first draws are 0.32, 0.15, 0.65: at a 50% error rate, 503, 503, then forwarded.
TWO_FAILURES_THEN_OK = NetworkConditions(error_rate=0.5, seed=7)


def _flaky_step() -> RunnableLambda:
    """A fails once, B fails every time, C never fails."""
    calls: Counter[str] = Counter()

    def step(x: str) -> str:
        calls[x] += 1
        if x == "A" and calls[x] == 1:
            raise ValueError("A fails once")
        if x == "B":
            raise ValueError("B always fails")
        return f"answer to {x}"

    return RunnableLambda(step)


def test_issue_35475_with_retry_batch_gives_a_failed_row_another_rows_result() -> None:
    """Reproduces LangChain #35475 on the installed langchain-core. If this starts failing, the
    bug is fixed upstream: update docs/DEVELOPING.md ("with_retry and batch") and core/patterns/retries.py."""
    retrying = _flaky_step().with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    results = retrying.batch(["A", "B", "C"], return_exceptions=True)
    assert results[0] == "answer to A" and results[2] == "answer to C"
    # B failed on both attempts, yet it comes back with A's answer instead of its exception.
    assert results[1] == "answer to A"
    async_results = asyncio.run(
        _flaky_step().with_retry(stop_after_attempt=2, wait_exponential_jitter=False).abatch(
            ["A", "B", "C"], return_exceptions=True
        )
    )
    assert async_results[1] == "answer to A"  # the async path has the same bug


def test_one_invoke_per_row_keeps_each_rows_own_outcome() -> None:
    """What the app does instead: with_retry per call, so a failed row keeps its exception."""
    retrying = _flaky_step().with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    outcomes = []
    for x in ["A", "B", "C"]:
        try:
            outcomes.append(retrying.invoke(x))
        except ValueError as exc:
            outcomes.append(exc)
    assert outcomes[0] == "answer to A" and outcomes[2] == "answer to C"
    assert isinstance(outcomes[1], ValueError) and "B always fails" in str(outcomes[1])


def _maker(proxy: NetworkProxy, server: EmbeddedModelServer, settings: ModelSettings, scope: str):
    route = proxy.route(server.base_url, server.api_key, TWO_FAILURES_THEN_OK, scope=scope)
    endpoint = Endpoint(
        provider=settings.provider, base_url=route.base_url, model=server.model_name,
        api_key=SecretStr(route.key), key_env_var="LAB_LOCAL_API_KEY",
    )
    return lambda **overrides: build_chat_model(settings, endpoint, **overrides)


@pytest.mark.parametrize("how", [CLIENT, RUNNABLE])
def test_both_retry_ways_get_through_two_503s_and_every_attempt_is_recorded(
    how: str, proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=4)
    run = run_retry_demo(
        _maker(proxy, embedded_server, settings, f"retry-{how}"), ["Say hi."], how=how, attempts=4,
    )
    assert run.outcomes == [None]
    assert [a.status for a in run.attempts] == [503, 503, 200]
    # The client marks its own retries in a header; with_retry sends each attempt afresh.
    expected = [0, 1, 2] if how == CLIENT else [0, 0, 0]
    assert [a.retry_number for a in run.attempts] == expected
    waits = waits_between(run.attempts)
    assert len(waits) == 2 and all(w.seconds > 0 for w in waits)
    if how == RUNNABLE:
        # Exponential back-off with jitter: the first wait is at least its 1 s initial value.
        assert waits[0].seconds >= 0.9


def test_the_number_of_attempts_is_checked_with_a_message() -> None:
    assert "At least 1" in (attempts_problem(0) or "")
    assert "At least 1" in (attempts_problem(-3) or "")
    with pytest.raises(ValueError, match="At least 1"):
        run_retry_demo(lambda **kw: None, ["x"], how=CLIENT, attempts=0)  # type: ignore[arg-type, return-value]  # never called: zero attempts is refused first
