"""Recording files from elsewhere: every field that replay relies on is checked, by name.

Issue 30: a chunk offset of 400 digits raised OverflowError, ``1e400`` read as infinity (replay
then slept forever), a file nested 100,000 deep raised RecursionError — each a traceback.
"""

from __future__ import annotations

import json

import pytest

from core.network.recording import FORMAT, Recording, RecordingError, recording_from_bytes, recording_to_bytes


def _file(at_s: str = "0.25", status: str = "200") -> bytes:
    exchange = (
        '{"key": "k", "request": {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, '
        f'"status": {status}, "content_type": "text/event-stream", "streamed": true, '
        f'"chunks": [{{"at_s": 0.1, "data": "data: {{}}\\n\\n"}}, {{"at_s": {at_s}, "data": "data: [DONE]\\n\\n"}}]}}'
    )
    return (f'{{"format": "{FORMAT}", "version": 1, "model": "m", "recorded_at": '
            f'"2026-12-01T21:50:00+00:00", "upstream": "", "exchanges": [{exchange}]}}').encode()


def test_a_good_file_reads() -> None:
    (exchange,) = recording_from_bytes(_file()).exchanges.values()
    assert [c.at_s for c in exchange.chunks] == [0.1, 0.25]


@pytest.mark.parametrize(
    ("at_s", "shown"),
    [
        ("1" * 400, "a number with 400 digits"),
        ("1e400", "infinite"),
        ("NaN", "not a number (NaN)"),
        ("-0.5", "-0.5"),
        ("86400", "86400"),
        ('"0.3"', "'0.3'"),
    ],
)
def test_a_chunk_offset_replay_cannot_wait_for_is_named(at_s: str, shown: str) -> None:
    with pytest.raises(RecordingError) as raised:
        recording_from_bytes(_file(at_s=at_s), name="talk.json")
    assert str(raised.value) == (
        f'talk.json looks like a recording, but exchange 1, chunk 2: "at_s" is {shown}, not a time '
        "in seconds from 0 to 3,600 (replay waits that long before sending the chunk). The file "
        "was changed by hand or damaged: export it again from the machine that recorded it."
    )


def test_a_status_that_is_no_http_status_is_named() -> None:
    with pytest.raises(RecordingError, match='exchange 1\'s "status" is a number with 400 digits, not an HTTP status'):
        recording_from_bytes(_file(status="9" * 400), name="talk.json")


def test_a_file_nested_100000_deep_is_named() -> None:
    with pytest.raises(RecordingError, match=r"talk\.json nests objects or lists inside each other too deeply"):
        recording_from_bytes(b'{"a": ' * 100_000, name="talk.json")


def test_a_number_with_5000_digits_is_named_with_its_line_and_column() -> None:
    data = _file().replace(b'"version": 1', b'"version": ' + b"1" * 5000)
    with pytest.raises(RecordingError) as raised:
        recording_from_bytes(data, name="talk.json")
    assert str(raised.value).startswith("talk.json: line 1, column 59 holds a number with 5,000 digits")


def test_odd_shapes_inside_a_recorded_answer_are_read_as_no_text() -> None:
    """The 404 listing and the pacing read a recorded request and answer; odd shapes give no text."""
    raw = json.loads(recording_to_bytes(Recording(model="m", upstream="")))
    raw["exchanges"] = [{"key": "k", "request": {"messages": {"not": "a list"}}, "status": 200,
                         "content_type": "text/event-stream", "streamed": True,
                         "chunks": [{"at_s": 0.1, "data": 'data: {"choices": [7, {"delta": "x"}], "usage": 3}\n\n'}]}]
    (exchange,) = recording_from_bytes(json.dumps(raw).encode()).exchanges.values()
    assert exchange.describe() == "? · '' · invoke"
    assert exchange.text_offsets() == []
