"""The "Show the code" snippets run as shown, against the real embedded model, with no key inside."""

from __future__ import annotations

import subprocess
import sys

from core.embedded_server import EmbeddedModelServer
from core.models import resolve_endpoint
from core.settings import ModelSettings
from core.snippets import streaming_code


def run_snippet(code: str, env_var: str, key: str) -> subprocess.CompletedProcess[str]:
    """Run the snippet in a fresh interpreter, as a user pasting it would."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", env_var: key},
        capture_output=True, text=True, timeout=120,
    )


def test_streaming_snippet_runs_against_the_embedded_model(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    endpoint = resolve_endpoint(local_settings, embedded_server)
    code = streaming_code(local_settings, endpoint, "Say hi in five words.")
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "time to first token:" in result.stdout
    assert "'output_tokens':" in result.stdout  # usage arrived in the final chunk
