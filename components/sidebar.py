"""The settings sidebar shared by every page: provider, endpoint, model settings, status."""

from __future__ import annotations

import streamlit as st
from pydantic import SecretStr

from components.runtime import current_settings, embedded_status, environment, set_settings
from core.settings import ModelSettings, Provider, provider_defaults, validate


def render_settings_sidebar() -> ModelSettings:
    """Draw the sidebar and return the settings it holds for this browser session.

    Keys typed here live only in this session's server-side state; a key from the environment is
    never sent to the browser (the password field stays empty and says where the key comes from).
    """
    settings = current_settings()
    env = environment()
    with st.sidebar:
        st.header("Model")
        providers = list(Provider)
        provider = st.radio(
            "Provider",
            providers,
            index=providers.index(settings.provider),
            format_func=lambda p: p.label,
            key="sidebar.provider",
        )
        if provider is not settings.provider:
            model, base_url, key = provider_defaults(provider, env)
            settings = settings.with_changes(
                provider=provider, model=model, base_url=base_url, api_key=SecretStr(key)
            )

        if provider is Provider.LOCAL:
            status = embedded_status()
            if status.server is not None:
                st.success(
                    f"**{status.server.model_name}** on 127.0.0.1 · loaded in "
                    f"{status.server.load_seconds:.1f} s · no key or internet needed",
                    icon=":material/memory:",
                )
            else:
                st.error(status.problem or "The embedded model is not running.")
        else:
            settings = _remote_fields(settings, provider, env)

        with st.expander("Generation settings", expanded=False):
            temperature = st.slider(
                "Temperature", 0.0, 2.0, float(settings.temperature), 0.1, key="sidebar.temperature",
                help="0 gives the most repeatable answers; higher is more varied.",
            )
            max_tokens = st.number_input(
                "Max output tokens", 1, 8192, int(settings.max_tokens), key="sidebar.max_tokens",
                help="The answer is cut here, with finish reason 'length'.",
            )
            seed = st.number_input(
                "Seed (optional)", min_value=0, value=settings.seed, step=1, key="sidebar.seed",
                placeholder="none", help="Makes sampling repeatable where the backend supports it.",
            )
            timeout_s = st.number_input(
                "Timeout (s)", 1.0, 600.0, float(settings.timeout_s), 5.0, key="sidebar.timeout",
            )
            max_retries = st.number_input(
                "Max retries", 0, 10, int(settings.max_retries), key="sidebar.max_retries",
                help="ChatOpenAI retries 429s, 5xx and connection errors with back-off.",
            )
        settings = settings.with_changes(
            temperature=float(temperature),
            max_tokens=int(max_tokens),
            seed=int(seed) if seed is not None else None,
            timeout_s=float(timeout_s),
            max_retries=int(max_retries),
        )
        for problem in validate(settings):
            st.warning(problem, icon=":material/error:")
    set_settings(settings)
    return settings


def _remote_fields(settings: ModelSettings, provider: Provider, env: dict[str, str]) -> ModelSettings:
    env_var = "OPENAI_API_KEY" if provider is Provider.OPENAI else "LAB_COMPAT_API_KEY"
    if provider is Provider.COMPATIBLE:
        base_url = st.text_input(
            "Base URL", settings.base_url, key="sidebar.base_url",
            placeholder="http://localhost:11434/v1",
            help="Ollama: http://localhost:11434/v1 · vLLM: http://localhost:8000/v1 · "
            "LM Studio: http://localhost:1234/v1 · llama.cpp: http://localhost:8080/v1",
        )
        settings = settings.with_changes(base_url=base_url)
    model = st.text_input("Model name", settings.model, key=f"sidebar.model.{provider.value}")
    from_env = bool(env.get(env_var, "").strip())
    typed = st.text_input(
        "API key" + (" (optional)" if provider is Provider.COMPATIBLE else ""),
        type="password",
        key=f"sidebar.key.{provider.value}",
        placeholder=f"using {env_var} from the environment" if from_env else "paste a key",
        help=f"Kept in this browser session only. Or set {env_var} in .env.",
    )
    key = typed.strip() or env.get(env_var, "").strip()
    return settings.with_changes(model=model, api_key=SecretStr(key))
