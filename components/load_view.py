"""The Load test page's pieces: the sweep's table, its two charts, and its exports.

Every figure is read from the levels (`core.patterns.load.LoadRun`, its calls a `core.call.run.Run`) and the
server's own reports (`core.patterns.server_view`); nothing here times or derives a call's figure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from components.theme import BLUE, GREEN, GREY, INK, ORANGE, PURPLE, RED, TEAL
from core.call.stats import Slo
from core.patterns.load import LoadRun
from core.patterns.load_sweep import Knee, RateSweep, level_row
from core.patterns.server_view import SERIES, ServerView
from core.security.untrusted import csv_text

NOT_REPORTED = "not reported"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def levels_frame(levels: Sequence[LoadRun], slo: Slo | None) -> pd.DataFrame:
    """One row per rate, formatted for the page: offered vs achieved, latencies, throughput."""
    records = []
    for level in sorted(levels, key=lambda lv: lv.spec.rate_per_s):
        row = level_row(level, slo)
        record: dict[str, object] = {
            "rate (req/s)": f"{row['target_rate_per_s']:g}",
            "arrived (req/s)": _rate(row["achieved_rate_per_s"]),
            "done (req/s)": _rate(row["throughput_req_per_s"]),
            "output tok/s": "—" if row["output_tokens_per_s"] is None else f"{row['output_tokens_per_s']:.1f}",
            "sent (failed)": f"{row['sent']} ({row['failed']})" + (f" · {row['cancelled']} stopped" if row["cancelled"] else ""),
            "TTFT p50": _ms(row["ttft_p50_s"]),
            "TTFT p90": _ms(row["ttft_p90_s"]),
            "ITL p50": _ms(row["itl_p50_s"]),
            "TPOT p50": _ms(row["tpot_p50_s"]),
            "e2e p50": _ms(row["e2e_p50_s"]),
            "e2e p90": _ms(row["e2e_p90_s"]),
        }
        if "goodput_share" in row:
            share = row["goodput_share"]
            record["goodput"] = "—" if share is None else f"{share:.0%}"
        record["cap wait p90"] = _ms(row["cap_wait_p90_s"]) if level.spec.max_in_flight else "no cap"
        record["server deferred (peak)"] = NOT_REPORTED if row["server_deferred_peak"] is None else f"{row['server_deferred_peak']:g}"
        record["failures"] = row["failures"] or "—"
        records.append(record)
    return pd.DataFrame(records)


# --- charts ------------------------------------------------------------------------------------


def percentiles_figure(levels: Sequence[LoadRun], slo: Slo | None, knee: Knee | None) -> go.Figure:
    """TTFT and e2e p50/p90/p99 against the rate, the SLO as a dashed line, the knee marked;
    and beside them the rate that arrived against the rate completed."""
    ordered = sorted(levels, key=lambda lv: lv.spec.rate_per_s)
    rates = [lv.spec.rate_per_s for lv in ordered]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("Time to first token (s)", "End-to-end (s)", "Requests a second"))
    for col, key, limit in ((1, "ttft_s", slo.ttft_ms / 1000 if slo and slo.ttft_ms else None),
                            (2, "e2e_s", slo.e2e_s if slo else None)):
        for p, colour, dash in ((50, GREEN, "solid"), (90, ORANGE, "solid"), (99, RED, "dot")):
            values = [lv.run.distribution(key).at(p).value for lv in ordered]
            if all(v is None for v in values):
                continue
            fig.add_trace(go.Scatter(x=rates, y=values, mode="lines+markers", name=f"p{p}",
                                     line={"color": colour, "dash": dash}, legendgroup=f"p{p}",
                                     showlegend=col == 1), row=1, col=col)
        if limit is not None:
            fig.add_hline(y=limit, line={"color": GREY, "dash": "dash"}, row=1, col=col,
                          annotation_text="SLO", annotation_position="top left")
        if knee is not None and knee.first_bad is not None:
            fig.add_vline(x=knee.first_bad, line={"color": RED, "width": 1}, row=1, col=col)
    fig.add_trace(go.Scatter(x=rates, y=[lv.achieved_rate_per_s for lv in ordered], mode="lines+markers",
                             name="arrived", line={"color": GREY}), row=1, col=3)
    fig.add_trace(go.Scatter(x=rates, y=[lv.throughput_per_s for lv in ordered], mode="lines+markers",
                             name="completed", line={"color": BLUE}), row=1, col=3)
    if slo is not None and slo.is_set:
        fig.add_trace(go.Scatter(x=rates, y=[lv.run.goodput(slo).rate_per_s for lv in ordered],
                                 mode="lines+markers", name="within SLO", line={"color": GREEN, "dash": "dash"}),
                      row=1, col=3)
    fig.update_xaxes(title_text="offered rate (req/s)", tickvals=rates)
    fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.3})
    return fig


def _steps(events: list[tuple[float, int]]) -> tuple[list[float], list[int]]:
    """A running count from (time, +1/−1) events; ends before starts at the same moment."""
    xs, ys, current = [0.0], [0], 0
    for at, delta in sorted(events):
        current += delta
        xs.append(at)
        ys.append(current)
    return xs, ys


def timeline_figure(level: LoadRun) -> go.Figure:
    """One level on its own clock: arrivals, calls in flight and waiting for the cap (the client's
    side) with the server's processing and deferred requests; each request's TTFT; and what the
    server holds in its KV cache (or the rate-limit headers), only where it reported it."""
    view: ServerView | None = level.server
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.42, 0.3, 0.28],
                        subplot_titles=("Requests: the client's side and the server's",
                                        "Time to first token of each request (s)", "The server's memory"))
    in_flight: list[tuple[float, int]] = []
    waiting: list[tuple[float, int]] = []
    capped = level.spec.max_in_flight is not None  # without a cap nothing waits in the client
    for r in level.requests:
        if capped and r.released_s is not None and r.sent_s is not None and r.sent_s > r.released_s:
            waiting += [(r.released_s, 1), (r.sent_s, -1)]
        end = r.trace.end if r.trace is not None else None
        if r.sent_s is not None and end is not None:
            in_flight += [(r.sent_s, 1), (end - level.started, -1)]
    xs, ys = _steps(in_flight)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"shape": "hv", "color": BLUE}, name="in flight (client)"),
                  row=1, col=1)
    if waiting:
        xs, ys = _steps(waiting)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"shape": "hv", "color": PURPLE},
                                 name="waiting for the cap (client)"), row=1, col=1)
    arrivals = [r.released_s for r in level.requests if r.released_s is not None]
    fig.add_trace(go.Scatter(x=arrivals, y=[0] * len(arrivals), mode="markers", name="arrival",
                             marker={"symbol": "line-ns-open", "size": 12, "color": INK}), row=1, col=1)
    if view is not None:
        for name, colour in (("processing", TEAL), ("deferred", ORANGE)):
            points = view.series(name)
            if points:
                fig.add_trace(go.Scatter(x=[t for t, _ in points], y=[v for _, v in points], mode="lines+markers",
                                         line={"shape": "hv", "color": colour, "dash": "dot"},
                                         name=f"server: {name}"), row=1, col=1)
    ok = [r for r in level.requests if r.trace is not None and not r.cancelled and r.trace.ttft_s is not None]
    fig.add_trace(go.Scatter(x=[r.sent_s for r in ok], y=[r.trace.ttft_s for r in ok if r.trace], mode="markers",
                             marker={"color": BLUE}, name="TTFT (by when sent)"), row=2, col=1)
    failed = [r for r in level.requests if r.trace is not None and not r.cancelled and r.trace.outcome is not None
              and not r.trace.ok]
    if failed:
        fig.add_trace(go.Scatter(x=[r.sent_s for r in failed], y=[0] * len(failed), mode="markers",
                                 marker={"color": RED, "symbol": "x", "size": 10}, name="failed"), row=2, col=1)
    _memory_row(fig, view)
    fig.update_xaxes(title_text="seconds from the first arrival", row=3, col=1)
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.12})
    return fig


def _memory_row(fig: go.Figure, view: ServerView | None) -> None:
    shown = False
    if view is not None:
        for name, colour in (("slot_tokens", PURPLE), ("kv_cache_usage", PURPLE), ("remaining_requests", TEAL),
                             ("remaining_tokens", ORANGE)):
            points = view.series(name)
            if points:
                fig.add_trace(go.Scatter(x=[t for t, _ in points], y=[v for _, v in points], mode="lines+markers",
                                         line={"shape": "hv", "color": colour}, name=SERIES[name]), row=3, col=1)
                shown = True
    if not shown:
        why = view.note if view is not None and view.note else "not reported by this endpoint"
        fig.add_annotation(text=why, xref="x3 domain", yref="y3 domain", x=0.5, y=0.5, showarrow=False,
                           font={"color": GREY})


# --- exports -----------------------------------------------------------------------------------

LEVEL_COLUMNS = (
    "target_rate_per_s", "achieved_rate_per_s", "sent", "succeeded", "failed", "cancelled",
    "throughput_req_per_s", "output_tokens_per_s",
    *(f"{m}_p{p}_s" for m in ("ttft", "itl", "tpot", "e2e") for p in (50, 90, 99)),
    "goodput_share", "goodput_req_per_s", "cap_wait_p90_s", "generator_lag_p99_s",
    "server_deferred_peak", "server_slot_tokens_peak", "failures",
)
REQUEST_COLUMNS = (
    "rate_per_s", "index", "scheduled_s", "released_s", "sent_s", "cap_wait_s", "state",
    "ttft_s", "tpot_s", "e2e_s", "output_tokens", "problem",
)


def request_rows(levels: Sequence[LoadRun]) -> list[dict[str, Any]]:
    """Every request of every level: its schedule and its trace's own figures."""
    rows = []
    for level in levels:
        for r in level.requests:
            t = r.trace if not r.cancelled else None
            rows.append({
                "rate_per_s": level.spec.rate_per_s, "index": r.index, "scheduled_s": r.scheduled_s,
                "released_s": r.released_s, "sent_s": r.sent_s, "cap_wait_s": r.cap_wait_s, "state": r.state,
                "ttft_s": t.ttft_s if t else None, "tpot_s": t.tpot_s if t else None,
                "e2e_s": t.e2e_s if t else None, "output_tokens": t.output_tokens if t else None,
                "problem": t.problem.title if t and t.problem else "",
            })
    return rows


def levels_csv(sweep: RateSweep, slo: Slo | None) -> str:
    return csv_text(LEVEL_COLUMNS, [level_row(lv, slo) for lv in sweep.levels])


def requests_csv(sweep: RateSweep) -> str:
    return csv_text(REQUEST_COLUMNS, request_rows(sweep.levels))


def sweep_json(sweep: RateSweep, slo: Slo | None, knee: Knee | None) -> str:
    """The whole sweep: the load asked for, each level's figures, each request, the server's reports."""
    return json.dumps({
        "load": sweep.spec.describe(), "rates": list(sweep.rates), "stopped": sweep.stopped,
        "slo": slo.describe() if slo else None, "knee": knee.sentence if knee else None,
        "levels": [
            level_row(lv, slo) | {
                "server": None if lv.server is None else {
                    "source": lv.server.source, "note": lv.server.note,
                    "samples": [{"at_s": s.at_s, **s.values} for s in lv.server.samples],
                },
            }
            for lv in sweep.levels
        ],
        "requests": request_rows(sweep.levels),
    }, indent=1, default=str)
