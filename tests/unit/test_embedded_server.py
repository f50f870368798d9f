"""The embedded llama.cpp server: loopback only, key required, readable model name."""

from __future__ import annotations

import pytest

from core.embedded_server import find_model_file


def test_model_file_ships_in_the_package() -> None:
    path = find_model_file()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_missing_model_package_explains_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.embedded_server as module

    monkeypatch.setattr(module, "MODEL_PACKAGE", "llm_package_that_is_not_installed")
    with pytest.raises(module.EmbeddedModelUnavailable, match="make run"):
        module.find_model_file()
