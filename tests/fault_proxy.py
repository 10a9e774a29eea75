"""An HTTP proxy in front of a real target that misbehaves on cue: 503, 429 with Retry-After, or an answer
lost after the target applied the change (the request is forwarded, then the connection is dropped)."""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class Seen:
    at: float
    method: str
    path: str
    action: str


@dataclass
class FaultProxy:
    upstream: str
    default: str = "pass"  # pass | 503 | 429:SECONDS | drop | flaky:SHARE (that share of requests get 503)
    scripted: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path prefix, action), FIFO
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, method: str, path: str, times: int, action: str) -> None:
        """The next `times` requests matching method and path prefix get `action`."""
        with self.lock:
            self.scripted += [(method, path, action)] * times

    def decide(self, method: str, path: str) -> str:
        with self.lock:
            for i, (m, prefix, action) in enumerate(self.scripted):
                if m == method and path.startswith(prefix):
                    del self.scripted[i]
                    break
            else:
                action = self.default
            if action.startswith("flaky:"):
                action = "503" if random.random() < float(action.split(":")[1]) else "pass"
            self.seen.append(Seen(time.monotonic(), method, path, action))
            return action


def start(proxy: FaultProxy) -> tuple[str, ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = proxy.decide(self.command, self.path)
            if action == "503" or action.startswith("429"):
                status, extra = (503, {}) if action == "503" else (429, {"Retry-After": action.split(":")[1]})
                self.send_response(status)
                for name, value in {"Content-Length": "0", **extra}.items():
                    self.send_header(name, value)
                self.end_headers()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            reply = httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
            if action == "drop":  # the target applied it; its answer never arrives
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.send_response(reply.status_code)
            for name, value in reply.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
