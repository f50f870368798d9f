"""A tool-calling loop: the model chooses a tool and its arguments, the tool answers, the model goes on.

A plain loop over `bind_tools`, not LangChain v1's `create_agent`: langchain v1 (with langgraph)
is not among the lab's dependencies, and a loop of a dozen lines shows each step a presenter
talks about — the model call that streams `tool_call_chunks`, the tool run (`on_tool_start` /
`on_tool_end` with the arguments the model chose), the `ToolMessage` going back, the next model
call — under one `astream_events` run the Streaming events page already records.

Rules the loop keeps:

* **The calls are the model's own.** The loop never writes a tool call: it runs what the
  endpoint returned in `tool_calls`. On the embedded model the first step is *forced*
  (`EMBEDDED_FORCING`): the reply is started with ``<tool_call>`` (an assistant prefill) under
  ``tool_choice="required"``, so llama.cpp's grammar makes the rest a call to one of the tools,
  with arguments the model chooses, and the server parses it into ``tool_calls``.
* **A step limit ends a loop that never ends** (`core.call.errors.StepLimitReached`), said in words.
* **A tool that raises is not the end:** its error is sent back to the model as a
  ``ToolMessage(status="error")`` (and `astream_events` reports ``on_tool_error``); so are
  arguments that fail the tool's validation and a call to a tool that does not exist.
* **Figures come from the traces:** every model step is a `CallTrace`; the loop's total tokens and
  cost are a `core.call.run.Run` of them (`agent_run`).
"""

from __future__ import annotations

import ast
import contextlib
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool, tool
from pydantic import ValidationError

from core.call.errors import StepLimitReached
from core.call.run import Run
from core.call.trace import CallTrace
from core.export.otel import run_group, tool_executed

#: The question the agent chain asks about the page's topic.
AGENT_QUESTION = "How many words and sentences are in this text: “{topic}”? Use a tool."
DEFAULT_MAX_STEPS = 4

#: How the first step is forced on the embedded model (see the module docstring and
#: docs/DEVELOPING.md, "Tool calls on the embedded model"): the reply starts with the tag of its
#: chat template's tool-call format, the grammar of ``tool_choice="required"`` does the rest, and
#: the stop string ends the reply after one call (llama.cpp's grammar for this format allows more
#: calls whatever ``parallel_tool_calls`` says).
EMBEDDED_FORCING = {"prefill": "<tool_call>\n", "stop": ["</tool_call>"]}


_OPERATORS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.Mod: operator.mod,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _OPERATORS[type(node.op)](_evaluate(node.left), right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"not arithmetic: {ast.dump(node)[:60]}")


def make_answer_stats_tool(*, fail: bool = False) -> BaseTool:
    """The `answer_stats` tool: words, characters and sentences of a text.

    Args:
        fail: raise instead of answering, to show how an error mid-chain is captured.

    Example:
        >>> make_answer_stats_tool().invoke({"text": "Hi there. Bye!"})
        {'words': 3, 'characters': 14, 'sentences': 2}
    """

    @tool("answer_stats")
    def answer_stats(text: str) -> dict[str, int]:
        """Count the words, characters and sentences in a piece of text."""
        if fail:
            raise ValueError("answer_stats failed on purpose ('Make the tool fail' is on)")
        sentences = sum(text.count(mark) for mark in ".!?") or (1 if text.strip() else 0)
        return {"words": len(text.split()), "characters": len(text), "sentences": sentences}

    return answer_stats


@tool("calculator")
def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression with + - * / % ** and parentheses."""
    return _evaluate(ast.parse(expression, mode="eval"))


def agent_tools(*, fail: bool = False) -> list[BaseTool]:
    """The tools the agent may call: `answer_stats` (made to raise with `fail`) and `calculator`.

    Example:
        >>> [t.name for t in agent_tools()]
        ['answer_stats', 'calculator']
        >>> agent_tools()[1].invoke({"expression": "6 * (3 + 4)"})
        42
    """
    return [make_answer_stats_tool(fail=fail), calculator]


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call came to: the message that goes back to the model, and an error or none."""

    message: ToolMessage
    error: str | None


async def run_tool_call(call: dict[str, Any], tools: Sequence[BaseTool], config: RunnableConfig) -> ToolOutcome:
    """Run one tool call the model made; a failure becomes an error `ToolMessage`, never raised.

    Example:
        >>> import asyncio
        >>> out = asyncio.run(run_tool_call({"name": "calculator", "args": {"expression": "2+"},
        ...                                   "id": "c1"}, agent_tools(), {}))
        >>> out.message.status, out.error.split(":")[0]
        ('error', 'calculator raised SyntaxError')
    """
    by_name = {t.name: t for t in tools}
    name, call_id = str(call.get("name") or ""), str(call.get("id") or "")
    chosen = by_name.get(name)
    error: str | None
    started = time.time()
    if chosen is None:
        error = f"there is no tool named {name!r}; the tools are {', '.join(by_name)}"
    else:
        try:
            result = await chosen.ainvoke(call.get("args") or {}, config=config)
            tool_executed(name, call_id, started, time.time(), None)  # a span in an OpenTelemetry export
            return ToolOutcome(ToolMessage(content=str(result), tool_call_id=call_id, name=name), None)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
            error = f"the arguments of {name} failed validation: {problems}"
        except Exception as exc:  # the tool's own failure goes back to the model
            error = f"{name} raised {type(exc).__name__}: {exc}"
    tool_executed(name, call_id, started, time.time(), error)
    # Inside the loop's run this shows in astream_events as on_custom_event "tool_error" (a call
    # that never reached the tool has no on_tool_error); called outside a run there is none.
    with contextlib.suppress(RuntimeError):
        await adispatch_custom_event("tool_error", {"tool": name, "args": call.get("args"), "error": error},
                                     config=config)
    return ToolOutcome(ToolMessage(content=f"Error: {error}", tool_call_id=call_id, name=name, status="error"), error)


def agent_chain(
    llm: BaseChatModel,
    *,
    tools: Sequence[BaseTool] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    forcing: dict[str, Any] | None = None,
    fail_tool: bool = False,
) -> Runnable:
    """The loop as one runnable: ``{"topic": ...}`` in, ``{"answer", "steps", "stopped"}`` out.

    Args:
        llm: the chat model (it must support `bind_tools`).
        tools: what it may call; `agent_tools` by default.
        max_steps: model calls allowed; the loop stops with `StepLimitReached` after the last one if the
            model still asks for a tool.
        forcing: force the first step to call a tool the way `EMBEDDED_FORCING` does (the
            embedded model); None lets the endpoint's ``tool_choice="required"`` do it alone.
        fail_tool: make `answer_stats` raise (to show an error going back to the model).
    """
    chosen = list(tools) if tools is not None else agent_tools(fail=fail_tool)

    async def loop(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        # One run in an OpenTelemetry export: its model steps and tool runs are children.
        with run_group("agent loop", f"up to {max_steps} steps", max_steps=max_steps):
            return await steps(inputs, config)

    async def steps(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages: list[BaseMessage] = [HumanMessage(AGENT_QUESTION.format(topic=inputs["topic"]))]
        for step in range(1, max_steps + 1):
            first = step == 1
            kwargs: dict[str, Any] = {"tool_choice": "required" if first else "auto"}
            sent = list(messages)
            if first and forcing:
                kwargs["stop"] = forcing["stop"]
                sent.append(AIMessage(forcing["prefill"]))
            if first:
                kwargs["parallel_tool_calls"] = False
            model = llm.bind_tools(chosen, **kwargs)
            gathered: AIMessageChunk | None = None
            async for chunk in model.astream(sent, config={**config, "run_name": f"model step {step}"}):
                gathered = chunk if gathered is None else gathered + chunk  # type: ignore[assignment]  # chunks add up to a chunk
            reply = _as_message(gathered)
            messages.append(reply)
            if not reply.tool_calls:
                return {"answer": reply.text, "steps": step, "stopped": "answered"}
            if step == max_steps:
                await adispatch_custom_event("step_limit", {"max_steps": max_steps}, config=config)
                raise StepLimitReached(
                    f"Stopped after {max_steps} model calls: the step limit. The model was still "
                    f"asking for a tool ({', '.join(c['name'] for c in reply.tool_calls)}), so the "
                    "loop would not have ended by itself."
                )
            for call in reply.tool_calls:
                messages.append((await run_tool_call(dict(call), chosen, config)).message)
        raise AssertionError("unreachable: the last step returns or raises")

    return RunnableLambda(loop, name="agent_loop")


def _as_message(chunk: AIMessageChunk | None) -> AIMessage:
    if chunk is None:
        return AIMessage("")
    return AIMessage(content=chunk.content, tool_calls=chunk.tool_calls,
                     invalid_tool_calls=chunk.invalid_tool_calls, response_metadata=chunk.response_metadata,
                     usage_metadata=chunk.usage_metadata, id=chunk.id)


@dataclass(frozen=True)
class ModelStep:
    """One model call of the loop: its trace, and the tool calls it made (empty: it answered)."""

    number: int
    trace: CallTrace
    tool_calls: tuple[str, ...]


def model_steps(traces: Sequence[CallTrace]) -> list[ModelStep]:
    """The loop's model calls in order, each with the tools it called (read off its trace).

    A tool call is read from the streamed tool-call arguments the trace kept; the names come
    from the outcome's message metadata when there, else "a tool".

    Example:
        >>> from core.call.trace import StreamChunk
        >>> a = CallTrace("a", origin=1.0, chunks=[StreamChunk(1.1, "", args='{"x": 1}')])
        >>> b = CallTrace("b", origin=2.0, chunks=[StreamChunk(2.1, "Done.")])
        >>> [(s.number, s.tool_calls) for s in model_steps([b, a])]
        [(1, ('a tool',)), (2, ())]
    """
    ordered = sorted(traces, key=lambda t: t.origin)
    steps = []
    for number, trace in enumerate(ordered, start=1):
        called = any(c.args for c in trace.chunks) or (trace.finish_reason == "tool_calls")
        steps.append(ModelStep(number, trace, ("a tool",) if called else ()))
    return steps


def agent_run(traces: Sequence[CallTrace]) -> Run:
    """The loop's model calls as one `Run`: its total tokens and cost are the sum of its calls.

    Example:
        >>> from core.call.trace import Outcome
        >>> from core.call.usage import Usage
        >>> calls = [CallTrace(str(i), origin=float(i), finished=i + 0.5,
        ...          outcome=Outcome("complete", usage=Usage(100, 10, 110))) for i in range(2)]
        >>> run = agent_run(calls)
        >>> run.count, run.input_tokens, run.output_tokens
        (2, 200, 20)
    """
    return Run.of(sorted(traces, key=lambda t: t.origin), label="agent loop")
