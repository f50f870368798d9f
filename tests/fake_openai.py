"""A tiny OpenAI-compatible server for tests that need answers the real model will not give.

It answers `/v1/chat/completions` (plain and streamed, with a usage chunk) with a fixed reply,
requires a key, says 404 for unknown models like OpenAI does, and — for model "reject-key" —
answers 401 quoting the key it received, as OpenAI's own 401 quotes part of it. That is the
way a key most easily leaks into an error message, so the redaction tests need it.

Some model names make it misbehave the way real proxies and half-compatible servers do, each with
HTTP 200 (see `MALFORMED_MODELS`): an HTML login page, a completion with no `choices`, a stream
with a line that is not JSON, and a stream that stops without a finish reason or `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from core.network.loopback import LoopbackServer, serve_on_loopback

XSS_REPLY = (
    'Here you go: <script>window.__xss = "script ran"</script> and '
    '<img src="x" onerror="window.__xss = \'img onerror ran\'"> done.'
)


#: Model names that answer HTTP 200 with something that is not a usable chat completion.
HTML_PAGE = "html-page"
EMPTY_CHOICES = "empty-choices"
BAD_JSON_LINE = "bad-json-line"
NO_FINISH = "no-finish"
MALFORMED_MODELS = (HTML_PAGE, EMPTY_CHOICES, BAD_JSON_LINE, NO_FINISH)

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Corporate proxy</title></head>"
    b"<body><h1>Please sign in to continue</h1></body></html>"
)


class FakeOpenAI:
    """Serve a fixed reply on 127.0.0.1; `base_url` is the OpenAI-compatible URL."""

    def __init__(self, key: str, reply: str = XSS_REPLY, models: tuple[str, ...] = ("fake-model",)) -> None:
        self.key = key
        self.reply = reply
        self.models = (*models, *MALFORMED_MODELS)
        self.port = 0
        self.received_keys: list[str] = []  # the bearer token of every request, in order
        self._served: LoopbackServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        # The lab's own loopback server: Nagle off, as the proxy's (see core/network/loopback.py).
        self._served = serve_on_loopback(self._app, name="fake-openai")
        self.port = self._served.port
        return self

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        received = headers.get("authorization", "").removeprefix("Bearer ").strip()
        self.received_keys.append(received)
        request = json.loads(body or b"{}")
        model = request.get("model", "")
        if model == "reject-key" or received != self.key:
            await _json(send, 401, {"error": {
                "message": f"Incorrect API key provided: {received}. You can find your API key at "
                "https://example.invalid/keys.", "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        if scope["path"] != "/v1/chat/completions":
            await _json(send, 404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
            return
        if model not in self.models:
            await _json(send, 404, {"error": {
                "message": f"The model `{model}` does not exist or you do not have access to it.",
                "type": "invalid_request_error", "code": "model_not_found"}})
            return
        if model == HTML_PAGE:  # a proxy's login page, served where JSON was due
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": LOGIN_PAGE, "more_body": False})
            return
        words = [w + " " for w in self.reply.split(" ")]
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}
        usage = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
        if not request.get("stream"):
            if model == EMPTY_CHOICES:
                await _json(send, 200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                                        "model": model, "choices": [], "usage": usage})
                return
            await _json(send, 200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(words)}}],
                "usage": usage,
            })
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": usage})
        if model == EMPTY_CHOICES:
            events = [{**base, "choices": []} for _ in words]
        if model == NO_FINISH:  # the words, then the connection closes cleanly: no finish, no [DONE]
            events = events[: 1 + len(words) // 2]
        lines = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
        if model == BAD_JSON_LINE:
            lines.insert(3, b"data: {this is not json\n\n")
        for line in lines:
            await send({"type": "http.response.body", "body": line, "more_body": True})
            await asyncio.sleep(0.01)
        closing = b"" if model == NO_FINISH else b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": closing, "more_body": False})


async def _json(send: Any, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data, "more_body": False})
