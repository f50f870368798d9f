"""Record through the lab's proxy, replay offline through the same ChatOpenAI path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from langchain_openai import ChatOpenAI

from core.call.tracing import traced_http_client
from core.network.conditions import NetworkConditions
from core.network.proxy import NetworkProxy
from core.network.recording import (
    FORMAT_VERSION,
    Recording,
    RecordingError,
    import_recording,
    list_recordings,
    new_recording_path,
    recording_from_bytes,
    recording_to_bytes,
)
from core.network.replay import ReplayServer
from core.patterns.streaming import StreamCapture
from tests.fake_openai import FakeOpenAI

REPLY = " ".join(f"word{n}" for n in range(30)) + "."  # ~32 events, 10 ms apart: ~350 ms of stream
TOLERANCE = 0.10


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    yield server
    server.stop()


def _llm(base_url: str, key: str, model: str, max_tokens: int = 24) -> ChatOpenAI:
    return ChatOpenAI(base_url=base_url, api_key=key, model=model, temperature=0, max_tokens=max_tokens,
                      seed=7, stream_usage=True, max_retries=0, timeout=60, http_client=traced_http_client())


def _stream(llm: ChatOpenAI, prompt: str) -> StreamCapture:
    capture = StreamCapture(llm, prompt)
    "".join(capture.text_chunks())
    assert capture.record.ok, capture.record.error
    return capture


def _record(proxy: NetworkProxy, upstream: str, key: str, model: str, prompt: str, path: Path,
            max_tokens: int = 24) -> tuple[Recording, StreamCapture]:
    recording = Recording(model=model, upstream=upstream, path=path)
    route = proxy.route(upstream, key, NetworkConditions(), scope="rec", tap=recording.tap)
    live = _stream(_llm(route.base_url, route.key, model, max_tokens), prompt)
    # The proxy files the answer once it has passed on its last byte, which can be just after
    # the client has read it: wait for the recording to be written before looking at it.
    deadline = time.monotonic() + 10
    while not (recording.exchanges and path.exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return recording, live


def _check_replay(recording: Recording, live: StreamCapture, replay_server: ReplayServer, prompt: str,
                  max_tokens: int = 24) -> StreamCapture:
    route = replay_server.route(recording, speed=1.0)
    replayed = _stream(_llm(replay_server.base_url, route.key, recording.model, max_tokens), prompt)
    assert replayed.record.text == live.record.text
    assert replayed.record.chunk_count == live.record.chunk_count
    assert replayed.record.chunk_count_all == live.record.chunk_count_all
    assert replayed.record.usage == live.record.usage and replayed.record.usage is not None
    assert replayed.record.finish_reason == live.record.finish_reason is not None
    (exchange,) = recording.exchanges.values()
    assert exchange.finish_reason == live.record.finish_reason and exchange.text == live.record.text
    # Pacing: the last text chunk's offset in the recording against the replay's (offsets, not
    # clock times), within 10 %.
    recorded_last = exchange.text_offsets()[-1]
    attempt = replayed.record.trace.attempt
    sent = attempt.sent or attempt.started
    text_times = [c.at for c in replayed.record.trace.chunks if c.text]
    replayed_last = text_times[-1] - sent
    assert abs(replayed_last - recorded_last) <= TOLERANCE * recorded_last, (replayed_last, recorded_last)
    return replayed


def test_a_fake_hosted_answer_replays_with_its_text_chunks_usage_and_pace(
    proxy: NetworkProxy, replay_server: ReplayServer, tmp_path: Path
) -> None:
    fake = FakeOpenAI("fake-key", reply=REPLY).start()
    path = tmp_path / "fake.json"
    _recording, live = _record(proxy, fake.base_url, "fake-key", "fake-model", "Say the words.", path)
    fake.stop()  # the endpoint is gone: the replay needs nothing of it
    saved = path.read_text(encoding="utf-8")
    assert "fake-key" not in saved and "authorization" not in saved.lower() and "Bearer" not in saved
    loaded = recording_from_bytes(path.read_bytes())
    (exchange,) = loaded.exchanges.values()
    assert exchange.chunks[-1].at_s >= 0.2  # a few hundred ms: a pacing check means something
    _check_replay(loaded, live, replay_server, "Say the words.")


def test_the_embedded_models_answer_replays_after_recording(
    proxy: NetworkProxy, replay_server: ReplayServer, embedded_server, tmp_path: Path
) -> None:
    path = tmp_path / "embedded.json"
    _recording, live = _record(proxy, embedded_server.base_url, embedded_server.api_key,
                              embedded_server.model_name, "Name three colours.", path, max_tokens=16)
    assert embedded_server.api_key not in path.read_text(encoding="utf-8")
    forwarded = proxy.stats("rec").forwarded
    _check_replay(recording_from_bytes(path.read_bytes()), live, replay_server, "Name three colours.", 16)
    assert proxy.stats("rec").forwarded == forwarded  # the replay never reached the real endpoint


def test_speed_changes_the_pace_and_an_unrecorded_request_lists_what_is(
    proxy: NetworkProxy, replay_server: ReplayServer, tmp_path: Path
) -> None:
    fake = FakeOpenAI("fake-key", reply=REPLY).start()
    recording, live = _record(proxy, fake.base_url, "fake-key", "fake-model", "Say the words.", tmp_path / "r.json")
    fake.stop()
    fast = replay_server.route(recording, speed=0.0)
    instant = _stream(_llm(replay_server.base_url, fast.key, "fake-model"), "Say the words.")
    assert instant.record.text == live.record.text
    assert instant.record.trace.e2e_s < live.record.trace.e2e_s / 2
    with pytest.raises(openai.NotFoundError) as raised:
        _llm(replay_server.base_url, fast.key, "fake-model").invoke("Something else")
    message = str(raised.value)
    assert "Not in the recording" in message and "'Say the words.'" in message and "'Something else'" in message


def test_bad_files_get_a_clear_message(tmp_path: Path) -> None:
    good = Recording(model="m", upstream="http://x/v1")
    data = recording_to_bytes(good)
    with pytest.raises(RecordingError, match="ends early"):
        recording_from_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="not a recording made by the Execution Patterns Lab"):
        recording_from_bytes(json.dumps({"version": 1, "items": []}).encode())
    newer = json.loads(data) | {"version": FORMAT_VERSION + 1}
    with pytest.raises(RecordingError, match="newer version of the lab"):
        recording_from_bytes(json.dumps(newer).encode())
    # A bad file in the folder is listed with its problem; the good ones stay usable.
    imported = import_recording(data, "good.json", tmp_path)
    bad = new_recording_path(tmp_path, "broken", imported.recorded_at)
    bad.write_bytes(data[:20])
    listed = {item.path.name: item for item in list_recordings(tmp_path)}
    assert listed[imported.path.name].recording is not None
    assert "ends early" in (listed[bad.name].problem or "")
