"""The "Show the code" snippets run as shown, against the real embedded model, with no key inside."""

from __future__ import annotations

from pydantic import SecretStr

from core.call.models import resolve_endpoint
from core.export.snippets import model_setup_code
from core.settings import ModelSettings, Provider


def test_snippet_for_openai_reads_the_key_from_the_environment() -> None:
    settings = ModelSettings(
        provider=Provider.OPENAI, model="gpt-4o-mini", base_url="https://api.openai.com/v1",
        api_key=SecretStr("sk-planted-key-123456"), seed=3,
    )
    code = model_setup_code(settings, resolve_endpoint(settings, None))
    assert "sk-planted-key-123456" not in code
    assert 'api_key=os.environ["OPENAI_API_KEY"]' in code
    assert "stream_usage=True" in code and "seed=3" in code
    compile(code, "<snippet>", "exec")
