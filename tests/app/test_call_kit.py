"""The call kit every page action uses: the model, its config and the keys to redact, together."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _kit_script() -> None:
    # Runs as the AppTest script: the kit reads this session's settings and ledger.
    import streamlit as st
    from pydantic import SecretStr

    from components.call_kit import call_kit
    from core.call.models import Endpoint
    from core.settings import Provider

    real = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:9/v1", "m", SecretStr("sk-real"), "LAB_COMPAT_API_KEY")
    routed = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:8/v1", "m", SecretStr("route-key"),
                      "LAB_COMPAT_API_KEY", upstream=real)
    other = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:7/v1", "m2", SecretStr("sk-other"), "LAB_COMPAT_API_KEY")
    kit = call_kit("batch", routed, also=[other], tags=["extra"])
    model = kit.model(max_tokens=7)
    st.session_state["seen"] = {
        "tags": kit.config["tags"],
        "secrets": kit.secrets,
        "tracer": (kit.tracer.pattern, kit.tracer.secrets) if kit.tracer else None,
        "model": (model.openai_api_base, model.max_tokens, model.stream_usage),
        "other": kit.model_at(other).openai_api_base,
    }


def test_the_kit_tags_the_pattern_redacts_every_key_and_builds_models_where_the_calls_go() -> None:
    at = AppTest.from_function(_kit_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    seen = at.session_state["seen"]
    assert sorted(seen["tags"]) == ["extra", "lab:batch"]  # extras join the pattern's tag, never replace it
    # The route's key, the real key behind the proxy, and the other endpoint's: none may show.
    assert seen["secrets"] == ("route-key", "sk-real", "sk-other")
    assert seen["tracer"] == ("batch", ("route-key", "sk-real"))  # the ledger's tracer redacts too
    assert seen["model"] == ("http://127.0.0.1:8/v1", 7, True)
    assert seen["other"] == "http://127.0.0.1:7/v1"
