"""A Base URL that redirects to an internal service cannot read it through the lab.

Two tiny HTTP servers on loopback: an "internal service" (think cloud metadata at
169.254.169.254) that answers any GET with a secret in plain text, and a "typed Base URL" that
answers every request with a 302 to it. Through the lab's traced client, ChatOpenAI's request
stops at the redirect: the internal service is never contacted, and the error names a redirect
to its host, without the secret. An unexpected plain-text body is quoted only as a short excerpt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from core.call.errors import EXCERPT_CHARS
from core.call.models import Endpoint, build_chat_model
from core.patterns.streaming import StreamCapture, timed_invoke
from core.settings import ModelSettings, Provider

SECRET = "AKIAPLANTED-metadata-secret-0123456789"
BODY = ("ami-id\ninstance-type\n" + "credential " * 40 + SECRET + "\n").encode()


class _Servers:
    def __init__(self) -> None:
        self.internal_hits = 0
        outer = self

        class Internal(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.internal_hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.internal = ThreadingHTTPServer(("127.0.0.1", 0), Internal)
        target = f"http://127.0.0.1:{self.internal.server_port}/latest/meta-data?token=in-the-path"

        class Redirector(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
        for server in (self.internal, self.redirector):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, server: ThreadingHTTPServer) -> str:
        return f"http://127.0.0.1:{server.server_port}/v1"

    def stop(self) -> None:
        for server in (self.internal, self.redirector):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[_Servers]:
    started = _Servers()
    yield started
    started.stop()


def _llm(base_url: str) -> Any:
    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url=base_url, model="m", max_retries=0, timeout_s=10)
    endpoint = Endpoint(Provider.COMPATIBLE, base_url, "m", SecretStr("typed-key-123456"), "LAB_COMPAT_API_KEY")
    return build_chat_model(settings, endpoint)


def test_a_redirect_is_not_followed_and_is_named_without_the_target_s_body(servers: _Servers) -> None:
    llm = _llm(servers.url(servers.redirector))
    waited = timed_invoke(llm, "hi", {})
    capture = StreamCapture(llm, "hi", {})
    list(capture.text_chunks())
    internal = f"http://127.0.0.1:{servers.internal.server_port}"
    for problem in (waited.error, capture.record.error):
        assert problem is not None and problem.kind == "redirect"
        assert problem.title == f"The endpoint redirected the request (HTTP 302) to {internal}"
        text = problem.as_text()
        assert SECRET not in text and "credential" not in text
        assert "token=in-the-path" not in text and "meta-data" not in text  # the host only
    assert servers.internal_hits == 0, "the internal service was never contacted"


def test_an_unexpected_plain_text_body_is_quoted_only_as_a_short_excerpt(servers: _Servers) -> None:
    before = servers.internal_hits
    waited = timed_invoke(_llm(servers.url(servers.internal)), "hi", {})
    assert servers.internal_hits == before + 1
    problem = waited.error
    assert problem is not None and problem.kind == "not_json"
    assert "text/plain" in problem.title and "Unexpected error" not in problem.title
    assert problem.detail.startswith("It began: ami-id instance-type credential")
    assert len(problem.detail) <= len("It began: ") + EXCERPT_CHARS
    assert SECRET not in problem.as_text()
