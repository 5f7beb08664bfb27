"""A JSON HTTP server on a free loopback port, in a thread: identity providers' JWKS, stand-ins for
another service's API, in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (path with its query, request headers) -> (status, JSON body)
Respond = Callable[[str, Mapping[str, str]], tuple[int, Any]]


class LoopbackServer:
    def __init__(self, respond: Respond, path: str = "/") -> None:
        handler = _handler(respond)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serving(body: Any) -> Respond:
    """Always answer 200 with `body` (e.g. a JWKS)."""
    return lambda _path, _headers: (200, body)


def _handler(respond: Respond) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = respond(self.path, dict(self.headers.items()))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
