"""The benchmarks' paired rounds: each pair is one prompt in one round, and the order alternates."""

from __future__ import annotations

from bench.common import paired_rounds


def test_paired_rounds_pair_the_same_prompt_and_alternate_which_path_goes_first() -> None:
    order: list[str] = []

    def path(name: str):  # a path that notes when it ran
        def run(prompt: str) -> tuple[str, str, int]:
            order.append(name)
            return name, prompt, len(order)
        return run

    a, b = paired_rounds(path("a"), path("b"), ["p1", "p2"], rounds=2)
    assert [(x[1], y[1]) for x, y in zip(a, b, strict=True)] == [("p1", "p1"), ("p2", "p2")] * 2
    assert order == ["a", "b", "a", "b", "b", "a", "b", "a"]
