"""Which key may go to which URL (core/security/keys.py, core/settings.py): the rule both key fields use."""

from __future__ import annotations

import pytest

from core.security.keys import KeyGrant, key_for, same_origin
from core.settings import Provider, key_field_words, key_to_send

ENV = {"LAB_COMPAT_API_KEY": "k-operator", "LAB_COMPAT_BASE_URL": "http://gpu-box:8000/v1",
       "OPENAI_API_KEY": "sk-operator"}


@pytest.mark.parametrize(("a", "b"), [
    ("http://gpu-box:8000/v1", "http://GPU-BOX:8000"),
    ("https://api.openai.com/v1", "https://api.openai.com:443/other"),
    ("http://host/v1", "http://host:80/v1"),
    ("http://host./v1", "http://host/v1"),
    ("http://user:pw@host:8000/v1", "http://host:8000/v1"),
    ("http://[::1]:8000/v1", "http://[::1]:8000"),
])
def test_the_same_endpoint_written_differently_is_the_same_origin(a: str, b: str) -> None:
    assert same_origin(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("http://gpu-box:8000/v1", "http://gpu-box:8001/v1"),  # another port
    ("http://gpu-box:8000/v1", "https://gpu-box:8000/v1"),  # another scheme
    ("https://api.openai.com/v1", "https://api.openai.com.evil.example/v1"),
    ("https://api.openai.com/v1", "https://evil.example/api.openai.com/v1"),
    ("https://api.openai.com/v1", "https://api.openai.com@evil.example/v1"),  # userinfo, not host
    ("http://gpu-box:8000/v1", ""),
    ("http://gpu-box:notaport/v1", "http://gpu-box:notaport/v1"),  # no origin at all
    ("file:///etc/passwd", "file:///etc/passwd"),
])
def test_another_scheme_host_or_port_is_another_origin(a: str, b: str) -> None:
    assert not same_origin(a, b)


def test_the_environments_key_goes_only_to_the_environments_base_url() -> None:
    grant = key_to_send(Provider.COMPATIBLE, "http://gpu-box:8000/v1/", "", ENV)
    assert grant is not None and grant.key == "k-operator"
    assert key_to_send(Provider.COMPATIBLE, "http://elsewhere.example/v1", "", ENV) is None
    assert key_to_send(Provider.COMPATIBLE, "http://gpu-box:8000.evil/v1", "", ENV) is None
    # Without LAB_COMPAT_BASE_URL the key belongs to no endpoint, so it goes nowhere.
    assert key_to_send(Provider.COMPATIBLE, "http://gpu-box:8000/v1", "", {"LAB_COMPAT_API_KEY": "k"}) is None
    # OPENAI_API_KEY goes to OpenAI only, never to an OpenAI-compatible endpoint.
    openai = key_to_send(Provider.OPENAI, "", "", ENV)
    assert openai is not None and openai.key == "sk-operator"
    assert key_to_send(Provider.COMPATIBLE, "https://api.openai.com/v1", "", {"OPENAI_API_KEY": "sk-operator"}) is None


def test_a_typed_key_wins_and_goes_where_it_was_typed() -> None:
    for url in ("http://gpu-box:8000/v1", "http://elsewhere.example/v1"):
        grant = key_to_send(Provider.COMPATIBLE, url, "  mine ", ENV)
        assert grant is not None and grant.key == "mine"
    sidebar = KeyGrant("typed-in-sidebar", "http://a.example/v1", "sidebar")
    assert key_for("http://a.example/v1", [KeyGrant("", None, "column"), sidebar]) is sidebar
    assert key_for("http://b.example/v1", [KeyGrant("", None, "column"), sidebar]) is None


def test_a_grant_never_prints_its_key() -> None:
    assert "k-operator" not in repr(KeyGrant("k-operator", "http://gpu-box:8000/v1", "env"))


def test_the_key_field_says_when_a_typed_key_is_needed() -> None:
    env_key = KeyGrant("k-operator", "http://gpu-box:8000/v1", "LAB_COMPAT_API_KEY")
    here = key_field_words(Provider.COMPATIBLE, "http://gpu-box:8000/v1", env_key)
    assert here.placeholder == "using LAB_COMPAT_API_KEY from the environment" and not here.warning
    elsewhere = key_field_words(Provider.COMPATIBLE, "http://10.1.2.3:9000/v1", env_key)
    assert elsewhere.placeholder == "type this endpoint's key"
    assert "sent only to gpu-box:8000, never to another host" in elsewhere.help
    assert elsewhere.warning.startswith("LAB_COMPAT_API_KEY is not sent to 10.1.2.3:9000")
    none = key_field_words(Provider.COMPATIBLE, "http://x/v1", KeyGrant("", "", "LAB_COMPAT_API_KEY"))
    assert "LAB_COMPAT_BASE_URL" in none.help and not none.warning


def test_exports_redact_the_sessions_exact_secrets_and_leave_the_users_text_alone() -> None:
    from core.batch import RowResult, RowStatus
    from core.batch.export import to_csv, to_jsonl

    secret = "gsk_live0123456789abcdef"
    row = RowResult(job_id="j", index=0, line=1, input="Explain: Bearer abc.def and sk-notmine123456",
                    status=RowStatus.DONE, output=f"The key {secret} leaked; testing is fine.")
    for exported in (to_csv([row], secret, "test"), to_jsonl([row], secret, "test")):
        assert secret not in exported and "The key [redacted] leaked" in exported
        # A user's prompt is theirs: shapes that look like tokens are kept.
        assert "Bearer abc.def" in exported and "sk-notmine123456" in exported
        assert "testing is fine" in exported  # a short secret is replaced as a whole token only


def test_an_error_message_loses_keys_it_quotes_and_any_urls_userinfo() -> None:
    from core.call.errors import explain_error

    problem = explain_error(
        RuntimeError("401 from http://me:tok-123456@10.0.0.9/v1: Incorrect API key provided: gsk_abc***wxyz "
                     "(Authorization: Basic bWU6dG9rLTEyMzQ1Ng==)"),
        "tok-123456",
    )
    text = problem.as_text()
    for leaked in ("tok-123456", "gsk_abc", "bWU6dG9r", "me:"):
        assert leaked not in text
    assert "http://10.0.0.9/v1" in text


def test_userinfo_is_stripped_from_recordings_snippets_and_compare_labels() -> None:
    import datetime as dt

    from pydantic import SecretStr

    from core.call.models import Endpoint
    from core.export.snippets import model_setup_code
    from core.network.recording import Recording
    from core.patterns.compare import EndpointSpec
    from core.settings import ModelSettings

    url = "https://me:gsk_tok999@gw.example:8443/v1"
    endpoint = Endpoint(Provider.COMPATIBLE, url, "m", SecretStr("k"), "LAB_COMPAT_API_KEY")
    code = model_setup_code(ModelSettings(provider=Provider.COMPATIBLE, base_url=url, model="m"), endpoint)
    assert "gsk_tok999" not in code and "base_url='https://gw.example:8443/v1'" in code
    recording = Recording(model="m", upstream=url, recorded_at=dt.datetime.now(dt.UTC))
    assert recording.to_json()["upstream"] == "https://gw.example:8443/v1"
    assert "gsk_tok999" not in EndpointSpec(Provider.COMPATIBLE, model="m", base_url=url).label
