"""AppTest: text from models, endpoints, recordings and file names is shown as text.

Each element that Streamlit renders as Markdown is rendered here with markdown-it (CommonMark, as
Streamlit's own renderer): none may produce an image (which a browser would load from the
attacker's host) or let a backtick close the code span it was quoted in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from components.replay_view import LIVE
from core.network.recording import Recording, recordings_dir, save_recording
from core.paths import data_dir
from tests.fake_openai import FakeOpenAI

KEY = "untrusted-text-key-4471"
IMAGE = "![t](https://evil.example/t.png)"
EVIL_MODEL = "m` ![m](https://evil.example/m.png)"
MARKDOWN_KINDS = ("markdown", "caption", "error", "warning", "info", "success")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(KEY, reply=f"Here: {IMAGE} and a `tick", models=("fake-model", EVIL_MODEL)).start()
    monkeypatch.setenv("LAB_PROVIDER", "compatible")
    monkeypatch.setenv("LAB_COMPAT_BASE_URL", server.base_url)
    monkeypatch.setenv("LAB_COMPAT_API_KEY", KEY)
    monkeypatch.setenv("LAB_COMPAT_MODEL", "fake-model")
    yield server
    server.stop()


def _rendered(at: AppTest) -> str:
    md = MarkdownIt("commonmark")
    return "\n".join(md.render(str(e.value)) for kind in MARKDOWN_KINDS for e in at.get(kind))


def _no_remote_image(at: AppTest) -> str:
    html = _rendered(at)
    assert "<img" not in html, html
    return html


def _stream(at: AppTest) -> None:
    at.sidebar.number_input(key="sidebar.max_retries").set_value(0)
    at.text_area(key="streaming.prompt").set_value("Say hello.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception, [e.message for e in at.exception]


def test_a_models_answer_and_names_from_files_never_load_an_image(
    open_page: Callable[[str], AppTest], fake: FakeOpenAI,
) -> None:
    folder = recordings_dir(data_dir())
    folder.mkdir(parents=True, exist_ok=True)
    recording = Recording(model=EVIL_MODEL, upstream="http://example.invalid/v1",
                          recorded_at=dt.datetime(2026, 12, 1, 21, 50, tzinfo=dt.UTC))
    save_recording(recording, folder / "evil-model.json")
    (folder / "![f](https:evil.example f.png).json").write_text("{not a recording")

    at = open_page("pages/streaming.py")
    at.sidebar.selectbox(key="replay.choice").set_value(recording.title).run()
    html = _no_remote_image(at)
    assert "![m](https://evil.example/m.png)" in html  # the recording's model, as its characters
    assert "![f](https:evil.example f.png).json" in html  # the bad file's name, likewise

    at.sidebar.selectbox(key="replay.choice").set_value(LIVE).run()
    _stream(at)
    html = _no_remote_image(at)
    assert IMAGE in html and "a `tick" in html  # the answer is shown as the text it is

    # An unknown model's 404 quotes the name, backticks and all, in a code span it cannot close.
    at.sidebar.text_input(key="sidebar.model.compatible").set_value("nope` ![u](https://evil.example/u.png) `").run()
    _stream(at)
    assert at.error and "Unknown model" in at.error[0].value
    html = _no_remote_image(at)
    assert "<code>" in html and "![u](https://evil.example/u.png)" in html
