"""The session ledger: one record per model call, made on any page.

Calls are recorded by a LangChain callback handler passed in the call's `RunnableConfig`, so
`invoke`, `stream`, `batch`, `ainvoke`, `abatch` and chains inside `astream_events` all report
the same way, including calls that run on LangChain's worker threads.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from core.usage import Usage

if TYPE_CHECKING:  # langchain_core.outputs loads its messages (~0.3 s): at the first call instead
    from langchain_core.outputs import LLMResult


@dataclass(frozen=True)
class CallRecord:
    """One model call as the ledger keeps it.

    Attributes:
        pattern: the page that made it ("streaming", "batch", ...).
        provider: provider label at the time of the call.
        model: model name the endpoint reported (or the one requested).
        started_at: wall-clock start, seconds since the epoch.
        latency_s: start to end (or to error).
        usage: token counts, or None when the endpoint did not report usage.
        finish_reason: "stop", "length", ... or None if unknown.
        error: the error's type and message when the call failed, else None.
        streamed: the call streamed tokens (so missing usage means no usage chunk came).
        model_reported: the response named its model; when False `model` is the requested
            name (LangChain's own usage callback drops such calls; the ledger keeps them).
    """

    run_id: str
    pattern: str
    provider: str
    model: str
    started_at: float
    latency_s: float
    usage: Usage | None
    finish_reason: str | None
    error: str | None = None
    streamed: bool = False
    model_reported: bool = True

    @property
    def usage_reported(self) -> bool:
        return self.usage is not None


class SessionLedger:
    """Thread-safe list of `CallRecord`s for one browser session.

    Example:
        >>> ledger = SessionLedger()
        >>> handler = ledger.callback(pattern="streaming", provider="Local")
        >>> len(ledger)
        0
    """

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[CallRecord]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.records())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def callback(
        self, *, pattern: str, provider: str, secrets: tuple[str, ...] = ()
    ) -> LedgerCallbackHandler:
        """A callback handler that records every chat-model call it sees into this ledger.

        `secrets` (the endpoint's keys) are removed from recorded error messages: an endpoint's
        401 message may quote the key, and the ledger is exported as CSV.
        """
        return LedgerCallbackHandler(self, pattern=pattern, provider=provider, secrets=secrets)

    def to_csv(self) -> str:
        """All records as CSV text (no keys or prompts: only what the ledger holds)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "started_at",
                "pattern",
                "provider",
                "model",
                "latency_s",
                "usage_reported",
                "input_tokens",
                "cached_input_tokens",
                "output_tokens",
                "reasoning_tokens",
                "total_tokens",
                "finish_reason",
                "error",
            ]
        )
        for r in self.records():
            u = r.usage
            writer.writerow(
                [
                    time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(r.started_at)),
                    r.pattern,
                    r.provider,
                    r.model,
                    f"{r.latency_s:.3f}",
                    "reported" if u else "not reported",
                    u.input_tokens if u else "",
                    u.cached_input_tokens if u else "",
                    u.output_tokens if u else "",
                    u.reasoning_tokens if u else "",
                    u.total_tokens if u else "",
                    r.finish_reason or "",
                    r.error or "",
                ]
            )
        return out.getvalue()


class LedgerCallbackHandler(BaseCallbackHandler):
    """Records chat-model calls (start, end or error) into a `SessionLedger`.

    Pass it in `config={"callbacks": [handler]}`; LangChain propagates it to nested runs.
    """

    # Recording is a few attribute writes under a lock: run it inline rather than on an
    # executor, so async calls do not hop threads for it.
    run_inline = True

    def __init__(
        self,
        ledger: SessionLedger,
        *,
        pattern: str,
        provider: str,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.ledger = ledger
        self.pattern = pattern
        self.provider = provider
        self._secrets = secrets
        self._starts: dict[UUID, tuple[float, float, str]] = {}
        self._streamed: set[UUID] = set()
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or kwargs.get("invocation_params") or {}
        model = str(
            params.get("model")
            or params.get("model_name")
            or (metadata or {}).get("ls_model_name")
            or "unknown model"
        )
        with self._lock:
            self._starts[run_id] = (time.time(), time.perf_counter(), model)

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        # Only streaming calls emit tokens: remember which runs streamed.
        with self._lock:
            self._streamed.add(run_id)

    def _pop_start(self, run_id: UUID) -> tuple[float, float, str]:
        with self._lock:
            return self._starts.pop(run_id, (time.time(), time.perf_counter(), "unknown model"))

    def _pop_streamed(self, run_id: UUID) -> bool:
        with self._lock:
            if run_id in self._streamed:
                self._streamed.discard(run_id)
                return True
            return False

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        from langchain_core.outputs import ChatGeneration

        usage = None
        finish_reason = None
        reported_model = None
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        if isinstance(generation, ChatGeneration):
            message = generation.message
            usage = Usage.from_metadata(getattr(message, "usage_metadata", None))
            meta = message.response_metadata or {}
            reported_model = meta.get("model_name")
            finish_reason = meta.get("finish_reason")
        if generation is not None and not finish_reason:
            finish_reason = (generation.generation_info or {}).get("finish_reason")
        self._record(run_id, usage=usage, finish_reason=finish_reason, reported_model=reported_model)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        from core.errors import redact  # here: it loads openai, which the first screen does not need

        self._record(run_id, error=redact(f"{type(error).__name__}: {error}", *self._secrets))

    def _record(
        self,
        run_id: UUID,
        *,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        reported_model: str | None = None,
        error: str | None = None,
    ) -> None:
        """Close the run opened in `on_chat_model_start` and add its record to the ledger."""
        started_at, started_perf, requested_model = self._pop_start(run_id)
        self.ledger.add(
            CallRecord(
                run_id=str(run_id),
                pattern=self.pattern,
                provider=self.provider,
                model=str(reported_model or requested_model),
                started_at=started_at,
                latency_s=time.perf_counter() - started_perf,
                usage=usage,
                finish_reason=finish_reason,
                error=error,
                streamed=self._pop_streamed(run_id),
                model_reported=bool(reported_model),
            )
        )
