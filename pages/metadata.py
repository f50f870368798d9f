"""Metadata & cost: every call's receipt, a price table, and what this session has spent."""

from __future__ import annotations

import streamlit as st
from langchain_core.callbacks import UsageMetadataCallbackHandler

from components.answer_box import AnswerBoxes
from components.cache_view import cache_section
from components.call_kit import call_kit
from components.cost_view import (
    coverage_notes,
    finish_badge,
    ledger_charts,
    ledger_table,
    priced_ledger,
    receipt_view,
    totals_strip,
)
from components.display import endpoint_for_code, endpoint_or_stop, show_code, show_problem
from components.prices import (
    PROBLEMS_KEY,
    current_price_table,
    price_table_editor,
    price_table_is_edited,
    reset_price_table,
)
from components.router import ensure_router
from components.runtime import current_settings, ledger
from components.trace_view import render_waterfall
from core.call.usage import Usage
from core.export.snippets import cache_code, metadata_code
from core.money.costs import cross_check, ledger_csv, session_totals
from core.money.pricing import call_cost, format_usd
from core.patterns.streaming import CallTiming, StreamCapture, in_frames, timed_invoke
from core.security.untrusted import answer_chunks, answer_markdown, escape_markdown

PATTERN = "metadata"
LAST_RECEIPT = "metadata.last_receipt"
LAST_FINISH = "metadata.last_finish"
answers = AnswerBoxes("metadata-answer")

ensure_router()  # a first visit straight to this page: see components/router.py

st.title("Metadata & cost")
st.markdown(
    "Every answer comes with a receipt — `response_metadata` and `usage_metadata`: which model "
    "answered, why it stopped, how many tokens went in and out. Tokens × the price list = what "
    "the call cost; the ledger totals every call made on every page in this browser session."
)
totals_slot = st.empty()  # refilled at the end, after this run's calls and price edits
with totals_slot.container():
    totals_strip(session_totals(priced_ledger()))
receipt_tab, finish_tab, cache_tab, ledger_tab, prices_tab = st.tabs(
    ["Receipt of one call", "Stop vs. length", "Cache", "Session ledger", "Price table"]
)


def run_call(method: str, prompt: str, max_tokens: int, endpoint, *, extra_callbacks=()) -> CallTiming:
    """One invoke (spinner) or stream (text appears live) call, recorded in the ledger."""
    kit = call_kit(PATTERN, endpoint, callbacks=list(extra_callbacks))
    llm, config, secrets = kit.model(max_tokens=max_tokens), kit.config, kit.secrets
    with answers.box():
        if method == "stream":
            capture = StreamCapture(llm, prompt, config, secrets=secrets)
            st.write_stream(answer_chunks(in_frames(capture.text_chunks())))  # see core.patterns.streaming.in_frames
            record: CallTiming = capture.record
        else:
            with st.spinner("Waiting for the whole answer…"):
                record = timed_invoke(llm, prompt, config, secrets=secrets)
            st.markdown(answer_markdown(record.text) if record.text else "_(no text)_")
    return record


def cost_text(model: str, usage: Usage | None) -> str | None:
    """A call's cost under this session's price table, or None without usage or a price."""
    price = current_price_table().price_for(model)
    return format_usd(call_cost(usage, price).total_usd) if usage is not None and price else None


# -- Price table first in script order (drawn in the last tab), so an edit re-prices this run.
with prices_tab:
    table = current_price_table()
    st.markdown(
        f"**List prices as of {table.as_of}**, USD per 1M tokens (blank = no such price). Edit "
        "cells, add or delete rows: changes apply to this browser session only and re-price the "
        "whole ledger at once. A model missing from the table shows “no price”, never $0."
    )
    st.caption(f"Source: {escape_markdown(table.source)}")
    table = price_table_editor()
    for problem in st.session_state.get(PROBLEMS_KEY, []):
        st.warning(f"Left out (shows “no price”): {escape_markdown(problem)}", icon=":material/error:")
    buttons = st.container(horizontal=True)
    buttons.button("Reset to shipped prices", on_click=reset_price_table, icon=":material/restart_alt:",
                disabled=not price_table_is_edited(), key="metadata.reset_prices")
    buttons.download_button("Download prices (CSV)", table.to_csv(), file_name="prices.csv",
                          mime="text/csv", icon=":material/download:", on_click="ignore")


with receipt_tab:
    st.markdown(
        "Make one call and read its receipt. `invoke` returns the whole answer with its metadata; "
        "`stream` sends the text in pieces and the token counts only in a final chunk."
    )
    c1, c2, c3 = st.columns([1.2, 1, 3])
    method = c1.segmented_control("Method", ["invoke", "stream"], default="invoke", required=True,
                                  key="metadata.method")
    max_tokens = c2.number_input("Max output tokens", 1, 4096, 48, key="metadata.max_tokens",
                                 help="Small values cut the answer: finish reason 'length'.")
    prompt = c3.text_input("Prompt", "What is LangChain? Answer in one sentence.",
                           key="metadata.prompt", max_chars=2000)
    if st.button("Get the receipt", type="primary", icon=":material/receipt_long:",
                 key="metadata.run_receipt"):
        if not prompt.strip():
            st.warning("Type a prompt first.")
        else:
            endpoint = endpoint_or_stop()
            # LangChain's own usage tally rides along, to cross-check the ledger's records.
            langchain_usage = UsageMetadataCallbackHandler()
            before = len(ledger())
            record = run_call(method, prompt, int(max_tokens), endpoint, extra_callbacks=[langchain_usage])
            check = cross_check(ledger().records()[before:], langchain_usage.usage_metadata)
            st.session_state[LAST_RECEIPT] = (method, record, check)
    elif LAST_RECEIPT in st.session_state:
        answers.show(st.session_state[LAST_RECEIPT][1].text)
    if LAST_RECEIPT in st.session_state:
        last_method, last, check = st.session_state[LAST_RECEIPT]
        if last.error:
            show_problem(last.error, what_was_kept="The text that arrived is kept above." if last.text else None)
        if last.ok or last.incomplete:
            finish_badge(last.finish_reason)
            receipt_view(last, last_method)
            st.caption(check.explanation())
        else:
            render_waterfall(last.trace, key="metadata-receipt")
    code_endpoint = endpoint_for_code()
    if code_endpoint is not None:
        price = current_price_table().price_for(code_endpoint.model)
        show_code(
            metadata_code(
                current_settings().with_changes(max_tokens=int(max_tokens)),
                code_endpoint,
                prompt,
                (price.input_per_1m, price.cached_input_per_1m, price.output_per_1m) if price else None,
            )
        )


with finish_tab:
    st.markdown(
        "`finish_reason` says why an answer ended. The same prompt runs twice: with room to "
        "finish it ends with **stop**; with a tight max-tokens limit it is cut off with "
        "**length** — a half sentence that still costs its tokens."
    )
    c1, c2, c3 = st.columns([3, 1, 1])
    finish_prompt = c1.text_input("Prompt", "What is the capital of France? Answer in one short sentence.",
                                  key="metadata.finish_prompt", max_chars=2000)
    roomy = c2.number_input("Roomy limit", 16, 4096, 200, key="metadata.roomy")
    tight = c3.number_input("Tight limit", 1, 64, 6, key="metadata.tight")
    run_both = st.button("Run both", type="primary", icon=":material/compare_arrows:",
                         key="metadata.run_finish")
    columns = st.columns(2)
    if run_both and not finish_prompt.strip():
        st.warning("Type a prompt first.")
    elif run_both:
        endpoint = endpoint_or_stop()
        results: list[tuple[int, CallTiming]] = []
        for col, limit in zip(columns, (int(roomy), int(tight)), strict=True):
            with col:
                st.markdown(f"**`max_tokens = {limit}`**")
                results.append((limit, run_call("stream", finish_prompt, limit, endpoint)))
        st.session_state[LAST_FINISH] = results
    elif LAST_FINISH in st.session_state:
        for col, (limit, record) in zip(columns, st.session_state[LAST_FINISH], strict=True):
            with col:
                st.markdown(f"**`max_tokens = {limit}`**")
                answers.show(record.text)
    for col, (limit, record) in zip(columns, st.session_state.get(LAST_FINISH, []), strict=False):
        with col:
            if record.error:
                show_problem(record.error)
                continue
            finish_badge(record.finish_reason)
            usage = record.usage
            st.caption(
                f"{usage.output_tokens:,} output tokens of {limit:,} allowed" if usage
                else "usage not reported"
            )


with cache_tab:  # components/cache_view.py
    cache_section(cost_text)
    cache_endpoint = endpoint_for_code()
    if cache_endpoint is not None:
        show_code(cache_code(current_settings(), cache_endpoint, "What is LangChain? Answer in one sentence."),
                  label="Show the code (cache)")


with ledger_tab:
    costed = priced_ledger()
    totals = session_totals(costed)
    coverage_notes(totals)
    if not costed:
        st.info(
            "No calls yet in this browser session. Make one here, or on any other page — every "
            "page's calls land in this ledger.",
            icon=":material/info:",
        )
    else:
        ledger_table(costed)
        buttons = st.container(horizontal=True)
        buttons.download_button(
            "Download ledger (CSV)", ledger_csv(costed, current_price_table()),
            file_name="session-ledger.csv", mime="text/csv", icon=":material/download:",
            on_click="ignore", key="metadata.download_ledger",
        )
        buttons.button("Clear the ledger", on_click=ledger().clear, icon=":material/delete:",
                     key="metadata.clear_ledger")
        ledger_charts(costed, totals)


with totals_slot.container():
    totals_strip(session_totals(priced_ledger()), key="metadata-totals")
