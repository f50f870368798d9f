"""The embedded llama.cpp server: loopback only, key required, readable model name."""

from __future__ import annotations

import httpx

from core.embedded_server import MODEL_NAME, EmbeddedModelServer


def test_listens_on_loopback_and_requires_the_key(embedded_server: EmbeddedModelServer) -> None:
    assert embedded_server.base_url.startswith("http://127.0.0.1:")
    models_url = f"{embedded_server.base_url}/models"
    assert httpx.get(models_url, timeout=5).status_code == 401
    wrong = httpx.get(models_url, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert wrong.status_code == 401
    right = httpx.get(
        models_url, headers={"Authorization": f"Bearer {embedded_server.api_key}"}, timeout=5
    )
    assert right.status_code == 200
    assert right.json()["data"][0]["id"] == MODEL_NAME


def test_key_is_random_and_not_in_repr(embedded_server: EmbeddedModelServer) -> None:
    assert len(embedded_server.api_key) >= 24
    assert embedded_server.api_key not in repr(embedded_server)


def test_answers_with_a_readable_model_name(local_llm) -> None:
    message = local_llm.invoke("Say hello.")
    assert message.content.strip()
    assert message.response_metadata["model_name"] == MODEL_NAME
    assert message.usage_metadata["output_tokens"] > 0
