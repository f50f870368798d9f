"""What a long session keeps stays bounded (issue 30, item 9).

The ledger kept every call's full trace (each chunk with its text) for the whole session; a
1,000-row sweep joins it. The newest calls stay whole; older ones keep their figures.
"""

from __future__ import annotations

import tracemalloc

from core.call.anatomy import anatomy
from core.call.trace import COMPACT_TEXT_CHARS, COMPLETE, CallTrace, HttpAttempt, Outcome, ServerReport, StreamChunk
from core.call.usage import Usage
from core.money.ledger import FULL_TRACES, CallRecord, SessionLedger

TOKENS = 256


def _trace(n: int, tokens: int = TOKENS) -> CallTrace:
    """A streamed call as the tracer records it: role chunk, `tokens` text chunks, usage chunk."""
    origin = 1000.0 + n
    text_at = [origin + 0.2 + i * 0.011 + (i % 7) * 0.001 for i in range(tokens)]
    chunks = [StreamChunk(origin + 0.15, ""), *(StreamChunk(t, f" w{i}") for i, t in enumerate(text_at)),
              StreamChunk(text_at[-1] + 0.002, "", usage=True)]
    attempt = HttpAttempt(1, origin + 0.01, sent=origin + 0.02, headers=origin + 0.1, first_byte=origin + 0.14,
                          ended=text_at[-1] + 0.003, chunk_times=[t - 0.0005 for t in text_at],
                          status=200, content_type="text/event-stream", head=b"x" * 2048, tail=b"data: [DONE]")
    return CallTrace(
        f"run-{n}", pattern="batch", provider="Local", model_requested="m", origin=origin,
        lc_start=origin + 0.005, lc_end=text_at[-1] + 0.004, finished=text_at[-1] + 0.005, streamed=True,
        chunks=chunks, attempts=[attempt],
        server=ServerReport("llama.cpp timings", prompt_tokens=20, prompt_ms=40.0, predicted_tokens=tokens,
                            predicted_ms=tokens * 11.0),
        outcome=Outcome(COMPLETE, text="".join(c.text for c in chunks), usage=Usage(20, tokens, 20 + tokens),
                        finish_reason="stop", model="m"),
    )


def _figures(trace: CallTrace) -> tuple[object, ...]:
    return (trace.ttft_s, trace.e2e_s, trace.itl_s, trace.tpot_s, trace.output_tokens_per_s,
            trace.output_tokens, trace.token_source, trace.usage, trace.finish_reason, trace.status)


def test_older_calls_keep_their_figures_and_anatomy_and_the_newest_stay_whole() -> None:
    ledger = SessionLedger(full_traces=3)
    originals = [_trace(n, tokens=40) for n in range(10)]
    for trace in originals:
        ledger.add_trace(trace)
    kept = ledger.traces()
    assert len(kept) == 10
    for original, trace in zip(originals, kept, strict=True):
        assert _figures(trace) == _figures(original)
        assert anatomy(trace) == anatomy(original) and trace.marks() == original.marks()
    assert all(len(t.chunks) == 4 and t.attempts[0].head == b"" for t in kept[:7])  # role, first, last, usage
    assert [len(t.chunks) for t in kept[7:]] == [42, 42, 42]  # the newest 3 whole
    assert kept[-1] is originals[-1]  # kept as the tracer made it, not copied


def test_a_compacted_answer_keeps_more_than_the_report_shows() -> None:
    from core.export.report import ANSWER_PREVIEW_CHARS

    long = _trace(0, tokens=2000)
    assert len(long.text) > COMPACT_TEXT_CHARS
    assert long.compacted().text == long.text[:COMPACT_TEXT_CHARS]
    assert ANSWER_PREVIEW_CHARS < COMPACT_TEXT_CHARS


def test_2000_ledgered_calls_stay_under_32_mb() -> None:
    """2,000 calls of 256 streamed tokens: ~78 MB with every trace whole, ~23 MB kept."""
    CallRecord.from_trace(_trace(-1))  # its first use imports LangChain's cache module: not counted
    ledger = SessionLedger()
    tracemalloc.start()
    try:
        for n in range(2000):
            ledger.add(CallRecord.from_trace(_trace(n)))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ledger) == 2000 and FULL_TRACES == 200
    assert held < 32 * 1024 * 1024, f"{held / 1e6:.1f} MB"


# --- recordings: routes, the folder listing, the writes --------------------------------------------


def test_replay_routes_beyond_the_cap_are_forgotten_least_recently_used_first() -> None:
    from core.network.recording import Recording
    from core.network.replay import ReplayServer

    server = ReplayServer()  # routes are bookkeeping: no need to serve
    kept = Recording(model="kept", upstream="")
    kept_route = server.route(kept, 1.0)
    first = server.route(Recording(model="first", upstream=""), 1.0)
    for n in range(ReplayServer.MAX_ROUTES + 10):
        server.route(Recording(model=f"m{n}", upstream=""), 1.0)
        assert server.route(kept, 1.0) is kept_route  # asked on every rerun: never forgotten
    assert len(server) == ReplayServer.MAX_ROUTES
    assert first.key not in server._routes


def _exchange_bytes(n: int) -> tuple[bytes, int, str, list[tuple[float, bytes]], bool]:
    import json

    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": f"question {n}"}], "stream": True})
    chunk = b'data: {"choices": [{"delta": {"content": "answer"}}]}\n\n'
    return body.encode(), 200, "text/event-stream", [(0.1, chunk), (0.2, b"data: [DONE]\n\n")], True


def test_recorded_answers_are_appended_on_the_writer_thread(tmp_path, monkeypatch) -> None:
    import threading

    from core.network import recording as replay
    from core.network.recording import Recording, recording_from_bytes

    writers: list[str] = []
    append = replay._append

    def watched(*args, **kwargs):
        writers.append(threading.current_thread().name)
        return append(*args, **kwargs)

    monkeypatch.setattr(replay, "_append", watched)
    path = tmp_path / "r.json"
    recording = Recording(model="m", upstream="http://x/v1", path=path)
    recording.tap(*_exchange_bytes(0))
    recording.flush()
    inode = path.stat().st_ino
    for n in range(1, 30):
        recording.tap(*_exchange_bytes(n))
    recording.flush()
    assert path.stat().st_ino == inode  # written into the same file, never rewritten whole
    assert writers and all(name.startswith("lab-recording-writer") for name in writers)
    assert len(recording_from_bytes(path.read_bytes()).exchanges) == 30
    assert recording.write_problem is None


def test_the_recordings_folder_reads_a_file_again_only_when_it_changed(tmp_path, monkeypatch) -> None:
    from core.network import recording as replay
    from core.network.recording import Recording, RecordingsFolder, new_recording_path, recording_to_bytes

    reads: list[str] = []
    read = replay.recording_from_bytes
    monkeypatch.setattr(replay, "recording_from_bytes", lambda data, **kw: reads.append(kw["name"]) or read(data, **kw))
    one = Recording(model="one", upstream="")
    path = new_recording_path(tmp_path, "one", one.recorded_at)
    path.parent.mkdir(parents=True)
    path.write_bytes(recording_to_bytes(one))
    folder = RecordingsFolder(tmp_path)
    first = folder.listing()
    assert folder.listing()[0].recording is first[0].recording and reads == [path.name]  # one parse for two listings
    path.write_bytes(recording_to_bytes(Recording(model="one, again", upstream="")))
    assert folder.listing()[0].recording.model == "one, again" and len(reads) == 2
    path.unlink()
    assert folder.listing() == []
