"""The unit tier runs without the embedded model: fakes only, the whole tier in seconds.

A unit test that asks for the real model (directly or through `local_endpoint` / `local_llm`)
fails at once with where it belongs, instead of quietly starting llama.cpp and making the fast
loop slow. Real-model tests live in tests/integration.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedded_server() -> None:
    pytest.fail(
        "tests/unit runs without the embedded model: use a fake chat model "
        "(langchain_core.language_models.fake_chat_models) or tests/fake_openai.py, "
        "or move this test to tests/integration",
        pytrace=False,
    )
