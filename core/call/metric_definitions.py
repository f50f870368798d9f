"""How this lab computes each metric, beside how four serving benchmarks compute the same name.

The same name means different things in different tools: vLLM's "ITL" is every gap between
chunks, GuideLLM's is (last − first token) / (tokens − 1), which is close to what vLLM and
AIPerf call TPOT / ITL, while GuideLLM's own "TPOT" includes the wait for the first token.
Each entry below was read from the tool's source, at the commit cited, not from memory.
"""

from __future__ import annotations

from dataclasses import dataclass

TOOLS: tuple[str, ...] = ("vLLM bench serve", "GuideLLM", "llmperf", "AIPerf")

#: How each figure of one call is derived (`core.call.trace.CallTrace`, its only derivation): shown
#: beside the figures, exported with them. Keys are the trace's property names.
METRIC_DEFINITIONS: dict[str, str] = {
    "ttft_s": "Time to first token: from the call's start (before LangChain) to the first "
    "streamed chunk that carries text.",
    "e2e_s": "End-to-end latency: from the call's start to the runner having consumed the last "
    "chunk (or the whole answer).",
    "itl_s": "Inter-token latency: each gap between consecutive chunks with text, after the "
    "first.",
    "tpot_s": "Time per output token: (e2e − TTFT) / (output tokens − 1).",
    "output_tokens_per_s": "Output tokens per second: (output tokens − 1) / (last text chunk − "
    "first text chunk); the wait for the first token is TTFT's, not this figure's.",
    "output_tokens": "Output tokens as the endpoint reported them (usage); when it reported no "
    "usage, the number of text chunks (one token per chunk on llama.cpp and OpenAI), marked so.",
}


@dataclass(frozen=True)
class Source:
    """Where a definition was read: repository, file (+ function) and the commit read."""

    repo: str
    path: str
    symbol: str
    commit: str

    def cite(self) -> str:
        """Example:
        >>> Source("ray-project/llmperf", "token_benchmark_ray.py", "metrics_summary", "f1d6bed").cite()
        'ray-project/llmperf · token_benchmark_ray.py · metrics_summary @ f1d6bed'
        """
        return f"{self.repo} · {self.path} · {self.symbol} @ {self.commit[:7]}"


@dataclass(frozen=True)
class ToolDefinition:
    """One tool's definition of a metric, and where it was read."""

    tool: str
    text: str
    source: Source


@dataclass(frozen=True)
class MetricDefinition:
    """A metric as this lab computes it, and as the other tools do.

    Attributes:
        key: the key in `core.call.stats` ("ttft_s", ...), or "" for a method (percentiles, goodput).
        name: the name shown in tables.
        lab: how this lab computes it (see `core.call.stats`).
        others: the other tools' definitions, in `TOOLS` order.
    """

    key: str
    name: str
    lab: str
    others: tuple[ToolDefinition, ...]

    def by_tool(self, tool: str) -> ToolDefinition:
        return next(d for d in self.others if d.tool == tool)


_VLLM = "vllm-project/vllm"
_VLLM_SERVE = Source(_VLLM, "vllm/benchmarks/serve.py", "calculate_metrics", "def9ce85ba1079af970a58ed3d42dd861ae35d58")
_VLLM_CHAT = Source(
    _VLLM, "vllm/benchmarks/lib/endpoint_request_func.py", "async_request_openai_chat_completions",
    "3aee4a4f4c4d1a2a7af3ebdb88c768e459e6c602",
)
_GUIDE = "vllm-project/guidellm"
_GUIDE_COMMIT = "ee7a77457ba668b4b5ccb40f110518829893b36a"
_GUIDE_STATS = "src/guidellm/schemas/request_stats.py"
_GUIDE_HTTP = Source(_GUIDE, "src/guidellm/backends/openai/http.py", "OpenAIHTTPBackend streaming loop", _GUIDE_COMMIT)
_LLMPERF = "ray-project/llmperf"
_LLMPERF_COMMIT = "f1d6bed47e4501b0e371082b41601b59ab55269f"
_LLMPERF_CLIENT = Source(
    _LLMPERF, "src/llmperf/ray_clients/openai_chat_completions_client.py",
    "OpenAIChatCompletionsClient.llm_request", _LLMPERF_COMMIT,
)
_LLMPERF_BENCH = Source(_LLMPERF, "token_benchmark_ray.py", "get_token_throughput_latencies", _LLMPERF_COMMIT)
_AIPERF = "ai-dynamo/aiperf"
_AIPERF_COMMIT = "db4f6397d11ee2d4cfbb41f70b2327315163dcf0"


def _aiperf(path: str, symbol: str) -> Source:
    return Source(_AIPERF, f"aiperf/{path}", symbol, _AIPERF_COMMIT)


def _guide(symbol: str) -> Source:
    return Source(_GUIDE, _GUIDE_STATS, f"GenerativeRequestStats.{symbol}", _GUIDE_COMMIT)


DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "ttft_s", "TTFT",
        "Call start (before LangChain) → first streamed chunk with text; the call trace's marks "
        "(core/call/trace.py: CallTrace.ttft_s), perf_counter.",
        (
            ToolDefinition(TOOLS[0], "→ first SSE message with `choices`, even one whose delta has no "
                           "text (e.g. a role-only first chunk).", _VLLM_CHAT),
            ToolDefinition(TOOLS[1], "→ first SSE line the handler counts as a token (content or "
                           "reasoning), wall clock time.time().", _GUIDE_HTTP),
            ToolDefinition(TOOLS[2], "→ first SSE chunk whose delta has non-empty `content` (same as the lab).",
                           _LLMPERF_CLIENT),
            ToolDefinition(TOOLS[3], "→ first parsed response (`responses[0].perf_ns`).",
                           _aiperf("metrics/types/ttft_metric.py", "TTFTMetric._parse_record")),
        ),
    ),
    MetricDefinition(
        "itl_s", "ITL",
        "Every gap between consecutive text chunks after the first, pooled over all calls.",
        (
            ToolDefinition(TOOLS[0], "Every gap between SSE messages with `choices` after the first, "
                           "pooled over requests (same idea as the lab; empty-text chunks count).", _VLLM_CHAT),
            ToolDefinition(TOOLS[1], "Per request: (last token − first token) / (output tokens − 1) — an "
                           "average, i.e. close to the lab's TPOT, not a gap list.", _guide("inter_token_latency_ms")),
            ToolDefinition(TOOLS[2], "Per request: sum of all gaps *including TTFT* / output tokens "
                           "(tokens counted with a Llama tokenizer) ≈ e2e / tokens.", _LLMPERF_BENCH),
            ToolDefinition(TOOLS[3], "Per request: (request latency − TTFT) / (output tokens − 1), i.e. "
                           "the lab's TPOT; the gap list is 'inter chunk latency'.",
                           _aiperf("metrics/types/inter_token_latency_metric.py", "InterTokenLatencyMetric._parse_record")),
        ),
    ),
    MetricDefinition(
        "tpot_s", "TPOT",
        "(e2e − TTFT) / (output tokens − 1); none for answers under 2 tokens.",
        (
            ToolDefinition(TOOLS[0], "(latency − TTFT) / (output tokens − 1), latency to the last SSE "
                           "message; tokens from usage, else re-tokenised text (same as the lab).", _VLLM_SERVE),
            ToolDefinition(TOOLS[1], "(last token − request start) / output tokens — *includes* TTFT.",
                           _guide("time_per_output_token_ms")),
            ToolDefinition(TOOLS[2], "No TPOT; its 'inter_token_latency' plays that role (see ITL).", _LLMPERF_BENCH),
            ToolDefinition(TOOLS[3], "Called ITL there: (request latency − TTFT) / (output tokens − 1), "
                           "tokens from a client-side tokenizer.",
                           _aiperf("metrics/types/inter_token_latency_metric.py", "InterTokenLatencyMetric._parse_record")),
        ),
    ),
    MetricDefinition(
        "e2e_s", "e2e latency",
        "Call start → the runner consumed the last chunk (after the usage chunk), as the caller sees it.",
        (
            ToolDefinition(TOOLS[0], "Request → last SSE data message (the usage chunk included).", _VLLM_CHAT),
            ToolDefinition(TOOLS[1], "request_start → request_end, wall clock.", _guide("request_latency")),
            ToolDefinition(TOOLS[2], "Request → stream fully read (`total_request_time`).", _LLMPERF_CLIENT),
            ToolDefinition(TOOLS[3], "Request start → last response (`responses[-1].perf_ns`).",
                           _aiperf("metrics/types/request_latency_metric.py", "RequestLatencyMetric._parse_record")),
        ),
    ),
    MetricDefinition(
        "output_tokens_per_s", "Output tokens/s",
        "Per call: (output tokens − 1) / (last − first text chunk), TTFT excluded (the call "
        "trace's tokens/s). Per sweep level: all output tokens / wall time.",
        (
            ToolDefinition(TOOLS[0], "Per run only: total output tokens / benchmark duration.", _VLLM_SERVE),
            ToolDefinition(TOOLS[1], "Per request: output tokens / request latency (usage tokens, else "
                           "token iterations).", _guide("output_tokens_per_second")),
            ToolDefinition(TOOLS[2], "Per request: tokenizer-counted output tokens / e2e.", _LLMPERF_BENCH),
            ToolDefinition(TOOLS[3], "Per run: output tokens / duration; per user: 1 / ITL.",
                           _aiperf("metrics/types/output_token_throughput_metrics.py", "OutputTokenThroughputPerUserMetric")),
        ),
    ),
    MetricDefinition(
        "", "Percentiles",
        "Linear interpolation between closest ranks (numpy's default); p50 needs ≥ 2 runs, p90 "
        "≥ 10, p99 ≥ 100, otherwise 'needs ≥ N runs'. Failed calls left out.",
        (
            ToolDefinition(TOOLS[0], "np.percentile (linear), failed requests left out; printed for any N.", _VLLM_SERVE),
            ToolDefinition(TOOLS[1], "Nearest rank on the weighted CDF (searchsorted, no interpolation).",
                           Source(_GUIDE, "src/guidellm/schemas/statistics.py", "Percentiles.from_pdf", _GUIDE_COMMIT)),
            ToolDefinition(TOOLS[2], "pandas Series.quantile (linear), errored requests left out.",
                           Source(_LLMPERF, "token_benchmark_ray.py", "metrics_summary", _LLMPERF_COMMIT)),
            ToolDefinition(TOOLS[3], "np.percentile (linear) over p1…p99.",
                           _aiperf("metrics/metric_dicts.py", "MetricArray.to_result")),
        ),
    ),
    MetricDefinition(
        "", "Goodput",
        "Share of all calls (failed = not good) meeting every SLO set (≤), and good calls / wall time.",
        (
            ToolDefinition(TOOLS[0], "Good requests / duration; SLOs on TTFT, TPOT, e2el (≤); TPOT of a "
                           "one-token answer counts as 0.", _VLLM_SERVE),
            ToolDefinition(TOOLS[1], "No goodput figure in the request statistics.", Source(_GUIDE, _GUIDE_STATS, "GenerativeRequestStats (no goodput field)", _GUIDE_COMMIT)),
            ToolDefinition(TOOLS[2], "No goodput.", _LLMPERF_BENCH),
            ToolDefinition(TOOLS[3], "Good request count / benchmark duration; each SLO ≤ (≥ for "
                           "throughput-like metrics).",
                           _aiperf("metrics/types/goodput_metric.py", "GoodputMetric._derive_value")),
        ),
    ),
)


def definition(key_or_name: str) -> MetricDefinition:
    """Look a definition up by its stats key or its shown name.

    Example:
        >>> definition("tpot_s").name, definition("Goodput").by_tool("vLLM bench serve").source.path
        ('TPOT', 'vllm/benchmarks/serve.py')
    """
    return next(d for d in DEFINITIONS if key_or_name in (d.key, d.name))


def definitions_rows() -> list[dict[str, str]]:
    """The table as rows: metric, this lab, then one column per tool (text, no citation)."""
    return [
        {"metric": d.name, "this lab": d.lab, **{o.tool: o.text for o in d.others}} for d in DEFINITIONS
    ]


def sources_rows() -> list[dict[str, str]]:
    """Where each tool's definition was read: one row per (metric, tool)."""
    return [
        {"metric": d.name, "tool": o.tool, "source": o.source.cite()} for d in DEFINITIONS for o in d.others
    ]


def as_json() -> list[dict[str, object]]:
    """The definitions with their sources, for exports."""
    return [
        {
            "metric": d.name,
            "key": d.key or None,
            "this_lab": d.lab,
            "others": [
                {"tool": o.tool, "definition": o.text, "repo": o.source.repo, "path": o.source.path,
                 "function": o.source.symbol, "commit": o.source.commit}
                for o in d.others
            ],
        }
        for d in DEFINITIONS
    ]
