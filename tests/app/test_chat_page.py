"""AppTest of the Chat page on the real embedded model: send, strategies, new conversation, refusal."""

from __future__ import annotations

import re
from collections.abc import Callable

from streamlit.testing.v1 import AppTest

PAGE = "pages/chat.py"


def chat(open_page: Callable[[str], AppTest]) -> AppTest:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(16)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    return at.run()


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input(key="chat.input").set_value(text).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def figure_lines(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Turn ")]


def test_each_turn_is_answered_and_its_figures_shown_and_the_ledger_gets_it(open_page: Callable[[str], AppTest]) -> None:
    at = chat(open_page)
    send(at, "My name is Ada. Say hello.")
    send(at, "What is 2 + 2?")
    lines = figure_lines(at)
    assert len(lines) == 2
    # Turn 1 may find the chat template's opening cached from earlier calls to this server (7 tokens
    # in the whole suite); turn 2 reuses turn 1's whole prefix, so more of it comes from the cache.
    cached = [int(re.search(r"\((\d+) cached", line).group(1)) for line in lines]
    assert cached[1] > cached[0] and " new)" in lines[0]
    assert all("TTFT" in line and "prefill" in line and "context" in line for line in lines)
    assert len(at.get("plotly_chart")) == 1  # the chart over turns
    assert [r.pattern for r in at.session_state["lab.ledger"].records()] == ["chat", "chat"]
    # An empty message is ignored: no third turn.
    send(at, "   ")
    assert len(figure_lines(at)) == 2
    # One click replays both prompts with llama.cpp's cache off: a second chart, two more calls.
    at.button(key="chat-replay").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == 2
    assert any("with the cache off (answers cut at" in c.value for c in at.caption)
    assert len(at.session_state["lab.ledger"].records()) == 4
    replayed = at.session_state["chat.replay"][2]
    assert [t.server.cached_tokens for t in replayed] == [0, 0]


def test_new_conversation_starts_over(open_page: Callable[[str], AppTest]) -> None:
    at = chat(open_page)
    send(at, "Hello!")
    assert len(figure_lines(at)) == 1
    next(b for b in at.button if b.label == "New conversation").click().run()
    assert not at.exception
    assert figure_lines(at) == []


def test_trimming_sends_fewer_messages_and_says_what_it_dropped(open_page: Callable[[str], AppTest]) -> None:
    at = chat(open_page)
    at.selectbox(key="chat.strategy").set_value("Trim to a token budget").run()
    at.number_input(key="chat.budget").set_value(50).run()
    for text in ("My name is Ada.", "I live in Paris.", "What is my name?"):
        send(at, text)
    sent = [e.label for e in at.expander if e.label.startswith("Sent:")]
    assert len(sent) == 3
    assert "oldest message" in sent[-1] and "dropped" in sent[-1]


def test_a_message_that_cannot_fit_the_window_is_refused_before_sending(open_page: Callable[[str], AppTest]) -> None:
    at = chat(open_page)
    send(at, "word " * 3000)
    errors = " ".join(e.value for e in at.error)
    assert "Not sent" in errors and "2,048-token context window" in errors
    assert "embedded server's tokenizer" in errors
    assert figure_lines(at) == [] and len(at.session_state["lab.ledger"].records()) == 0
