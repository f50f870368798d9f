"""Provider and model settings: what the sidebar edits and what every call is built from.

Settings come from three places, later ones winning: built-in defaults, the environment (a
`.env` file is loaded into it by the app through python-dotenv), and the sidebar. This module is
pure: it never reads `os.environ` by itself, so tests pass in exactly the mapping they mean.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from pydantic import SecretStr

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
OPENAI_BASE_URL = "https://api.openai.com/v1"


class Provider(str, enum.Enum):
    """Where calls go. All three are reached through `langchain_openai.ChatOpenAI`."""

    LOCAL = "local"
    OPENAI = "openai"
    COMPATIBLE = "compatible"

    @property
    def label(self) -> str:
        return {
            Provider.LOCAL: "Local (embedded SmolLM2)",
            Provider.OPENAI: "OpenAI",
            Provider.COMPATIBLE: "OpenAI-compatible endpoint",
        }[self]


@dataclass(frozen=True)
class ModelSettings:
    """Everything needed to build one chat model.

    The API key is a `SecretStr` so that printing, logging or `repr()`-ing settings never shows it.

    Example:
        >>> s = ModelSettings(provider=Provider.OPENAI, api_key=SecretStr("sk-secret"))
        >>> "sk-secret" in repr(s)
        False
    """

    provider: Provider = Provider.LOCAL
    model: str = ""
    base_url: str = ""
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 2

    def with_changes(self, **changes: object) -> ModelSettings:
        """Return a copy with some fields replaced (settings are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]  # replace() checks the field names

    @property
    def has_key(self) -> bool:
        return bool(self.api_key.get_secret_value())


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env[name]) if env.get(name, "").strip() else default
    except ValueError:
        return default


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    try:
        return int(env[name]) if env.get(name, "").strip() else default
    except ValueError:
        return default


def settings_from_env(env: Mapping[str, str]) -> ModelSettings:
    """Build the starting settings from environment variables (see `.env.example`).

    Unknown or malformed values fall back to defaults here; `validate` reports what is still
    missing (a key, a URL) in plain words.

    Example:
        >>> settings_from_env({"LAB_PROVIDER": "openai", "OPENAI_API_KEY": "sk-x"}).provider
        <Provider.OPENAI: 'openai'>
    """
    try:
        provider = Provider(env.get("LAB_PROVIDER", "local").strip().lower() or "local")
    except ValueError:
        provider = Provider.LOCAL
    if provider is Provider.OPENAI:
        model = env.get("OPENAI_MODEL", "").strip() or DEFAULT_OPENAI_MODEL
        base_url = OPENAI_BASE_URL
        key = env.get("OPENAI_API_KEY", "")
    elif provider is Provider.COMPATIBLE:
        model = env.get("LAB_COMPAT_MODEL", "").strip()
        base_url = env.get("LAB_COMPAT_BASE_URL", "").strip()
        key = env.get("LAB_COMPAT_API_KEY", "")
    else:
        model, base_url, key = "", "", ""
    return ModelSettings(
        provider=provider,
        model=model,
        base_url=base_url,
        api_key=SecretStr(key.strip()),
        temperature=_float(env, "LAB_TEMPERATURE", 0.7),
        max_tokens=_int(env, "LAB_MAX_TOKENS", 256) or 256,
        seed=_int(env, "LAB_SEED", None),
        timeout_s=_float(env, "LAB_TIMEOUT_S", 60.0),
        max_retries=_int(env, "LAB_MAX_RETRIES", 2) or 0,
    )


def provider_defaults(provider: Provider, env: Mapping[str, str]) -> tuple[str, str, str]:
    """(model, base_url, api_key) to pre-fill when the user switches to `provider`."""
    if provider is Provider.OPENAI:
        return (
            env.get("OPENAI_MODEL", "").strip() or DEFAULT_OPENAI_MODEL,
            OPENAI_BASE_URL,
            env.get("OPENAI_API_KEY", "").strip(),
        )
    if provider is Provider.COMPATIBLE:
        return (
            env.get("LAB_COMPAT_MODEL", "").strip(),
            env.get("LAB_COMPAT_BASE_URL", "").strip(),
            env.get("LAB_COMPAT_API_KEY", "").strip(),
        )
    return ("", "", "")


def validate(settings: ModelSettings) -> list[str]:
    """Return plain-language problems that stop a call from being made (empty when fine).

    Example:
        >>> validate(ModelSettings(provider=Provider.OPENAI, model="gpt-4o-mini"))
        ['OpenAI needs an API key: set OPENAI_API_KEY in .env or the environment, or paste it in the sidebar.']
    """
    problems: list[str] = []
    if settings.provider is Provider.LOCAL:
        pass
    elif settings.provider is Provider.OPENAI:
        if not settings.has_key:
            problems.append(
                "OpenAI needs an API key: set OPENAI_API_KEY in .env or the environment, "
                "or paste it in the sidebar."
            )
        if not settings.model.strip():
            problems.append("Choose an OpenAI model name, for example gpt-4o-mini.")
    else:
        url = settings.base_url.strip()
        parsed = urlparse(url)
        if not url:
            problems.append(
                "Enter the endpoint's base URL, for example http://localhost:11434/v1 for Ollama."
            )
        elif parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(
                f"'{url}' is not a valid base URL: it must start with http:// or https:// and "
                "name a host, for example http://localhost:8000/v1."
            )
        if not settings.model.strip():
            problems.append("Enter the model name the endpoint serves, for example llama3.2.")
    if not 0.0 <= settings.temperature <= 2.0:
        problems.append("Temperature must be between 0 and 2.")
    if settings.max_tokens < 1:
        problems.append("Max tokens must be at least 1.")
    return problems
