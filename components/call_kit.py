"""One action's call kit: the model, its `RunnableConfig` and the secrets to redact, built together.

Every page action that calls a model needs the same three things, and they must agree: a fresh
`ChatOpenAI` with this session's settings (`core.call.models.build_chat_model`), a config whose
callback is the session ledger's `CallTracer` and whose tag is `lab:<pattern>`, and the keys an
error message, a download or a log must never show (the endpoint's, and the real one behind a
proxy route). `call_kit(pattern, endpoint)` builds all three in one place; pages and views take
what they need from it instead of assembling them by hand.

The kit holds the settings it was built with, so `kit.model()` may be called from a worker
thread (which cannot read this session's state) or once per event loop (async runners).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.runtime import current_settings, endpoint_with_conditions, run_config, session_secrets
from core.call.models import Endpoint, build_chat_model
from core.network.conditions import PRESETS
from core.settings import ModelSettings

if TYPE_CHECKING:  # loaded by the first call, not by importing a page (see docs/DEVELOPING.md)
    from langchain_core.runnables import RunnableConfig
    from langchain_openai import ChatOpenAI

    from core.call.tracing import CallTracer


@dataclass(frozen=True)
class CallKit:
    """What one action needs to call the model, and to report the call honestly.

    Attributes:
        pattern: the pattern the calls belong to (the ledger's column, the `lab:<pattern>` tag).
        endpoint: where the calls go (possibly a proxy route in front of the real endpoint).
        settings: the model settings the kit was built with (the sidebar's, unless given).
        config: the `RunnableConfig` for the action's calls: the ledger's tracer, the tag, extras.
        secrets: every value to redact from what is shown or exported (proxy and real keys).
    """

    pattern: str
    endpoint: Endpoint
    settings: ModelSettings
    config: RunnableConfig
    secrets: tuple[str, ...]

    @property
    def tracer(self) -> CallTracer | None:
        """The ledger's `CallTracer` in `config` (it lends what the HTTP client saw)."""
        from core.call.tracing import find_tracer

        return find_tracer(self.config)

    def model(self, **overrides: object) -> ChatOpenAI:
        """A fresh `ChatOpenAI` with the kit's settings (`overrides` as `build_chat_model` takes)."""
        return build_chat_model(self.settings, self.endpoint, **overrides)

    def model_at(self, endpoint: Endpoint, **overrides: object) -> ChatOpenAI:
        """`model` for another endpoint of the same action (a fallback's primary): its keys must
        be among `secrets` (`call_kit(..., also=[endpoint])`)."""
        return build_chat_model(self.settings, endpoint, **overrides)

    def model_factory(self, **fixed: object) -> Callable[..., ChatOpenAI]:
        """`model` with some overrides fixed, for runners that build one model per call or loop."""
        return lambda **overrides: self.model(**fixed, **overrides)


def call_kit(
    pattern: str,
    endpoint: Endpoint,
    *,
    settings: ModelSettings | None = None,
    also: Sequence[Endpoint] = (),
    **config_extra: object,
) -> CallKit:
    """Build the kit for one action of `pattern` against `endpoint`.

    Args:
        pattern: the pattern's name ("streaming", "events", "batch", ...).
        endpoint: where the action's calls go.
        settings: the model settings; this session's (the sidebar's) when omitted.
        also: other endpoints the action calls (their keys are redacted too).
        **config_extra: merged into the config the way LangChain merges configs: extra
            callbacks and tags join the ledger's, metadata dicts combine.
    """
    keys = list(session_secrets(endpoint, *also))
    return CallKit(
        pattern=pattern,
        endpoint=endpoint,
        settings=settings if settings is not None else current_settings(),
        config=run_config(pattern, endpoint, **config_extra),
        secrets=tuple(keys),
    )


# The network preset the pages call "the simulated remote API": the embedded model behind the
# lab's network proxy, every answer held 300 ms before its first byte (`core.network.conditions.PRESETS`).
REMOTE_API_PRESET = "Remote API ~300 ms"


def simulated_remote_api(endpoint: Endpoint) -> Endpoint:
    """`endpoint` (its direct one, whatever the sidebar's conditions) as a latency-bound remote
    API: through the network proxy under `REMOTE_API_PRESET`. The Async and Batch pages offer it
    so that waiting, which overlaps, can be told from the embedded model's CPU work, which does not."""
    return endpoint_with_conditions(endpoint.direct, PRESETS[REMOTE_API_PRESET])
