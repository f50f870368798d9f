"""The agent loop's bookkeeping, on a fake tool-calling model and on recorded traces."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from core.call.errors import StepLimitReached, explain_error
from core.call.trace import CallTrace, Outcome, StreamChunk
from core.call.usage import Usage
from core.patterns.agent import agent_chain, agent_run, agent_tools, model_steps, run_tool_call
from core.patterns.events.summaries import summarize


class ToolCallingFake(BaseChatModel):
    """Replies from a script: a tool call (name, args) or text; records what each step was sent."""

    script: list[Any]
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        self.bound.append(kwargs)
        return self

    def _reply(self, messages: list[BaseMessage]) -> AIMessageChunk:
        self.seen.append(list(messages))
        step = self.script[min(len(self.seen), len(self.script)) - 1]
        if isinstance(step, str):
            return AIMessageChunk(content=step)
        name, args = step
        import json

        return AIMessageChunk(content="", tool_call_chunks=[
            {"name": name, "args": json.dumps(args), "id": f"call-{len(self.seen)}", "index": 0}])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        chunk = self._reply(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=chunk.content, tool_calls=chunk.tool_calls))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kw: Any) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=self._reply(messages))


def _run(model: ToolCallingFake, **kw: Any) -> dict[str, Any]:
    return asyncio.run(agent_chain(model, **kw).ainvoke({"topic": "cats"}))


def test_the_loop_runs_the_models_call_sends_the_answer_back_and_stops_on_text() -> None:
    model = ToolCallingFake(script=[("calculator", {"expression": "6*7"}), "It is 42."], seen=[], bound=[])
    out = _run(model)
    assert out == {"answer": "It is 42.", "steps": 2, "stopped": "answered"}
    second = model.seen[1]
    assert isinstance(second[-1], ToolMessage) and second[-1].content == "42" and second[-1].tool_call_id == "call-1"
    # The first step is forced (required, one call at a time); the next one is free.
    assert model.bound[0] == {"tool_choice": "required", "parallel_tool_calls": False}
    assert model.bound[1] == {"tool_choice": "auto"}


def test_forcing_prefills_the_first_reply_only_and_stops_after_one_call() -> None:
    model = ToolCallingFake(script=[("calculator", {"expression": "1+1"}), "2"], seen=[], bound=[])
    _run(model, forcing={"prefill": "<tool_call>\n", "stop": ["</tool_call>"]})
    assert model.seen[0][-1].content == "<tool_call>\n" and model.bound[0]["stop"] == ["</tool_call>"]
    # The prefill is not part of the conversation the next step sees.
    assert all(m.content != "<tool_call>\n" for m in model.seen[1])
    assert "stop" not in model.bound[1]


def test_the_step_limit_stops_a_loop_that_never_ends_and_says_so() -> None:
    model = ToolCallingFake(script=[("calculator", {"expression": "1"})], seen=[], bound=[])
    try:
        _run(model, max_steps=3)
    except StepLimitReached as exc:
        problem = explain_error(exc)
    else:
        raise AssertionError("the loop should have stopped at the limit")
    assert len(model.seen) == 3
    assert problem.kind == "step_limit" and "Stopped after 3 model calls" in problem.detail
    assert "calculator" in problem.detail


def test_a_failing_tool_bad_arguments_and_an_unknown_tool_go_back_as_errors() -> None:
    tools = agent_tools(fail=True)
    raised = asyncio.run(run_tool_call({"name": "answer_stats", "args": {"text": "hi"}, "id": "1"}, tools, {}))
    assert raised.message.status == "error" and "failed on purpose" in raised.error
    invalid = asyncio.run(run_tool_call({"name": "answer_stats", "args": {"txt": "hi"}, "id": "2"}, tools, {}))
    assert invalid.error == "the arguments of answer_stats failed validation: text: Field required"
    unknown = asyncio.run(run_tool_call({"name": "weather", "args": {}, "id": "3"}, tools, {}))
    assert unknown.error == "there is no tool named 'weather'; the tools are answer_stats, calculator"
    assert unknown.message.tool_call_id == "3" and unknown.message.content.startswith("Error: ")


def test_the_calculator_does_arithmetic_and_nothing_else() -> None:
    calc = agent_tools()[1]
    assert calc.invoke({"expression": "2 ** 10 - 24 / 4"}) == 1018
    for bad in ("__import__('os')", "9 ** 999", "[1, 2]"):
        outcome = asyncio.run(run_tool_call({"name": "calculator", "args": {"expression": bad}, "id": "x"}, [calc], {}))
        assert outcome.error is not None and outcome.error.startswith("calculator raised ValueError")


def _step(origin: float, *, args: str = "", text: str = "", usage: tuple[int, int] | None = None,
          finish: str = "stop") -> CallTrace:
    return CallTrace(str(origin), origin=origin, finished=origin + 0.5, model_requested="m",
                     chunks=[StreamChunk(origin + 0.1, text, args=args)],
                     outcome=Outcome("complete", usage=Usage(usage[0], usage[1], sum(usage)) if usage else None,
                                     finish_reason=finish))


def test_the_runs_total_is_the_sum_of_its_calls_and_a_missing_usage_is_not_zero() -> None:
    tool_step = _step(1.0, args='{"expression": "6*7"}', usage=(256, 31), finish="tool_calls")
    answer = _step(2.0, text="42", usage=(307, 21))
    run = agent_run([answer, tool_step])
    assert [t.run_id for t in run.calls] == ["1.0", "2.0"]
    assert (run.input_tokens, run.output_tokens) == (563, 52)
    assert [s.tool_calls for s in model_steps([answer, tool_step])] == [("a tool",), ()]
    unreported = agent_run([tool_step, _step(2.0, text="42")])
    assert unreported.output_tokens == 31 and unreported.usage_missing == 1


def test_a_streamed_tool_call_chunk_reads_as_a_tool_call_in_the_events_log() -> None:
    first = AIMessageChunk(content="", tool_call_chunks=[{"name": "calculator", "args": '{"', "id": "c", "index": 0}])
    later = AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": "expression", "id": None, "index": 0}])
    assert summarize("on_chat_model_stream", {"chunk": first}) == "tool call calculator args '{\"'"
    assert summarize("on_chat_model_stream", {"chunk": later}) == "tool call args 'expression'"
