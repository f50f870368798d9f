"""LangChain's standard integration tests of a chat model, on ChatOpenAI against the embedded model.

Nothing here is tuned to make a test pass: the class says only what ChatOpenAI is and where the
server is, so each result is LangChain's own verdict on this endpoint.
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests import ChatModelIntegrationTests

from bench.standard.conftest import embedded


class TestChatOpenAIOnTheEmbeddedModel(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        server = embedded()
        return {"model": server.model_name, "base_url": server.base_url, "api_key": server.api_key,
                "temperature": 0, "max_tokens": 256, "stream_usage": True}
