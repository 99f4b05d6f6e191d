"""A real HTTP receiver on 127.0.0.1 for decision callbacks: it keeps each request it is sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CallbackReceiver:
    """Answers every POST with ``status`` (204 unless a test changes it) and keeps its headers and body.

    Use it as a context manager: it serves from entering to leaving. ``on_request(body)``, when a
    test sets it, runs after a request is kept and before it is answered (the sender is still waiting).
    """

    def __init__(self, status: int = 204) -> None:
        self.requests: list[tuple[Message, bytes]] = []
        self.status = status
        self.on_request: Callable[[bytes], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.headers, body))
                if receiver.on_request is not None:
                    receiver.on_request(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/agentops"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def bodies(self) -> list[bytes]:
        return [body for _, body in self.requests]

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
