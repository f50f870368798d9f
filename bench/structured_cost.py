"""The cost of structured output: the same request as plain text and as a JSON object.

Each round asks the embedded model for a person who likes cats — name, age, three hobbies — once
as plain text and once with `with_structured_output(Person, method="json_schema")` (the
Structured output page's preset), alternating which goes first. Every figure is read from the
call's trace: output tokens (usage), end-to-end time, and for the object the time to a valid
object and the share of its streamed pieces that were JSON syntax and key names. The medians
say what the object's braces, quotes and key names cost beyond its content, in tokens and time.

Run: `.venv/bin/python -m bench structured` (merged into bench/RESULTS.md) or `make bench`.
"""

from __future__ import annotations

from bench.common import median, print_table

PROMPT = "Invent a person who likes cats: their name, their age and three hobbies."
ROUNDS = 7
MAX_TOKENS = 160


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    from core.call.models import build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.patterns.streaming import StreamCapture
    from core.patterns.structured import PRESETS, stream_structured
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    plain_tokens: list[float] = []
    plain_s: list[float] = []
    object_tokens: list[float] = []
    object_s: list[float] = []
    valid_s: list[float] = []
    overhead: list[float] = []
    try:
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.7, max_tokens=MAX_TOKENS)
        llm = build_chat_model(settings, resolve_endpoint(settings, server))
        llm.invoke("Hi")  # warm-up: the first request after a start reads its prompt slowly
        schema = PRESETS["person"].schema
        for round_ in range(rounds):
            order = ("plain", "object") if round_ % 2 == 0 else ("object", "plain")
            for kind in order:
                if kind == "plain":
                    capture = StreamCapture(llm, PROMPT)
                    for _ in capture.text_chunks():
                        pass
                    trace = capture.record.trace
                    if trace.ok and trace.usage is not None and trace.e2e_s is not None:
                        plain_tokens.append(trace.usage.output_tokens)
                        plain_s.append(trace.e2e_s)
                else:
                    done = stream_structured(llm, schema, PROMPT)
                    figures = done.figures
                    if done.problem is None and figures is not None and figures.output_tokens and figures.trace.e2e_s:
                        object_tokens.append(figures.output_tokens)
                        object_s.append(figures.trace.e2e_s)
                        if figures.valid_object_s is not None:
                            valid_s.append(figures.valid_object_s)
                        share = figures.split.share(figures.split.syntax + figures.split.keys)
                        if share is not None:
                            overhead.append(share)
    finally:
        server.stop()

    def med(values: list[float], scale: float = 1.0, digits: int = 0) -> object:
        if not values:
            return "not measured"
        value = median(values) * scale
        return round(value, digits) if digits else round(value)

    return [
        {"measure": "output tokens (median)", "plain text": med(plain_tokens), "JSON object": med(object_tokens),
         "runs": f"{len(plain_tokens)} / {len(object_tokens)}"},
        {"measure": "end-to-end ms (median)", "plain text": med(plain_s, 1000), "JSON object": med(object_s, 1000),
         "runs": f"{len(plain_s)} / {len(object_s)}"},
        {"measure": "ms to a valid object (median)", "plain text": "", "JSON object": med(valid_s, 1000),
         "runs": f"{len(valid_s)}"},
        {"measure": "streamed pieces that were JSON syntax or key names (median share)", "plain text": "",
         "JSON object": med(overhead, 100, 1), "runs": f"{len(overhead)}"},
    ]


def main() -> None:
    print_table("Structured output against plain text", run())


if __name__ == "__main__":
    main()
