"""Tool calls on the embedded model: the server's own `tool_calls`, through the agent loop's events."""

from __future__ import annotations

import httpx
import pytest

from core.call.models import build_chat_model
from core.call.tracing import CallTracer
from core.patterns.agent import EMBEDDED_FORCING, agent_chain, agent_run, make_answer_stats_tool
from core.patterns.events import EventRecorder, build_chain, fresh_async_http_client, stream_events


@pytest.fixture
def run_agent(local_settings, local_endpoint):
    """run_agent(**options) → the recorder of one agent loop on the embedded model."""

    def _run(*, fail_tool: bool = False, max_steps: int = 4, only_stats: bool = False) -> EventRecorder:
        http = fresh_async_http_client()
        model = build_chat_model(local_settings, local_endpoint, http_async_client=http, max_tokens=96)
        tracer = CallTracer(pattern="events")
        recorder = EventRecorder(tracer=tracer)
        if only_stats:  # one tool, so the forced call must be to it
            chain = agent_chain(model, tools=[make_answer_stats_tool(fail=fail_tool)], forcing=EMBEDDED_FORCING,
                                max_steps=max_steps)
        else:
            chain = build_chain("agent", model, fail_tool=fail_tool, forcing=EMBEDDED_FORCING, max_steps=max_steps)
        events = stream_events(chain, {"topic": "Cats sleep a lot. They purr."}, {"callbacks": [tracer]},
                               http_clients=(http,))
        for _ in recorder.watch(events):
            pass
        return recorder

    return _run


def test_the_template_renders_the_models_own_prompt_without_tools(embedded_server) -> None:
    # With no tools, the lab's tool-declaring template must give SmolLM2's own ChatML prompt,
    # default system line included, so plain answers are what the model's own template gives.
    url = embedded_server.base_url.removesuffix("/v1") + "/apply-template"
    headers = {"Authorization": f"Bearer {embedded_server.api_key}"}
    prompt = httpx.post(url, headers=headers, json={"messages": [{"role": "user", "content": "Hi"}]}).json()["prompt"]
    assert prompt == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                      "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    props = httpx.get(embedded_server.base_url.removesuffix("/v1") + "/props", headers=headers).json()
    assert props["chat_template_caps"]["supports_tool_calls"] is True


def test_the_models_tool_call_reaches_on_tool_start_and_the_second_call_answers(run_agent) -> None:
    recorder = run_agent()
    assert recorder.error is None, recorder.error
    events = [e.event for e in recorder.events]
    starts = [e for e in recorder.events if e.event == "on_tool_start"]
    # The model chooses the tool and its arguments (the 135M model often picks the calculator,
    # sometimes with an empty expression): whichever it chose, the tool received exactly that.
    assert len(starts) == 1 and starts[0].name in ("answer_stats", "calculator")
    assert isinstance(starts[0].data["input"], dict) and set(starts[0].data["input"]) <= {"text", "expression"}
    # The call streamed as tool_call_chunks before the tool ran; a second model call came after.
    streamed = [e for e in recorder.events[: recorder.events.index(starts[0])]
                if e.event == "on_chat_model_stream" and e.summary.startswith("tool call")]
    assert streamed
    # The tool's answer (or its error) went back, then the second model call started.
    done = next(i for i, e in enumerate(events) if e in ("on_tool_end", "on_tool_error"))
    second_start = len(events) - 1 - events[::-1].index("on_chat_model_start")
    assert events.count("on_chat_model_start") == 2 and done < second_start
    first, second = recorder.model_traces()
    assert first.finish_reason == "tool_calls" and any(c.args for c in first.chunks)
    assert second.finish_reason in ("stop", "length") and second.text
    run = agent_run(recorder.model_traces())
    assert run.input_tokens == first.usage.input_tokens + second.usage.input_tokens


def test_a_tool_that_raises_goes_back_to_the_model_as_an_error(run_agent) -> None:
    recorder = run_agent(fail_tool=True, only_stats=True)
    names = [(e.event, e.name) for e in recorder.events]
    assert ("on_tool_start", "answer_stats") in names and ("on_tool_error", "answer_stats") in names
    assert ("on_custom_event", "tool_error") in names
    assert recorder.error is None  # the loop went on: the error went back to the model
    assert len(recorder.model_traces()) == 2


def test_the_step_limit_stops_the_loop_with_a_message(run_agent) -> None:
    recorder = run_agent(max_steps=1)
    assert recorder.error is not None and recorder.error.kind == "step_limit"
    assert "Stopped after 1 model calls" in recorder.error.detail
