"""AppTest: a Base URL's `user:token@` and a key not shaped like OpenAI's never reach the page.

The fake endpoint answers 401 quoting the credentials it received, as OpenAI's own 401 quotes
part of the key: the easiest way for a secret to reach an error message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_tracing_sidebar import _walk
from tests.fake_openai import FakeOpenAI

TYPED_KEY = "gsk_Planted55typedkeyNotShapedLikeSk"
URL_TOKEN = "urltoken-Hx81-in-the-userinfo"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(TYPED_KEY, reply="Hello.").start()
    yield server
    server.stop()


def _shown(at: AppTest) -> str:
    """Everything the page draws, except the fields the user typed into themselves."""
    return " ".join(
        repr(getattr(node, "proto", "")) for node in _walk(at._tree)
        if type(node).__name__ not in ("TextInput", "TextArea")
    )


def test_userinfo_and_a_typed_gsk_key_never_reach_the_page_or_the_code(
    open_page: Callable[[str], AppTest], fake: FakeOpenAI,
) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.radio(key="sidebar.provider").set_value(
        next(o for o in at.sidebar.radio(key="sidebar.provider").options if "compatible" in o)
    ).run()
    url = f"http://me:{URL_TOKEN}@127.0.0.1:{fake.port}/v1"
    at.sidebar.text_input(key="sidebar.base_url").set_value(url)
    at.sidebar.text_input(key="sidebar.model.compatible").set_value("reject-key")
    at.sidebar.text_input(key="sidebar.key.compatible").set_value(TYPED_KEY)
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0).run()
    at.text_area(key="streaming.prompt").set_value("Bearer abc.def is part of my prompt.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception, [e.message for e in at.exception]

    assert at.error and "Wrong or missing API key" in at.error[0].value  # the 401 is explained
    assert fake.received_keys, "the call reached the endpoint"
    page = _shown(at)
    for secret in (URL_TOKEN, TYPED_KEY, "//me:"):
        assert secret not in page
    # The code shown calls the same endpoint, without the userinfo.
    code = " ".join(c.value for c in at.code)
    assert f"base_url='http://127.0.0.1:{fake.port}/v1'" in code
    # The user's own prompt is not rewritten for looking like a token.
    assert at.session_state["streaming.last_stream"].prompt == "Bearer abc.def is part of my prompt."
