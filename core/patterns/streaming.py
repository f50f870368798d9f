"""Streaming and its contrast with waiting: timed records of `stream` and `invoke` calls.

`StreamCapture` sits between `llm.stream(...)` and `st.write_stream`: it keeps every chunk (the
usage-only final chunk included, which `st.write_stream` would skip, its text being empty), and
turns a failure mid-stream into a recorded problem while keeping the partial text. Timing comes
from the call's `CallTrace` (`core.call.tracing.CallTracer`, the one timing callback): a record holds
the trace and reads every figure off it, counted from the moment the runner began the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig

from core.call.errors import CallProblem
from core.call.trace import CallTrace, Outcome, StreamChunk
from core.call.tracing import ensure_tracer, failed_outcome, for_one_call, message_text, outcome_of
from core.call.usage import Usage

Clock = Callable[[], float]

# How often the streamed text is redrawn in the page: 20 frames a second for the first second,
# so the first words appear as they come, then 5 a second, which still reads as live text. A
# redraw per token (80+ a second here) costs Streamlit and the browser CPU the model needs, and
# each redraw re-renders the whole answer so far, so later frames cost more than early ones.
FRAME_INTERVAL_S = 0.05
LATER_FRAME_INTERVAL_S = 0.2
FAST_FRAMES_FOR_S = 1.0


@dataclass
class CallTiming:
    """A timed call: its prompt and its `CallTrace`, which knows every figure.

    The record copies nothing: what the page shows (text, usage, finish reason, problem) is
    read off the trace, and the timings are the trace's own (``record.trace.ttft_s``,
    ``.e2e_s``, ``.output_tokens_per_s``). While a stream runs, the trace is the live one.

    Attributes:
        prompt: what was asked.
        trace: the call's trace (marks, outcome, server and proxy reports).
    """

    prompt: str
    trace: CallTrace = field(default_factory=lambda: CallTrace(""), repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.trace.text

    @property
    def usage(self) -> Usage | None:
        return self.trace.usage

    @property
    def finish_reason(self) -> str | None:
        return self.trace.finish_reason

    @property
    def model_name(self) -> str | None:
        """The model the endpoint says answered; None when it did not say."""
        return self.trace.outcome.model if self.trace.outcome else None

    @property
    def response_metadata(self) -> dict[str, Any]:
        return self.trace.outcome.response_metadata if self.trace.outcome else {}

    @property
    def error(self) -> CallProblem | None:
        """The call's problem, explained — a failure, or an answer that is not whole (a stream
        that ended without a finish reason: kind "incomplete", its text kept)."""
        return self.trace.problem

    @property
    def started_at(self) -> float:
        return self.trace.started_wall

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def incomplete(self) -> bool:
        """The answer arrived only in part: the stream ended early, or failed mid-way."""
        return self.error is not None and (self.error.kind in ("incomplete", "stream_cut") or bool(self.text))


@dataclass
class StreamRecord(CallTiming):
    """A timed `stream` call."""

    @property
    def chunk_count(self) -> int:
        """Chunks with text."""
        return len(self.trace.text_chunks)

    @property
    def chunk_count_all(self) -> int:
        """Every chunk received, including empty and usage-only ones."""
        return len(self.trace.chunks)


@dataclass
class InvokeRecord(CallTiming):
    """A timed `invoke` call: the whole answer arrives at its trace's end."""


class StreamCapture:
    """Stream a prompt and record everything about it, yielding only the text.

    Feed `text_chunks()` to `st.write_stream`; read `record` during or after. The call is
    traced by the `CallTracer` in `config` (the session ledger's), or by one of its own.
    `messages`, when given, is what is sent (a conversation's history and its new message);
    `prompt` then only names the call in the record.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage(content="Hello there")]))
        >>> capture = StreamCapture(fake, "Say hello")
        >>> "".join(capture.text_chunks())
        'Hello there'
        >>> capture.record.chunk_count > 1, capture.record.trace.status
        (True, 'complete')
    """

    def __init__(
        self,
        llm: BaseChatModel,
        prompt: str,
        config: RunnableConfig | None = None,
        *,
        secrets: tuple[str, ...] = (),
        clock: Clock = time.perf_counter,
        messages: Sequence[BaseMessage] | None = None,
    ) -> None:
        self.llm = llm
        self.config = config
        self.record = StreamRecord(prompt=prompt)
        self._input: str | list[BaseMessage] = list(messages) if messages is not None else prompt
        self._secrets = secrets
        self._clock = clock
        self.done = False

    def text_chunks(self) -> Iterator[str]:
        """Yield each chunk's text as it arrives; never raises for a failed call."""
        record = self.record
        config, tracer = ensure_tracer(self.config, secrets=self._secrets, clock=self._clock)
        origin = self._clock()
        call, run_id = for_one_call(config, tracer, origin)
        # Until the tracer has the call's trace (its model run started), and for a model that
        # fires no callbacks at all, the record holds one of its own with the same origin.
        own = record.trace = CallTrace(str(run_id), origin=origin, streamed=True)
        # Merged once at the end: adding chunk by chunk would copy the growing message on every
        # token, which is measurable client time on long answers (bench/stream_overhead.py).
        received: list[AIMessageChunk] = []
        failure: Exception | None = None
        try:
            for chunk in self.llm.stream(self._input, config=call):
                received.append(chunk)
                text = message_text(chunk)
                if record.trace is own:  # the tracer's trace, once it has one, stamped this chunk
                    traced = tracer.trace(run_id)
                    if traced is not None:
                        record.trace = traced
                    else:
                        own.chunks.append(StreamChunk(self._clock(), text))
                if text:
                    yield text
        except Exception as exc:  # a failed call is data here: keep what arrived
            failure = exc
        finally:
            end = self._clock()
            _settle(record, tracer.trace(run_id), end, received, failure, self._secrets + tracer.secrets)
            self.done = True


def timed_invoke(
    llm: BaseChatModel,
    prompt: str,
    config: RunnableConfig | None = None,
    *,
    secrets: tuple[str, ...] = (),
    clock: Clock = time.perf_counter,
) -> InvokeRecord:
    """Call `llm.invoke(prompt)` and time it; a failure is recorded, not raised.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage(content="42")]))
        >>> timed_invoke(fake, "6 x 7?").text
        '42'
    """
    record = InvokeRecord(prompt=prompt)
    config, tracer = ensure_tracer(config, secrets=secrets, clock=clock)
    origin = clock()
    call, run_id = for_one_call(config, tracer, origin)
    record.trace = CallTrace(str(run_id), origin=origin)
    message: Any = None
    failure: Exception | None = None
    try:
        message = llm.invoke(prompt, config=call)
    except Exception as exc:
        failure = exc
    end = clock()
    _settle(record, tracer.trace(run_id), end, [message] if message is not None else [], failure, secrets + tracer.secrets)
    return record


def _settle(
    record: CallTiming,
    traced: CallTrace | None,
    end: float,
    received: list[Any],
    failure: Exception | None,
    secrets: tuple[str, ...],
) -> None:
    """End the record's trace and give it its outcome: the tracer's, or one read here."""
    trace = record.trace = traced if traced is not None else record.trace
    trace.finished = end
    merged = (received[0] + received[1:] if len(received) > 1 else received[0]) if received else None
    shown = "".join(c.text for c in trace.chunks)
    if failure is not None:
        outcome = failed_outcome(failure, traced, secrets, shown)
        # Metadata that arrived before the failure (a model name, a usage chunk) is kept too.
        if merged is not None:
            meta = outcome_of(merged)
            outcome.usage, outcome.model, outcome.response_metadata = meta.usage, meta.model, meta.response_metadata
    elif trace.outcome is not None:
        outcome = trace.outcome
    elif merged is not None:
        outcome = outcome_of(merged, traced, secrets)
    else:
        outcome = Outcome(status="complete")
    if shown and not outcome.text:  # the text already shown stays
        outcome.text = shown
    trace.outcome = outcome


def in_frames(
    pieces: Iterable[str],
    interval_s: float = FRAME_INTERVAL_S,
    *,
    later_interval_s: float | None = LATER_FRAME_INTERVAL_S,
    fast_for_s: float = FAST_FRAMES_FOR_S,
    clock: Clock = time.perf_counter,
) -> Iterator[str]:
    """Join streamed text into display frames: the first piece at once, then one per interval.

    For the page only: `StreamCapture` stamps every chunk before this groups them, so time to
    first token, tokens/s and the text-over-time curve stay per token. Frames come every
    `interval_s` for the first `fast_for_s` after the first piece, then every `later_interval_s`
    (None: keep `interval_s`). A piece that arrives after a longer pause than the interval is
    shown at once; text still pending when the stream ends (or fails) is yielded, so nothing is
    held back or lost.

    On the 2-core demo machine, redrawing per token let the browser and Streamlit take the
    cores from the model: about 33 tokens/s on screen against about 45 with 50 ms frames
    (bench/app_paths.py measures the page against the model alone).

    Example:
        >>> ticks = iter([0.00, 0.01, 0.02, 0.06, 0.07])
        >>> list(in_frames(["a", "b", "c", "d", "e"], 0.05, clock=lambda: next(ticks)))
        ['a', 'bcd', 'e']
        >>> ticks = iter([0.0, 1.0, 1.1, 1.15, 1.3])  # after the first second: 0.2 s frames
        >>> list(in_frames(["a", "b", "c", "d", "e"], 0.05, clock=lambda: next(ticks)))
        ['a', 'b', 'cde']
    """
    pending = ""
    first_at: float | None = None
    last_frame_at = 0.0
    for piece in pieces:
        pending += piece
        now = clock()
        if first_at is None:
            first_at = now
        elif later_interval_s is not None and now - first_at >= fast_for_s:
            if now - last_frame_at < later_interval_s:
                continue
        elif now - last_frame_at < interval_s:
            continue
        yield pending
        pending = ""
        last_frame_at = now
    if pending:
        yield pending


def text_over_time(record: CallTiming) -> list[tuple[float, int]]:
    """Characters visible to the user over time, as (seconds, characters) steps.

    For a stream, the count grows chunk by chunk; for `invoke`, nothing is visible until the
    whole answer lands at the trace's end. This is the curve that shows why streaming feels fast.

    Example:
        >>> from core.call.trace import Outcome
        >>> r = InvokeRecord("p", CallTrace("r", origin=0.0, finished=2.0, outcome=Outcome("complete", "abc")))
        >>> text_over_time(r)
        [(0.0, 0), (2.0, 0), (2.0, 3)]
    """
    trace = record.trace
    points: list[tuple[float, int]] = [(0.0, 0)]
    total = trace.e2e_s
    if isinstance(record, StreamRecord):
        visible = 0
        for chunk in trace.text_chunks:
            at = chunk.at - trace.origin
            points.append((at, visible))
            visible += len(chunk.text)
            points.append((at, visible))
        if total is not None:
            points.append((total, visible))
        return points
    if total is not None:
        points += [(total, 0), (total, len(record.text))]
    return points
