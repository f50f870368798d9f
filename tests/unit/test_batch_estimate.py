"""The batch estimate counts OpenAI input tokens with tiktoken, and says when it could not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tiktoken
from pydantic import SecretStr

from core.batch import estimate as batch_estimate
from core.batch.estimate import estimate_input_tokens, rough_tokens
from core.call.models import Endpoint
from core.settings import Provider

OPENAI = Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini", SecretStr("k"), "OPENAI_API_KEY")
PROMPTS = ["What is 2 + 2?", "Who wrote Romeo and Juliet?"]


@pytest.fixture(autouse=True)
def forget_failures() -> Iterator[None]:
    batch_estimate._tiktoken_failures.clear()
    yield
    batch_estimate._tiktoken_failures.clear()


def one_token_per_byte() -> tiktoken.Encoding:
    """A real tiktoken encoding with no merges: every byte is one token (no download needed)."""
    return tiktoken.Encoding(
        name="bytes", pat_str=r"\S+|\s+", mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )


def test_openai_prompts_are_counted_by_langchain_with_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda model: one_token_per_byte())
    estimate = estimate_input_tokens(PROMPTS, OPENAI)
    assert estimate.counted and "tiktoken" in estimate.method
    # get_num_tokens_from_messages: 3 per message + the role ("user", 4 bytes) + the text + 3
    # for the reply's primer.
    assert estimate.input_tokens == sum(3 + 4 + len(p.encode()) + 3 for p in PROMPTS)


def test_without_the_encoding_the_rule_is_used_and_the_estimate_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def offline(model: str) -> tiktoken.Encoding:
        calls.append(model)
        raise ConnectionError("Failed to resolve 'openaipublic.blob.core.windows.net'")

    monkeypatch.setattr(tiktoken, "encoding_for_model", offline)
    estimate = estimate_input_tokens(PROMPTS, OPENAI)
    assert not estimate.counted
    assert estimate.input_tokens == sum(rough_tokens(p) for p in PROMPTS)
    assert "characters per token" in estimate.method and "download failed" in estimate.method
    # The failure is remembered: a rerun of the page does not wait on the download again.
    estimate_input_tokens(PROMPTS, OPENAI)
    assert len(calls) == 1


def test_a_slow_download_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    monkeypatch.setattr(batch_estimate, "TIKTOKEN_LOAD_TIMEOUT_S", 0.2)
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda model: release.wait(30) and one_token_per_byte())
    try:
        estimate = estimate_input_tokens(PROMPTS, OPENAI)
    finally:
        release.set()
    assert not estimate.counted and "took over 0.2 s" in estimate.method


def test_other_endpoints_keep_the_rule_of_thumb() -> None:
    endpoint = Endpoint(Provider.COMPATIBLE, "http://localhost:11434/v1", "gpt-4o-mini", SecretStr("k"), "X")
    estimate = estimate_input_tokens(PROMPTS, endpoint)
    assert not estimate.counted and "tiktoken" not in estimate.method
