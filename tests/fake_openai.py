"""A local OpenAI-compatible chat endpoint on loopback, for the enhancer's `api` backend tests.

`mode` picks how it answers: "ok" streams `reply` in small chunks; "slow" waits `delay` seconds first; "error"
answers HTTP 500; "garbage" streams lines that are not JSON; "html" answers a web page. Every request body and
its Authorization header is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.reply = "A detailed prompt."
        self.delay = 5.0
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client gone before the answer (the timeout tests leave on purpose) is no error; anything else is."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        mode = self.server.mode
        if mode == "slow":
            time.sleep(self.server.delay)
        if mode == "error":
            return self._send(500, "application/json", b'{"error": {"message": "boom"}}')
        if mode == "html":
            return self._send(200, "text/html", b"<html><body>Welcome to nginx!</body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in (["data: {not json at all", "data: [[["] if mode == "garbage" else _chunks(self.server.reply)):
            self.wfile.write(f"{event}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, status: int, kind: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _chunks(reply: str) -> list[str]:
    pieces = [reply[i:i + 5] for i in range(0, len(reply), 5)]
    return ["data: " + json.dumps({
        "id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
    }) for piece in pieces]
