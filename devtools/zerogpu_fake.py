"""A local stand-in for the ZeroGPU device API, so an app runs with SPACES_ZERO_GPU=true through spaces' real
fork-and-worker path on any machine with one CUDA GPU.

spaces' client (spaces/zero/client.py, api.py) calls four endpoints at SPACES_ZERO_DEVICE_API_URL:
`/startup-report` once at launch, then per GPU call `/schedule` (which GPU, and a token), `/allow` from the
forked worker (the real service opens the GPU's cgroup to that pid here), and `/release` at the end. This
fake grants GPU 0 at once and records every call, so tests can check what the app asked for.

    with FakeDeviceApi() as api:                    # in tests
        env = {**os.environ, **api.env()}           # then start the app in a subprocess with env
    python -m devtools.zerogpu_fake --port 8765      # for a manual run; prints the variables to set
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ENDPOINTS = ("/startup-report", "/schedule", "/allow", "/release")


@dataclass
class Call:
    """One request the fake received: endpoint and query parameters."""

    path: str
    params: dict[str, str]


@dataclass
class FakeDeviceApi:
    """The device API on a loopback port. `calls` lists what arrived; `nvidia_uuid` is what CUDA_VISIBLE_DEVICES
    gets in the worker ("0", the first GPU, unless told otherwise)."""

    host: str = "127.0.0.1"
    port: int = 0
    nvidia_uuid: str = "0"
    calls: list[Call] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _held: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The variables that put spaces into ZeroGPU mode against this fake."""
        return {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": self.url}

    def start(self) -> "FakeDeviceApi":
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeDeviceApi":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def count(self, path: str) -> int:
        return sum(call.path == path for call in self.calls)

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        """Status and JSON body for one request, as the real service answers a granted request."""
        with self._lock:
            self.calls.append(Call(path, params))
            if path == "/schedule":
                token = uuid.uuid4().hex
                idle = not self._held  # no other task holds the GPU: spaces may reuse its idle worker
                self._held.add(token)
                return 200, {"idle": idle, "nvidiaIndex": 0, "nvidiaUUID": self.nvidia_uuid, "allowToken": token}
            if path == "/release":
                self._held.discard(params.get("allowToken", ""))
                return 200, None
            if path in ENDPOINTS:
                return 200, None
            return 404, None


def _handler(api: FakeDeviceApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            params = {key: values[-1] for key, values in parse_qs(url.query).items()}
            status, body = api.answer(url.path, params)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:  # keep test output clean
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake ZeroGPU device API on a loopback port.")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    api = FakeDeviceApi(port=args.port).start()
    print(" ".join(f"{key}={value}" for key, value in api.env().items()), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
