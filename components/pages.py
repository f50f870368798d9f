"""The app's pages, in one place, so the router and the Home page agree on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

# Absolute page paths: st.Page resolves relative ones against the running script, which for
# AppTest.from_function is a temporary file.
ROOT = Path(__file__).resolve().parent.parent
HOME = "pages/home.py"

# Streamlit still treats a `pages/` folder beside the entry script as a v1 multipage app until
# the first `st.navigation` call of the process: a first visit straight to /streaming on a fresh
# server runs pages/streaming.py on its own, without the router. Each page therefore starts with
# `ensure_router()` (components/router.py), which runs the router around it in that case; for
# that to work a page's URL path must be its file name.
# tests/e2e/test_deep_link_e2e.py guards this.


@dataclass(frozen=True)
class PatternPage:
    """A built pattern page: its file, title, icon and one-paragraph summary for Home."""

    path: str
    title: str
    icon: str
    summary: str

    @property
    def url_path(self) -> str:
        """The URL path is the file's name: see the note on `ensure_router` above."""
        return Path(self.path).stem


# Only pages that exist are listed: a pattern appears here when its page is built.
PATTERN_PAGES: tuple[PatternPage, ...] = (
    PatternPage(
        "pages/streaming.py",
        "Streaming",
        ":material/stream:",
        "Tokens appear as they are generated (`llm.stream` → `st.write_stream`). Measures time "
        "to first token and tokens/second, and races `stream` against a full `invoke`.",
    ),
    PatternPage(
        "pages/events.py",
        "Streaming events",
        ":material/timeline:",
        "Every step inside a chain, live (`astream_events(version=\"v2\")`): an events log stamped "
        "on receipt, counts per type, filters, and a timeline of each run and its stream chunks.",
    ),
    PatternPage(
        "pages/structured.py",
        "Structured output",
        ":material/data_object:",
        "An object instead of text (`with_structured_output`): the JSON fills in field by field "
        "as it streams, with the time to the first field and to a valid object, the tokens spent "
        "on syntax, and what `json_schema`, `function_calling` and `json_mode` put on the wire.",
    ),
    PatternPage(
        "pages/batch.py",
        "Batch",
        ":material/stacks:",
        "Many prompts from a file with `batch_as_completed` and a `max_concurrency` limit: a "
        "cost estimate first, a live per-row table, results that survive reloads, CSV/JSONL "
        "export, and a sweep of wall time against concurrency.",
    ),
    PatternPage(
        "pages/async.py",
        "Async",
        ":material/sync_alt:",
        "Several calls in flight at once: an `invoke` loop against `ainvoke` + `asyncio.gather`, "
        "`abatch(max_concurrency=n)` and parallel `astream`s, drawn on one timeline with wall "
        "time and speed-up — on the CPU-bound embedded model and a simulated remote API.",
    ),
    PatternPage(
        "pages/metadata.py",
        "Metadata & cost",
        ":material/receipt_long:",
        "Every answer's receipt (`response_metadata`, `usage_metadata`): tokens, model, finish "
        "reason. An editable, dated price table turns tokens into dollars, and the session ledger "
        "totals every call made on every page.",
    ),
    PatternPage(
        "pages/chat.py",
        "Chat",
        ":material/forum:",
        "A conversation (`st.chat_input`, `st.write_stream`), where every turn resends the history: "
        "input tokens cached vs new, prefill, TTFT and cost per turn, adding up on a chart; trim or "
        "summarise the history, and replay it with the prompt cache off.",
    ),
    PatternPage(
        "pages/compare.py",
        "Compare endpoints",
        ":material/compare_arrows:",
        "One prompt streamed to two or three endpoints at once — the embedded model, OpenAI, any "
        "OpenAI-compatible URL, each optionally behind a simulated network — side by side: first "
        "token, tokens/s, cost, p50/p90 over repeats, and each call's waterfall.",
    ),
    PatternPage(
        "pages/load.py",
        "Load test",
        ":material/speed:",
        "Requests arriving at a rate, as users do (an open loop: Poisson, constant or bursty), "
        "swept up to and past saturation: TTFT and e2e percentiles against your SLO, the knee in "
        "one sentence, and the server's own queue and KV cache on the same time axis.",
    ),
)


def home_page(*, default: bool = True) -> StreamlitPage:
    return st.Page(ROOT / HOME, title="Home", icon=":material/home:", url_path="home", default=default)


def pattern_page(page: PatternPage, *, default: bool = False) -> StreamlitPage:
    """The `st.Page` for a pattern page (also what `st.page_link` takes)."""
    return st.Page(
        ROOT / page.path, title=page.title, icon=page.icon, url_path=page.url_path, default=default
    )
