"""InMemoryRateLimiter against the proxy's max-in-flight limit, each HTTP request recorded."""

from __future__ import annotations

import itertools
import math

import pytest
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.embedded_server import EmbeddedModelServer
from core.network.conditions import NetworkConditions
from core.network.proxy import NetworkProxy
from core.patterns.rate_limits import (
    rate_limiter,
    rate_problem,
    run_recorded_batch,
    suggested_rate,
)
from core.settings import ModelSettings

PROMPTS = [f"Say the number {i}." for i in range(4)]


def _maker(proxy: NetworkProxy, server: EmbeddedModelServer, settings: ModelSettings, scope: str):
    route = proxy.route(server.base_url, server.api_key, NetworkConditions(max_concurrent=2), scope=scope)
    endpoint = Endpoint(
        provider=settings.provider, base_url=route.base_url, model=server.model_name,
        api_key=SecretStr(route.key), key_env_var="LAB_LOCAL_API_KEY",
    )
    return lambda **overrides: build_chat_model(settings, endpoint, **overrides)


def test_without_a_limiter_the_burst_is_refused_and_with_one_nothing_is(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=4, max_retries=1)
    burst = run_recorded_batch(
        _maker(proxy, embedded_server, settings, "burst"), PROMPTS, label="without",
        max_concurrency=8,
    )
    # 4 requests at once against "2 at once": the proxy refuses the rest with 429 + Retry-After.
    assert burst.refused >= 1
    refused = [a for a in burst.attempts if a.refused]
    assert all(a.retry_after_s == 1 for a in refused)
    assert any(a.retry_number == 1 for a in burst.attempts), "the client retried a 429"
    assert {a.prompt_index for a in burst.attempts} == set(range(len(PROMPTS)))

    rate = suggested_rate(NetworkConditions(max_concurrent=2), burst.accepted_latency_s())
    assert rate is not None and rate > 0
    spaced = run_recorded_batch(
        _maker(proxy, embedded_server, settings, "spaced"), PROMPTS, label="with",
        max_concurrency=8, requests_per_second=rate,
    )
    assert spaced.refused == 0 and spaced.failed == 0 and spaced.succeeded == len(PROMPTS)
    assert len(spaced.attempts) == len(PROMPTS)  # one request per prompt: nothing re-sent
    starts = [a.sent_at_s for a in spaced.attempts]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # The token bucket spaces the calls by about 1 / rate (its check interval is the slack).
    assert min(gaps) >= 0.8 / rate


@pytest.mark.parametrize("bad", [0, -1, -0.5, float("nan"), None])
def test_a_rate_of_zero_or_below_gets_a_message_not_an_exception(bad: float | None) -> None:
    problem = rate_problem(bad)
    assert problem and "rate" in problem
    if bad is not None and not math.isnan(bad):
        with pytest.raises(ValueError, match="above 0"):
            rate_limiter(bad)


def test_the_suggested_rate_respects_whichever_limit_is_tighter() -> None:
    assert suggested_rate(NetworkConditions(), 1.0) is None
    assert suggested_rate(NetworkConditions(max_concurrent=4), None) is None  # needs a latency
    both = NetworkConditions(max_concurrent=4, requests_per_minute=30)
    assert suggested_rate(both, 0.1) == pytest.approx(30 / 60 * 0.9)
