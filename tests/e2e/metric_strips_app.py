"""Every metric strip of the app, filled with its longest values, for the projector test.

Served by `tests/e2e/test_a11y_e2e.py` with `streamlit run` at 1280×720, beside a sidebar as wide
as the app's, so each strip gets the width it has in the app. The strips are the app's own
functions; their inputs are stand-ins with the attributes those functions read (the longest a
demo plausibly shows: a 1,000-row batch, a 2-minute stream, a session of a million tokens).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.batch_view import estimate_strip, job_summary  # noqa: E402 - after the sys.path line above
from components.cost_view import totals_strip  # noqa: E402 - after the sys.path line above
from components.events_view import run_metrics  # noqa: E402 - after the sys.path line above
from components.streaming_view import first_word_metrics, stream_metrics  # noqa: E402 - after the sys.path line above
from components.theme import apply_projector_style  # noqa: E402 - after the sys.path line above
from core.batch import JobInfo, JobStatus, RowResult, RowStatus  # noqa: E402 - after the sys.path line above
from core.call.usage import Usage  # noqa: E402 - after the sys.path line above


def strip(name: str):
    st.markdown(f"**{name}**")
    return st.container(key=f"strip-{name.lower().replace(' ', '-').replace('/', '')}")


def main() -> None:
    st.set_page_config(page_title="Metric strips", layout="wide")
    apply_projector_style()
    with st.sidebar:  # the app always has its sidebar open beside these strips
        st.markdown("**Execution Patterns Lab**")
        st.selectbox("Provider", ["Embedded model (SmolLM2-135M, offline)"])

    stream = SimpleNamespace(
        usage=None, trace=SimpleNamespace(ttft_s=12.34, output_tokens_per_s=1234.0, e2e_s=123.45), chunk_count=12_345,
    )
    with strip("Streaming no usage"):
        stream_metrics(stream)  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads
    with strip("Streaming usage"):
        stream_metrics(SimpleNamespace(**{**vars(stream), "usage": Usage(123_456, 12_345, 135_801)}))  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads
    with strip("Stream vs wait"):
        first_word_metrics(12.34, 123.45)

    recorder = SimpleNamespace(
        events=[None] * 12_345, counts=lambda: {"on_chain_start": 1_234, "on_chat_model_stream": 12_345},
        elapsed_s=lambda: 123.45, total_s=123.45, first_chunk_s=12.34,
    )
    with strip("Events"):
        run_metrics(recorder)  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads

    estimate = SimpleNamespace(
        calls=1_000, tokens=SimpleNamespace(input_tokens=1_234_567, method="counted by the model's tokenizer"),
        input_cost_usd=0.000182, max_cost_usd=0.004096, max_output_tokens=512_000,
    )
    with strip("Batch estimate"):
        estimate_strip(estimate, max_tokens=512, price=SimpleNamespace(is_free=False))  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads
    with strip("Batch estimate no price"):
        estimate_strip(estimate, max_tokens=512, price=None)  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads

    rows = [
        RowResult("j", i, i + 2, "q", RowStatus.DONE if i % 2 else RowStatus.FAILED, output="a",
                  input_tokens=1_234 if i % 4 == 1 else None, output_tokens=1_234 if i % 4 == 1 else None,
                  cost_usd=0.000004 if i % 4 == 1 else None)
        for i in range(2_000)
    ]
    job = JobInfo("j", time.time(), "questions.csv", "Local", "m", 16, 0, JobStatus.RUNNING, 2_000,
                  {RowStatus.DONE: 1_000, RowStatus.FAILED: 1_000}, started_at=time.time() - 123.45)
    with strip("Batch job"):
        job_summary(job, rows)
    with strip("Batch job no usage"):
        job_summary(JobInfo(**{**vars(job), "status": JobStatus.DONE, "wall_s": 123.45}),
                    [RowResult(**{**vars(r), "input_tokens": None, "cost_usd": None}) for r in rows])

    totals = SimpleNamespace(
        calls=1_000, errors=12, usage_reported=988, input_tokens=12_345_678, cached_input_tokens=1_234_567,
        output_tokens=1_234_567, reasoning_tokens=123_456, priced_calls=900, cost_usd=0.000123,
        cost_complete=False,
    )
    with strip("Session totals"):
        totals_strip(totals)  # type: ignore[arg-type]  # a stand-in record with the fields the strip reads


if __name__ == "__main__":  # `streamlit run` runs it as __main__; pytest's doctest import does not
    main()
