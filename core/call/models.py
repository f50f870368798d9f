"""Build the real chat model for the current settings: always `ChatOpenAI`.

Local, OpenAI and OpenAI-compatible endpoints differ only in base URL, model name and key, so
every page exercises the same client code a user's own script would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from core.embedded_server import EmbeddedModelServer, EmbeddedModelUnavailable
from core.settings import ModelSettings, Provider

if TYPE_CHECKING:  # langchain_openai (and openai) load at the first chat model: ~1.5 s
    from langchain_openai import ChatOpenAI

#: The key sent when none was given: some OpenAI-compatible servers (Ollama, vLLM) need none,
#: but the client needs a value. It is no secret, so it is never redacted.
NO_KEY = "not-needed"

# Environment variables the generated code snippets read keys from: snippets never hold a key.
KEY_ENV_VARS = {
    Provider.LOCAL: "LAB_LOCAL_API_KEY",
    Provider.OPENAI: "OPENAI_API_KEY",
    Provider.COMPATIBLE: "LAB_COMPAT_API_KEY",
}


@dataclass(frozen=True)
class Endpoint:
    """A resolved place to send calls to.

    Attributes:
        provider: which kind of endpoint this is.
        base_url: the OpenAI-compatible base URL the client talks to.
        model: the model name sent with each request.
        api_key: the key (a `SecretStr`: it never prints).
        key_env_var: the variable a code snippet should read the key from.
        upstream: when calls go through the lab's network proxy, the endpoint behind it
            (code snippets show that one: the proxy is the lab's, not the user's).
        network: a label for the simulated network conditions, or None for a direct line.
        replay: "Replay: <model>, recorded <date>" when answers come from a recording (the
            lab's replay server, `core.network.replay`), never passed off as live; else None.
    """

    provider: Provider
    base_url: str
    model: str
    api_key: SecretStr = field(repr=False)
    key_env_var: str
    upstream: Endpoint | None = field(default=None, repr=False, compare=False)
    network: str | None = None
    replay: str | None = None

    @property
    def direct(self) -> Endpoint:
        """The endpoint itself, without the network proxy in front of it."""
        return self.upstream.direct if self.upstream is not None else self

    @property
    def label(self) -> str:
        if self.replay:
            return f"{self.replay} (not live)"
        via = f" · via network proxy ({self.network})" if self.network else ""
        return f"{self.provider.label} · {self.model}{via}"


def resolve_endpoint(
    settings: ModelSettings, embedded: EmbeddedModelServer | None
) -> Endpoint:
    """Turn settings into an endpoint; for Local, use the running embedded server.

    Raises:
        EmbeddedModelUnavailable: Local is chosen but the embedded server is not running.
    """
    if settings.provider is Provider.LOCAL:
        if embedded is None or not embedded.running:
            raise EmbeddedModelUnavailable(
                "The embedded model is not running. Restart the app with `make run`, or choose "
                "OpenAI or an OpenAI-compatible endpoint in the sidebar."
            )
        return Endpoint(
            provider=Provider.LOCAL,
            base_url=embedded.base_url,
            model=embedded.model_name,
            api_key=SecretStr(embedded.api_key),
            key_env_var=KEY_ENV_VARS[Provider.LOCAL],
        )
    return Endpoint(
        provider=settings.provider,
        base_url=settings.base_url.strip().rstrip("/"),
        model=settings.model.strip(),
        # Some OpenAI-compatible servers (Ollama, vLLM) need no key, but the client needs a value.
        api_key=settings.api_key if settings.has_key else SecretStr(NO_KEY),
        key_env_var=KEY_ENV_VARS[settings.provider],
    )


def chat_model_kwargs(settings: ModelSettings, endpoint: Endpoint) -> dict[str, Any]:
    """The `ChatOpenAI` keyword arguments for these settings, without the key.

    Shared by `build_chat_model` and the code-snippet generator so the snippet shown to users
    is exactly the configuration that ran.
    """
    kwargs: dict[str, Any] = {
        "model": endpoint.model,
        "base_url": endpoint.base_url,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        # Off by default for any base_url; we want usage on every stream.
        "stream_usage": True,
        "timeout": settings.timeout_s,
        "max_retries": settings.max_retries,
    }
    if settings.seed is not None:
        kwargs["seed"] = settings.seed
    return kwargs


def build_chat_model(
    settings: ModelSettings, endpoint: Endpoint, **overrides: Any
) -> ChatOpenAI:
    """Create a fresh `ChatOpenAI` for one action.

    Models are cheap to build and hold HTTP clients bound to an event loop, so pages build one
    per action instead of caching it across Streamlit reruns.

    Example:
        >>> from core.settings import ModelSettings, Provider
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://localhost:1/v1",
        ...                   model="m")
        >>> build_chat_model(s, resolve_endpoint(s, None)).model_name
        'm'
    """
    kwargs = chat_model_kwargs(settings, endpoint) | overrides
    from langchain_openai import ChatOpenAI

    from core.call.tracing import traced_http_client

    # Through the traced client, so every call's trace has its HTTP marks (core/call/tracing.py).
    kwargs.setdefault("http_client", traced_http_client())
    return ChatOpenAI(api_key=endpoint.api_key, **kwargs)
