"""Metadata & cost page, "Cache" tab: the same call twice with `ChatOpenAI(cache=...)`."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from components.call_kit import call_kit
from components.display import endpoint_or_stop, fmt_seconds, show_problem
from components.runtime import current_settings
from core.call.usage import Usage
from core.money.ledger import is_cache_hit
from core.patterns.caching import MarkedInMemoryCache, temperature_note
from core.patterns.streaming import CallTiming, timed_invoke
from core.security.untrusted import answer_markdown

RESULT_KEY = "metadata.cache.result"


def cache_section(price_of: Callable[[str, Usage | None], str | None]) -> None:
    """Controls, two calls through one cache, and what each cost."""
    st.markdown(
        "`ChatOpenAI(cache=InMemoryCache())` looks every call up before sending it: the same "
        "prompt with the same settings comes back from memory, with no request. The second call "
        "below is that cache hit — about 0 ms, marked in the receipt and the ledger, and not "
        "billed: its tokens are the first call's. (`set_llm_cache(...)` does the same for every "
        "model in the process; a web app serving several people should not share answers that "
        "way, so the lab uses one cache per model.)"
    )
    note = temperature_note(current_settings().temperature)
    if note:
        st.info(note, icon=":material/casino:")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    prompt = left.text_input("Prompt", "What is LangChain? Answer in one sentence.",
                             key="metadata.cache.prompt", max_chars=2000)
    if right.button("Call twice", type="primary", icon=":material/cached:", key="metadata.cache.run",
                    width="stretch"):
        if not prompt.strip():
            st.warning("Type a prompt first.")
        else:
            endpoint = endpoint_or_stop()
            kit = call_kit("metadata", endpoint)
            llm = kit.model(cache=MarkedInMemoryCache())  # a fresh cache: the first call misses
            st.session_state[RESULT_KEY] = [
                timed_invoke(llm, prompt, kit.config, secrets=kit.secrets) for _ in range(2)
            ]
    calls: list[CallTiming] | None = st.session_state.get(RESULT_KEY)
    if calls:
        cols = st.columns(2)
        for col, (label, call) in zip(cols, zip(("First call", "Second call, same prompt"), calls, strict=False), strict=True):
            with col.container(border=True, key=f"metadata-cache-{'second' if label.startswith('Second') else 'first'}"):
                _one(label, call, price_of)


def _one(label: str, call: CallTiming, price_of: Callable[[str, Usage | None], str | None]) -> None:
    hit = is_cache_hit(call.response_metadata)
    st.markdown(f"**{label}** · " + ("cache hit" if hit else "sent to the model"))
    if call.error:
        show_problem(call.error)
        return
    a, b, c = st.columns(3)
    a.metric("Latency", fmt_seconds(call.trace.e2e_s))
    usage = call.usage
    tokens = f"{usage.input_tokens} / {usage.output_tokens}" if usage else "not reported"
    b.metric("Tokens in / out", tokens,
             help="A cache hit carries the first call's counts; no tokens were processed again.")
    if hit:
        c.metric("Cost", "$0", help="No request was sent.")
    else:
        cost = price_of(call.model_name or "", usage)
        c.metric("Cost", cost if cost is not None else ("not reported" if usage is None else "no price"))
    if hit:
        st.caption("Tokens not billed: these are the first call's counts, no request was sent.")
    st.caption(answer_markdown(call.text[:300]) if call.text else "(no text)")
