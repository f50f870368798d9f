"""AppTest of the Metadata & cost page: the real router, the real embedded model."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from components.pages import ROOT

METADATA = "pages/metadata.py"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def quick(at: AppTest, max_tokens: int = 8) -> None:
    """Repeatable and short: temperature 0, few tokens (for pages that use the sidebar's limit)."""
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(max_tokens)


def test_ledger_fills_from_two_pages_in_one_session(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    quick(at)
    at.text_area(key="streaming.prompt").set_value("Name a colour.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception
    streamed_in, streamed_out = (int(n) for n in metrics(at)["Tokens in / out"].split(" / "))

    # Same browser session, another page: switch_page keeps session_state (so the ledger).
    at.switch_page(str(ROOT / METADATA)).run()
    assert not at.exception
    assert at.title[0].value == "Metadata & cost"
    m = metrics(at)
    assert (m["Calls"], m["Usage reported"]) == ("1", "1 of 1")
    assert (m["Input tokens"], m["Output tokens"]) == (str(streamed_in), str(streamed_out))

    at.number_input(key="metadata.max_tokens").set_value(8)
    at.button(key="metadata.run_receipt").click().run()
    assert not at.exception
    receipt = " ".join(md.value for md in at.markdown)
    receipt_in = int(receipt.split("**input tokens** `")[1].split("`")[0])
    receipt_out = int(receipt.split("**output tokens** `")[1].split("`")[0])
    m = metrics(at)
    assert (m["Calls"], m["Usage reported"]) == ("2", "2 of 2")
    assert int(m["Input tokens"].replace(",", "")) == streamed_in + receipt_in
    assert int(m["Output tokens"].replace(",", "")) == streamed_out + receipt_out
    assert m["Session cost"] == "$0.00"  # the embedded model is priced at $0, not "no price"
    ledger = next(df.value for df in at.dataframe if "pattern" in df.value.columns)
    assert list(ledger["pattern"]) == ["streaming", "metadata"]
    assert list(ledger["cost"]) == [0.0, 0.0] and list(ledger["note"]) == ["", ""]
    assert any("2 calls" in c.value for c in at.sidebar.caption)

    # Another browser session starts with its own, empty ledger.
    other = open_page(METADATA)
    assert metrics(other)["Calls"] == "0"


def test_receipt_for_invoke_and_stream_with_raw_json_and_cross_check(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(METADATA)
    quick(at)
    at.number_input(key="metadata.max_tokens").set_value(6)
    at.button(key="metadata.run_receipt").click().run()
    assert not at.exception
    text = " ".join(md.value for md in at.markdown)
    assert "Receipt of one `invoke` call" in text
    for field in ("input tokens", "output tokens", "total tokens", "model name", "finish reason",
                  "system fingerprint", "service tier", "raw token usage"):
        assert f"**{field}**" in text, field
    assert "`SmolLM2-135M-Instruct`" in text
    raw = at.json[0].value
    assert '"finish_reason"' in raw and '"token_usage"' in raw
    captions = " ".join(c.value for c in at.caption)
    assert "the ledger counted the same" in captions
    assert any("finish_reason = length" in w.value for w in at.warning)  # 6 tokens cut it off

    at.segmented_control(key="metadata.method").set_value("stream")
    at.button(key="metadata.run_receipt").click().run()
    assert not at.exception
    text = " ".join(md.value for md in at.markdown)
    assert "Receipt of one `stream` call" in text and "**raw token usage**" not in text
    assert "usage arrives only in the last chunk" in " ".join(c.value for c in at.caption)
    assert metrics(at)["Usage reported"] == "2 of 2"


def test_stop_versus_length_shown_side_by_side(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(METADATA)
    quick(at)
    at.text_input(key="metadata.finish_prompt").set_value("What is 2 + 2? Reply with the number only.")
    at.number_input(key="metadata.roomy").set_value(48)
    at.number_input(key="metadata.tight").set_value(2)
    at.button(key="metadata.run_finish").click().run()
    assert not at.exception
    assert any("finish_reason = stop" in s.value for s in at.success)
    assert any("finish_reason = length" in w.value for w in at.warning)
    assert any("2 output tokens of 2 allowed" in c.value for c in at.caption)
    # A rerun (any widget) redraws both results.
    at.number_input(key="metadata.tight").set_value(3).run()
    assert any("finish_reason = length" in w.value for w in at.warning)


def test_price_table_is_dated_sourced_and_prices_the_local_model_at_zero(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(METADATA)
    assert any("List prices as of 2026-11-24" in md.value for md in at.markdown)
    assert any(c.value.startswith("Source: LiteLLM") for c in at.caption)
    prices = next(df.value for df in at.dataframe if "input_per_1m_usd" in df.value.columns)
    local = prices[prices["model"] == "SmolLM2-135M-Instruct"].iloc[0]
    assert (local["provider"], local["input_per_1m_usd"], local["output_per_1m_usd"]) == ("local", 0, 0)
    assert len(prices) == 52
    assert any("No calls yet" in i.value for i in at.info)


def test_missing_usage_and_missing_prices_are_called_out_not_counted_as_zero(
    open_page: Callable[[str], AppTest],
) -> None:
    from core.call.usage import Usage
    from tests.ledger_records import ledger_record

    at = open_page(METADATA)
    # What other pages' calls leave in this session's ledger: a stream from an endpoint that
    # ignored stream_options (no usage), and a call on a model the price table does not know.
    ledger = at.session_state["lab.ledger"]
    ledger.add(ledger_record("r1", "streaming", "Compatible", "llama3.2", 1.0, 0.4, None, "stop", streamed=True))
    ledger.add(ledger_record("r2", "batch", "Compatible", "llama3.2", 2.0, 0.4, Usage(30, 10, 40), "stop"))
    at.run()
    assert not at.exception
    m = metrics(at)
    assert (m["Calls"], m["Usage reported"], m["Input tokens"]) == ("2", "1 of 2", "30")
    assert m["Session cost"] == "no price"
    assert any("streamed call(s) came back without usage" in w.value for w in at.warning)
    assert any("`llama3.2`" in i.value and "no price" in i.value for i in at.info)
    ledger_frame = next(df.value for df in at.dataframe if "pattern" in df.value.columns)
    assert list(ledger_frame["note"]) == ["not reported", "no price"]
    # Numbers stay numbers, so a header click sorts them; the unknown ones are empty, not 0.
    assert ledger_frame["cost"].isna().all() and ledger_frame["cost"].dtype.kind == "f"
    assert list(ledger_frame["input_tokens"].astype("Float64").fillna(-1)) == [-1, 30]
    assert ledger_frame["latency_s"].dtype.kind == "f" and ledger_frame["total_tokens"].dtype.kind in "if"
    assert any("2 calls · 40 tokens · no price · 1 without usage" in c.value for c in at.sidebar.caption)
