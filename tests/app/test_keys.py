"""AppTest: the operator's key stays with its endpoint, whatever Base URL a visitor types.

Two fake OpenAI-compatible servers on loopback stand for the operator's endpoint (configured in
the environment with its key) and another host a visitor types; each records the bearer token of
every request it receives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.fake_openai import FakeOpenAI

OPERATOR_KEY = "operator-Kq27-not-shaped-like-a-key"
VISITOR_KEY = "visitor-Zt55-typed-in-the-sidebar"


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    operator = FakeOpenAI(OPERATOR_KEY, reply="From the operator's endpoint.").start()
    other = FakeOpenAI(VISITOR_KEY, reply="From the visitor's host.").start()
    monkeypatch.setenv("LAB_PROVIDER", "compatible")
    monkeypatch.setenv("LAB_COMPAT_BASE_URL", operator.base_url)
    monkeypatch.setenv("LAB_COMPAT_API_KEY", OPERATOR_KEY)
    monkeypatch.setenv("LAB_COMPAT_MODEL", "fake-model")
    yield operator, other
    operator.stop()
    other.stop()


def _stream(at: AppTest) -> AppTest:
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)
    at.text_area(key="streaming.prompt").set_value("Say hello.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_environments_key_goes_only_to_its_own_base_url(
    open_page: Callable[[str], AppTest], hosts: tuple[FakeOpenAI, FakeOpenAI],
) -> None:
    operator, other = hosts
    at = open_page("pages/streaming.py")
    field = at.sidebar.text_input(key="sidebar.key.compatible")
    assert field.placeholder == "using LAB_COMPAT_API_KEY from the environment"
    _stream(at)
    assert operator.received_keys == [OPERATOR_KEY] and not at.error

    # A visitor types another host: the operator's key is not sent there, and the field says so.
    at.sidebar.text_input(key="sidebar.base_url").set_value(other.base_url).run()
    field = at.sidebar.text_input(key="sidebar.key.compatible")
    assert field.placeholder == "type this endpoint's key"
    assert "never to another host" in (field.help or "")
    assert any(f"LAB_COMPAT_API_KEY is not sent to 127.0.0.1:{other.port}" in c.value for c in at.sidebar.caption)
    _stream(at)
    assert other.received_keys and OPERATOR_KEY not in other.received_keys
    assert at.error and "Wrong or missing API key" in at.error[0].value

    # A key typed in this session goes to the host it was typed for.
    at.sidebar.text_input(key="sidebar.key.compatible").set_value(VISITOR_KEY).run()
    _stream(at)
    assert other.received_keys[-1] == VISITOR_KEY and not at.error
    assert operator.received_keys == [OPERATOR_KEY]


def test_a_compare_column_with_another_base_url_never_gets_the_environments_key(
    open_page: Callable[[str], AppTest], hosts: tuple[FakeOpenAI, FakeOpenAI],
) -> None:
    operator, other = hosts
    at = open_page("pages/compare.py")
    at.select_slider(key="compare.max_tokens").set_value(16)
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)
    for index, url in enumerate((operator.base_url, other.base_url)):
        at.selectbox(key=f"compare.kind.{index}").set_value("OpenAI-compatible").run()
        at.selectbox(key=f"compare.net.{index}").set_value("Off")
        at.text_input(key=f"compare.url.{index}").set_value(url).run()
    assert at.text_input(key="compare.key.1").placeholder == "type this endpoint's key"
    next(b for b in at.button if b.label.startswith("Race")).click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert operator.received_keys == [OPERATOR_KEY]
    assert other.received_keys and OPERATOR_KEY not in other.received_keys
    # Typed into the column, the visitor's key goes to that column's host only.
    at.text_input(key="compare.key.1").set_value(VISITOR_KEY).run()
    next(b for b in at.button if b.label.startswith("Race")).click().run()
    assert other.received_keys[-1] == VISITOR_KEY
    assert operator.received_keys == [OPERATOR_KEY] * 2


@pytest.fixture
def served_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app as `make run HOST=0.0.0.0` serves it (Streamlit's `server.address`), with the
    operator's opt-out of the access password, so the pages are drawn."""
    from streamlit import config

    monkeypatch.setenv("LAB_ALLOW_OPEN", "1")
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def test_a_lab_served_beyond_loopback_refuses_internal_base_urls_but_not_its_configured_one(
    open_page: Callable[[str], AppTest], hosts: tuple[FakeOpenAI, FakeOpenAI], served_beyond_loopback: None,
) -> None:
    operator, other = hosts
    at = open_page("pages/streaming.py")
    _stream(at)  # the operator's endpoint, on loopback, is configured in the environment
    assert operator.received_keys == [OPERATOR_KEY] and not at.error

    for url in ("http://169.254.169.254/latest/meta-data", other.base_url):
        at.sidebar.text_input(key="sidebar.base_url").set_value(url).run()
        assert any("served beyond this machine" in w.value for w in at.sidebar.warning)
        _stream(at)
        assert at.error and "does not call" in at.error[0].value
    assert other.received_keys == [], "an internal address other than the configured one was never called"
