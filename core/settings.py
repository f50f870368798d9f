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

from core.security.keys import DEFAULT_PORTS, KeyGrant, key_for, origin

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


#: The environment variable each remote provider's key is read from.
KEY_VARIABLES = {Provider.OPENAI: "OPENAI_API_KEY", Provider.COMPATIBLE: "LAB_COMPAT_API_KEY"}


def environment_key(provider: Provider, env: Mapping[str, str]) -> KeyGrant:
    """The environment's key for `provider`, bound to the base URL it was configured for.

    `OPENAI_API_KEY` belongs to OpenAI's base URL; `LAB_COMPAT_API_KEY` to `LAB_COMPAT_BASE_URL`
    (without one it goes nowhere). `core.security.keys.key_for` sends it to that origin only.

    Example:
        >>> grant = environment_key(Provider.COMPATIBLE, {"LAB_COMPAT_API_KEY": "k-operator",
        ...                         "LAB_COMPAT_BASE_URL": "http://gpu-box:8000/v1"})
        >>> grant.for_url, grant.source
        ('http://gpu-box:8000/v1', 'LAB_COMPAT_API_KEY')
    """
    if provider is Provider.OPENAI:
        return KeyGrant(env.get("OPENAI_API_KEY", "").strip(), OPENAI_BASE_URL, "OPENAI_API_KEY")
    if provider is Provider.COMPATIBLE:
        return KeyGrant(
            env.get("LAB_COMPAT_API_KEY", "").strip(),
            env.get("LAB_COMPAT_BASE_URL", "").strip(),
            "LAB_COMPAT_API_KEY",
        )
    return KeyGrant("", "", "")


def key_to_send(provider: Provider, base_url: str, typed: str, env: Mapping[str, str]) -> KeyGrant | None:
    """The key a call to `base_url` may carry: the one typed beside it, else the environment's
    when `base_url` is the environment's own endpoint; None when neither applies.

    Example:
        >>> env = {"LAB_COMPAT_API_KEY": "k-operator", "LAB_COMPAT_BASE_URL": "http://gpu-box:8000/v1"}
        >>> key_to_send(Provider.COMPATIBLE, "http://gpu-box:8000/v1", "", env).source
        'LAB_COMPAT_API_KEY'
        >>> key_to_send(Provider.COMPATIBLE, "http://elsewhere.example/v1", "", env) is None
        True
    """
    url = OPENAI_BASE_URL if provider is Provider.OPENAI else base_url
    return key_for(url, [KeyGrant(typed.strip(), None, "typed"), environment_key(provider, env)])


@dataclass(frozen=True)
class KeyFieldWords:
    """What an API-key field says: its placeholder, its help, and a warning to show beside it
    when the environment's key exists but will not be sent to the URL in the form ("" = none)."""

    placeholder: str
    help: str
    warning: str = ""


def key_field_words(provider: Provider, base_url: str, env_key: KeyGrant) -> KeyFieldWords:
    """The words of the key field for `provider` at `base_url`, given the environment's key.

    Example:
        >>> env = KeyGrant("k-operator", "http://gpu-box:8000/v1", "LAB_COMPAT_API_KEY")
        >>> key_field_words(Provider.COMPATIBLE, "http://gpu-box:8000/v1", env).placeholder
        'using LAB_COMPAT_API_KEY from the environment'
        >>> key_field_words(Provider.COMPATIBLE, "http://elsewhere:9000/v1", env).placeholder
        "type this endpoint's key"
    """
    var = KEY_VARIABLES.get(provider, "")
    url = OPENAI_BASE_URL if provider is Provider.OPENAI else base_url
    kept = "Kept in this browser session only."
    if not env_key.key:
        bound = (" with LAB_COMPAT_BASE_URL (that key is then sent to that URL only)"
                 if provider is Provider.COMPATIBLE else "")
        return KeyFieldWords(
            "paste a key" + (", if the endpoint needs one" if provider is Provider.COMPATIBLE else ""),
            f"{kept} Or set {var} in .env{bound}.",
        )
    home = _host(env_key.for_url or "") or "its configured endpoint"
    if key_for(url, [env_key]) is not None:
        other = " Another Base URL needs its own key, typed here." if provider is Provider.COMPATIBLE else ""
        return KeyFieldWords(
            f"using {var} from the environment",
            f"{var} from the environment is sent only to {home}. A key typed here replaces it "
            f"({kept.lower().rstrip('.')}).{other}",
        )
    here = _host(url) or "this Base URL"
    return KeyFieldWords(
        "type this endpoint's key",
        f"{var} from the environment is sent only to {home}, never to another host. For {here}, "
        f"type its key here ({kept.lower().rstrip('.')}), or leave it empty if it needs none.",
        f"{var} is not sent to {here}: it belongs to {home}. Type this endpoint's key above if it "
        "needs one.",
    )


def _host(url: str) -> str:
    """"host:port" of a URL as a person reads it, "" when it names none."""
    found = origin(url)
    if found is None:
        return ""
    scheme, host, port = found
    return host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"


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
