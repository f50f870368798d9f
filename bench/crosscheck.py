"""Cross-check the lab's TTFT / ITL / e2e against GuideLLM on the same server at the same load.

GuideLLM (PyPI `guidellm`, pinned below) is installed only in a virtual environment this
benchmark makes for itself, outside the repository (`$LAB_CROSSCHECK_VENV`, default
`<tmp>/lab-crosscheck/venv-guidellm`); it is never an app requirement. Both tools send the same
prompts to the same embedded llama.cpp server at the same fixed concurrency, alternating
(lab, GuideLLM, lab) because the model's speed drifts between runs on 2 shared cores.

The lab's figures come from its own sweep path (`core.batch.run_job` with a streaming
model, `RowResult.as_trace`); GuideLLM's from the per-request statistics in its JSON
output, summarised with the lab's percentile method (linear) so only the *definitions* and
the clocks differ, and GuideLLM's own percentiles (nearest rank) are shown beside them.

    python -m bench crosscheck     run it, merge its rows into bench/results.json, redraw RESULTS.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GUIDELLM = "guidellm==0.8.1"
# The load: fixed concurrency, a few short answers per pass (smaller on a crowded machine).
CONCURRENCY = int(os.environ.get("LAB_CROSSCHECK_CONCURRENCY", "2"))
REQUESTS = int(os.environ.get("LAB_CROSSCHECK_REQUESTS", "12"))
MAX_TOKENS = int(os.environ.get("LAB_CROSSCHECK_TOKENS", "16"))
PROMPTS = (
    "What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?",
    "Name three fruits.", "Explain what a rainbow is in one sentence.", "Name a colour.",
    "Tell me a joke about a cat.", "What is AI?", "What is ML?", "What is DL?",
    "List two planets.", "Say hello in French.",
)
MODULE = "bench.crosscheck"
TITLE = "Cross-check: the lab's TTFT / ITL / e2e beside GuideLLM's, same server, same load"


def venv_dir() -> Path:
    default = Path(tempfile.gettempdir()) / "lab-crosscheck" / "venv-guidellm"
    return Path(os.environ.get("LAB_CROSSCHECK_VENV") or default)


def ensure_guidellm() -> Path:
    """The guidellm executable in the benchmark's own venv, installing it there once."""
    venv = venv_dir()
    exe = venv / "bin" / "guidellm"
    if exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", GUIDELLM],
                            capture_output=True, text=True)
    if result.returncode != 0 or not exe.exists():
        raise RuntimeError(f"could not install {GUIDELLM} in {venv}: {result.stderr[-800:]}")
    return exe


def _pct(values: list[float], p: int) -> float | None:
    from core.call.stats import percentile

    return percentile(values, p) if values else None


def lab_pass(server: Any, prompts: list[str]) -> dict[str, list[float]]:
    """The lab's own figures: the sweep's streaming batch runner at `CONCURRENCY`."""
    from core.batch import JobStore, RunOptions, run_job
    from core.call.models import build_chat_model, resolve_endpoint
    from core.settings import ModelSettings, Provider

    settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS,
                             max_retries=0, timeout_s=600)
    endpoint = resolve_endpoint(settings, server)
    store = JobStore(Path(tempfile.mkdtemp()) / "crosscheck.sqlite3")
    job_id = store.create_job(prompts, source="crosscheck", endpoint="Local", model=endpoint.model,
                              max_concurrency=CONCURRENCY)
    run_job(store, job_id, build_chat_model(settings, endpoint, streaming=True),
            RunOptions(max_concurrency=CONCURRENCY))
    marks = store.row_marks(job_id)
    metrics = [r.as_trace(marks.get(r.index)) for r in store.rows(job_id)]
    good = [m for m in metrics if m is not None and m.ok]
    return {
        "ttft": [m.ttft_s * 1000 for m in good if m.ttft_s is not None],
        "itl": [g * 1000 for m in good for g in m.itl_s],
        "tpot": [m.tpot_s * 1000 for m in good if m.tpot_s is not None],
        "e2e": [m.e2e_s * 1000 for m in good if m.e2e_s is not None],
        "failed": [float(len(metrics) - len(good))],
    }


def guidellm_pass(exe: Path, server: Any, prompts: list[str], workdir: Path) -> dict[str, Any]:
    """GuideLLM at the same concurrency on the same prompts; its per-request statistics."""
    data = workdir / "prompts.json"
    data.write_text(json.dumps([{"prompt": p, "output_tokens_count": MAX_TOKENS} for p in prompts]))
    out = workdir / "guidellm.json"
    target = server.base_url.removesuffix("/v1")
    backend = (f"kind=openai_http,target={target},model={server.model_name},api_key={server.api_key},"
               f"request_format=/v1/chat/completions,max_tokens={MAX_TOKENS}")
    command = [str(exe), "run", "--backend", backend,
               "--profile", f"kind=concurrent,streams={CONCURRENCY}",
               "--constraint", f"kind=max_requests,count={len(prompts)}",
               "--data", f"kind=json_file,path={data}",
               "--output", f"kind=json,path={out}", "--disable-console-interactive"]
    # Offline: GuideLLM must not try to download a tokenizer; it counts tokens from usage.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0 or not out.exists():
        tail = (result.stderr or result.stdout)[-1500:].replace(server.api_key, "[redacted]")
        raise RuntimeError(f"guidellm exited {result.returncode}: {tail}")
    report = json.loads(out.read_text())
    benchmark = report["benchmarks"][0]
    requests = benchmark["requests"]["successful"]
    metrics = benchmark.get("metrics", {})

    def own(name: str, p: str) -> float | None:
        try:
            return float(metrics[name]["successful"]["percentiles"][p])
        except (KeyError, TypeError):
            return None

    return {
        "ttft": [r["time_to_first_token_ms"] for r in requests if r.get("time_to_first_token_ms") is not None],
        "itl": [r["inter_token_latency_ms"] for r in requests if r.get("inter_token_latency_ms") is not None],
        "e2e": [r["request_latency"] * 1000 for r in requests if r.get("request_latency") is not None],
        "errored": len(benchmark["requests"].get("errored") or []),
        # GuideLLM's own summary percentiles (nearest rank); its request_latency is in seconds.
        "own": {(k, p): None if (v := own(name, p)) is None else v * scale
                for k, name, scale in (("ttft", "time_to_first_token_ms", 1.0),
                                       ("itl", "inter_token_latency_ms", 1.0),
                                       ("e2e", "request_latency", 1000.0)) for p in ("p50", "p90")},
    }


# Why a figure can differ by more than 10 %, read from the two tools' source
# (core/call/metric_definitions.py cites the files).
WHY = {
    "TTFT": "Same definition in both (first chunk with text). Read the drift rows first: when the "
            "lab's own two passes differ by more than 10 %, the machine moved between passes and "
            "that, not the tool, is most of the gap. What remains: GuideLLM stamps TTFT with "
            "time.time() in a worker process, the lab with perf_counter in the calling thread, and "
            "each client's own CPU competes with the model on the same cores.",
    "ITL (lab: every gap; GuideLLM: per-request mean)": "Different definitions: the lab pools every "
            "gap between text chunks (like vLLM's ITL), so p90 is the slow tail of single gaps; "
            "GuideLLM's ITL is one average per request, (last − first token) / (tokens − 1), whose "
            "percentiles are much narrower. Compare the TPOT row.",
    "TPOT (lab) vs GuideLLM ITL": "Like for like but for the end point (the lab's TPOT runs to the "
            "end of the stream, after the usage chunk; GuideLLM's ITL to the last token: a few ms "
            "per call, spread over the tokens). A larger gap is drift between passes (drift rows).",
    "e2e": "Same definition (request → end of stream). A gap past 10 % is the machine's drift "
           "between passes (drift rows) and each client's own CPU on the same cores.",
}


def drift_rows(first: dict[str, list[float]], second: dict[str, list[float]],
               loads: list[float]) -> list[dict[str, object]]:
    """The lab against itself: its two passes (before and after GuideLLM's) on the same load.

    When the two lab passes differ by more than the tools do, the machine moved under the
    benchmark, and no difference between the tools can be told from that drift.
    """
    rows: list[dict[str, object]] = []
    for key, name in (("ttft", "TTFT"), ("e2e", "e2e")):
        a, b = _pct(first[key], 50), _pct(second[key], 50)
        rows.append({
            "metric": f"drift: lab pass 2 / pass 1, {name} p50",
            "lab (ms)": b, "GuideLLM (ms)": None, "GuideLLM own pctl (ms)": None,
            "lab / GuideLLM": b / a if a and b else None, "within 10 %": "",
            "why, when not": f"pass 1: {a:,.0f} ms, pass 2: {b:,.0f} ms" if a and b else "",
        })
    rows.append({"metric": "machine load average (1 min) at each pass: lab, GuideLLM, lab",
                 "why, when not": " → ".join(f"{v:.1f}" for v in loads) + f" on {os.cpu_count()} cores"})
    return rows


def compare(lab: dict[str, list[float]], guide: dict[str, Any]) -> list[dict[str, object]]:
    pairs = (
        ("TTFT", lab["ttft"], guide["ttft"], "ttft"),
        ("ITL (lab: every gap; GuideLLM: per-request mean)", lab["itl"], guide["itl"], "itl"),
        ("TPOT (lab) vs GuideLLM ITL", lab["tpot"], guide["itl"], "itl"),
        ("e2e", lab["e2e"], guide["e2e"], "e2e"),
    )
    rows: list[dict[str, object]] = []
    for name, ours, theirs, key in pairs:
        for p in (50, 90):
            a, b = _pct(ours, p), _pct(theirs, p)
            ratio = a / b if a is not None and b else None
            rows.append({
                "metric": f"{name} p{p}",
                "lab (ms)": a,
                "GuideLLM (ms)": b,
                "GuideLLM own pctl (ms)": guide["own"].get((key, f"p{p}")),
                "lab / GuideLLM": ratio,
                "within 10 %": "?" if ratio is None else ("yes" if abs(ratio - 1) <= 0.10 else "no"),
                "why, when not": "" if ratio is not None and abs(ratio - 1) <= 0.10 else WHY[name],
            })
    return rows


def run() -> list[dict[str, object]]:
    """Lab, GuideLLM, lab again, on one embedded server; the comparison rows."""
    from core.embedded_server import start_embedded_server

    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(REQUESTS)]
    try:
        exe = ensure_guidellm()
    except Exception as exc:  # kept apart from the saved figures by `python -m bench crosscheck`
        raise RuntimeError(f"GuideLLM could not run: {exc}") from exc
    server = start_embedded_server()
    try:
        workdir = Path(tempfile.mkdtemp(prefix="crosscheck-"))
        lab_pass(server, prompts[:CONCURRENCY])  # warm-up: cache and connections; discarded
        started = time.perf_counter()
        loads = [os.getloadavg()[0]]
        first = lab_pass(server, prompts)
        loads.append(os.getloadavg()[0])
        guide = guidellm_pass(exe, server, prompts, workdir)
        loads.append(os.getloadavg()[0])
        second = lab_pass(server, prompts)
        lab = {k: first[k] + second[k] for k in first}
        rows = compare(lab, guide) + drift_rows(first, second, loads)
        rows.append({
            "metric": f"load: concurrency {CONCURRENCY}, {REQUESTS} requests × {MAX_TOKENS} tokens per pass",
            "lab (ms)": None, "GuideLLM (ms)": None,
            "why, when not": f"lab: 2 passes, {int(lab['failed'][0])} failed; GuideLLM: 1 pass, "
                             f"{guide['errored']} errored; {time.perf_counter() - started:.0f} s in all",
        })
        return rows
    finally:
        server.stop()
