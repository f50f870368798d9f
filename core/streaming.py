"""Streaming and its contrast with waiting: timed records of `stream` and `invoke` calls.

`StreamCapture` sits between `llm.stream(...)` and `st.write_stream`: it stamps every chunk on
arrival, keeps the usage-only final chunk (which `st.write_stream` would skip, its text being
empty), and turns a failure mid-stream into a recorded error while keeping the partial text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig

from core.errors import CallProblem, explain_error
from core.usage import Usage

Clock = Callable[[], float]

# How often the streamed text is redrawn in the page: 20 frames a second reads as fluid, while a
# redraw per token (80+ a second here) costs Streamlit and the browser CPU the model needs.
FRAME_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ChunkArrival:
    """One streamed chunk: when it arrived (seconds since the call began) and its text."""

    at_s: float
    text: str


@dataclass
class CallTiming:
    """What every timed call has: the text, when it ended, usage and how it finished."""

    prompt: str
    started_at: float = field(default_factory=time.time)
    text: str = ""
    total_s: float | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    model_name: str | None = None
    response_metadata: dict[str, Any] = field(default_factory=dict)
    error: CallProblem | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class StreamRecord(CallTiming):
    """A timed `stream` call.

    Attributes:
        chunks: every chunk with content, stamped on arrival.
        chunk_count_all: every chunk received, including empty and usage-only ones.
    """

    chunks: list[ChunkArrival] = field(default_factory=list)
    chunk_count_all: int = 0

    @property
    def time_to_first_token_s(self) -> float | None:
        """Seconds from the call to the first chunk with text."""
        return self.chunks[0].at_s if self.chunks else None

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    @property
    def output_tokens(self) -> int | None:
        """Output tokens as the endpoint reported them; None when it reported no usage."""
        return self.usage.output_tokens if self.usage else None

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed: tokens after the first, over the time from first to last chunk.

        Uses the reported output-token count when there is one, else the number of text
        chunks (one token per chunk on llama.cpp and OpenAI). Excludes the wait for the first
        token, which `time_to_first_token_s` shows on its own.
        """
        if len(self.chunks) < 2:
            return None
        tokens = self.output_tokens if self.output_tokens else len(self.chunks)
        span = self.chunks[-1].at_s - self.chunks[0].at_s
        return (tokens - 1) / span if span > 0 else None


@dataclass
class InvokeRecord(CallTiming):
    """A timed `invoke` call: the whole answer arrives at `total_s`."""


class StreamCapture:
    """Stream a prompt and record everything about it, yielding only the text.

    Feed `text_chunks()` to `st.write_stream`; read `record` during or after.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage(content="Hello there")]))
        >>> capture = StreamCapture(fake, "Say hello")
        >>> "".join(capture.text_chunks())
        'Hello there'
        >>> capture.record.chunk_count > 1
        True
    """

    def __init__(
        self,
        llm: BaseChatModel,
        prompt: str,
        config: RunnableConfig | None = None,
        *,
        secrets: tuple[str, ...] = (),
        clock: Clock = time.perf_counter,
    ) -> None:
        self.llm = llm
        self.config = config
        self.record = StreamRecord(prompt=prompt)
        self._secrets = secrets
        self._clock = clock
        self.done = False

    def text_chunks(self) -> Iterator[str]:
        """Yield each chunk's text as it arrives; never raises for a failed call."""
        record = self.record
        start = self._clock()
        # Merged once at the end: adding chunk by chunk would copy the growing message on every
        # token, which is measurable client time on long answers (bench/stream_overhead.py).
        received: list[AIMessageChunk] = []
        try:
            for chunk in self.llm.stream(record.prompt, config=self.config):
                now = self._clock() - start
                record.chunk_count_all += 1
                received.append(chunk)
                text = chunk.content if isinstance(chunk.content, str) else chunk.text
                if text:
                    record.chunks.append(ChunkArrival(at_s=now, text=text))
                    record.text += text
                    yield text
        except Exception as exc:  # a failed call is data here: keep what arrived
            record.error = explain_error(exc, *self._secrets)
        finally:
            record.total_s = self._clock() - start
            if received:
                _copy_metadata(received[0] + received[1:], record)
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
    start = clock()
    try:
        message = llm.invoke(prompt, config=config)
        record.text = message.content if isinstance(message.content, str) else message.text
        _copy_metadata(message, record)
    except Exception as exc:
        record.error = explain_error(exc, *secrets)
    record.total_s = clock() - start
    return record


def _copy_metadata(message: Any, record: CallTiming) -> None:
    record.usage = Usage.from_metadata(getattr(message, "usage_metadata", None))
    metadata = dict(getattr(message, "response_metadata", None) or {})
    record.response_metadata = metadata
    record.finish_reason = metadata.get("finish_reason")
    record.model_name = metadata.get("model_name")


def in_frames(
    pieces: Iterable[str], interval_s: float = FRAME_INTERVAL_S, *, clock: Clock = time.perf_counter
) -> Iterator[str]:
    """Join streamed text into display frames: the first piece at once, then one per interval.

    For the page only: `StreamCapture` stamps every chunk before this groups them, so time to
    first token, tokens/s and the text-over-time curve stay per token. A piece that arrives
    after a longer pause than `interval_s` is shown at once; text still pending when the stream
    ends (or fails) is yielded, so nothing is held back or lost.

    On the 2-core demo machine, redrawing per token let the browser and Streamlit take the
    cores from the model: about 33 tokens/s on screen against about 45 with 50 ms frames.

    Example:
        >>> ticks = iter([0.00, 0.01, 0.02, 0.06, 0.07])
        >>> list(in_frames(["a", "b", "c", "d", "e"], 0.05, clock=lambda: next(ticks)))
        ['a', 'bcd', 'e']
    """
    pending = ""
    last_frame_at: float | None = None
    for piece in pieces:
        pending += piece
        now = clock()
        if last_frame_at is None or now - last_frame_at >= interval_s:
            yield pending
            pending = ""
            last_frame_at = now
    if pending:
        yield pending


def text_over_time(record: CallTiming) -> list[tuple[float, int]]:
    """Characters visible to the user over time, as (seconds, characters) steps.

    For a stream, the count grows chunk by chunk; for `invoke`, nothing is visible until the
    whole answer lands at `total_s`. This is the curve that shows why streaming feels fast.

    Example:
        >>> r = InvokeRecord(prompt="p", text="abc", total_s=2.0)
        >>> text_over_time(r)
        [(0.0, 0), (2.0, 0), (2.0, 3)]
    """
    points: list[tuple[float, int]] = [(0.0, 0)]
    if isinstance(record, StreamRecord):
        visible = 0
        for chunk in record.chunks:
            points.append((chunk.at_s, visible))
            visible += len(chunk.text)
            points.append((chunk.at_s, visible))
        if record.total_s is not None:
            points.append((record.total_s, visible))
        return points
    if record.total_s is not None:
        points += [(record.total_s, 0), (record.total_s, len(record.text))]
    return points
