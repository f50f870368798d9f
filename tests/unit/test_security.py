"""Keys never leak, and the lab's servers listen on loopback only.

The planted key is deliberately not shaped like an OpenAI key (no "sk-" prefix), so it can only
be removed by knowing the secret, not by the pattern that catches keys in general.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.export.snippets import streaming_code
from core.money.ledger import SessionLedger
from core.network.conditions import PRESETS
from core.network.proxy import NetworkProxy
from core.patterns.streaming import StreamCapture, timed_invoke
from core.settings import ModelSettings, Provider
from tests.fake_openai import FakeOpenAI

PLANTED = "planted-Zq81x-not-shaped-like-a-key"


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(PLANTED, reply="Hello from the fake endpoint.").start()
    yield server
    server.stop()


def _endpoints(fake: FakeOpenAI, proxy: NetworkProxy) -> dict[str, Endpoint]:
    direct = Endpoint(
        provider=Provider.COMPATIBLE, base_url=fake.base_url, model="reject-key",
        api_key=SecretStr(PLANTED), key_env_var="LAB_COMPAT_API_KEY",
    )
    route = proxy.route(fake.base_url, PLANTED, PRESETS["Remote API ~300 ms"], scope="security")
    proxied = Endpoint(
        provider=Provider.COMPATIBLE, base_url=route.base_url, model="reject-key",
        api_key=SecretStr(route.key), key_env_var="LAB_COMPAT_API_KEY", upstream=direct,
        network="Remote API ~300 ms",
    )
    return {"direct": direct, "through the proxy": proxied}


def _secrets(endpoint: Endpoint) -> tuple[str, ...]:
    keys = (endpoint.api_key.get_secret_value(),)
    return keys + (_secrets(endpoint.upstream) if endpoint.upstream else ())


@pytest.mark.parametrize("way", ["direct", "through the proxy"])
def test_a_key_quoted_back_in_a_401_never_reaches_messages_or_the_ledger_export(
    way: str, fake_upstream: FakeOpenAI, proxy: NetworkProxy, local_settings: ModelSettings,
) -> None:
    # The fake endpoint answers model "reject-key" with 401 "Incorrect API key provided: <key>",
    # as OpenAI does (with part of the key); through the proxy that is the real upstream key.
    endpoint = _endpoints(fake_upstream, proxy)[way]
    secrets = _secrets(endpoint)
    llm = build_chat_model(local_settings.with_changes(max_retries=0), endpoint)
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="security", provider="p", secrets=secrets)]}
    capture = StreamCapture(llm, "hi", config, secrets=secrets)
    list(capture.text_chunks())
    waited = timed_invoke(llm, "hi", config, secrets=secrets)
    for problem in (capture.record.error, waited.error):
        assert problem is not None and problem.kind == "auth"
        assert "Incorrect API key provided: [redacted]" in problem.detail
        for secret in secrets:
            assert secret not in problem.as_text()
    export = ledger.to_csv()
    assert len(ledger) == 2 and "Incorrect API key provided" in export
    for secret in secrets:
        assert secret not in export


def test_the_code_shown_for_a_proxied_call_holds_no_key_and_runs_direct(
    fake_upstream: FakeOpenAI, proxy: NetworkProxy, local_settings: ModelSettings,
) -> None:
    proxied = _endpoints(fake_upstream, proxy)["through the proxy"]
    proxied = Endpoint(
        provider=proxied.provider, base_url=proxied.base_url, model="fake-model",
        api_key=proxied.api_key, key_env_var=proxied.key_env_var,
        upstream=Endpoint(
            provider=Provider.COMPATIBLE, base_url=fake_upstream.base_url, model="fake-model",
            api_key=SecretStr(PLANTED), key_env_var="LAB_COMPAT_API_KEY",
        ),
        network=proxied.network,
    )
    code = streaming_code(local_settings, proxied, "Say hi.")
    assert PLANTED not in code and proxied.api_key.get_secret_value() not in code
    assert f":{proxy.port}" not in code and fake_upstream.base_url in code
    assert 'os.environ["LAB_COMPAT_API_KEY"]' in code
    # It runs as shown, with the key taken from the environment.
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "LAB_COMPAT_API_KEY": PLANTED},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Hello from the fake endpoint." in result.stdout
