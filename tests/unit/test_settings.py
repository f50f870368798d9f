"""Settings from the environment and their validation, in the words users see."""

from __future__ import annotations

from pydantic import SecretStr

from core.settings import DEFAULT_OPENAI_MODEL, ModelSettings, Provider, settings_from_env, validate


def test_defaults_to_the_embedded_model_with_no_configuration() -> None:
    settings = settings_from_env({})
    assert settings.provider is Provider.LOCAL
    assert validate(settings) == []


def test_openai_from_env_takes_key_and_default_model() -> None:
    settings = settings_from_env({"LAB_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test"})
    assert settings.provider is Provider.OPENAI
    assert settings.model == DEFAULT_OPENAI_MODEL
    assert settings.api_key.get_secret_value() == "sk-test"
    assert validate(settings) == []


def test_openai_without_key_says_where_to_put_one() -> None:
    problems = validate(settings_from_env({"LAB_PROVIDER": "openai"}))
    assert len(problems) == 1
    assert "OPENAI_API_KEY" in problems[0] and "sidebar" in problems[0]


def test_compatible_endpoint_rejects_a_url_without_scheme() -> None:
    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url="localhost:11434", model="llama3.2")
    (problem,) = validate(settings)
    assert "not a valid base URL" in problem and "http://" in problem


def test_compatible_endpoint_needs_url_and_model() -> None:
    problems = validate(ModelSettings(provider=Provider.COMPATIBLE))
    assert any("base URL" in p for p in problems)
    assert any("model name" in p for p in problems)


def test_compatible_endpoint_key_is_optional() -> None:
    settings = settings_from_env(
        {"LAB_PROVIDER": "compatible", "LAB_COMPAT_BASE_URL": "http://localhost:11434/v1",
         "LAB_COMPAT_MODEL": "llama3.2"}
    )
    assert validate(settings) == []


def test_malformed_numbers_fall_back_to_defaults() -> None:
    settings = settings_from_env({"LAB_TEMPERATURE": "warm", "LAB_MAX_TOKENS": "many", "LAB_SEED": "x"})
    assert settings.temperature == 0.7 and settings.max_tokens == 256 and settings.seed is None


def test_unknown_provider_falls_back_to_local() -> None:
    assert settings_from_env({"LAB_PROVIDER": "anthropic"}).provider is Provider.LOCAL


def test_key_never_shows_in_repr() -> None:
    settings = ModelSettings(provider=Provider.OPENAI, api_key=SecretStr("sk-very-secret"))
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


def test_out_of_range_generation_settings_are_reported() -> None:
    problems = validate(ModelSettings(temperature=3.0, max_tokens=0))
    assert any("Temperature" in p for p in problems)
    assert any("Max tokens" in p for p in problems)
