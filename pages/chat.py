"""Chat: a conversation, where every turn resends the history and the figures compound."""

from __future__ import annotations

import json

import streamlit as st

from components.call_kit import call_kit
from components.chat_view import (
    cache_figure,
    chat_style,
    conversation_summary,
    sources_caption,
    turn_message,
    turns_figure,
)
from components.display import endpoint_for_code, endpoint_or_stop, show_code
from components.prices import current_price_table
from components.router import ensure_router
from components.runtime import current_settings
from core.call.models import Endpoint
from core.export.snippets import chat_code
from core.patterns.chat_history import (
    HistoryPolicy,
    Strategy,
    TurnStream,
    cache_switch,
    counter_for,
    fit_check,
    plan_turn,
    replay_without_cache,
    summarise_with,
)
from core.patterns.conversation import (
    DEFAULT_SYSTEM_PROMPT,
    Conversation,
    call_figures,
    conversation_record,
    read_context_window,
)
from core.patterns.streaming import in_frames
from core.security.untrusted import answer_chunks

ensure_router()  # a first visit straight to this page: see components/router.py

CONVERSATION = "chat.conversation"
REPLAY = "chat.replay"  # (conversation id, turns replayed, their traces): the cache-off run
REFUSED = "chat.refused"  # the last message refused before sending, and why
RETRY = "chat.retry"
SYSTEM = "chat.system"
STRATEGY = "chat.strategy"
BUDGET = "chat.budget"
KEEP_TURNS = "chat.keep_turns"
PRICE_AS = "chat.price_as"
OWN_PRICE = "the endpoint's own model"
# The cache-off replay compares reading the prompt, not writing answers: each replayed answer is
# cut at this many tokens so the replay takes seconds, not as long as the conversation did.
REPLAY_MAX_TOKENS = 16

st.title("Chat")
st.markdown(
    "A conversation resends its whole history with every message, so input tokens, prefill time "
    "and cost grow turn by turn — unless the server's **prompt cache** already holds the shared "
    "beginning. Each answer shows what it cost; the chart shows how it adds up."
)


def conversation() -> Conversation:
    if CONVERSATION not in st.session_state:
        st.session_state[CONVERSATION] = Conversation(system_prompt=st.session_state.get(SYSTEM, DEFAULT_SYSTEM_PROMPT))
    conv: Conversation = st.session_state[CONVERSATION]
    return conv


def new_conversation() -> None:
    for key in (CONVERSATION, REPLAY, REFUSED, RETRY):
        st.session_state.pop(key, None)


def ask_retry() -> None:
    st.session_state[RETRY] = True


def policy() -> HistoryPolicy:
    strategy = Strategy(st.session_state.get(STRATEGY, Strategy.KEEP.value))
    return HistoryPolicy(strategy, int(st.session_state.get(BUDGET, 300)), int(st.session_state.get(KEEP_TURNS, 2)))


with st.expander("System prompt, history and prices", expanded=not conversation().turns, icon=":material/tune:"):
    left, right = st.columns([3, 2])
    left.text_area("System prompt", value=DEFAULT_SYSTEM_PROMPT, key=SYSTEM, height=90, max_chars=2000,
                   help="Sent first on every turn. Changing it mid-conversation changes the start of "
                        "every prompt, so the server's cache starts over.")
    right.selectbox("History sent with each turn", [s.value for s in Strategy], key=STRATEGY,
                    help="LangChain's own ways: everything; trim_messages to a token budget (the system "
                         "prompt kept); older turns replaced by a summary the model writes.")
    chosen = Strategy(st.session_state.get(STRATEGY, Strategy.KEEP.value))
    if chosen is Strategy.TRIM:
        right.number_input("Token budget", min_value=50, max_value=100_000, value=300, step=50, key=BUDGET)
    elif chosen is Strategy.SUMMARISE:
        right.number_input("Newest turns sent word for word", min_value=1, max_value=20, value=2, key=KEEP_TURNS)
    table = current_price_table()
    right.selectbox("Price the tokens as", [OWN_PRICE, *table.models()], key=PRICE_AS,
                    help="The embedded model is free: price its tokens as a hosted model to see what this "
                         f"conversation would cost there (prices as of {table.as_of}, cached input at the "
                         "cached rate).")


def price_model(endpoint: Endpoint | None) -> str | None:
    chosen = st.session_state.get(PRICE_AS, OWN_PRICE)
    if chosen != OWN_PRICE:
        return str(chosen)
    return endpoint.model if endpoint is not None else None


code_endpoint = endpoint_for_code()
conv = conversation()
price = current_price_table().price_for(price_model(code_endpoint))
retrying = bool(st.session_state.get(RETRY)) and bool(conv.turns) and not conv.turns[-1].complete
figures = conv.figures(price)
replayed = st.session_state.get(REPLAY)
replay_here = bool(replayed) and replayed[0] == conv.id


def replay_section() -> None:
    """The cache-off replay: its button, and TTFT and prefill per turn both ways on one chart."""
    switch = cache_switch(code_endpoint) if code_endpoint is not None else None
    if switch is not None:
        st.caption(switch.note)
    if st.button("Replay this conversation with the cache off", icon=":material/replay:",
                 disabled=switch is None or not switch.can_turn_off or not conv.turns, key="chat-replay"):
        endpoint = endpoint_or_stop()
        kit = call_kit("chat", endpoint)
        with st.status("Replaying every turn's exact prompt with the cache off…") as status:
            traces = replay_without_cache(
                conv, kit.model(extra_body=cache_switch(endpoint).extra_body, max_tokens=REPLAY_MAX_TOKENS),
                kit.config, secrets=kit.secrets,
                on_turn=lambda n, total: status.update(label=f"Replaying turn {n} of {total} with the cache off…"),
            )
            status.update(label="Replayed with the cache off.", state="complete")
        st.session_state[REPLAY] = (conv.id, len(conv.turns), traces)
        st.rerun()
    if replay_here:
        sent = [f for turn, f in zip(conv.turns, figures, strict=True) if turn.sent]
        off = [call_figures(f.number, trace, price, conv.window) for f, trace in zip(sent, replayed[2], strict=False)]
        with st.container(key="chat-cache-chart"):
            st.plotly_chart(cache_figure(sent, off), width="stretch")
        st.caption(
            f"The same {len(off)} prompts sent again, one after the other, with the cache off (answers cut at "
            f"{REPLAY_MAX_TOKENS} tokens: only reading the prompt is compared). Prefill is the server's own "
            "timings.prompt_ms; TTFT adds the client, the network and the first token."
            + (" Turns added since are not in the replay." if replayed[1] != len(conv.turns) else "")
        )


# Everything but the conversation sits above it, so the conversation is the page's last block:
# after each answer the page rests at the newest turn with the chart stuck beside it.
with st.expander("The prompt cache, shown: replay with it off", expanded=replay_here, icon=":material/cached:"):
    replay_section()
actions = st.container(horizontal=True)
actions.button("New conversation", icon=":material/add_comment:", on_click=new_conversation,
               disabled=not conv.turns)
if code_endpoint is not None and conv.turns:
    record = conversation_record(
        conv, strategy=policy().as_record(), endpoint=code_endpoint, price=price,
        prices_as_of=current_price_table().as_of, secrets=call_kit("chat", code_endpoint).secrets,
        replay=[call_figures(n, t, price, conv.window) for n, t in enumerate(replayed[2], start=1)]
        if replay_here else (),
    )
    actions.download_button("Download the conversation (JSON)", json.dumps(record, indent=2),
                            file_name=f"conversation-{conv.id}.json", mime="application/json",
                            icon=":material/download:")
if code_endpoint is not None:
    chosen_policy = policy()
    show_code(chat_code(current_settings(), code_endpoint, st.session_state.get(SYSTEM, DEFAULT_SYSTEM_PROMPT),
                        chosen_policy.strategy.value, budget_tokens=chosen_policy.budget_tokens,
                        keep_turns=chosen_policy.keep_turns))

chat_style()
chat_col, chart_col = st.columns([11, 9], gap="medium")
with chat_col:
    if not conv.turns:
        st.caption("Say something below. Try a fact in turn 1 (\"My name is Ada\") and ask for it in turn 4.")
    last = len(conv.turns) - 1
    for index, (turn, turn_figures) in enumerate(zip(conv.turns, figures, strict=True)):
        if index == last and retrying:
            continue  # redrawn below as it streams again
        retry = ask_retry if index == last and not turn.complete else None
        turn_message(turn, turn_figures, retry=retry)
    turn_slot = st.container()
    refused = st.session_state.get(REFUSED)
    if refused:
        st.error(refused, icon=":material/block:")

with chart_col:
    if figures:
        with st.container(key="chat-chart"):  # sticks beside the conversation as it scrolls
            st.plotly_chart(turns_figure(figures), width="stretch")
            st.caption(conversation_summary(conv, figures))
            sources_caption(figures)

message = st.chat_input("Message the model", key="chat.input", max_chars=20_000)
if message is not None or retrying:
    st.session_state.pop(RETRY, None)
    text = conv.turns[-1].user if retrying else (message or "").strip()
    if text:  # an empty message (spaces only) is ignored
        endpoint = endpoint_or_stop()
        kit = call_kit("chat", endpoint)
        if not conv.turns or conv.window.tokens is None:
            conv.window = read_context_window(endpoint)
        conv.system_prompt = st.session_state.get(SYSTEM, DEFAULT_SYSTEM_PROMPT)
        replace = len(conv.turns) - 1 if retrying else None
        with turn_slot:
            if not retrying:
                with st.chat_message("user"):
                    st.text(text)
            with st.chat_message("assistant"):
                with st.spinner("Counting tokens…" if policy().strategy is not Strategy.SUMMARISE
                                else "Counting tokens, summarising older turns if due…"):
                    plan = plan_turn(conv, text, policy(), counter_for(endpoint), before=replace,
                                     summarise=summarise_with(kit.model(), kit.config, kit.secrets))
                refusal = fit_check(plan.tokens, plan.method, conv.window, kit.settings.max_tokens)
                if refusal is not None:
                    st.session_state[REFUSED] = refusal.message
                else:
                    st.session_state.pop(REFUSED, None)
                    stream = TurnStream(conv, text, plan, kit.model(), kit.config, secrets=kit.secrets,
                                        replace=replace)
                    with st.container(key="chat-live"):  # the browser tests watch it grow
                        st.write_stream(answer_chunks(in_frames(stream.text_chunks())))
        st.rerun()  # the figure line, the chart and the sidebar's totals, drawn once
