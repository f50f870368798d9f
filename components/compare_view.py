"""The Compare page's pieces: endpoint pickers, live columns, figures, summary and ratios."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from components.call_kit import CallKit, call_kit
from components.display import fmt_seconds, show_problem
from components.replay_view import available_recordings
from components.runtime import (
    COMPARE_KEY_FIELD,
    COMPARE_URL_FIELD,
    base_url_refusal,
    current_recording,
    current_settings,
    embedded_status,
    endpoint_with_conditions,
    environment,
    recording_endpoint,
    replay_endpoint,
    sidebar_typed_key,
)
from core.call.models import Endpoint, resolve_endpoint
from core.embedded_server import EmbeddedModelUnavailable
from core.network.conditions import PRESETS
from core.network.recording import SPEEDS
from core.patterns.compare import (
    KIND_NAMES,
    LETTERS,
    CallFigures,
    CompareCall,
    EndpointSpec,
    EndpointSummary,
    compare_tags,
)
from core.security.keys import KeyGrant, key_for, without_userinfo
from core.security.untrusted import escape_markdown
from core.settings import (
    OPENAI_BASE_URL,
    ModelSettings,
    Provider,
    environment_key,
    key_field_words,
    provider_defaults,
    validate,
)

NONE = "— none —"
LIVE_REFRESH_S = 0.25  # per column: a few redraws a second read as "growing" and cost little
COLUMN_HEIGHT = 220


@dataclass(frozen=True)
class ResolvedEndpoint:
    """A column ready to call: its spec, settings and endpoint (proxied if a preset is set)."""

    spec: EndpointSpec
    settings: ModelSettings
    endpoint: Endpoint


def endpoint_picker(index: int, *, default_kind: str, default_network: str, optional: bool) -> EndpointSpec | None:
    """One column's choice: which endpoint, through which network preset (None = unused)."""
    letter = LETTERS[index]
    recordings = available_recordings()[0]
    kinds = [KIND_NAMES[p] for p in Provider] + list(recordings) + ([NONE] if optional else [])
    kind_name = st.selectbox(
        f"Endpoint {letter}", kinds, index=kinds.index(default_kind), key=f"compare.kind.{index}",
        help="A recording (Replay: …, made under Record & replay in the sidebar) answers from the "
        "file at the recorded pace, offline.",
    )
    if kind_name == NONE:
        return None
    if kind_name in recordings:
        recording = recordings[kind_name]
        pace = st.selectbox("Pace", list(SPEEDS), key=f"compare.pace.{index}",
                            help="1× replays each chunk at the time it arrived when recorded.")
        st.caption(f"{len(recording.exchanges)} recorded answer{'s' if len(recording.exchanges) != 1 else ''} "
                   f"of {escape_markdown(recording.model)}; other requests get “Not in the recording”.")
        return EndpointSpec(Provider.COMPATIBLE, model=recording.model, replay=kind_name, speed=SPEEDS[pace])
    kind = next(p for p in Provider if KIND_NAMES[p] == kind_name)
    model, base_url = "", ""
    env = environment()
    if kind is Provider.OPENAI:
        default_model = _sidebar_or_env(kind, env)[0]
        model = st.text_input("Model", default_model, key=f"compare.model.{index}")
    elif kind is Provider.COMPATIBLE:
        default_model, default_url = _sidebar_or_env(kind, env)
        base_url = st.text_input("Base URL", default_url, key=COMPARE_URL_FIELD.format(index),
                                 placeholder="http://localhost:11434/v1")
        model = st.text_input("Model", default_model, key=f"compare.model.{index}", placeholder="llama3.2")
        _column_key_field(index, base_url.strip(), env)
    network = st.selectbox(
        "Network", list(PRESETS), index=list(PRESETS).index(default_network), key=f"compare.net.{index}",
        help="Through the lab's network proxy on 127.0.0.1: e.g. 'Remote API ~300 ms' holds every "
        "request 300 ms, so the embedded model answers like a hosted API.",
    )
    return EndpointSpec(kind, network, model.strip(), base_url.strip().rstrip("/"))


def _sidebar_or_env(kind: Provider, env: dict[str, str]) -> tuple[str, str]:
    """(model, base_url) for `kind`: the sidebar's when it is set to `kind`, else the environment's."""
    settings = current_settings()
    if settings.provider is kind:
        return settings.model, settings.base_url
    return provider_defaults(kind, env)[:2]


def _column_key_field(index: int, base_url: str, env: dict[str, str]) -> None:
    """An OpenAI-compatible column's own key field, saying which key its Base URL gets."""
    env_key = environment_key(Provider.COMPATIBLE, env)
    words = key_field_words(Provider.COMPATIBLE, base_url, env_key)
    from_sidebar = key_for(base_url, [sidebar_typed_key(Provider.COMPATIBLE)])
    placeholder = "using the key typed in the sidebar" if from_sidebar else words.placeholder
    typed = st.text_input("API key (optional)", type="password", key=_column_key(index),
                          placeholder=placeholder, help=words.help)
    if words.warning and not from_sidebar and not typed.strip():
        st.caption(f":material/key_off: {escape_markdown(words.warning)}")


def _column_key(index: int) -> str:
    return COMPARE_KEY_FIELD.format(index)


def _column_grant(spec: EndpointSpec, index: int | None, env: dict[str, str]) -> KeyGrant | None:
    """The key a column may send: the one typed in it, the sidebar's typed for the same origin,
    then the environment's for its own endpoint (core.security.keys.key_for); None = no key."""
    url = OPENAI_BASE_URL if spec.kind is Provider.OPENAI else spec.base_url
    typed = str(st.session_state.get(_column_key(index)) or "") if index is not None and spec.kind is Provider.COMPATIBLE else ""
    return key_for(url, [KeyGrant(typed.strip(), None, "typed"), sidebar_typed_key(spec.kind),
                         environment_key(spec.kind, env)])


def resolve(spec: EndpointSpec, index: int | None = None) -> ResolvedEndpoint | str:
    """The column's settings and endpoint, or a plain-words reason why it cannot be called.

    The key is the one typed in column `index`, else the sidebar's or the environment's when
    it belongs to the column's Base URL (`_column_grant`); it stays a `SecretStr` in this
    process and is never put in the page.
    """
    base = current_settings()
    if spec.replay:
        recording = available_recordings()[0].get(spec.replay)
        if recording is None:
            return f"{spec.replay} is no longer in the recordings folder; choose another endpoint."
        replay = replay_endpoint(recording, spec.speed)
        settings = spec.settings(base, model=recording.model, base_url=replay.base_url, api_key=replay.api_key)
        return ResolvedEndpoint(spec, settings, replay)
    if spec.kind is Provider.LOCAL:
        settings = spec.settings(base, model="", base_url="", api_key=SecretStr(""))
    else:
        env = environment()
        default_model = _sidebar_or_env(spec.kind, env)[0]
        grant = _column_grant(spec, index, env)
        url = spec.base_url if spec.kind is Provider.COMPATIBLE else OPENAI_BASE_URL
        settings = spec.settings(base, model=spec.model or default_model, base_url=url,
                                 api_key=SecretStr(grant.key if grant else ""))
    problems = validate(settings)
    if problems:
        return " ".join(problems)
    refusal = base_url_refusal(settings)
    if refusal:
        return refusal
    try:
        endpoint = resolve_endpoint(settings, embedded_status().server)
    except EmbeddedModelUnavailable as exc:
        return str(exc)
    recording = current_recording()
    if recording is not None and spec.network == "Off" and (without_userinfo(endpoint.base_url), endpoint.model) == (
        recording.upstream, recording.model
    ):  # the sidebar is recording this very endpoint: its Compare calls are recorded too
        return ResolvedEndpoint(spec, settings, recording_endpoint(endpoint, PRESETS["Off"], recording))
    return ResolvedEndpoint(spec, settings, endpoint_with_conditions(endpoint, PRESETS[spec.network]))


def column_model(column: ResolvedEndpoint, http: object, max_tokens: int) -> ChatOpenAI:
    """A fresh `ChatOpenAI` for one column, on the action's own traced async client."""
    return column_kit(column).model(http_async_client=http, max_tokens=max_tokens)


def column_kit(column: ResolvedEndpoint) -> CallKit:
    """The call kit of one column: its own settings and endpoint, pattern "compare"."""
    return call_kit("compare", column.endpoint, settings=column.settings)


def column_config(column: ResolvedEndpoint, run_id: str, label: str) -> RunnableConfig:
    """The ledger's config for one column: pattern "compare", tagged with the run and the column."""
    config = column_kit(column).config
    config["tags"] = compare_tags(run_id, label)
    config["metadata"] = {"compare_run": run_id, "compare_endpoint": label}
    return config


class LiveColumns:
    """One column per endpoint: a header, a status line and a box the text grows in.

    `on_chunk` is called on the event loop, which `run_async` drives on the script thread, so
    it may redraw; it does so at most every `LIVE_REFRESH_S` per column.
    """

    def __init__(self, labels: Sequence[str], *, key: str, replays: Sequence[bool] = ()) -> None:
        self.texts = ["" for _ in labels]
        self._last = [0.0 for _ in labels]
        self.status = []
        self.slots = []
        self.below = []
        for i, (col, label) in enumerate(zip(st.columns(len(labels), border=True), labels, strict=True)):
            with col:
                st.markdown(f"**{escape_markdown(label)}**")
                if i < len(replays) and replays[i]:  # never passed off as live
                    st.badge("REPLAY · recorded answers", icon=":material/replay:", color="orange")
                self.status.append(st.empty())
                with st.container(height=COLUMN_HEIGHT, border=False, key=f"compare-{key}-col-{i}"):
                    self.slots.append(st.empty())
                self.below.append(st.container())

    def waiting(self, index: int, message: str = "waiting for the first token…") -> None:
        self.texts[index] = ""
        self.status[index].caption(f":material/hourglass_top: {message}")
        self.slots[index].text("")

    def on_chunk(self, index: int, text: str) -> None:
        if not self.texts[index]:
            self.status[index].caption(":material/stream: streaming…")
        self.texts[index] += text
        now = time.perf_counter()
        if now - self._last[index] >= LIVE_REFRESH_S:
            self._last[index] = now
            self.slots[index].text(self.texts[index])

    def finish(self, index: int, call: CompareCall, figures: CallFigures, note: str = "") -> None:
        """The column's final text, its figures and, when it failed, its own problem."""
        self.slots[index].text(call.text or "—")
        mark = ":material/check_circle:" if call.ok else ":material/error:"
        self.status[index].caption(f"{mark} done{note} · {fmt_seconds(figures.trace.e2e_s if figures.trace else None)}")
        with self.below[index]:
            figure_strip(figures)
            if call.problem is not None:
                show_problem(call.problem, what_was_kept="The other columns are not affected.")


def figure_strip(f: CallFigures) -> None:
    """TTFT, tokens/s, total, tokens, cost and finish reason of one call, as a small table."""
    ttft, tokens_per_s = (f.trace.ttft_s, f.trace.output_tokens_per_s) if f.trace else (None, None)
    rows = {
        "First token (TTFT)": fmt_seconds(ttft) if ttft is not None else "not measured",
        "Tokens/s": f"{tokens_per_s:.1f}" if tokens_per_s is not None else "not measured",
        "Total": fmt_seconds(f.trace.e2e_s if f.trace else None),
        "Input / output tokens": "not reported" if f.input_tokens is None else f"{f.input_tokens} / {f.output_tokens}",
        "Cost": f.cost_text,
        "Finish reason": f.finish_reason or "none given",
    }
    st.markdown("\n".join(f"- {name}: **{value}**" for name, value in rows.items()))


def _p(spread_value: float | None, fmt: str = "s") -> str:
    if spread_value is None:
        return "not measured"
    return fmt_seconds(spread_value) if fmt == "s" else f"{spread_value:.1f}"


def summary_table(summaries: Sequence[EndpointSummary], *, repeated: bool) -> None:
    """One row per endpoint: p50 (and p90 after a repeat) of its figures, failures, cost."""
    st.dataframe(summary_frame(summaries, repeated=repeated), hide_index=True, width="stretch")


def summary_frame(summaries: Sequence[EndpointSummary], *, repeated: bool) -> pd.DataFrame:
    """The summary table's data (also in the session report)."""
    data: dict[str, list[object]] = {"Endpoint": [s.label for s in summaries]}
    if repeated:
        data["Calls"] = [f"{s.calls - s.failures} ok / {s.calls}" for s in summaries]
        data["TTFT p50"] = [_p(s.spread("ttft_s").p50) for s in summaries]
        data["TTFT p90"] = [_p(s.spread("ttft_s").p90) for s in summaries]
        data["Total p50"] = [_p(s.spread("e2e_s").p50) for s in summaries]
        data["Total p90"] = [_p(s.spread("e2e_s").p90) for s in summaries]
        data["Tokens/s p50"] = [_p(s.spread("output_tokens_per_s").p50, "n") for s in summaries]
    else:
        data["TTFT"] = [_p(s.spread("ttft_s").p50) for s in summaries]
        data["Total"] = [_p(s.spread("e2e_s").p50) for s in summaries]
        data["Tokens/s"] = [_p(s.spread("output_tokens_per_s").p50, "n") for s in summaries]
        reported = [s.spread("reported_output_tokens").p50 for s in summaries]
        data["Output tokens"] = ["not reported" if n is None else f"{n:.0f}" for n in reported]
        data["Status"] = ["failed" if s.failures else "ok" for s in summaries]
    data["Cost" if not repeated else "Cost (all calls)"] = [s.cost_text for s in summaries]
    return pd.DataFrame(data)
