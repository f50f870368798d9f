"""Caching model answers with LangChain's own cache, and telling a cache hit from a call.

`ChatOpenAI(cache=InMemoryCache())` (one model) or `set_llm_cache(InMemoryCache())` (every model
in the process) makes LangChain look a call up before sending it: the same prompt with the same
model parameters returns the stored answer at once, with no request at all. The stored message
still carries the first call's `usage_metadata`, so a ledger that trusts it would bill the
tokens twice. `MarkedInMemoryCache` marks what it returns with `response_metadata["cache_hit"]`;
the ledger, the receipt and the session totals read that mark (tokens shown, not billed).

The app uses a per-model cache only: `set_llm_cache` is process-wide, so in a web app it would
share one browser session's answers with every other session.
"""

from __future__ import annotations

from typing import Any

from langchain_core.caches import InMemoryCache
from langchain_core.outputs import ChatGeneration

from core.money.ledger import CACHE_HIT_KEY  # the ledger tells a hit from a call


class MarkedInMemoryCache(InMemoryCache):
    """`InMemoryCache` whose hits say so: `response_metadata["cache_hit"] = True`.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> cache = MarkedInMemoryCache()
        >>> cache.update("p", "llm", [ChatGeneration(message=AIMessage("hi"))])
        >>> cache.lookup("p", "llm")[0].message.response_metadata
        {'cache_hit': True}
        >>> cache.lookup("other", "llm") is None
        True
    """

    def lookup(self, prompt: str, llm_string: str) -> Any:
        found = super().lookup(prompt, llm_string)
        if not found:
            return found
        marked = []
        for generation in found:
            if isinstance(generation, ChatGeneration):
                message = generation.message.model_copy(
                    update={
                        "response_metadata": {
                            **(generation.message.response_metadata or {}),
                            CACHE_HIT_KEY: True,
                        }
                    }
                )
                generation = generation.model_copy(update={"message": message})
            marked.append(generation)
        return marked


def temperature_note(temperature: float) -> str | None:
    """What a cache means for a sampled answer: a note, not an error.

    Example:
        >>> temperature_note(0.0) is None
        True
        >>> temperature_note(0.7)[:33]
        'Temperature is 0.7, above 0: each'
    """
    if temperature <= 0:
        return None
    return (
        f"Temperature is {temperature:g}, above 0: each call would sample a different answer, "
        "but the cache hands back the first one every time. Fine for repeatable prompts; set "
        "temperature to 0 (sidebar) if the cache should store the answer you would get anyway."
    )
